"""The llama-index query engine that retrieves passages and hands them to an answerer."""

from __future__ import annotations

import time
from collections.abc import Callable

from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import QueryBundle
from pydantic import Field

from sinoqa.answer.base import Answerer, AnswerRequest
from sinoqa.retrieve.question import QuestionAnalysis
from sinoqa.schema import Answer


class GroundedQueryEngine(CustomQueryEngine):
    """Retriever + answerer as a llama-index query engine (callbacks and evaluators apply)."""

    retriever: BaseRetriever
    answerer: Answerer
    embed_model: BaseEmbedding  # embeds the question when retrieval did not
    focus: list[str] = Field(default_factory=list)  # articles the previous answer cited
    on_token: Callable[[str], None] | None = None  # generated text as it streams (LLM mode)
    # The user's own question as the pipeline read it, when the query carries earlier turns
    # too; without it the query is the question.
    analysis: QuestionAnalysis | None = None

    def ask(self, query_str: str) -> tuple[Answer, bool]:
        """:meth:`query` (llama-index's callbacks and instrumentation apply), typed: the
        Answer, and whether retrieval found any passage."""
        response = self.query(query_str)
        answer = (getattr(response, "metadata", None) or {}).get("answer")
        if not isinstance(answer, Answer):  # only custom_query below makes the response
            raise TypeError(f"the query engine gave no Answer: {response!r}")
        return answer, bool(response.source_nodes)

    def custom_query(self, query_str: str) -> Response:
        started = time.perf_counter()
        bundle = QueryBundle(query_str=query_str)
        passages = self.retriever.retrieve(bundle)
        retrieved = time.perf_counter()
        question = self.analysis.text if self.analysis is not None else query_str
        embedding = bundle.embedding if question == query_str else None
        if embedding is None:  # a follow-up, or BM25-only retrieval that embedded nothing
            embedding = self.embed_model.get_query_embedding(question)
        answer: Answer = self.answerer.answer(
            AnswerRequest(
                question,
                passages,
                embedding,
                retrieval_query=query_str if question != query_str else "",
                focus=self.focus,
                on_token=self.on_token,
                analysis=self.analysis,
            )
        )
        finished = time.perf_counter()
        answer = answer.model_copy(
            update={
                "retrieval_query": query_str,
                "timings_ms": {
                    "retrieve": round((retrieved - started) * 1000, 1),
                    "answer": round((finished - retrieved) * 1000, 1),
                },
            }
        )
        return Response(response=answer.answer, source_nodes=passages, metadata={"answer": answer})
