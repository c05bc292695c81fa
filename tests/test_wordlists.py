"""The word lists in sinoqa/data: each entry justified by its uses on the fitting sets."""

from __future__ import annotations

import pytest

from sinoqa.answer.selection import announces_pattern
from sinoqa.fitting.words import announcing_uses, not_person_uses
from sinoqa.retrieve.question import person_names
from sinoqa.wordlists import ANNOUNCING_NOUNS, NOT_PERSON, entries, word_list


@pytest.mark.parametrize("name", [NOT_PERSON, ANNOUNCING_NOUNS])
def test_every_entry_changed_something_on_a_fitting_set(name: str) -> None:
    rows = entries(name)
    assert rows
    assert all(seed + rtqa > 0 for _, seed, rtqa in rows), "re-measure with `make word-lists`"
    assert len({word for word, _, _ in rows}) == len(rows)


def test_the_measures_count_the_decisions_each_entry_changes() -> None:
    listed = word_list(NOT_PERSON)
    assert person_names("The South China Sea and Li Shangfu") == {"Li Shangfu"}
    uses = not_person_uses(["Li Shangfu flew Singapore Airlines over the South China Sea."], listed)
    # Without "airlines", "Singapore Airlines" reads as a person. "South China Sea" holds
    # three listed words: no one of them alone decides, so none is counted for it.
    assert uses == {"airlines": 1}
    sentence = "Deng's strategy relies on two implicit conditions. First, a low profile."
    assert announcing_uses([sentence], frozenset({"conditions", "reasons"})) == {"conditions": 1}
    assert announces_pattern(["conditions"]).search("It relies on two implicit conditions.")
    assert not announces_pattern([]).search("It relies on two implicit conditions.")


def test_a_damaged_list_is_named(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import resources
    from pathlib import Path

    data = Path(str(resources.files("sinoqa").joinpath("data")))
    monkeypatch.setattr("sinoqa.wordlists.resources.files", lambda _: Path(str(tmp_path)))
    (Path(str(tmp_path)) / "data").mkdir()
    (Path(str(tmp_path)) / "data" / NOT_PERSON).write_text("the 1\n")
    with pytest.raises(ValueError, match="line 1"):
        entries(NOT_PERSON)
    assert data.is_dir()
