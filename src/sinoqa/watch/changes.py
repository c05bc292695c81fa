"""What changed between two answers to one question: the part a reader needs, not a second
answer to re-read. An answer is a set of cited, dated sentences, so the change is the
sentences added and dropped, the figures and names that differ, a refusal turned into an
answer (or back) and the sources cited or no longer cited. Order alone is no change."""

from __future__ import annotations

import re
from collections.abc import Sequence

from sinoqa.retrieve.question import person_names
from sinoqa.schema import Answer, NewArticle, WatchChange

# Figures as written: "25%", "$1.2 billion", "1,200", "2023".
_FIGURE = re.compile(r"[$€£¥]?\d[\d,.]*\d?%?(?:\s+(?:million|billion|trillion))?")


def _sentences(answer: Answer | None) -> list[str]:
    if answer is None or answer.refused:
        return []
    return [s.text for s in answer.sentences] or [answer.answer]


def _cited(answer: Answer | None) -> list[str]:
    if answer is None:
        return []
    return list(dict.fromkeys(c.doc_id for c in answer.citations))


def _figures(sentences: Sequence[str]) -> set[str]:
    return {m.group().rstrip(".,") for s in sentences for m in _FIGURE.finditer(s)}


def _people(sentences: Sequence[str]) -> set[str]:
    return person_names(" ".join(sentences))


def what_changed(before: Answer | None, after: Answer) -> list[str]:
    """The differences a reader is told about, empty when the answer and its sources are
    the same (in any order)."""
    said, says = _sentences(before), _sentences(after)
    refused_before = before is None or before.refused
    items: list[str] = []
    if refused_before != after.refused:
        items.append("refused → answered" if refused_before else "answered → refused")
    items += [f"added: {s}" for s in says if s not in said]
    items += [f"dropped: {s}" for s in said if s not in says]
    for label, found in (("figures", _figures), ("people", _people)):
        old, new = found(said), found(says)
        if new - old:
            items.append(f"{label} now given: {', '.join(sorted(new - old))}")
        if old - new:
            items.append(f"{label} no longer given: {', '.join(sorted(old - new))}")
    cited_before, cited_after = _cited(before), _cited(after)
    items += [f"now cites: {d}" for d in cited_after if d not in cited_before]
    items += [f"no longer cites: {d}" for d in cited_before if d not in cited_after]
    return items


def change_record(
    before: Answer | None, after: Answer, new_articles: Sequence[NewArticle], at: str
) -> WatchChange | None:
    """The record of how ``after`` differs from ``before``; None when nothing a reader would
    see changed."""
    items = what_changed(before, after)
    if not items:
        return None
    return WatchChange(
        at=at,
        new_articles=list(new_articles),
        answer_before=before.answer if before is not None else "",
        answer_after=after.answer,
        refused_before=before is None or before.refused,
        refused_after=after.refused,
        cited_before=_cited(before),
        cited_after=_cited(after),
        what_changed=items,
    )
