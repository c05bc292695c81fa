"""Comparing outlets over the real seed index, and the conflict rule on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sinoqa.errors import InvalidFilter, InvalidQuestion
from sinoqa.pipeline import Pipeline
from sinoqa.schema import Answer, AnswerSentence, Filters
from sinoqa.settings import Settings
from sinoqa.views.compare import compare_answers
from tests.conftest import run_sinoqa

MEETING = "Where did Wang Yi and Jake Sullivan meet?"
OUTLETS = ["E-International Relations", "The Islamabad Telegraph", "Teneo, via Speevr"]


def _answer(*sentences: str) -> Answer:
    return Answer(
        question="q",
        answer=" ".join(sentences),
        refused=False,
        backend="extractive",
        sentences=[AnswerSentence(text=s, citations=[1]) for s in sentences],
    )


def test_each_outlet_answers_from_its_own_articles(seeded: Settings) -> None:
    comparison = Pipeline(seeded).compare(MEETING, Filters(publishers=[o.lower() for o in OUTLETS]))
    columns = {c.publisher: c for c in comparison.columns}
    assert list(columns) == OUTLETS  # matched to the indexed names, in the order given
    for outlet in OUTLETS[:2]:
        assert not columns[outlet].refused
        assert {c.publisher for c in columns[outlet].citations} == {outlet}
    assert "Malta" in columns["E-International Relations"].answer
    assert "Vienna" in columns["The Islamabad Telegraph"].answer
    assert columns["Teneo, via Speevr"].refused  # its 2021 piece predates these meetings


def test_values_the_answers_disagree_on_are_flagged() -> None:
    common = {"China", "Vienna"}.__contains__  # names in most passages tell nothing
    comparison = compare_answers(
        "How long were the talks?",
        [
            ("A", _answer("Sullivan and Wang Yi talked for 8 hours in Vienna.")),
            ("B", _answer("Sullivan and Wang Yi talked for 12 hours in Vienna.")),
            ("C", _answer("Sullivan met Wang Yi for 8 hours, in May.")),
        ],
        common,
    )
    subjects = {c.subject: c.values for c in comparison.conflicts}
    # Sullivan opens his sentences (not taken for a name there); Wang Yi's values differ.
    assert subjects == {"Wang Yi": {"A": ["8"], "B": ["12"], "C": ["8", "May"]}}
    assert "Vienna" not in subjects  # common names are never a subject
    agreeing = compare_answers(
        "q",
        [("A", _answer("Sullivan met in May.")), ("B", _answer("Sullivan met in May."))],
        common,
    )
    assert agreeing.conflicts == []


def test_dates_are_read_whole() -> None:
    """ "May 2023" is one date (not "May 20" and "23"); "September 5, 2023" too."""
    from sinoqa.views.compare import values_by_name

    answer = _answer("Later, Wang Yi met him in May 2023 and again on September 5, 2023.")
    assert values_by_name(answer, lambda name: False) == {
        "Wang Yi": {"May 2023", "September 5, 2023"}
    }


def test_bad_input_is_a_clear_error(seeded: Settings) -> None:
    pipe = Pipeline(seeded)
    with pytest.raises(InvalidFilter, match="two or more"):
        pipe.compare(MEETING, Filters(publishers=["Financial Times"]))
    with pytest.raises(InvalidFilter, match="two or more"):
        pipe.compare(MEETING, Filters(publishers=["Financial Times", "financial times"]))
    with pytest.raises(InvalidFilter, match="no indexed article is from"):
        pipe.compare(MEETING, Filters(publishers=["Financial Times", "Daily Planet"]))
    with pytest.raises(InvalidQuestion, match="empty"):
        pipe.compare("  ", Filters(publishers=["Financial Times", "E-International Relations"]))


@pytest.mark.slow
def test_compare_command(seeded: Settings, tmp_path: Path) -> None:
    args = ["--corpus", seeded.corpus.dir, "--index", seeded.index.dir]
    outlets = ["--publisher", OUTLETS[0], "--publisher", OUTLETS[1]]
    done = run_sinoqa("compare", MEETING, *outlets, "--json", *args)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) == {"question", "columns", "conflicts"}
    assert [c["publisher"] for c in result["columns"]] == OUTLETS[:2]
    text = run_sinoqa("compare", MEETING, *outlets, *args)
    assert "Malta" in text.stdout and "Vienna" in text.stdout
    one = run_sinoqa("compare", MEETING, "--publisher", OUTLETS[0], *args)
    assert one.returncode == 2 and "two or more" in one.stderr
