"""Sentence spans are found at ingest, stored with each chunk, and read back when answering."""

from __future__ import annotations

import pytest
from llama_index.core.schema import MetadataMode, NodeWithScore, TextNode

from sinoqa.answer.extractive import candidate_quotes
from sinoqa.ingestion import sentences
from sinoqa.ingestion.index import open_index
from sinoqa.ingestion.sentences import SPANS_KEY, chunk_sentence_spans, decode_spans, sentence_spans
from sinoqa.settings import Settings

TEXT = "The talks resumed in Beijing. Both sides called them candid.\n\nA new paragraph starts."


def _no_splitting() -> None:
    raise AssertionError("the sentences were split again instead of read from the chunk")


def test_indexed_chunks_carry_their_sentence_spans(seeded: Settings) -> None:
    nodes = open_index(seeded).live_nodes()
    assert len(nodes) > 20
    for node in nodes:
        text = node.get_content()
        assert decode_spans(node.metadata[SPANS_KEY], len(text)) == sentence_spans(text)
        # Bookkeeping: neither the embedding model nor a generative model reads them.
        for mode in (MetadataMode.EMBED, MetadataMode.LLM):
            assert node.metadata[SPANS_KEY] not in node.get_content(metadata_mode=mode)


def test_the_answerer_reads_stored_spans_and_splits_older_chunks(
    seeded: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    nodes = open_index(seeded).live_nodes()[:12]
    older = [
        TextNode(
            id_=node.node_id,
            text=node.get_content(),
            metadata={k: v for k, v in node.metadata.items() if k != SPANS_KEY},
        )
        for node in nodes
    ]
    split_now = candidate_quotes([NodeWithScore(node=n, score=1.0) for n in older])
    monkeypatch.setattr(sentences, "_punkt", _no_splitting)
    read_back = candidate_quotes([NodeWithScore(node=n, score=1.0) for n in nodes])
    assert read_back == split_now
    assert len(read_back) > len(nodes)
    with pytest.raises(AssertionError, match="split again"):
        candidate_quotes([NodeWithScore(node=older[0], score=1.0)])


@pytest.mark.parametrize(
    "stored",
    ["0-29 20-60", f"0-{len(TEXT) + 1}", "0-29 x", "5-5", "29-0", "0:29"],
    ids=["overlapping", "past-the-end", "not-a-span", "empty", "reversed", "other-format"],
)
def test_damaged_spans_are_not_trusted(stored: str) -> None:
    assert decode_spans(stored, len(TEXT)) is None
    assert chunk_sentence_spans(TEXT, {SPANS_KEY: stored}) == sentence_spans(TEXT)


def test_spans_round_trip_and_keep_paragraphs_apart() -> None:
    spans = sentence_spans(TEXT)
    assert [TEXT[s:e] for s, e in spans] == [
        "The talks resumed in Beijing.",
        "Both sides called them candid.",
        "A new paragraph starts.",
    ]
    assert decode_spans(sentences.encode_spans(spans), len(TEXT)) == spans


def test_an_index_built_before_spans_were_stored_gets_them_without_re_embedding(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sinoqa.ingestion import chunking
    from sinoqa.ingestion import index as index_module
    from sinoqa.pipeline import ingest

    # An older sinoqa: chunks without the key, and a collection that does not claim them.
    with monkeypatch.context() as older:
        older.setattr(chunking, "SPANS_KEY", "not_the_spans")
        older.setattr(index_module, "SPANS_KEY", "not_the_spans")
        older.setattr(sentences, "SPANS_KEY", "not_the_spans")
        first = ingest(settings)
    assert first.chunks_embedded == first.chunks_total > 20
    assert all(SPANS_KEY not in n.metadata for n in open_index(settings).live_nodes())

    upgraded = ingest(settings)
    assert upgraded.chunks_embedded == 0
    assert upgraded.sentence_spans_stored == first.chunks_total
    nodes = open_index(settings).live_nodes()
    for node in nodes:
        text = node.get_content()
        assert decode_spans(node.metadata[SPANS_KEY], len(text)) == sentence_spans(text)
        assert node.metadata[SPANS_KEY] not in node.get_content(metadata_mode=MetadataMode.LLM)
    monkeypatch.setattr(sentences, "_punkt", _no_splitting)
    assert candidate_quotes([NodeWithScore(node=n, score=1.0) for n in nodes[:5]])
    assert ingest(settings).sentence_spans_stored == 0  # once per collection
