"""Comparing outlets: each outlet's own answer, and the values they disagree on.

A conflict is flagged when the answers of two outlets both mention a name (a capitalised
word past a sentence's start) in sentences giving numbers or dates, and the values differ:
a pointer for the analyst to check, not a verdict.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from sinoqa.retrieve.question import FIGURE, MONTH_NAMES
from sinoqa.schema import Answer, Comparison, Conflict, OutletColumn

_VALUE = re.compile(rf"{FIGURE}|\b\d\b|\b(?:{MONTH_NAMES})(?:\s+\d{{1,2}}\b)?(?:,?\s+\d{{4}})?")
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*")


def values_by_name(answer: Answer, common: Callable[[str], bool]) -> dict[str, set[str]]:
    """For each distinctive name an answer's sentences mention (``common`` ones, such as
    "China" in a corpus about China, tell nothing), the numbers and dates beside it."""
    found: dict[str, set[str]] = {}
    for sentence in answer.sentences:
        values = {v.rstrip(".,") for v in _VALUE.findall(sentence.text)}
        if not values:
            continue
        for name in _NAME.findall(sentence.text):
            if not _VALUE.fullmatch(name) and not common(name):  # a month is a value
                found.setdefault(name, set()).update(values)
    return found


def _carried(answer: Answer) -> set[str]:
    """The texts an answer cites, each named by its earliest copy."""
    return {c.earliest_doc_id or c.doc_id for c in answer.citations}


def compare_answers(
    question: str, answers: Sequence[tuple[str, Answer]], common: Callable[[str], bool]
) -> Comparison:
    """Columns for (outlet, its answer) and the conflicts between them."""
    carriers = {outlet: _carried(a) for outlet, a in answers}
    columns = [
        OutletColumn(
            publisher=outlet,
            answer=a.answer,
            refused=a.refused,
            citations=list(a.citations),
            same_text_as=[
                other
                for other, texts in carriers.items()
                if other != outlet and texts & carriers[outlet]
            ],
        )
        for outlet, a in answers
    ]
    named = {outlet: values_by_name(a, common) for outlet, a in answers if not a.refused}
    subjects = sorted({name for values in named.values() for name in values})
    conflicts = []
    for subject in subjects:
        values = {o: sorted(v[subject]) for o, v in named.items() if subject in v}
        if len(values) >= 2 and len({tuple(v) for v in values.values()}) > 1:
            distinct = [set(v) for v in values.values()]
            if not set.intersection(*distinct):  # no value in common: they disagree
                conflicts.append(Conflict(subject=subject, values=values))
    return Comparison(question=question, columns=columns, conflicts=conflicts)
