"""Sentence boundaries, found once when an article is chunked and stored with each chunk.

Punkt (NLTK) splits the sentences. Importing NLTK costs about two seconds, because its package
imports SciPy, scikit-learn and pandas; chunks therefore carry their sentence spans in their
metadata (:data:`SPANS_KEY`), so answering a question never needs NLTK. Chunks indexed before
the spans were stored are split when they are read, with the same result.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nltk.tokenize.punkt import PunktTokenizer

#: The chunk metadata key holding the chunk's sentence spans, as :func:`encode_spans` writes.
SPANS_KEY = "sentences"
_PARAGRAPH = re.compile(r"[^\n]+(?:\n(?!\n)[^\n]+)*")
_SPAN = re.compile(r"(\d+)-(\d+)")


@lru_cache(maxsize=1)
def _punkt() -> PunktTokenizer:
    from llama_index.core.utils import globals_helper
    from nltk.tokenize.punkt import PunktTokenizer

    globals_helper.wait_for_nltk_check()  # puts llama-index's bundled NLTK data on the path
    return PunktTokenizer("english")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence boundaries (start, end) in ``text``; paragraphs never join into one sentence."""
    spans: list[tuple[int, int]] = []
    tokenizer = _punkt()
    for paragraph in _PARAGRAPH.finditer(text):
        for start, end in tokenizer.span_tokenize(paragraph.group()):
            spans.append((paragraph.start() + start, paragraph.start() + end))
    return spans


def encode_spans(spans: list[tuple[int, int]]) -> str:
    """Spans as a metadata string (Chroma stores scalars): ``"0-112 113-240"``."""
    return " ".join(f"{start}-{end}" for start, end in spans)


def decode_spans(value: str, length: int) -> list[tuple[int, int]] | None:
    """The spans :func:`encode_spans` wrote, or None when they do not fit a text of
    ``length`` characters (then the text is split again)."""
    spans: list[tuple[int, int]] = []
    previous_end = 0
    for item in value.split():
        match = _SPAN.fullmatch(item)
        if match is None:
            return None
        start, end = int(match.group(1)), int(match.group(2))
        if not previous_end <= start < end <= length:
            return None
        spans.append((start, end))
        previous_end = end
    return spans


def chunk_sentence_spans(text: str, metadata: Mapping[str, Any]) -> list[tuple[int, int]]:
    """A chunk's sentence spans: those stored at ingest, else split now."""
    stored = metadata.get(SPANS_KEY)
    if isinstance(stored, str):
        spans = decode_spans(stored, len(text))
        if spans is not None:
            return spans
    return sentence_spans(text)


def with_sentence_spans(meta: dict[str, Any], text: str) -> dict[str, Any] | None:
    """A chunk's Chroma metadata with its sentence spans added, both where Chroma filters
    and in the node llama-index rebuilds from ``_node_content``; None if there is nothing
    to add (already there, or not a node llama-index wrote)."""
    if SPANS_KEY in meta or not text:
        return None
    try:
        node = json.loads(str(meta["_node_content"]))
        node_metadata = node["metadata"]
    except (KeyError, TypeError, ValueError):
        return None  # read as before: split when answering
    spans = encode_spans(sentence_spans(text))
    node_metadata[SPANS_KEY] = spans
    for key in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
        node[key] = [*node.get(key, []), SPANS_KEY]
    return {**meta, SPANS_KEY: spans, "_node_content": json.dumps(node)}
