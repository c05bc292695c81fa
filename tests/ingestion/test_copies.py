"""Copy groups: one wire text carried by several outlets is one group, named by its earliest
copy; articles that only share an event are not. Real articles, real index."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sinoqa import pipeline
from sinoqa.ingestion.copies import jaccard, shingles
from sinoqa.schema import Filters
from sinoqa.settings import Settings

WIRE = "ft-2023-communication-lines"
QUESTION = "How many working groups will Washington and Beijing create?"


def _front(text: str, **fields: str) -> str:
    """The article with some front-matter fields replaced."""
    for key, value in fields.items():
        text = re.sub(rf"^{key}: .*$", f'{key}: "{value}"', text, count=1, flags=re.M)
    return text


def copies_of(corpus: Path) -> dict[str, str]:
    """The wire text as three other outlets ran it, each a week or more later."""
    wire = (corpus / f"{WIRE}.md").read_text(encoding="utf-8")
    head, body = wire.split("\n---\n", 1)
    paragraphs = [p for p in body.split("\n\n") if p.strip()]
    other = (corpus / "teneo-2021-first-contact.md").read_text(encoding="utf-8")
    added = next(p for p in other.split("\n---\n", 1)[1].split("\n\n") if len(p) > 200)
    kept = paragraphs[: int(len(paragraphs) * 0.8)]
    return {
        "wire-retitled": _front(
            wire,
            doc_id="wire-retitled",
            publisher="Daily Courier",
            published="2023-08-12",
            title="Washington and Beijing to talk again",
        ),
        "wire-trimmed": _front(
            head, doc_id="wire-trimmed", publisher="Harbour Times", published="2023-08-15"
        )
        + "\n---\n"
        + "\n\n".join(kept)
        + "\n",
        "wire-extended": _front(
            head, doc_id="wire-extended", publisher="Evening Post", published="2023-08-20"
        )
        + "\n---\n"
        + "\n\n".join([*paragraphs, added])
        + "\n",
    }


def _groups(settings: Settings) -> dict[str, str | None]:
    return {r.doc_id: r.copy_group for r in pipeline.status(settings).records}


@pytest.mark.slow
def test_a_wire_text_in_three_outlets_is_one_group_named_by_its_earliest_copy(
    settings: Settings,
) -> None:
    corpus = settings.corpus.dir
    for doc_id, text in copies_of(corpus).items():
        (corpus / f"{doc_id}.md").write_text(text, encoding="utf-8")
    pipeline.ingest(settings)
    groups = _groups(settings)
    family = {WIRE, "wire-retitled", "wire-trimmed", "wire-extended"}
    assert {groups[d] for d in family} == {WIRE}
    # Articles on the same relationship, written apart, stay apart.
    assert all(groups[d] == d for d in groups.keys() - family)
    state = pipeline.status(settings)
    assert (state.copy_groups, state.copied_articles) == (1, 4)

    # The group is one source, cited where it appeared first, its other carriers named.
    answer = pipeline.get_pipeline(settings).ask(QUESTION)
    cited = {c.doc_id for c in answer.citations} | {s.doc_id for s in answer.nearest_sources}
    assert cited & family == {WIRE}
    source = next(c for c in answer.citations if c.doc_id == WIRE)
    assert source.earliest_doc_id == WIRE
    assert [(c.doc_id, c.outlet, c.date) for c in source.copies] == [
        ("wire-retitled", "Daily Courier", "2023-08-12"),
        ("wire-trimmed", "Harbour Times", "2023-08-15"),
        ("wire-extended", "Evening Post", "2023-08-20"),
    ]
    # Limited to one carrier's articles, the answer cites that carrier's copy.
    courier = pipeline.get_pipeline(settings).ask(QUESTION, Filters(publishers=["Daily Courier"]))
    assert {c.doc_id for c in courier.citations} == {"wire-retitled"}
    # Compared, two carriers of the text are marked as printing it; the timeline counts it once.
    outlets = Filters(publishers=["Daily Courier", "Harbour Times"])
    columns = pipeline.get_pipeline(settings).compare(QUESTION, outlets).columns
    assert [c.same_text_as for c in columns] == [["Harbour Times"], ["Daily Courier"]]
    timeline = pipeline.get_pipeline(settings).timeline("working groups Washington Beijing")
    [entry] = [e for e in timeline.entries if e.doc_id in family]
    assert entry.doc_id == WIRE and len(entry.copies) == 3

    # The earliest copy leaves: the group stays, named by the next earliest.
    (corpus / f"{WIRE}.md").unlink()
    pipeline.ingest(settings)
    assert {_groups(settings)[d] for d in family - {WIRE}} == {"wire-retitled"}

    # A rebuild finds the same groups from the texts alone.
    pipeline.ingest(settings, rebuild=True)
    assert {_groups(settings)[d] for d in family - {WIRE}} == {"wire-retitled"}


def test_shingles_and_jaccard_see_a_trimmed_copy_and_not_another_article() -> None:
    from tests.conftest import CORPUS

    wire = (CORPUS / f"{WIRE}.md").read_text(encoding="utf-8")
    other = (CORPUS / "islamabad-telegraph-2023-de-risk.md").read_text(encoding="utf-8")
    trimmed = wire[: int(len(wire) * 0.8)]
    assert jaccard(shingles(wire), shingles(trimmed)) > 0.7
    assert jaccard(shingles(wire), shingles(other)) < 0.05
    assert shingles("") == frozenset() and shingles("Two words") == {"two words"}
