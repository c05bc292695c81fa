"""What an answer tells the user about how it was asked: the day it was answered as of,
names and numbers of the question that no article holds, and the other views made for it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sinoqa.retrieve.question import QuestionAnalysis
from sinoqa.schema import Answer, SuggestedViews


def as_of_notice(day: dt.date) -> str:
    """The notice for a question asked as of a day the user chose."""
    return (
        f"Answered as of {day.isoformat()}: recent articles first, none published after that day."
    )


def recent_day(
    question: QuestionAnalysis, today: dt.date, newest: dt.date | None
) -> tuple[dt.date | None, list[str]]:
    """The day a question that asks about the present is asked as of, and a notice saying
    which: today, or the newest article's day when the corpus is older."""
    if question.recent is None:
        return None, []
    asked = f"The question asks about “{question.recent}”"
    if newest is None or newest >= today:
        return today, [f"{asked}: answered as of today, {today.isoformat()}."]
    return newest, [
        f"{asked}: answered as of {newest.isoformat()}, the newest article's day (no "
        "indexed article is more recent)."
    ]


def listed(terms: Sequence[str]) -> str:
    """ "A", "A or B", "A, B or C" """
    return terms[0] if len(terms) == 1 else f"{', '.join(terms[:-1])} or {terms[-1]}"


def unsupported_premise(
    answer: Answer, unsupported: Sequence[str]
) -> tuple[dict[str, object], list[str]]:
    """The changes to ``answer``, and the notices to add, when the question names things no
    indexed article mentions (said plainly: the question's premise is not in the corpus). A
    refusal says it first; an answer keeps its text and gets a notice."""
    if not unsupported:
        return {}, []
    said = f"No indexed article mentions {listed(unsupported)}."
    update: dict[str, object] = {"unsupported_terms": list(unsupported)}
    if answer.refused:
        update["answer"] = f"{said} {answer.answer}"
        return update, []
    return update, [f"{said} The answer quotes what they say on the rest."]


def suggested_views(question: QuestionAnalysis) -> SuggestedViews:
    """The views made for ``question``: a timeline when it asks how something developed, the
    outlets side by side when it names several."""
    return SuggestedViews(
        question=question.text,
        timeline_query=question.content.strip(" ?") if question.temporal else None,
        compare_outlets=list(question.outlets) if len(question.outlets) >= 2 else [],
    )
