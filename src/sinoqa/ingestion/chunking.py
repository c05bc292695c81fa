"""Clean an article and cut it into sentence-aware chunks that know where they came from."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sinoqa.ingestion.clean import clean_text
from sinoqa.ingestion.corpus import Document
from sinoqa.ingestion.sentences import SPANS_KEY, encode_spans, sentence_spans
from sinoqa.settings import ChunkSettings

if TYPE_CHECKING:
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import TextNode

#: Metadata that reaches the embedding model with each chunk's text. The title anchors short
#: chunks to their article; dates and outlets would only add noise to the vector.
EMBED_METADATA_KEYS = ("title",)
#: Metadata a generative model sees with each passage.
LLM_METADATA_KEYS = ("title", "publisher", "author", "published")


@dataclass(frozen=True)
class PreparedDocument:
    """An article ready to embed: cleaned text and chunk nodes with ids, offsets and metadata."""

    document: Document
    cleaned_text: str
    nodes: list[TextNode]

    @cached_property
    def signature(self) -> str:
        """The MinHash signature its copies are found by (:mod:`.copies`)."""
        from sinoqa.ingestion.copies import shingles, signature

        return signature(shingles(self.cleaned_text))


def make_splitter(
    settings: ChunkSettings, tokenizer: Callable[[str], list[Any]]
) -> SentenceSplitter:
    from llama_index.core.node_parser import SentenceSplitter

    return SentenceSplitter(
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
        paragraph_separator="\n\n",
        tokenizer=tokenizer,
        include_prev_next_rel=False,
    )


def _digest(*parts: object) -> str:
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def prepare_document(document: Document, splitter: SentenceSplitter) -> PreparedDocument:
    """Clean ``document`` and split it into nodes whose ids are derived from their content."""
    from llama_index.core import Document as LlamaDocument
    from llama_index.core.schema import MetadataMode, TextNode

    cleaned = clean_text(document.text, title=document.title, author=document.author)
    metadata = document.article.metadata()
    source = LlamaDocument(
        id_=document.doc_id,
        text=cleaned,
        metadata=metadata,
        excluded_embed_metadata_keys=[k for k in metadata if k not in EMBED_METADATA_KEYS],
        excluded_llm_metadata_keys=[k for k in metadata if k not in LLM_METADATA_KEYS],
    )
    parsed = splitter.get_nodes_from_documents([source]) if cleaned else []
    nodes = [node for node in parsed if isinstance(node, TextNode)]
    for position, node in enumerate(nodes):
        start, end = node.start_char_idx, node.end_char_idx
        text = node.get_content(metadata_mode=MetadataMode.NONE)
        if start is None or end is None or cleaned[start:end] != text:
            raise ValueError(f"{document.doc_id}: chunk {position} is not a span of the article")
        embed_hash = _digest(node.get_content(metadata_mode=MetadataMode.EMBED))[:32]
        node.metadata.update(
            {
                "chunk_index": position,
                "start_char": start,
                "end_char": end,
                "embed_hash": embed_hash,
                SPANS_KEY: encode_spans(sentence_spans(text)),
            }
        )
        # Keep bookkeeping fields out of what the model and the LLM read.
        bookkeeping = ["chunk_index", "start_char", "end_char", "embed_hash", SPANS_KEY]
        node.excluded_embed_metadata_keys = [*node.excluded_embed_metadata_keys, *bookkeeping]
        node.excluded_llm_metadata_keys = [*node.excluded_llm_metadata_keys, *bookkeeping]
        # Same article, place, text and facts -> same id: a re-ingest recognises the chunk.
        node.id_ = f"{document.doc_id}-{_digest(document.doc_id, start, end, text, metadata)[:16]}"
    return PreparedDocument(document=document, cleaned_text=cleaned, nodes=nodes)
