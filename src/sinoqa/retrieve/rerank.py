"""An optional cross-encoder reranker from a local model path (``retrieval.reranker_model``),
as a llama-index postprocessor; one per model and depth, kept for the process."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore, QueryBundle


_rerankers: dict[tuple[str, int], object] = {}


def load_reranker(model: str, top_n: int):  # type: ignore[no-untyped-def]
    """A cross-encoder reranker from a local model path, as a llama-index postprocessor."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    key = (model, top_n)
    if key not in _rerankers:
        _rerankers[key] = SentenceTransformerRerank(model=model, top_n=top_n, device="cpu")
    postprocessor = _rerankers[key]

    def rerank(nodes: list[NodeWithScore], query: QueryBundle) -> list[NodeWithScore]:
        return list(postprocessor.postprocess_nodes(nodes, query_bundle=query))  # type: ignore[attr-defined]

    return rerank
