"""Word lists the analysis reads, kept as data files beside this module (``data/``).

Each entry carries what it did on the fitting sets (the seed corpus and tuning questions, and
a sample of rtqa-train): the decisions it changed, and the answers it made right and wrong
there. ``python -m sinoqa.fitting.words`` (``make word-lists``) measures them again; an entry
that wins no answer does not belong. Words another source already holds are derived from it,
not listed (the calendar's names from :mod:`sinoqa.dates`, function words from bm25s).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from importlib import resources
from typing import NamedTuple

#: Capitalised words that are not part of a person's name (``question.person_names``).
NOT_PERSON = "not_person_words.txt"
#: Words before a name that say who the person is ("President Xi", "Foreign Minister Wang").
TITLE_WORDS = "title_words.txt"
#: Plural nouns after which a sentence announces a list ("... relies on two conditions.").
ANNOUNCING_NOUNS = "announcing_nouns.txt"
#: Every list, in the order ``make word-lists`` measures them.
WORD_LISTS = (NOT_PERSON, TITLE_WORDS, ANNOUNCING_NOUNS)


class Entry(NamedTuple):
    """One listed word and what it did on the fitting sets."""

    word: str
    decisions: int  # capitalised runs or sentences it changed
    won: int | None  # answers right with it and wrong without it (None: not measured yet)
    lost: int | None  # answers wrong with it and right without it


def _count(field: str) -> int | None:
    return None if field == "-" else int(field)


def entries(name: str) -> list[Entry]:
    """The list's entries in file order."""
    text = resources.files("sinoqa").joinpath("data", name).read_text(encoding="utf-8")
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 4 or not all(f.isdigit() or f == "-" for f in fields[2:]):
            raise ValueError(f"{name}, line {number}: expected 'word decisions won lost'")
        if not fields[1].isdigit():
            raise ValueError(f"{name}, line {number}: expected 'word decisions won lost'")
        rows.append(Entry(fields[0], int(fields[1]), _count(fields[2]), _count(fields[3])))
    return rows


@cache
def word_list(name: str) -> frozenset[str]:
    """The list's words as its file holds them, casefolded."""
    return frozenset(entry.word.casefold() for entry in entries(name))


# Lists put in place of the files' for a while (see `replaced`): a tuple, so it can key caches.
_REPLACED: ContextVar[tuple[tuple[str, frozenset[str]], ...]] = ContextVar(
    "sinoqa_replaced_word_lists", default=()
)


def words(name: str) -> frozenset[str]:
    """The list as the analysis reads it now: the file's words, or those :func:`replaced`
    put in their place."""
    for replaced_name, listed in _REPLACED.get():
        if replaced_name == name:
            return listed
    return word_list(name)


def replacements() -> tuple[tuple[str, frozenset[str]], ...]:
    """The lists replaced now (empty almost always): part of the key of anything cached from
    an analysis, so a measurement never reads a result made with other lists."""
    return _REPLACED.get()


@contextmanager
def replaced(name: str, listed: Iterable[str]) -> Iterator[None]:
    """Within the block, the analysis reads ``listed`` as the list ``name`` (in this thread or
    task only): how ``make word-lists`` sees what an entry does."""
    others = tuple(item for item in _REPLACED.get() if item[0] != name)
    token = _REPLACED.set((*others, (name, frozenset(w.casefold() for w in listed))))
    try:
        yield
    finally:
        _REPLACED.reset(token)
