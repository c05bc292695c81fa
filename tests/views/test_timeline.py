"""Timelines over the real seed index: order, grouping, approximate dates, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sinoqa.dates import period_of
from sinoqa.errors import InvalidFilter, InvalidQuestion
from sinoqa.pipeline import Pipeline
from sinoqa.schema import Filters
from sinoqa.settings import Settings
from tests.conftest import run_sinoqa

STORY = "talks between US and Chinese officials"


def test_articles_in_publication_order_one_verbatim_sentence_each(seeded: Settings) -> None:
    pipe = Pipeline(seeded)
    timeline = pipe.timeline(STORY)
    dates = [entry.date for entry in timeline.entries]
    assert len(dates) >= 3 and dates == sorted(dates)  # all seed articles are dated
    assert len({entry.doc_id for entry in timeline.entries}) == len(timeline.entries)
    chunks = {node.node_id: node.get_content() for node in pipe.served().nodes}
    for entry in timeline.entries:
        assert entry.quote in chunks[entry.chunk_id]
    by_id = {entry.doc_id: entry for entry in timeline.entries}
    assert by_id["teneo-2021-first-contact"].date_approx  # "approx. 2021-02" in the manifest
    assert not by_id["eir-2023-new-balance"].date_approx
    # Coverage counts the entries per month, in the same order.
    assert [c.period for c in timeline.coverage] == list(dict.fromkeys(period_of(d) for d in dates))
    assert sum(c.articles for c in timeline.coverage) == len(timeline.entries)


def test_filters_and_bad_input(seeded: Settings) -> None:
    pipe = Pipeline(seeded)
    only_ft = pipe.timeline(STORY, Filters(publishers=["financial times"]))
    assert {e.publisher for e in only_ft.entries} == {"Financial Times"}
    in_2023 = pipe.timeline(STORY, Filters(date_from="2023", date_to="2023-12"))
    assert in_2023.entries and all(e.date and e.date.startswith("2023") for e in in_2023.entries)
    assert pipe.timeline("zebra marmalade quokka").entries == []  # no article shares a word
    with pytest.raises(InvalidQuestion, match="empty"):
        pipe.timeline("   ")
    with pytest.raises(InvalidFilter, match="no indexed article is from"):
        pipe.timeline(STORY, Filters(publishers=["Daily Planet"]))
    with pytest.raises(InvalidFilter, match="is after"):
        pipe.timeline(STORY, Filters(date_from="2023-12", date_to="2023-01"))


@pytest.mark.slow
def test_timeline_command_prints_json_and_draws_the_chart(seeded: Settings, tmp_path: Path) -> None:
    chart = tmp_path / "coverage.png"
    args = ["--corpus", seeded.corpus.dir, "--index", seeded.index.dir]
    done = run_sinoqa("timeline", STORY, "--json", "--chart", chart, *args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["query"] == STORY and set(result) == {"query", "entries", "coverage"}
    assert set(result["entries"][0]) == {
        "date", "date_approx", "doc_id", "publisher", "title", "url", "chunk_id", "quote", "copies"
    }  # fmt: skip
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and chart.stat().st_size > 5_000
    text = run_sinoqa("timeline", STORY, *args)
    assert "2021-02 (approx.)" in text.stdout and "Articles per month:" in text.stdout
    bad = run_sinoqa("timeline", STORY, "--from", "2024", "--to", "2023", *args)
    assert bad.returncode == 2 and "is after" in bad.stderr


def test_questions_about_change_or_outlets_are_offered_their_view(seeded: Settings) -> None:
    pipe = Pipeline(seeded)
    change = pipe.suggested_views(
        "How did talks between US and Chinese officials change since 2021?"
    )
    assert (
        change.timeline_query == "How did talks between US and Chinese officials change since 2021"
    )
    assert change.compare_outlets == []
    outlets = pipe.suggested_views(
        "What do the Financial Times and E-IR say about the Malta meeting?"
    )
    assert outlets.compare_outlets == ["E-International Relations", "Financial Times"]
    assert outlets.timeline_query is None and "--publisher" in outlets.notices()[0]
    assert pipe.suggested_views("Who is Li Shangfu?").notices() == []
    # A follow-up is offered the view of the query it was answered as, not of "that".
    first = pipe.ask("What did Jake Sullivan and Wang Yi discuss in Vienna?")
    follow_up = pipe.ask("How has that changed since?", history=[first])
    offers = [notice for notice in follow_up.notices if "Timeline tab" in notice]
    assert len(offers) == 1 and "Vienna" in offers[0]


def test_the_chart_puts_months_on_a_time_axis_with_their_gaps() -> None:
    """One visible bar per month with articles, placed by date (months apart stand apart);
    a year-only date spans its year; undated articles are counted in the title."""
    from sinoqa.schema import CoveragePeriod, Timeline
    from sinoqa.views.timeline import chart_figure

    counts = [("2021", 1), ("2021-02", 1), ("2021-11", 2), ("2023-06", 1), ("undated", 2)]
    timeline = Timeline(
        query="climate",
        entries=[],
        coverage=[CoveragePeriod(period=p, articles=n) for p, n in counts],
    )
    axes = chart_figure(timeline).axes[0]
    bars = sorted(axes.patches, key=lambda bar: bar.get_x())
    assert [round(bar.get_height()) for bar in bars] == [1, 1, 2, 1]
    year, february, november, june = bars
    assert 300 < year.get_width() < 366 and all(b.get_width() >= 26 for b in bars)
    assert 265 <= november.get_x() - february.get_x() <= 275  # nine months, not one step
    assert june.get_x() - november.get_x() > 540
    assert "(2 undated)" in axes.get_title()
