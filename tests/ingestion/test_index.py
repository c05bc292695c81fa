"""Ingest into a real Chroma with the real embedding model: incremental, consistent, queryable."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chromadb.api.shared_system_client import SharedSystemClient

from sinoqa import pipeline
from sinoqa.errors import IndexNotFound, IndexUnavailable
from sinoqa.ingestion.embedding import BertEmbedding, load_embed_model
from sinoqa.ingestion.index import ChromaIndex, open_index
from sinoqa.settings import Settings

# A phrase a reader might remember from each article, and the article it must find.
NEIGHBOURS = {
    "US military aid to Taiwan worth 345 million dollars": "eir-2023-new-balance",
    "Yang Jiechi demanded the United States rectify its mistakes": "teneo-2021-first-contact",
    "working groups on Asia-Pacific and maritime issues": "ft-2023-communication-lines",
    "sanctions on defence minister Li Shangfu block a meeting": "islamabad-telegraph-2023-de-risk",
    "Russia and China forming a joint anti-Nato front": "scmp-2021-bad-faith",
}


class EmbedCounter:
    """Counts texts the real model embeds (the model still does the work)."""

    def __init__(self) -> None:
        self.texts = 0


@pytest.fixture
def embed_counter(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbedCounter]:
    counter = EmbedCounter()
    original = BertEmbedding._get_text_embeddings

    def counting(self: BertEmbedding, texts: list[str]) -> list[list[float]]:
        counter.texts += len(texts)
        return original(self, texts)

    monkeypatch.setattr(BertEmbedding, "_get_text_embeddings", counting)
    yield counter


def assert_consistent(index: ChromaIndex) -> None:
    """Every served chunk exists, belongs to its record's article, and quotes its text."""
    records = index.records()
    live = index.live_chunk_ids(records.values())
    stored = index.chunks.get(ids=sorted(live), include=["metadatas", "documents"])
    assert sorted(stored["ids"]) == sorted(live)
    texts = {doc_id: index.cleaned_text(doc_id) for doc_id in records}
    for chunk_id, meta, text in zip(
        stored["ids"], stored["metadatas"] or [], stored["documents"] or [], strict=True
    ):
        assert meta is not None
        doc_id = str(meta["doc_id"])
        assert chunk_id in records[doc_id].chunk_ids
        cleaned = texts[doc_id]
        assert cleaned is not None
        assert cleaned[int(meta["start_char"]) : int(meta["end_char"])] == text


def top_doc(settings: Settings, query: str) -> str:
    from llama_index.core import VectorStoreIndex

    index = open_index(settings)
    retriever = VectorStoreIndex.from_vector_store(
        index.vector_store, embed_model=load_embed_model(settings.embedding)
    ).as_retriever(similarity_top_k=1)
    return str(retriever.retrieve(query)[0].node.metadata["doc_id"])


def test_ingest_indexes_seeds_with_metadata_and_offsets(settings: Settings) -> None:
    report = pipeline.ingest(settings)
    assert sorted(report.added) == sorted(NEIGHBOURS.values())
    assert report.skipped == [] and report.removed == []
    assert report.chunks_total == report.chunks_embedded > 5
    index = open_index(settings)
    assert_consistent(index)
    got = index.chunks.get(where={"doc_id": "ft-2023-communication-lines"}, include=["metadatas"])
    meta = (got["metadatas"] or [])[0]
    assert (
        meta["title"]
        == "US and China to open communication lines after diplomatic push bears fruit"
    )
    assert meta["publisher"] == "Financial Times"
    assert meta["author"] == "Demetri Sevastopulo"
    assert meta["published"] == "2023-08-04" and meta["published_approx"] is True
    assert meta["published_min"] == meta["published_max"] == 20230804
    teneo = index.records()["teneo-2021-first-contact"]
    assert (teneo.published, teneo.url, teneo.author) == ("2021-02", None, None)
    assert all(chunk_id.startswith("teneo-2021-first-contact-") for chunk_id in teneo.chunk_ids)
    assert (settings.index.dir / "chroma.sqlite3").exists()


def test_nearest_neighbour_finds_each_article(settings: Settings) -> None:
    pipeline.ingest(settings)
    for phrase, doc_id in NEIGHBOURS.items():
        assert top_doc(settings, phrase) == doc_id, phrase


def test_unchanged_corpus_embeds_nothing(settings: Settings, embed_counter: EmbedCounter) -> None:
    first = pipeline.ingest(settings)
    assert embed_counter.texts == first.chunks_total
    embed_counter.texts = 0
    again = pipeline.ingest(settings)
    assert embed_counter.texts == 0
    assert sorted(again.unchanged) == sorted(first.added)
    assert (again.added, again.updated, again.removed) == ([], [], [])


def test_edited_article_is_reembedded_alone(
    settings: Settings, corpus_dir: Path, embed_counter: EmbedCounter
) -> None:
    pipeline.ingest(settings)
    before = open_index(settings).records()
    path = corpus_dir / "islamabad-telegraph-2023-de-risk.md"
    text = path.read_text(encoding="utf-8")
    edited = text.replace("met in Vienna", "met in Vienna, Austria,")
    assert edited != text
    path.write_text(edited, encoding="utf-8")
    embed_counter.texts = 0

    report = pipeline.ingest(settings)
    assert report.updated == ["islamabad-telegraph-2023-de-risk"]
    assert len(report.unchanged) == 4
    # Only the chunk holding the edit (and any it shifted into a neighbour) is embedded again.
    assert (
        1
        <= embed_counter.texts
        == report.chunks_embedded
        < len(before["islamabad-telegraph-2023-de-risk"].chunk_ids) + 1
    )
    index = open_index(settings)
    after = index.records()
    assert (
        after["islamabad-telegraph-2023-de-risk"].content_hash
        != before["islamabad-telegraph-2023-de-risk"].content_hash
    )
    for doc_id in after:
        if doc_id != "islamabad-telegraph-2023-de-risk":
            assert after[doc_id].chunk_ids == before[doc_id].chunk_ids
    assert "Vienna, Austria," in (index.cleaned_text("islamabad-telegraph-2023-de-risk") or "")
    old_only = set(before["islamabad-telegraph-2023-de-risk"].chunk_ids) - set(
        after["islamabad-telegraph-2023-de-risk"].chunk_ids
    )
    assert old_only and index.chunks.get(ids=sorted(old_only))["ids"] == []
    assert_consistent(index)


def test_metadata_only_edit_reuses_vectors(
    settings: Settings, corpus_dir: Path, embed_counter: EmbedCounter
) -> None:
    pipeline.ingest(settings)
    path = corpus_dir / "scmp-2021-bad-faith.md"
    path.write_text(
        path.read_text(encoding="utf-8").replace(
            'publisher: "South China Morning Post"', 'publisher: "SCMP"'
        ),
        encoding="utf-8",
    )
    embed_counter.texts = 0
    report = pipeline.ingest(settings)
    assert report.updated == ["scmp-2021-bad-faith"]
    assert embed_counter.texts == 0 and report.chunks_reused > 0
    index = open_index(settings)
    got = index.chunks.get(where={"doc_id": "scmp-2021-bad-faith"}, include=["metadatas"])
    assert {m["publisher"] for m in got["metadatas"] or []} == {"SCMP"}
    assert_consistent(index)


def test_deleted_article_is_removed(settings: Settings, corpus_dir: Path) -> None:
    pipeline.ingest(settings)
    (corpus_dir / "teneo-2021-first-contact.md").unlink()
    report = pipeline.ingest(settings)
    assert report.removed == ["teneo-2021-first-contact"]
    index = open_index(settings)
    assert "teneo-2021-first-contact" not in index.records()
    assert index.chunks.get(where={"doc_id": "teneo-2021-first-contact"})["ids"] == []
    assert_consistent(index)


def test_ingesting_extra_paths_adds_without_removing(settings: Settings, tmp_path: Path) -> None:
    pipeline.ingest(settings)
    extra = tmp_path / "outside" / "extra-note.md"
    extra.parent.mkdir()
    extra.write_text("---\ntitle: Extra\n---\nA note about semiconductor export rules.\n")
    report = pipeline.ingest(settings, [extra])
    assert report.added == ["extra-note"] and report.removed == []
    # A later full sync keeps it while its file exists.
    assert pipeline.ingest(settings).removed == []
    # A rebuild builds it again too: it was indexed, and its file is still there.
    rebuilt = pipeline.ingest(settings, rebuild=True)
    assert "extra-note" in rebuilt.added and len(rebuilt.added) == 6
    extra.unlink()
    assert pipeline.ingest(settings).removed == ["extra-note"]
    assert len(pipeline.ingest(settings, rebuild=True).added) == 5


def test_bad_files_are_reported_and_the_rest_indexed(settings: Settings, corpus_dir: Path) -> None:
    pipeline.ingest(settings)
    (corpus_dir / "empty.md").write_text("")
    (corpus_dir / "junk.bin").write_bytes(b"\x00" * 10)
    (corpus_dir / "copy.md").write_text(
        (corpus_dir / "scmp-2021-bad-faith.md")
        .read_text(encoding="utf-8")
        .replace('doc_id: "scmp-2021-bad-faith"', 'doc_id: "scmp-copy"')
    )
    report = pipeline.ingest(settings)
    assert report.added == [] and len(report.unchanged) == 5
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["empty.md"] == "empty file"
    assert reasons["junk.bin"].startswith("unsupported file type")
    # The copy sorts before the original, yet the indexed original is the one kept.
    assert reasons["copy.md"].startswith("same text as 'scmp-2021-bad-faith'")
    outside = corpus_dir.parent / "renamed-copy.md"
    outside.write_text((corpus_dir / "copy.md").read_text().replace("scmp-copy", "other-id"))
    report = pipeline.ingest(settings, [outside])
    assert report.added == []
    assert report.skipped[0].reason == "same text as the indexed article 'scmp-2021-bad-faith'"


def test_vector_changing_settings_build_a_new_collection(settings: Settings) -> None:
    pipeline.ingest(settings)
    smaller = settings.model_copy(
        update={"chunking": settings.chunking.model_copy(update={"chunk_size": 96})}
    )
    with pytest.raises(IndexNotFound, match=r"Run `sinoqa ingest --corpus .* --index "):
        open_index(smaller)
    report = pipeline.ingest(smaller)
    assert len(report.added) == 5
    assert report.collection != open_index(settings).name
    assert report.chunks_total > open_index(settings).chunks.count()
    assert pipeline.status(smaller).other_collections == [open_index(settings).name]


def test_interrupted_ingest_keeps_the_previous_version_served(
    settings: Settings, corpus_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline.ingest(settings)
    before = open_index(settings).records()
    for name in ("eir-2023-new-balance.md", "scmp-2021-bad-faith.md"):
        path = corpus_dir / name
        path.write_text(path.read_text(encoding="utf-8").replace("China", "PRC"), encoding="utf-8")

    # Fail at the worst moment: new chunks written, the articles' records not yet swapped.
    original_commit = ChromaIndex.commit

    def crash_before_swap(self: ChromaIndex, batch: object) -> None:
        def interrupted(*args: object, **kwargs: object) -> None:
            raise KeyboardInterrupt

        monkeypatch.setattr(self.docs, "upsert", interrupted)
        original_commit(self, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(ChromaIndex, "commit", crash_before_swap)
    with pytest.raises(KeyboardInterrupt):
        pipeline.ingest(settings)
    monkeypatch.undo()

    index = open_index(settings)
    during = index.records()
    assert during == before  # neither edited article committed: the old versions are served
    assert_consistent(index)  # orphans exist but are not served
    stored = set(index.all_chunk_ids())
    assert stored > index.live_chunk_ids()

    report = pipeline.ingest(settings)
    assert report.orphans_removed > 0
    assert len(report.updated) == 2
    index = open_index(settings)
    assert set(index.all_chunk_ids()) == index.live_chunk_ids()
    assert_consistent(index)
    assert pipeline.ingest(settings).updated == []


def test_missing_index_says_to_ingest(tmp_path: Path) -> None:
    settings = Settings().with_paths(index=tmp_path / "nothing-here")
    with pytest.raises(IndexNotFound, match="sinoqa ingest"):
        pipeline.status(settings)


def test_corrupt_index_says_to_rebuild_and_rebuild_recovers(
    settings: Settings, corpus_dir: Path
) -> None:
    pipeline.ingest(settings)
    corpus_before = {p.name: p.read_bytes() for p in corpus_dir.iterdir()}
    (settings.index.dir / "chroma.sqlite3").write_bytes(b"this is not a database" * 100)
    with pytest.raises(IndexUnavailable, match="--rebuild"):
        pipeline.status(settings)
    report = pipeline.ingest(settings, rebuild=True)
    assert len(report.added) == 5
    assert_consistent(open_index(settings))
    assert {p.name: p.read_bytes() for p in corpus_dir.iterdir()} == corpus_before


def test_unreachable_server_is_a_clear_error(settings: Settings) -> None:
    from tests.conftest import free_port

    url = f"http://127.0.0.1:{free_port()}"
    offline = settings.model_copy(
        update={"index": settings.index.model_copy(update={"chroma_url": url})}
    )
    with pytest.raises(IndexUnavailable, match="Cannot reach the Chroma server"):
        pipeline.status(offline)


@pytest.mark.server
def test_server_mode_against_chroma_run(
    settings: Settings, chroma_server: str, embed_counter: EmbedCounter
) -> None:
    remote = settings.model_copy(
        update={
            "index": settings.index.model_copy(
                update={"chroma_url": chroma_server, "collection_prefix": "servertest"}
            )
        }
    )
    ChromaIndex(remote, create=True).drop()  # the session's server may hold an earlier run
    report = pipeline.ingest(remote)
    assert len(report.added) == 5 and report.location == chroma_server
    assert not settings.index.dir.exists()  # nothing written locally
    embed_counter.texts = 0
    assert len(pipeline.ingest(remote).unchanged) == 5 and embed_counter.texts == 0
    state = pipeline.status(remote)
    assert state.documents == 5 and state.chunks == report.chunks_total
    assert_consistent(open_index(remote))
    for phrase, doc_id in NEIGHBOURS.items():
        assert top_doc(remote, phrase) == doc_id


def test_killed_ingest_leaves_a_consistent_index_and_rerun_completes(
    settings: Settings, corpus_dir: Path
) -> None:
    """SIGKILL in the middle of `sinoqa ingest`: what is served stays whole; a rerun finishes."""
    paragraphs = [
        p
        for path in sorted(corpus_dir.glob("*.md"))
        for p in path.read_text(encoding="utf-8").split("\n\n")
        if len(p) > 200
    ]
    for number in range(40):  # enough articles that the kill lands between commits
        body = "\n\n".join(random.Random(number).sample(paragraphs, 6))
        (corpus_dir / f"extra-{number:02d}.md").write_text(
            f"---\ndoc_id: extra-{number:02d}\ntitle: Extra {number}\n---\n\n{body}\n",
            encoding="utf-8",
        )
    env = dict(os.environ)
    env.update(
        SINOQA_CORPUS__DIR=str(corpus_dir),
        SINOQA_INDEX__DIR=str(settings.index.dir),
        SINOQA_EMBEDDING__BATCH_SIZE="2",  # commits every few chunks
    )
    log = corpus_dir.parent / "killed-ingest.log"
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "sinoqa.cli", "ingest"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    deadline = time.monotonic() + 300
    try:
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if len(open_index(settings).records()) >= 3:
                    break
            except (IndexNotFound, IndexUnavailable):
                pass
            time.sleep(0.2)
        assert process.poll() is None, (
            "the ingest ended before it could be killed:\n" + (log.read_text()[-3000:])
        )
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    SharedSystemClient.clear_system_cache()

    index = open_index(settings)
    committed = index.records()
    assert 3 <= len(committed) < 45
    assert_consistent(index)  # chunks written for the article in progress are not served
    answer = pipeline.Pipeline(settings).ask("What did Yang Jiechi ask the United States to do?")
    assert {c.doc_id for c in answer.citations} <= set(committed)

    report = pipeline.ingest(settings)
    assert len(committed) + len(report.added) == 45
    index = open_index(settings)
    assert len(index.records()) == 45
    assert set(index.all_chunk_ids()) == index.live_chunk_ids()
    assert_consistent(index)


def _garble_segments(index_dir: Path) -> None:
    for path in index_dir.glob("*/*.bin"):
        path.write_bytes(os.urandom(100))


def _delete_segments(index_dir: Path) -> None:
    for path in index_dir.iterdir():
        if path.is_dir():
            shutil.rmtree(path)


def _delete_database(index_dir: Path) -> None:
    (index_dir / "chroma.sqlite3").unlink()


@pytest.mark.parametrize("damage", [_garble_segments, _delete_segments, _delete_database])
def test_damaged_index_files_answer_or_say_how_to_fix_never_a_traceback(
    settings: Settings, corpus_dir: Path, damage: Any
) -> None:
    pipeline.ingest(settings)
    corpus_before = {p.name: p.read_bytes() for p in corpus_dir.iterdir()}
    SharedSystemClient.clear_system_cache()  # as a new process would open it
    damage(settings.index.dir)
    try:
        answer = pipeline.Pipeline(settings).ask("Where did Wang Yi meet Jake Sullivan?")
    except IndexUnavailable as exc:  # IndexNotFound included
        assert "sinoqa ingest" in str(exc)
    else:  # Chroma rebuilt its vector segment from its own log
        assert "Malta" in answer.answer
    SharedSystemClient.clear_system_cache()
    assert len(pipeline.ingest(settings, rebuild=True).added) == 5
    assert_consistent(open_index(settings))
    assert {p.name: p.read_bytes() for p in corpus_dir.iterdir()} == corpus_before


def test_a_new_index_another_process_is_creating_opens_on_a_retry(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two processes opening a new index at once both create its tables; the slower one sees
    Chroma's "already exists" and opens it on a second try. Any other error is not retried."""
    import chromadb

    real = chromadb.PersistentClient
    calls: list[str] = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        calls.append(str(kwargs.get("path")))
        if len(calls) == 1:
            raise RuntimeError("error returned from database: table collections already exists")
        return real(*args, **kwargs)

    monkeypatch.setattr(chromadb, "PersistentClient", racing)
    index = ChromaIndex(settings, create=True)
    assert len(calls) == 2 and not index.records()

    def broken(*args: Any, **kwargs: Any) -> Any:
        calls.append("broken")
        raise RuntimeError("file is not a database")

    monkeypatch.setattr(chromadb, "PersistentClient", broken)
    SharedSystemClient.clear_system_cache()
    with pytest.raises(IndexUnavailable, match=r"cannot be opened .*--rebuild"):
        ChromaIndex(settings, create=True)
    assert calls.count("broken") == 1
