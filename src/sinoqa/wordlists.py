"""Word lists the analysis reads, kept as data files beside this module (``data/``).

Each entry carries the number of times it changed a decision on the fitting sets (the seed
corpus and tuning questions, and rtqa-train); ``python -m sinoqa.fitting.words`` (``make
word-lists``) measures them again. An entry that changes nothing there does not belong.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

#: Capitalised words that are not part of a person's name (``question.person_names``).
NOT_PERSON = "not_person_words.txt"
#: Plural nouns after which a sentence announces a list ("... relies on two conditions.").
ANNOUNCING_NOUNS = "announcing_nouns.txt"


def entries(name: str) -> list[tuple[str, int, int]]:
    """The list's entries in file order: (word, uses on the seed set, uses on rtqa-train)."""
    text = resources.files("sinoqa").joinpath("data", name).read_text(encoding="utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 3 or not fields[1].isdigit() or not fields[2].isdigit():
            raise ValueError(f"{name}, line {number}: expected 'word seed-uses rtqa-uses'")
        rows.append((fields[0], int(fields[1]), int(fields[2])))
    return rows


@cache
def word_list(name: str) -> frozenset[str]:
    """The list's words, casefolded."""
    return frozenset(word.casefold() for word, _, _ in entries(name))
