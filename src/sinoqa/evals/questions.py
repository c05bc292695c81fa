"""Question files (JSON Lines, the eval schema) and the seed sets in evals/."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sinoqa.dates import InvalidDate, parse_day
from sinoqa.errors import InvalidQuestionFile

#: The seed question files in evals/: the tuning sets (fitted on), then the holdout (never).
SEED_TUNING_FILES = ("questions.jsonl", "tuning-2.jsonl")


SEED_HOLDOUT_FILE = "holdout.jsonl"


class EvalQuestion(BaseModel):
    """One line of a question file (JSON Lines)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    question: str
    answerable: bool = True
    expected_docs: list[str] = Field(default_factory=list)
    facts: list[list[str]] = Field(
        default_factory=list,
        description="Required facts, each a list of acceptable spellings (case-insensitive).",
    )
    tags: list[str] = Field(default_factory=list)
    question_date: str | None = Field(
        None,
        description="The day the question was asked (YYYY-MM-DD or YYYY/MM/DD): it is "
        "answered as of that day, as `sinoqa ask --as-of` would.",
    )

    @field_validator("question_date")
    @classmethod
    def _a_day(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return parse_day(value).isoformat()
        except InvalidDate as exc:
            raise ValueError(str(exc)) from None


def load_questions(path: Path) -> list[EvalQuestion]:
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidQuestionFile(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise InvalidQuestionFile(f"{path}: not UTF-8 text ({exc.reason})") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            question = EvalQuestion.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise InvalidQuestionFile(f"{path}:{number}: {exc}") from exc
        if question.id in seen:
            raise InvalidQuestionFile(f"{path}:{number}: duplicate id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    if not questions:
        raise InvalidQuestionFile(f"{path}: no questions")
    return questions


def question_sets(paths: Sequence[Path]) -> dict[str, list[EvalQuestion]]:
    """The questions of each file, named by the file's stem ("questions", "holdout")."""
    sets: dict[str, list[EvalQuestion]] = {}
    for path in paths:
        name = path.stem
        while name in sets:  # two files of the same name: keep both apart
            name += "'"
        sets[name] = load_questions(path)
    ids = [q.id for questions in sets.values() for q in questions]
    if len(ids) != len(set(ids)):
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        raise InvalidQuestionFile(f"question ids repeat across files: {', '.join(repeated[:5])}")
    return sets
