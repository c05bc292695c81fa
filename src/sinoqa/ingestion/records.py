"""What the index knows about each article and about itself: the article records, the
index's status and identity (its fingerprint), and the errors of an index that cannot be used.
No chromadb here: only :mod:`sinoqa.ingestion.index` talks to Chroma."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, computed_field

from sinoqa.errors import IndexFull, IndexUnavailable
from sinoqa.ingestion.clean import CLEANING_VERSION
from sinoqa.schema import Article
from sinoqa.settings import Settings

#: Bump when the layout of records changes: old collections are then left alone.
SCHEMA_VERSION = 1


class DocRecord(Article):
    """What the index knows about one article: its facts, and what its ingest recorded."""

    content_hash: str
    text_hash: str
    chunk_ids: tuple[str, ...]
    source: str
    ingested_at: str
    minhash: str | None = Field(None, exclude=True)  # its text's MinHash (:mod:`.copies`)
    copy_group: str | None = Field(
        None, description="The earliest indexed article carrying its text (itself: no copy)."
    )

    @classmethod
    def from_chroma(cls, doc_id: str, meta: Mapping[str, Any]) -> DocRecord:
        return cls(
            **Article.from_metadata({**meta, "doc_id": doc_id}).model_dump(),
            content_hash=str(meta["content_hash"]),
            text_hash=str(meta.get("text_hash", "")),
            chunk_ids=tuple(json.loads(str(meta["chunk_ids"]))),
            source=str(meta.get("source", "")),
            ingested_at=str(meta.get("ingested_at", "")),
            minhash=meta.get("minhash"),
            copy_group=meta.get("copy_group"),
        )


@dataclass(frozen=True)
class StoredChunks:
    """One article's record and its chunks as the index stores them."""

    record: DocRecord
    texts: list[str]
    metadata: dict[str, Any]  # its first chunk's: the article's facts, for filters
    vectors: np.ndarray  # one row per chunk, as embedded


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

    @computed_field  # type: ignore[prop-decorator]
    @property
    def copy_groups(self) -> int:
        """Groups of two or more articles carrying one text."""
        return len(self._copied())

    @computed_field  # type: ignore[prop-decorator]
    @property
    def copied_articles(self) -> int:
        """Articles in those groups."""
        return sum(self._copied().values())

    def _copied(self) -> dict[str, int]:
        sizes = Counter(r.copy_group for r in self.records if r.copy_group)
        return {group: n for group, n in sizes.items() if n > 1}


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


def unreachable_message(url: str, exc: BaseException) -> str:
    return (
        f"Cannot reach the Chroma server at {url} ({exc}). Start it (for example "
        "`chroma run --path index --host 127.0.0.1 --port 8000`) or unset "
        "SINOQA_INDEX__CHROMA_URL to use the local index directory."
    )


@contextmanager
def reachable(settings: Settings) -> Iterator[None]:
    """Report a Chroma server lost mid-session as IndexUnavailable, with the fix.

    The client reconnects by itself once the server is back, so nothing else is needed.
    """
    try:
        yield
    except IndexUnavailable:  # IndexNotFound included: already clear
        raise
    except Exception as exc:
        import httpx

        if (full := out_of_space_message(settings, exc)) is not None:
            raise IndexFull(full) from exc

        url = settings.index.chroma_url
        cause: BaseException | None = exc
        while url and cause is not None:
            if isinstance(cause, httpx.TransportError | ConnectionError):
                raise IndexUnavailable(unreachable_message(url, cause)) from exc
            cause = cause.__cause__ or cause.__context__
        raise


#: Below this much free space a Chroma failure is read as a full disk: SQLite says "disk is
#: full", but Chroma's compactor reports only that it "failed to apply logs".
_LOW_SPACE_BYTES = 8 * 1024 * 1024


def out_of_space_message(settings: Settings, exc: BaseException) -> str | None:
    """The message for ``exc`` when the disk holding a local index is full, else None."""
    if settings.index.chroma_url:
        return None
    folder = settings.index.dir.resolve()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    said = f"{exc} {exc.__cause__ or ''}".lower()
    if free >= _LOW_SPACE_BYTES and "disk is full" not in said and "no space" not in said:
        return None
    return (
        f"no space left on the disk holding the index {settings.index.dir} ({free // 1024} KB "
        "free). Nothing indexed before was lost: free some space and run the command again "
        "(an interrupted ingest completes then, without --rebuild)."
    )
