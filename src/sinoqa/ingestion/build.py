"""Ingest: bring an index in line with the corpus, one writer at a time.

The orchestration of a run: read the corpus, decide which articles are new, changed,
unchanged or gone, prepare (clean, chunk) and embed the changed ones in groups, and commit
each group through :class:`sinoqa.ingestion.index.ChromaIndex` (the only module that talks to
chromadb), so an interruption leaves every article's previous version served. Every run holds
an inter-process lock on the index (:func:`writing`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sinoqa.errors import CorpusNotFound, IndexBusy, IndexUnavailable
from sinoqa.ingestion import index as index_module
from sinoqa.ingestion.chunking import PreparedDocument, make_splitter, prepare_document
from sinoqa.ingestion.copies import Member, regroup_copies
from sinoqa.ingestion.corpus import Document, read_corpus
from sinoqa.ingestion.embedding import load_embed_model, token_counter
from sinoqa.ingestion.index import ChromaIndex
from sinoqa.ingestion.records import DocRecord, describe_location, reachable
from sinoqa.schema import IngestReport, ProgressCallback, Skipped
from sinoqa.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode


def _lock_path(settings: Settings) -> Path:
    """Beside a local index (not in it: --rebuild wipes the folder); for a server, one per
    URL and collection in the temporary folder (so one machine's processes take turns)."""
    if settings.index.chroma_url:
        key = hashlib.sha256(
            f"{settings.index.chroma_url}|{settings.index.collection_prefix}".encode()
        ).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"sinoqa-ingest-{key}.lock"
    folder = settings.index.dir.resolve()
    return folder.parent / f".{folder.name}.ingest.lock"


@contextlib.contextmanager
def writing(
    settings: Settings, wait: bool = True, on_wait: Callable[[], None] | None = None
) -> Iterator[str | None]:
    """Hold the index's ingest lock: one writer at a time, across processes. Readers (the
    served questions) go on: they read the last committed version.

    The lock is the operating system's (released when its process ends, however it ends);
    beside it a note says which process holds it and since when, for the message another
    ingest shows. Yields who held it last without finishing (a process that is gone), if
    anyone did."""
    from filelock import FileLock, Timeout

    path = _lock_path(settings)
    holder = path.with_name(path.name + ".holder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # filelock reads a lock file it cannot create as one held by someone else (and would
        # wait forever): make sure it can be created first.
        with path.open("a"):
            pass
    except OSError as exc:
        raise IndexUnavailable(
            f"could not create the ingest lock file at {path}: {exc.strerror or exc}; "
            "choose an index folder you can write to (--index or SINOQA_INDEX__DIR)"
        ) from None
    lock = FileLock(str(path))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        held = f"another ingest ({_holder(holder)})"
        if not wait:
            raise IndexBusy(
                f"{held} is running on {describe_location(settings)}; try again when it has "
                "finished (or leave out --no-wait to wait for it)"
            ) from None
        if on_wait:
            on_wait()
        lock.acquire()
    try:
        # A note left behind: its process ended without finishing (killed, or the machine
        # stopped). The operating system released its lock; say so.
        abandoned = _holder(holder) if holder.exists() else None
        with contextlib.suppress(OSError):  # the note is for people; the lock is what counts
            started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            holder.write_text(f"{os.getpid()} {started}\n", encoding="utf-8")
        yield abandoned
    finally:
        with contextlib.suppress(OSError):
            holder.unlink()
        lock.release()


def _holder(note: Path) -> str:
    """Who holds the lock, as its note says: "process 123 since 2026-12-05T10:00:00+00:00"."""
    try:
        pid, since = note.read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return "process unknown"
    return f"process {pid} since {since}"


def ingest(
    settings: Settings | None = None,
    paths: Sequence[Path] | None = None,
    *,
    rebuild: bool = False,
    progress: ProgressCallback | None = None,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
) -> IngestReport:
    """Read, clean, chunk and embed the corpus (or add/update just ``paths``) into the index
    the settings (default: the environment's) name.

    With no ``paths`` the corpus directory is synchronised: articles no longer there are
    removed. Unchanged articles cost nothing; a changed one reuses the vectors of chunks
    whose text did not change. One ingest writes an index at a time, across processes
    (:func:`writing`): another waits for it, calling ``on_wait`` once, or with
    ``wait=False`` raises :class:`sinoqa.errors.IndexBusy`.
    """
    settings = settings or Settings()
    if paths is None and not settings.corpus.dir.is_dir():
        # Not an empty corpus: synchronising from it would be a mistake, not a no-op.
        raise CorpusNotFound(
            f"the corpus folder {settings.corpus.dir} does not exist; give --corpus or set "
            "SINOQA_CORPUS__DIR"
        )
    # A full disk or a lost server: one clear error (the index keeps what it served).
    with writing(settings, wait, on_wait) as abandoned, reachable(settings):
        report = _ingest(settings, paths, rebuild, progress)
    if abandoned:
        report.notices.append(
            f"An earlier ingest ({abandoned}) ended without finishing; this one took over "
            "the index and completed its work."
        )
    return report


def _ingest(
    settings: Settings,
    paths: Sequence[Path] | None,
    rebuild: bool,
    progress: ProgressCallback | None,
) -> IngestReport:
    started = time.perf_counter()
    sync = paths is None
    roots = list(paths) if paths is not None else [settings.corpus.dir]
    if rebuild:  # what was ingested from elsewhere, and is still there, is built again too
        roots += _sources_outside(settings, roots)
    index = index_module.open_for_writing(settings, rebuild)
    records = index.records()
    read = read_corpus(roots, max_bytes=settings.corpus.max_file_bytes, prefer=records.keys())
    report = IngestReport(location=index.location, collection=index.name, skipped=read.skipped)
    report.orphans_removed = index.remove_orphans(index.live_chunk_ids(records.values()))

    seen = {document.doc_id for document in read.documents}
    # An article ingested from outside the corpus stays while its file exists.
    leaving = (
        {d for d, r in records.items() if d not in seen and not Path(r.source).is_file()}
        if sync
        else set()
    )
    staying_texts = {r.text_hash: d for d, r in records.items() if d not in leaving}
    changed: list[Document] = []
    for document in read.documents:
        record = records.get(document.doc_id)
        twin = staying_texts.get(document.text_hash)
        if record is None and twin is not None and twin != document.doc_id:
            reason = f"same text as the indexed article '{twin}'"
            report.skipped.append(Skipped(document.source, reason))
        elif record is not None and record.content_hash == document.content_hash:
            report.unchanged.append(document.doc_id)
        else:
            changed.append(document)
    for doc_id in sorted(leaving):
        index.remove(records[doc_id])
        report.removed.append(doc_id)

    committed = _embed_and_commit(settings, index, changed, records, report, progress)
    report.sentence_spans_stored = index.store_sentence_spans()
    arrived = {
        p.document.doc_id: (
            Member(p.document.doc_id, p.document.published, p.signature),
            p.cleaned_text,
        )
        for p in committed
    }
    regroup_copies(index, records, arrived, report.removed, settings.corpus.min_copy_jaccard)
    index.mark_ingested()
    report.chunks_total = len(index.live_chunk_ids())
    report.seconds = time.perf_counter() - started
    return report


def _sources_outside(settings: Settings, roots: Sequence[Path]) -> list[Path]:
    """The files of indexed articles that lie outside ``roots`` and still exist (none when
    the index cannot be read: a rebuild then starts from the roots alone)."""
    try:
        records = ChromaIndex(settings).records()
    except IndexUnavailable:  # IndexNotFound included
        return []
    inside = [root.resolve() for root in roots]
    sources = {Path(record.source) for record in records.values()}
    return sorted(
        source
        for source in sources
        if source.is_file() and not any(source.resolve().is_relative_to(root) for root in inside)
    )


def _embed_and_commit(
    settings: Settings,
    index: ChromaIndex,
    documents: list[Document],
    records: dict[str, DocRecord],
    report: IngestReport,
    progress: ProgressCallback | None,
) -> list[PreparedDocument]:
    """Prepare, embed and commit articles in groups, so work is saved as it goes; those
    committed."""
    from llama_index.core.schema import MetadataMode

    if not documents:
        return []

    embed_model = load_embed_model(settings.embedding)
    splitter = make_splitter(settings.chunking, token_counter(embed_model))
    if progress:
        progress(0, len(documents))
    group: list[PreparedDocument] = []
    committed: list[PreparedDocument] = []
    pending: list[TextNode] = []
    # Chunks per commit: enough to sort by length (less padding), few enough to save often
    # (256 at the default batch size).
    group_size = settings.embedding.batch_size * 32
    for position, document in enumerate(documents, start=1):
        item = prepare_document(document, splitter)
        if not item.nodes:
            report.skipped.append(Skipped(document.source, "no article text left after cleaning"))
        else:
            # Vectors of chunks whose text is unchanged are reused, not recomputed.
            previous = records.get(document.doc_id)
            known = index.embeddings_by_hash(previous.chunk_ids) if previous else {}
            for node in item.nodes:
                node.embedding = known.get(node.metadata["embed_hash"])
            pending.extend(node for node in item.nodes if node.embedding is None)
            group.append(item)
        if len(pending) < group_size and position < len(documents):
            continue
        if pending:
            # Similar lengths in each model batch: less padding (what encode() does itself
            # when it gets all texts at once).
            by_length = sorted(
                ((n.get_content(metadata_mode=MetadataMode.EMBED), n) for n in pending),
                key=lambda pair: len(pair[0]),
            )
            vectors = embed_model.get_text_embedding_batch([text for text, _ in by_length])
            for (_, node), vector in zip(by_length, vectors, strict=True):
                node.embedding = vector
        pending_ids = {n.node_id for n in pending}
        index.commit([(ready, records.get(ready.document.doc_id)) for ready in group])
        committed.extend(group)
        for ready in group:
            doc_id = ready.document.doc_id
            previous = records.get(doc_id)
            (report.updated if previous else report.added).append(doc_id)
            fresh = sum(1 for n in ready.nodes if n.node_id in pending_ids)
            report.chunks_embedded += fresh
            report.chunks_reused += len(ready.nodes) - fresh
        group, pending = [], []
        if progress:
            progress(position, len(documents))
    return committed
