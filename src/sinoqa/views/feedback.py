"""Feedback on answers, kept as JSON Lines, and turned into eval question drafts.

A 👍 or 👎 (with an optional comment) stores the question, the answer, what it cited and the
settings that shaped it. `sinoqa feedback export` writes drafts in the eval schema: a 👍
answer's cited articles become its ``expected_docs``; a 👎 is tagged ``review`` for a
maintainer to fill in what the right answer is. Run them with `sinoqa eval --questions`.
"""

from __future__ import annotations

import datetime as dt
import json
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


def entries(settings: Settings) -> list[dict[str, Any]]:
    path = feedback_path(settings)
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


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
