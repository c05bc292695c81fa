"""Feedback on answers, kept as JSON Lines, and turned into eval question drafts.

A 👍 or 👎 (with an optional comment) stores the question, the answer, what it cited and the
settings that shaped it. `sinoqa feedback export` writes drafts in the eval schema: a 👍
answer's cited articles become its ``expected_docs``; a 👎 is tagged ``review`` for a
maintainer to fill in what the right answer is. Run them with `sinoqa eval --questions`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sinoqa.schema import Answer
from sinoqa.settings import Settings

Rating = Literal["up", "down"]


def feedback_path(settings: Settings) -> Path:
    """Where feedback goes: the configured file, or feedback.jsonl beside the index."""
    if settings.feedback.path is not None:
        return settings.feedback.path
    return settings.index.dir.resolve().parent / "feedback.jsonl"


def record(settings: Settings, answer: Answer, rating: Rating, comment: str = "") -> dict[str, Any]:
    """Append one feedback entry; returns it."""
    if rating not in ("up", "down"):
        raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
    entry = {
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rating": rating,
        "comment": comment.strip()[:2000],
        "question": answer.question,
        "answer": answer.answer,
        "refused": answer.refused,
        "backend": answer.backend,
        "citations": [
            {"n": c.n, "doc_id": c.doc_id, "chunk_id": c.chunk_id, "quote": c.quote}
            for c in answer.citations
        ],
        "settings": {
            "retrieval": settings.retrieval.model_dump(mode="json"),
            "answer": settings.answer.model_dump(mode="json", exclude={"llm_api_key"}),
        },
    }
    path = feedback_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return entry


#: What an entry must hold to be listed and exported.
_FIELDS = ("time", "rating", "question", "answer", "refused", "citations", "comment")


@dataclass(frozen=True)
class FeedbackLog:
    """The feedback file as read: its entries (oldest first) and the line numbers that
    hold no entry (a hand edit, a write cut short: left in the file, left out here)."""

    path: Path
    entries: list[dict[str, Any]]
    unreadable: list[int]

    def drafts(self) -> list[dict[str, Any]]:
        """The entries as eval question drafts (:func:`eval_drafts`)."""
        return eval_drafts(self.entries)


def read_log(settings: Settings) -> FeedbackLog:
    """The feedback kept beside the index ``settings`` name."""
    read = _read(settings)
    return FeedbackLog(
        path=feedback_path(settings),
        entries=[entry for _, entry in read if entry is not None],
        unreadable=[number for number, entry in read if entry is None],
    )


def _read(settings: Settings) -> list[tuple[int, dict[str, Any] | None]]:
    path = feedback_path(settings)
    if not path.exists():
        return []
    text = path.read_bytes().decode("utf-8", errors="replace")
    read: list[tuple[int, dict[str, Any] | None]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        ok = isinstance(entry, dict) and all(key in entry for key in _FIELDS)
        read.append((number, entry if ok else None))
    return read


def eval_drafts(feedback: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each feedback entry as an eval question draft (one JSON object per question)."""
    drafts = []
    for number, entry in enumerate(feedback, start=1):
        up = entry["rating"] == "up"
        cited = list(dict.fromkeys(c["doc_id"] for c in entry["citations"]))
        drafts.append(
            {
                "id": f"feedback-{number:04d}",
                "question": entry["question"],
                "answerable": not entry["refused"] if up else True,
                "expected_docs": cited if up else [],
                "facts": [],
                "tags": ["feedback", entry["rating"], *([] if up else ["review"])],
                "comment": entry["comment"],
                "answer_given": entry["answer"],
                "time": entry["time"],
            }
        )
    return drafts
