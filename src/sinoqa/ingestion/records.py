"""What the index knows about each article and about itself: the article records, the
index's status and identity (its fingerprint), and the errors of an index that cannot be used.
No chromadb here: only :mod:`sinoqa.ingestion.index` talks to Chroma."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from sinoqa.ingestion.clean import CLEANING_VERSION
from sinoqa.schema import Article
from sinoqa.settings import Settings

#: Bump when the layout of records changes: old collections are then left alone.
SCHEMA_VERSION = 1


class IndexUnavailable(RuntimeError):
    """The index cannot be used; the message says why and what to do."""


class IndexNotFound(IndexUnavailable):
    """Nothing has been indexed yet with the current settings."""


class DocRecord(Article):
    """What the index knows about one article: its facts, and what its ingest recorded."""

    content_hash: str
    text_hash: str
    chunk_ids: tuple[str, ...]
    source: str
    ingested_at: str

    @classmethod
    def from_chroma(cls, doc_id: str, meta: Mapping[str, Any]) -> DocRecord:
        return cls(
            **Article.from_metadata({**meta, "doc_id": doc_id}).model_dump(),
            content_hash=str(meta["content_hash"]),
            text_hash=str(meta.get("text_hash", "")),
            chunk_ids=tuple(json.loads(str(meta["chunk_ids"]))),
            source=str(meta.get("source", "")),
            ingested_at=str(meta.get("ingested_at", "")),
        )


class IndexStatus(BaseModel):
    """What is indexed under one configuration (`sinoqa status`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", protected_namespaces=())

    location: str
    collection: str
    model: str
    chunk_size: int
    chunk_overlap: int
    cleaning_version: int
    documents: int
    chunks: int
    last_ingest: str | None
    records: list[DocRecord]
    other_collections: list[str]


def fingerprint(settings: Settings) -> str:
    """Identifies everything that changes the vectors; a change means a new collection."""
    facts = {
        "model": settings.embedding.model,
        "chunk_size": settings.chunking.chunk_size,
        "chunk_overlap": settings.chunking.chunk_overlap,
        "cleaning": CLEANING_VERSION,
        "schema": SCHEMA_VERSION,
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:10]


def describe_location(settings: Settings) -> str:
    return settings.index.chroma_url or str(settings.index.dir.resolve())
