"""The word lists in sinoqa/data: each entry justified by what it does on the fitting sets,
and measured by leaving it out for a while."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from sinoqa.answer.selection import announces_pattern
from sinoqa.evals.questions import EvalQuestion
from sinoqa.fitting.words import Asked, FittingSet, announcing_uses, person_uses, try_removal
from sinoqa.retrieve.question import person_names
from sinoqa.settings import Settings
from sinoqa.wordlists import (
    ANNOUNCING_NOUNS,
    NOT_PERSON,
    TITLE_WORDS,
    WORD_LISTS,
    entries,
    replaced,
    word_list,
    words,
)


@pytest.mark.parametrize("name", WORD_LISTS)
def test_every_entry_changes_decisions_and_costs_no_answer(name: str) -> None:
    rows = entries(name)
    assert rows
    assert len({row.word for row in rows}) == len(rows)
    assert all(row.decisions > 0 for row in rows), "re-measure with `make word-lists`"
    assert all(row.won is not None and row.lost is not None for row in rows), "measure it"
    # An entry that costs answers goes (`make word-lists`).
    assert all(row.won >= row.lost for row in rows)  # type: ignore[operator]


def test_the_measures_count_the_decisions_each_entry_changes() -> None:
    listed = word_list(NOT_PERSON)
    assert person_names("The South China Sea and Li Shangfu") == {"Li Shangfu"}
    text = "Li Shangfu flew Singapore Airlines over the South China Sea."
    # Without "airlines", "Singapore Airlines" reads as a person. "South China Sea" holds
    # three listed words: no one of them alone decides, so none is counted for it.
    assert person_uses(NOT_PERSON, [text], listed) == {"airlines": 1}
    assert person_uses(TITLE_WORDS, ["President Biden met Li Shangfu."], word_list(TITLE_WORDS))
    sentence = "Deng's strategy relies on two implicit conditions. First, a low profile."
    nouns = frozenset({"conditions", "reasons"})
    assert announcing_uses(ANNOUNCING_NOUNS, [sentence], nouns) == {"conditions": 1}
    assert announces_pattern(["conditions"]).search("It relies on two implicit conditions.")
    assert not announces_pattern([]).search("It relies on two implicit conditions.")


def test_a_list_replaced_for_a_while_is_read_in_its_place_there_only() -> None:
    text = "Officials at Singapore Airlines said so."
    assert person_names(text) == set()
    seen_elsewhere: list[set[str]] = []
    with replaced(NOT_PERSON, word_list(NOT_PERSON) - {"airlines"}):
        assert person_names(text) == {"Singapore Airlines"}
        assert "airlines" not in words(NOT_PERSON)
        # Another thread reads the files' lists meanwhile.
        other = threading.Thread(target=lambda: seen_elsewhere.append(person_names(text)))
        other.start()
        other.join()
    assert seen_elsewhere == [set()]
    assert person_names(text) == set() and "airlines" in words(NOT_PERSON)


def test_leaving_entries_out_answers_again_only_the_questions_they_touch(
    seeded: Settings,
) -> None:
    asked = [
        Asked(EvalQuestion(id=f"q{i}", question=text, answerable=True, facts=[["Malta"]]))
        for i, text in enumerate(
            [
                "Where did Wang Yi meet Jake Sullivan in September?",
                "What did Pope Francis say about the talks between the United States and China?",
            ]
        )
    ]
    fitting = FittingSet("seed", seeded, asked)
    fitting.refresh(asked)
    assert asked[0].score == 1.0 and asked[0].texts[0] == asked[0].question.question
    listed = word_list(TITLE_WORDS)
    # "Pope" is in the second question and not near the first: only the second is asked again.
    trial = try_removal(TITLE_WORDS, frozenset({"pope"}), listed, [fitting])
    assert [item.question.id for item, _, _ in trial.answered] == ["q1"]
    assert (trial.won, trial.lost) == (0, 0)  # the question has no fact either way: scored 0
    assert try_removal(TITLE_WORDS, frozenset({"dame"}), listed, [fitting]).answered == []


def test_a_damaged_list_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sinoqa.wordlists.resources.files", lambda _: tmp_path)
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / NOT_PERSON).write_text("the 1\n")
    with pytest.raises(ValueError, match="line 1"):
        entries(NOT_PERSON)
    (tmp_path / "data" / NOT_PERSON).write_text("the 4 won -\n")
    with pytest.raises(ValueError, match="line 1"):
        entries(NOT_PERSON)
