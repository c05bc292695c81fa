"""Per-question scores (hit@k, fact recall, citation precision, refusals) and their
aggregates, per set and per tag."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sinoqa.evals.questions import EvalQuestion
from sinoqa.schema import Answer

#: Article-level retrieval is measured on a ranking of distinct articles this long.
RANKING_DEPTH = 10


def fact_present(alternatives: Sequence[str], text: str) -> bool:
    lowered = _normal(text)
    return any(_fact(alternative) in lowered for alternative in alternatives)


def _fact(alternative: str) -> str:
    """A fact as an answer must hold it. Quotes around the whole fact mark a title
    ("Breaking Bad"); a sentence quoting it often closes them after a comma."""
    normal = _normal(alternative)
    if len(normal) > 2 and normal[0] == normal[-1] == '"':
        return normal[1:-1].strip()
    return normal


def _normal(text: str) -> str:
    table = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})
    return " ".join(text.translate(table).casefold().split())


@dataclass
class QuestionResult:
    """Everything measured for one question under one configuration."""

    id: str
    question: str
    tags: list[str]
    answerable: bool
    expected_docs: list[str]
    retrieved_docs: list[str]
    answer: str
    refused: bool
    confidence: float
    cited_docs: list[str]
    hit_at_1: float | None = None
    hit_at_5: float | None = None
    reciprocal_rank: float | None = None
    fact_recall: float | None = None
    citation_precision: float | None = None
    citation_support: float | None = None
    missing_facts: list[str] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    confidence_parts: dict[str, float] = field(default_factory=dict)
    question_set: str = ""


def score_question(
    question: EvalQuestion, retrieved_docs: Sequence[str], answer: Answer
) -> QuestionResult:
    """Per-question metrics from the article ranking and the answer."""
    from llama_index.core.evaluation.retrieval.metrics import MRR, HitRate

    articles = list(dict.fromkeys(retrieved_docs))
    result = QuestionResult(
        id=question.id,
        question=question.question,
        tags=list(question.tags),
        answerable=question.answerable,
        expected_docs=list(question.expected_docs),
        retrieved_docs=articles,
        answer=answer.answer,
        refused=answer.refused,
        confidence=answer.confidence,
        cited_docs=[c.doc_id for c in answer.citations],
        timings_ms=dict(answer.timings_ms),
        notices=list(answer.notices),
        confidence_parts=dict(answer.confidence_parts),
    )
    if question.answerable and question.expected_docs:
        expected = list(question.expected_docs)
        hit = HitRate()
        result.hit_at_1 = hit.compute(expected_ids=expected, retrieved_ids=articles[:1]).score
        result.hit_at_5 = hit.compute(expected_ids=expected, retrieved_ids=articles[:5]).score
        result.reciprocal_rank = MRR().compute(expected_ids=expected, retrieved_ids=articles).score
    if question.answerable:
        missing = [alts[0] for alts in question.facts if not fact_present(alts, answer.answer)]
        result.missing_facts = missing
        if question.facts:
            result.fact_recall = 1 - len(missing) / len(question.facts)
        if answer.citations and question.expected_docs:
            good = sum(1 for c in answer.citations if c.doc_id in question.expected_docs)
            result.citation_precision = good / len(answer.citations)
    if answer.citations:
        result.citation_support = _citation_support(answer)
    return result


def _citation_support(answer: Answer) -> float:
    """Share of cited sentences found in a passage they cite (verbatim, or verified by the
    support check for generated sentences)."""
    by_number = {c.n: c for c in answer.citations}
    cited = [s for s in answer.sentences if s.citations]
    if not cited:
        return 0.0
    supported = 0
    for sentence in cited:
        passages = [by_number[n].passage for n in sentence.citations if n in by_number]
        verbatim = any(_normal(sentence.text) in _normal(p) for p in passages)
        if verbatim or (answer.backend != "extractive" and sentence.verified):
            supported += 1
    return supported / len(cited)


METRICS = (
    "hit_at_1",
    "hit_at_5",
    "mrr",
    "fact_recall",
    "citation_precision",
    "citation_support",
    "refusal_accuracy",
    "false_refusal_rate",
)


#: Short column labels for terminal tables.
SHORT_LABELS = {
    "hit_at_1": "hit@1",
    "hit_at_5": "hit@5",
    "mrr": "MRR",
    "fact_recall": "facts",
    "citation_precision": "cite prec",
    "citation_support": "cite supp",
    "refusal_accuracy": "refusal",
    "false_refusal_rate": "false ref",
}


#: For these, lower is better.
LOWER_IS_BETTER = frozenset({"false_refusal_rate"})


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.fmean(present) if present else None


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank percentile (a value that occurred): the one definition sinoqa uses."""
    if not values:
        return None
    return float(np.percentile(values, q * 100, method="inverted_cdf"))


def aggregate(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """Mean of each metric over the questions it applies to, with counts and latencies."""
    answerable = [r for r in results if r.answerable]
    unanswerable = [r for r in results if not r.answerable]
    summary: dict[str, Any] = {
        "questions": len(results),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "hit_at_1": _mean([r.hit_at_1 for r in results]),
        "hit_at_5": _mean([r.hit_at_5 for r in results]),
        "mrr": _mean([r.reciprocal_rank for r in results]),
        "fact_recall": _mean([r.fact_recall for r in results]),
        "citation_precision": _mean([r.citation_precision for r in results]),
        "citation_support": _mean([r.citation_support for r in results]),
        "refusal_accuracy": _mean([1.0 if r.refused else 0.0 for r in unanswerable]),
        "false_refusal_rate": _mean([1.0 if r.refused else 0.0 for r in answerable]),
    }
    for stage in ("retrieve", "answer", "total"):
        timings = [r.timings_ms[stage] for r in results if stage in r.timings_ms]
        summary[f"{stage}_ms_p50"] = percentile(timings, 0.5)
        summary[f"{stage}_ms_p95"] = percentile(timings, 0.95)
    return summary


def by_tag(results: Sequence[QuestionResult]) -> dict[str, dict[str, Any]]:
    tags = sorted({tag for r in results for tag in r.tags})
    return {tag: aggregate([r for r in results if tag in r.tags]) for tag in tags}


def refusal_tradeoff(
    results: Sequence[QuestionResult], thresholds: Sequence[float] | None = None
) -> list[dict[str, float]]:
    """Refusal accuracy and false refusals had the threshold been each of ``thresholds``.

    Every answer records its evidence score, so one run is enough to calibrate.
    """
    thresholds = thresholds or [round(0.30 + 0.01 * i, 2) for i in range(31)]
    answerable = [r.confidence for r in results if r.answerable]
    unanswerable = [r.confidence for r in results if not r.answerable]
    rows = []
    for threshold in thresholds:
        rows.append(
            {
                "threshold": threshold,
                "refusal_accuracy": (
                    sum(c < threshold for c in unanswerable) / len(unanswerable)
                    if unanswerable
                    else float("nan")
                ),
                "false_refusal_rate": (
                    sum(c < threshold for c in answerable) / len(answerable)
                    if answerable
                    else float("nan")
                ),
            }
        )
    return rows


def best_threshold(
    rows: Sequence[dict[str, float]], max_false_refusals: float = 0.03
) -> float | None:
    """The threshold with the best refusal accuracy among those within the false-refusal limit
    (ties: the lowest threshold, which refuses least); None without unanswerable questions."""
    rows = [r for r in rows if not math.isnan(r["refusal_accuracy"])]
    if not rows:
        return None
    allowed = [r for r in rows if r["false_refusal_rate"] <= max_false_refusals] or list(rows)
    best = max(r["refusal_accuracy"] for r in allowed)
    return min(r["threshold"] for r in allowed if r["refusal_accuracy"] == best)


@dataclass
class ConfigurationRun:
    name: str
    summary: dict[str, Any]
    tags: dict[str, dict[str, Any]]
    results: list[QuestionResult]
    seconds: float
    sets: dict[str, dict[str, Any]] = field(default_factory=dict)  # summary per question set
    # "undated": each question asked as the chat asks it, with no day; "dated": as of its
    # question_date (for questions that carry one).
    asked: str = "undated"
