"""Metrics over a question set: how well retrieval and answers do, in numbers."""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sinoqa.settings import RetrievalSettings


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


class InvalidQuestionFile(ValueError):
    """The question file cannot be used; the message names the line."""


def load_questions(path: Path) -> list[EvalQuestion]:
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
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


def article_ranking(doc_ids: Sequence[str]) -> list[str]:
    """Articles in the order their first chunk was retrieved."""
    return list(dict.fromkeys(doc_ids))


@dataclass(frozen=True)
class RetrievalScores:
    hit_at_1: float
    hit_at_5: float
    mrr: float
    count: int


def retrieval_scores(rankings: Sequence[tuple[Sequence[str], Sequence[str]]]) -> RetrievalScores:
    """Article-level hit@1, hit@5 and MRR over (retrieved chunk doc_ids, expected docs) pairs.

    Uses llama-index's retrieval metrics on article ids: a retrieved chunk counts when its
    article is expected.
    """
    from llama_index.core.evaluation.retrieval.metrics import MRR, HitRate

    hit, mrr = HitRate(), MRR()
    at1: list[float] = []
    at5: list[float] = []
    ranks: list[float] = []
    for retrieved, expected in rankings:
        articles = article_ranking(retrieved)
        expected_ids = list(expected)
        at1.append(hit.compute(expected_ids=expected_ids, retrieved_ids=articles[:1]).score)
        at5.append(hit.compute(expected_ids=expected_ids, retrieved_ids=articles[:5]).score)
        ranks.append(mrr.compute(expected_ids=expected_ids, retrieved_ids=articles).score)
    count = len(rankings)
    return RetrievalScores(
        hit_at_1=statistics.fmean(at1) if count else 0.0,
        hit_at_5=statistics.fmean(at5) if count else 0.0,
        mrr=statistics.fmean(ranks) if count else 0.0,
        count=count,
    )


RETRIEVAL_VARIANTS: Mapping[str, Mapping[str, object]] = {
    "dense": {"mode": "dense"},
    "bm25": {"mode": "bm25"},
    "rrf-0.3": {"mode": "hybrid", "fusion": "rrf", "dense_weight": 0.3},
    "rrf-0.5": {"mode": "hybrid", "fusion": "rrf", "dense_weight": 0.5},
    "rrf-0.7": {"mode": "hybrid", "fusion": "rrf", "dense_weight": 0.7},
    "relative-0.3": {"mode": "hybrid", "fusion": "relative_score", "dense_weight": 0.3},
    "relative-0.5": {"mode": "hybrid", "fusion": "relative_score", "dense_weight": 0.5},
    "relative-0.7": {"mode": "hybrid", "fusion": "relative_score", "dense_weight": 0.7},
}


def compare_retrieval(
    retrieve: Callable[[str, RetrievalSettings], Sequence[str]],
    questions: Sequence[EvalQuestion],
    base: RetrievalSettings,
    variants: Mapping[str, Mapping[str, object]] = RETRIEVAL_VARIANTS,
) -> dict[str, RetrievalScores]:
    """Retrieval scores of each variant of ``base`` on the answerable questions.

    ``retrieve(question, settings)`` returns the doc_ids of the retrieved chunks in order.
    """
    answerable = [q for q in questions if q.answerable and q.expected_docs]
    results: dict[str, RetrievalScores] = {}
    for name, update in variants.items():
        settings = base.model_copy(update=dict(update))
        rankings = [(retrieve(q.question, settings), q.expected_docs) for q in answerable]
        results[name] = retrieval_scores(rankings)
    return results
