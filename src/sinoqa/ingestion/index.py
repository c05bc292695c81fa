"""Chunks -> embeddings -> Chroma, incrementally. The only module that talks to chromadb.

Layout: for each combination of settings that changes vectors (model, chunking, cleaning
version) there is a pair of collections, ``<prefix>-<fingerprint>`` holding the chunks and
``<prefix>-<fingerprint>-docs`` holding one record per indexed article (its content hash,
cleaned text and the ids of its chunks). The docs record is the commit point: a chunk is
served only if the record of its article lists it. An ingest adds an article's new chunks,
then swaps its record, then deletes the chunks the old record listed and the new one does
not; an interruption at any point leaves the previous version of every article served, and
the next ingest removes whatever was left half-written.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from sinoqa.errors import IndexFull, IndexNotFound, IndexUnavailable
from sinoqa.ingestion.chunking import PreparedDocument
from sinoqa.ingestion.clean import CLEANING_VERSION
from sinoqa.ingestion.records import (
    SCHEMA_VERSION,
    DocRecord,
    IndexStatus,
    StoredChunks,
    describe_location,
    fingerprint,
    out_of_space_message,
    unreachable_message,
)
from sinoqa.ingestion.sentences import SPANS_KEY, with_sentence_spans
from sinoqa.settings import Settings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.api.types import GetResult
    from llama_index.core.schema import BaseNode, TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

_ID_PAGE = 5000  # ids fetched per Chroma call when scanning a whole collection
_Row = tuple[str, str, dict[str, Any], Any]  # a stored chunk: id, text, metadata, vector


def _ingest_command(settings: Settings) -> str:
    """The ingest that builds this index, as the user would type it (paths not the default
    included, so it can be copied)."""
    words = ["sinoqa", "ingest"]
    if settings.corpus.dir != type(settings.corpus).model_fields["dir"].default:
        words += ["--corpus", shlex.quote(str(settings.corpus.dir))]
    index_default = type(settings.index).model_fields["dir"].default
    if not settings.index.chroma_url and settings.index.dir != index_default:
        words += ["--index", shlex.quote(str(settings.index.dir))]
    return f"`{' '.join(words)}`"


def _connect(settings: Settings, create: bool) -> ClientAPI:
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False)
    url = settings.index.chroma_url
    if url:
        parsed = urlparse(url if "://" in url else f"http://{url}")
        try:
            client = chromadb.HttpClient(
                host=parsed.hostname or "127.0.0.1",
                port=parsed.port or (443 if parsed.scheme == "https" else 8000),
                ssl=parsed.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
        except Exception as exc:
            raise IndexUnavailable(unreachable_message(url, exc)) from exc
        return client
    path = settings.index.dir
    if not create and not (path / "chroma.sqlite3").exists():
        raise IndexNotFound(
            f"No index in {path.resolve()} yet. Run {_ingest_command(settings)} first."
        )
    if path.exists() and not path.is_dir():
        raise IndexUnavailable(f"The index path {path} exists but is not a directory.")
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        except Exception as exc:
            if "already exists" in str(exc) and attempt + 1 < _OPEN_ATTEMPTS:
                _forget_half_started(path)
                time.sleep(0.2 * (attempt + 1))
                continue
            if (full := out_of_space_message(settings, exc)) is not None:
                raise IndexFull(full) from exc
            raise IndexUnavailable(
                f"The index in {path.resolve()} cannot be opened ({type(exc).__name__}: {exc}). "
                "Run `sinoqa ingest --rebuild` to rebuild it from the corpus."
            ) from exc
    raise AssertionError("unreachable: the last attempt returns or raises")


#: Two processes opening a new index at once (an ingest and `sinoqa status`) both create its
#: tables; the slower one finds them made ("table ... already exists") and succeeds on a retry.
_OPEN_ATTEMPTS = 3


def _forget_half_started(path: Path) -> None:
    """Drop the system Chroma cached for ``path`` when it failed to start, so that the next
    attempt starts afresh (Chroma keeps one system per path in-process; no healthy client can
    share a system that never started)."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(path), None)
    SharedSystemClient._identifier_to_refcount.pop(str(path), None)


class ChromaIndex:
    """The chunk and document collections for one set of vector-changing settings."""

    def __init__(self, settings: Settings, *, create: bool = False) -> None:
        self.settings = settings
        self.location = describe_location(settings)
        self.name = f"{settings.index.collection_prefix}-{fingerprint(settings)}"
        self.client = _connect(settings, create)
        try:
            self.chunks = self._collection(self.name, create)
            self.docs = self._collection(f"{self.name}-docs", create)
        except IndexUnavailable:
            raise
        except Exception as exc:
            raise IndexUnavailable(
                f"The index at {self.location} cannot be read ({type(exc).__name__}: {exc}). "
                "Run `sinoqa ingest --rebuild` to rebuild it from the corpus."
            ) from exc

    def _collection(self, name: str, create: bool) -> Collection:
        if create:
            return self.client.get_or_create_collection(
                name,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=self._describe(),
                embedding_function=None,
            )
        try:
            return self.client.get_collection(name, embedding_function=None)
        except Exception as exc:
            if type(exc).__name__ in {"NotFoundError", "InvalidCollectionException", "ValueError"}:
                raise IndexNotFound(
                    f"No index at {self.location} for the current settings (model "
                    f"{self.settings.embedding.model!r}, chunk size "
                    f"{self.settings.chunking.chunk_size}). Run {_ingest_command(self.settings)} "
                    "first."
                ) from exc
            raise

    def _describe(self) -> dict[str, Any]:
        return {
            "model": self.settings.embedding.model,
            "chunk_size": self.settings.chunking.chunk_size,
            "chunk_overlap": self.settings.chunking.chunk_overlap,
            "cleaning_version": CLEANING_VERSION,
            "schema_version": SCHEMA_VERSION,
        }

    @cached_property
    def vector_store(self) -> ChromaVectorStore:
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.chunks)

    # -- reading --------------------------------------------------------------------------

    def records(self) -> dict[str, DocRecord]:
        result = self.docs.get(include=["metadatas"])
        metadatas = result["metadatas"] or []
        return {
            doc_id: DocRecord.from_chroma(doc_id, dict(meta or {}))
            for doc_id, meta in zip(result["ids"], metadatas, strict=True)
        }

    def live_chunk_ids(self, records: Iterable[DocRecord] | None = None) -> set[str]:
        records = self.records().values() if records is None else records
        return {chunk_id for record in records for chunk_id in record.chunk_ids}

    def _chunk_pages(self, include: list[Any]) -> Iterator[GetResult]:
        """The whole chunk collection, ``_ID_PAGE`` chunks per Chroma call."""
        offset = 0
        while True:
            page = self.chunks.get(include=include, limit=_ID_PAGE, offset=offset)
            yield page
            if len(page["ids"]) < _ID_PAGE:
                return
            offset += len(page["ids"])

    def all_chunk_ids(self) -> Iterator[str]:
        for page in self._chunk_pages(include=[]):
            yield from page["ids"]

    def cleaned_text(self, doc_id: str) -> str | None:
        result = self.docs.get(ids=[doc_id], include=["documents"])
        documents = result["documents"] or []
        return documents[0] if documents else None

    def _stored(self, chunk_ids: Sequence[str], vectors: bool = False) -> Iterator[_Row]:
        """(id, text, metadata, vector or None) of each of these chunks that exists, read
        ``_ID_PAGE`` at a time."""
        include: list[Any] = ["documents", "metadatas", *(["embeddings"] if vectors else [])]
        ids = list(chunk_ids)
        for start in range(0, len(ids), _ID_PAGE):
            page = self.chunks.get(ids=ids[start : start + _ID_PAGE], include=include)
            found = page["embeddings"] if page["embeddings"] is not None else []
            embedded = found if vectors else [None] * len(page["ids"])
            columns = (page["ids"], page["documents"] or [], page["metadatas"] or [], embedded)
            for chunk_id, text, meta, vector in zip(*columns, strict=True):
                yield chunk_id, text, dict(meta or {}), vector

    def embeddings_by_hash(self, chunk_ids: Sequence[str]) -> dict[str, list[float]]:
        """Vectors of existing chunks keyed by the hash of the text they were computed from."""
        return {
            str(meta["embed_hash"]): [float(x) for x in vector]
            for _, _, meta, vector in self._stored(chunk_ids, vectors=True)
            if meta.get("embed_hash")
        }

    def stored_chunks(self, doc_ids: Sequence[str]) -> list[StoredChunks]:
        """These articles' records with their chunks as stored (texts, metadata, vectors),
        read by id: nothing else of the index is read (those not indexed left out)."""
        import numpy as np

        result = self.docs.get(ids=list(dict.fromkeys(doc_ids)), include=["metadatas"])
        records = [
            DocRecord.from_chroma(doc_id, dict(meta or {}))
            for doc_id, meta in zip(result["ids"], result["metadatas"] or [], strict=True)
        ]
        wanted = [chunk_id for record in records for chunk_id in record.chunk_ids]
        found = {row[0]: row for row in self._stored(wanted, vectors=True)}
        stored = []
        for record in records:
            if rows := [found[c] for c in record.chunk_ids if c in found]:
                vectors = np.array([row[3] for row in rows], dtype=np.float32)
                stored.append(StoredChunks(record, [row[1] for row in rows], rows[0][2], vectors))
        return stored

    def live_nodes(self, records: Iterable[DocRecord] | None = None) -> list[TextNode]:
        """Every served chunk as a llama-index node (text, metadata, offsets)."""
        from llama_index.core.schema import TextNode
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        nodes = [
            node
            for _, text, meta, _ in self._stored(sorted(self.live_chunk_ids(records)))
            if isinstance(node := metadata_dict_to_node(meta, text=text), TextNode)
        ]
        nodes.sort(key=lambda n: (n.metadata["doc_id"], n.metadata["start_char"]))
        return nodes

    def version(self) -> str:
        """Changes whenever an ingest finishes, here or in another process."""
        fresh = self.client.get_collection(self.name, embedding_function=None)
        meta = fresh.metadata or {}
        return f"{meta.get('generation', 0)}/{meta.get('last_ingest')}/{fresh.count()}"

    def last_ingest(self) -> str | None:
        value = (self.chunks.metadata or {}).get("last_ingest")
        return str(value) if value else None

    # -- writing --------------------------------------------------------------------------

    def commit(self, batch: Sequence[tuple[PreparedDocument, DocRecord | None]]) -> None:
        """Make each prepared article the served version (its nodes carry embeddings).

        One write per step for the whole batch: new chunks, then the records that list them
        (the commit point), then the chunks the records no longer list.
        """
        import numpy as np

        fresh: list[BaseNode] = []
        stale: set[str] = set()
        ids: list[str] = []
        vectors: list[Sequence[float]] = []
        texts: list[str] = []
        metadatas: list[Mapping[str, Any]] = []
        for prepared, previous in batch:
            new_ids = [node.node_id for node in prepared.nodes]
            existing = set(previous.chunk_ids) if previous else set()
            fresh.extend(n for n in prepared.nodes if n.node_id not in existing)
            stale |= existing - set(new_ids)
            document = prepared.document
            mean = np.mean([node.get_embedding() for node in prepared.nodes], axis=0)
            mean = mean / (np.linalg.norm(mean) or 1.0)
            meta: dict[str, Any] = {
                **document.article.metadata(),
                "source": document.source,
                "content_hash": document.content_hash,
                "text_hash": document.text_hash,
                "chunk_ids": json.dumps(new_ids),
                "chunk_count": len(new_ids),
                "ingested_at": _now(),
                "minhash": prepared.signature,
            }
            ids.append(document.doc_id)
            vectors.append(mean.tolist())
            texts.append(prepared.cleaned_text)
            metadatas.append({k: v for k, v in meta.items() if v is not None})
        if fresh:
            self.vector_store.add(fresh)
        if ids:
            self.docs.upsert(ids=ids, embeddings=vectors, documents=texts, metadatas=metadatas)
        if stale:
            self.chunks.delete(ids=sorted(stale))

    def update_records(self, fields: Mapping[str, Mapping[str, Any]]) -> None:
        """Merge these fields into these articles' records (doc_id -> fields)."""
        ids = sorted(fields)
        for start in range(0, len(ids), _ID_PAGE):
            page = ids[start : start + _ID_PAGE]
            self.docs.update(ids=page, metadatas=[dict(fields[d]) for d in page])

    def remove(self, record: DocRecord) -> None:
        """Stop serving an article, then delete its chunks."""
        self.docs.delete(ids=[record.doc_id])
        self.chunks.delete(where={"doc_id": record.doc_id})

    def remove_orphans(self, live: set[str]) -> int:
        """Delete chunks no record lists (left by an interrupted ingest)."""
        orphans = [chunk_id for chunk_id in self.all_chunk_ids() if chunk_id not in live]
        for start in range(0, len(orphans), _ID_PAGE):
            self.chunks.delete(ids=orphans[start : start + _ID_PAGE])
        return len(orphans)

    def store_sentence_spans(self) -> int:
        """Give chunks indexed before sentence spans were stored their spans, in place.

        Only metadata is written (no re-embedding); afterwards answering needs no sentence
        splitter. Runs once per collection: the collection then says its chunks carry them.
        """
        if (self.chunks.metadata or {}).get(SPANS_KEY):
            return 0
        stored = 0
        for page in self._chunk_pages(include=["documents", "metadatas"]):
            ids: list[str] = []
            metadatas: list[Mapping[str, Any]] = []
            for chunk_id, text, meta in zip(
                page["ids"], page["documents"] or [], page["metadatas"] or [], strict=True
            ):
                updated = with_sentence_spans(dict(meta or {}), text or "")
                if updated is not None:
                    ids.append(chunk_id)
                    metadatas.append(updated)
            if ids:  # updating metadata keeps the collection's order: the next page is right
                self.chunks.update(ids=ids, metadatas=metadatas)
                stored += len(ids)
        return stored

    def mark_ingested(self) -> None:
        current = self.client.get_collection(self.name, embedding_function=None).metadata or {}
        generation = int(current.get("generation", 0)) + 1
        # An ingest stores any missing sentence spans before it finishes (_ingest).
        self.chunks.modify(
            metadata={
                **self._describe(),
                "last_ingest": _now(),
                "generation": generation,
                SPANS_KEY: True,
            }
        )

    def drop(self) -> None:
        for name in (self.name, f"{self.name}-docs"):
            try:
                self.client.delete_collection(name)
            except Exception:  # already gone
                continue

    def other_collections(self) -> list[str]:
        prefix = self.settings.index.collection_prefix + "-"
        names = [c.name for c in self.client.list_collections()]
        return sorted(
            n for n in names if n.startswith(prefix) and not n.endswith("-docs") and n != self.name
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def open_index(settings: Settings) -> ChromaIndex:
    """Open the existing index for ``settings`` for reading."""
    return ChromaIndex(settings, create=False)


def index_status(settings: Settings) -> IndexStatus:
    index = open_index(settings)
    records = index.records()
    return IndexStatus(
        location=index.location,
        collection=index.name,
        model=settings.embedding.model,
        chunk_size=settings.chunking.chunk_size,
        chunk_overlap=settings.chunking.chunk_overlap,
        cleaning_version=CLEANING_VERSION,
        documents=len(records),
        chunks=len(index.live_chunk_ids(records.values())),
        last_ingest=index.last_ingest(),
        records=sorted(records.values(), key=lambda r: (r.published or "", r.doc_id)),
        other_collections=index.other_collections(),
    )


def _wipe_local_index(path: Path) -> None:
    """Delete an embedded index directory, refusing anything that does not look like one."""
    if not path.exists():
        return
    entries = list(path.iterdir())
    if entries and not (path / "chroma.sqlite3").exists():
        raise IndexUnavailable(
            f"Refusing to delete {path}: it does not look like a sinoqa index (no chroma.sqlite3)."
        )
    from chromadb.api.shared_system_client import SharedSystemClient

    # Chroma caches one system per path in-process; drop it so the new files are opened.
    SharedSystemClient.clear_system_cache()
    shutil.rmtree(path)


def open_for_writing(settings: Settings, rebuild: bool) -> ChromaIndex:
    if rebuild:
        if settings.index.chroma_url:
            ChromaIndex(settings, create=True).drop()
        else:
            try:
                ChromaIndex(settings, create=True).drop()
            except IndexUnavailable:
                _wipe_local_index(settings.index.dir)  # unreadable: start over from the corpus
    return ChromaIndex(settings, create=True)
