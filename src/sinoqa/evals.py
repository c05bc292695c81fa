"""The eval suite: retrieval and answer quality over a question set, in numbers.

A run answers every question of a JSON Lines file with one or more named configurations
(dense-only, BM25-only, hybrid, ...) and measures, per question and aggregated overall and per
tag: article-level hit@1, hit@5 and MRR; fact recall; citation precision and support; refusal
accuracy and false refusals; latency per stage. It writes report.md, results.json and a chart.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sinoqa.retrieve import InvalidFilter, parse_day
from sinoqa.schema import Answer
from sinoqa.settings import Settings

#: Article-level retrieval is measured on a ranking of distinct articles this long.
RANKING_DEPTH = 10
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
        except InvalidFilter as exc:
            raise ValueError(str(exc)) from None


class InvalidQuestionFile(ValueError):
    """The question file cannot be used; the message names the line."""


def load_questions(path: Path) -> list[EvalQuestion]:
    questions: list[EvalQuestion] = []
    seen: set[str] = set()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidQuestionFile(f"{path}: {exc.strerror or exc}") from exc
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


# -- configurations ------------------------------------------------------------------------

#: Named configurations for --compare: settings overrides per stage.
CONFIGURATIONS: Mapping[str, Mapping[str, Mapping[str, object]]] = {
    "hybrid": {},
    "dense": {"retrieval": {"mode": "dense"}},
    "bm25": {"retrieval": {"mode": "bm25"}},
    "hybrid-rrf": {"retrieval": {"fusion": "rrf"}},
    # What a plain LlamaIndex dense + BM25 pipeline does: rank fusion, nothing fitted.
    "plain": {"retrieval": {"fusion": "rrf", "article_ranker": False, "recent_as_of": False}},
    "hybrid-w0.3": {"retrieval": {"dense_weight": 0.3}},
    "hybrid-w0.7": {"retrieval": {"dense_weight": 0.7}},
    "hybrid+rerank": {"retrieval": {"reranker_model": "<settings>"}},
    "llm": {"answer": {"backend": "<settings>"}},
}


class UnavailableConfiguration(ValueError):
    """A configuration that needs something this machine is not set up with."""


def configure(settings: Settings, name: str) -> Settings:
    """``settings`` with the named configuration's overrides applied. A name of the form
    ``stage.field=value[;stage.field=value]`` ("answer.keep_ratio=0.7") sets those fields."""
    if "=" in name:
        return _override(settings, name)
    if name not in CONFIGURATIONS:
        raise UnavailableConfiguration(
            f"unknown configuration {name!r}; known: {', '.join(CONFIGURATIONS)}"
        )
    update: dict[str, Any] = {}
    for stage, fields in CONFIGURATIONS[name].items():
        values = dict(fields)
        if values.get("reranker_model") == "<settings>":
            if not settings.retrieval.reranker_model:
                raise UnavailableConfiguration(
                    "hybrid+rerank needs SINOQA_RETRIEVAL__RERANKER_MODEL (a local CrossEncoder)"
                )
            values["reranker_model"] = settings.retrieval.reranker_model
        if values.get("backend") == "<settings>":
            if settings.answer.backend == "extractive":
                raise UnavailableConfiguration(
                    "llm needs SINOQA_ANSWER__BACKEND and its server settings (see README)"
                )
            values["backend"] = settings.answer.backend
        update[stage] = getattr(settings, stage).model_copy(update=values)
    return settings.model_copy(update=update)


def _override(settings: Settings, name: str) -> Settings:
    data = settings.model_dump()
    for assignment in name.split(";"):
        key, _, value = assignment.partition("=")
        stage, _, field_name = key.strip().partition(".")
        if stage not in data or not isinstance(data[stage], dict) or field_name not in data[stage]:
            raise UnavailableConfiguration(
                f"unknown setting {key.strip()!r} in configuration {name!r}; "
                "write stage.field=value, e.g. answer.keep_ratio=0.7"
            )
        data[stage][field_name] = value.strip()
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise UnavailableConfiguration(f"configuration {name!r}: {exc}") from exc


# -- scoring -------------------------------------------------------------------------------


def fact_present(alternatives: Sequence[str], text: str) -> bool:
    lowered = _normal(text)
    return any(_normal(alternative) in lowered for alternative in alternatives)


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


# -- aggregation ---------------------------------------------------------------------------

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
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
    return ordered[rank]


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


# -- running -------------------------------------------------------------------------------


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


def run_configuration(
    name: str,
    settings: Settings,
    questions: Sequence[EvalQuestion] | Mapping[str, Sequence[EvalQuestion]],
    progress: Callable[[int, int], None] | None = None,
    *,
    dated: bool = False,
) -> ConfigurationRun:
    """Answer every question with ``settings``; the pipeline does all the work.

    ``questions`` is one list, or lists by question-set name, each summarised apart too.
    Each question is asked without a day, as users ask, unless ``dated``: then as of its
    ``question_date`` when it has one."""
    from llama_index.core.schema import QueryBundle

    from sinoqa.pipeline import get_pipeline

    started = time.perf_counter()
    pipe = get_pipeline(settings)
    ranking = settings.retrieval.model_copy(
        update={"top_k": RANKING_DEPTH, "max_chunks_per_doc": 1}
    )
    sets = questions if isinstance(questions, Mapping) else {"questions": questions}
    items = [(set_name, q) for set_name, qs in sets.items() for q in qs]
    results = []
    for done, (set_name, question) in enumerate(items, start=1):
        as_of = parse_day(question.question_date) if dated and question.question_date else None
        answer = pipe.ask(question.question, as_of=as_of)
        # The articles ranked as the answer's retrieval ranked them: on the day it used (a
        # question about "this week" asked undated gets one too).
        day = parse_day(answer.as_of) if answer.as_of else None
        retrieved = pipe.retriever(None, ranking, day).retrieve(QueryBundle(question.question))
        docs = [str(item.node.metadata["doc_id"]) for item in retrieved]
        result = score_question(question, docs, answer)
        result.question_set = set_name
        results.append(result)
        if progress:
            progress(done, len(items))
    return ConfigurationRun(
        name=name,
        summary=aggregate(results),
        tags=by_tag(results),
        results=results,
        seconds=time.perf_counter() - started,
        sets={
            set_name: aggregate([r for r in results if r.question_set == set_name])
            for set_name in sets
        },
        asked="dated" if dated else "undated",
    )


# -- thresholds ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ThresholdFailure:
    metric: str
    value: float | None
    limit: float

    def __str__(self) -> str:
        shown = "n/a" if self.value is None else f"{self.value:.3f}"
        lower_is_better = self.metric.rsplit(".", 1)[-1] in LOWER_IS_BETTER
        relation = "above the maximum" if lower_is_better else "below the minimum"
        return f"{self.metric} = {shown} is {relation} {self.limit:.3f}"


def check_thresholds(
    summary: Mapping[str, Any], path: Path, sets: Mapping[str, Mapping[str, Any]] | None = None
) -> list[ThresholdFailure]:
    """Compare aggregate scores with the limits in ``path`` (TOML): the keys of table
    [thresholds] hold for ``summary`` (the first question set's), those of a sub-table
    [thresholds.NAME] for question set NAME (its summary in ``sets``; a set not run is not
    checked, and a first set with a sub-table of its own is checked by that alone)."""
    limits = tomllib.loads(path.read_text(encoding="utf-8")).get("thresholds", {})
    failures = []
    first = next(iter(sets), None) if sets else None
    own_table = first is not None and isinstance(limits.get(first), dict)
    for metric, limit in limits.items():
        if isinstance(limit, dict):
            if sets is not None and metric in sets:
                failures += [
                    ThresholdFailure(f"{metric}.{f.metric}", f.value, f.limit)
                    for f in _failures(sets[metric], limit)
                ]
            continue
        if not own_table:  # a first set with a table of its own is checked by that alone
            failures += _failures(summary, {metric: limit})
    return failures


def _failures(summary: Mapping[str, Any], limits: Mapping[str, float]) -> list[ThresholdFailure]:
    failures = []
    for metric, limit in limits.items():
        value = summary.get(metric)
        if metric in LOWER_IS_BETTER:
            failed = value is None or value > limit
        else:
            failed = value is None or value < limit
        if failed:
            failures.append(ThresholdFailure(metric, value, float(limit)))
    return failures


# -- reports -------------------------------------------------------------------------------


def format_value(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(format_value(v) for v in row) + " |" for row in rows]
    return lines


def write_reports(
    runs: Sequence[ConfigurationRun],
    out: Path,
    *,
    questions_path: Path | Sequence[Path],
    corpus: Path,
    threshold: float,
    command: str,
) -> dict[str, Path]:
    """report.md, results.json and metrics.png under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    first = runs[0]
    # Calibrated on the first question set alone: a holdout set must not choose the threshold.
    calibration_set = next(iter(first.sets), "")
    tradeoff = refusal_tradeoff(
        [r for r in first.results if r.question_set == calibration_set] or first.results
    )
    suggested = best_threshold(tradeoff)
    paths = [questions_path] if isinstance(questions_path, Path) else list(questions_path)
    lines = [
        "# sinoqa eval report",
        "",
        f"- questions: {', '.join(f'`{p}`' for p in paths)} ({first.summary['questions']}: "
        f"{first.summary['answerable']} answerable, {first.summary['unanswerable']} not)",
        f"- corpus: `{corpus}`",
        f"- command: `{command}`",
        f"- refusal threshold in use: {threshold:.2f}",
        "",
        "## Configurations",
        "",
    ]
    lines += _table(
        ["configuration", "asked", *METRICS, "total ms p50", "total ms p95", "seconds"],
        [
            [
                r.name,
                r.asked,
                *(r.summary[m] for m in METRICS),
                r.summary["total_ms_p50"],
                r.summary["total_ms_p95"],
                round(r.seconds, 1),
            ]
            for r in runs
        ],
    )
    if len(first.sets) > 1:
        lines += ["", "## Question sets", ""]
        lines += ["Each set apart (a holdout set is never tuned on):", ""]
        lines += _table(
            ["configuration", "asked", "set", "n", *METRICS],
            [
                [r.name, r.asked, set_name, summary["questions"], *(summary[m] for m in METRICS)]
                for r in runs
                for set_name, summary in r.sets.items()
            ],
        )
    lines += ["", "Latency per stage (ms), first configuration:", ""]
    lines += _table(
        ["stage", "p50", "p95"],
        [
            [stage, first.summary[f"{stage}_ms_p50"], first.summary[f"{stage}_ms_p95"]]
            for stage in ("retrieve", "answer", "total")
        ],
    )
    lines += ["", f"## Per tag ({first.name})", ""]
    lines += _table(
        ["tag", "n", *METRICS],
        [[tag, s["questions"], *(s[m] for m in METRICS)] for tag, s in first.tags.items()],
    )
    lines += [
        "",
        f"## Refusal threshold trade-off ({first.name}"
        + (f", question set {calibration_set}" if len(first.sets) > 1 else "")
        + ")",
        "",
        "Each answer records its evidence score, so this shows what refusal accuracy and the",
        "false-refusal rate would have been at other thresholds. Suggested (best refusal",
        "accuracy with at most 3% false refusals): "
        + (
            f"**{suggested:.2f}**."
            if suggested is not None
            else "none (no unanswerable questions in this set)."
        ),
        "",
    ]
    lines += _table(
        ["threshold", "refusal accuracy", "false refusals"],
        [[r["threshold"], r["refusal_accuracy"], r["false_refusal_rate"]] for r in tradeoff],
    )
    lines += ["", f"## Worst questions ({first.name})", ""]
    for result in _worst(first.results, 12):
        lines.append(f"### {result.id}: {result.question}")
        lines.append("")
        lines.append(
            f"- tags: {', '.join(result.tags)}; answerable: {result.answerable}; "
            f"expected: {', '.join(result.expected_docs) or '–'}"
        )
        lines.append(f"- retrieved (articles, in order): {', '.join(result.retrieved_docs[:5])}")
        lines.append(
            f"- refused: {result.refused} (evidence {result.confidence:.3f}); cited: "
            f"{', '.join(result.cited_docs) or '–'}"
        )
        if result.confidence_parts:
            parts = ", ".join(f"{k} {v:+.3f}" for k, v in result.confidence_parts.items() if v)
            lines.append(f"- evidence parts: {parts or 'all zero'}")
        if result.missing_facts:
            lines.append(f"- missing facts: {', '.join(result.missing_facts)}")
        lines.append(f"- answer: {result.answer[:400]}")
        lines.append("")
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results_path = out / "results.json"
    results_path.write_text(
        json.dumps(
            {
                "questions": [str(p) for p in paths],
                "corpus": str(corpus),
                "command": command,
                "refusal_threshold": threshold,
                "suggested_refusal_threshold": suggested,
                "refusal_tradeoff": tradeoff,
                "configurations": [
                    {
                        "name": r.name,
                        "asked": r.asked,
                        "summary": r.summary,
                        "sets": r.sets,
                        "tags": r.tags,
                        "seconds": r.seconds,
                        "results": [asdict(q) for q in r.results],
                    }
                    for r in runs
                ],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    chart = out / "metrics.png"
    _chart(runs, chart)
    return {"report": report, "results": results_path, "chart": chart}


def _badness(result: QuestionResult) -> float:
    if not result.answerable:
        return 0.0 if result.refused else 2.0
    if result.refused:
        return 2.0
    score = 1 - (result.fact_recall if result.fact_recall is not None else 1.0)
    score += 1 - (result.citation_precision if result.citation_precision is not None else 1.0)
    score += 1 - (result.hit_at_1 if result.hit_at_1 is not None else 1.0)
    return score


def _worst(results: Sequence[QuestionResult], count: int) -> list[QuestionResult]:
    ranked = sorted(results, key=_badness, reverse=True)
    return [r for r in ranked[:count] if _badness(r) > 0]


def _chart(runs: Sequence[ConfigurationRun], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in METRICS if any(r.summary[m] is not None for r in runs)]
    width = 0.8 / max(len(runs), 1)
    figure, axes = plt.subplots(figsize=(max(8.0, 1.3 * len(metrics)), 4.5))
    for i, run in enumerate(runs):
        values = [run.summary[m] or 0.0 for m in metrics]
        positions = [j + i * width for j in range(len(metrics))]
        axes.bar(positions, values, width=width, label=f"{run.name}, {run.asked}")
    axes.set_xticks([j + width * (len(runs) - 1) / 2 for j in range(len(metrics))])
    axes.set_xticklabels([m.replace("_", " ") for m in metrics], rotation=25, ha="right")
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("score (false refusal rate: lower is better)")
    axes.set_title("sinoqa eval: main metrics per configuration")
    axes.legend(loc="lower left", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# -- results kept for the docs -------------------------------------------------------------

#: The committed result summaries docs/evaluation.md shows (`sinoqa eval --record`).
RESULTS_DIR = Path(__file__).resolve().parents[2] / "docs" / "results"
RESULTS_BEGIN = "<!-- results: generated by `make docs` from docs/results/*.json -->"
RESULTS_END = "<!-- end of generated results -->"


def results_record(results: Mapping[str, Any], measured: str) -> dict[str, Any]:
    """What the docs keep of a results.json: the command, the day, each set's summary."""
    return {
        "command": results["command"],
        "measured": measured,
        "questions": results["questions"],
        "configurations": [
            {
                "name": run["name"],
                "asked": run.get("asked", "undated"),
                "sets": {
                    name: {key: summary[key] for key in (*METRICS, "questions", "total_ms_p50")}
                    for name, summary in run["sets"].items()
                },
            }
            for run in results["configurations"]
        ],
    }


def results_table(records: Mapping[str, Mapping[str, Any]]) -> str:
    """One Markdown table of every recorded run, each row with the command behind it."""
    header = ["record", "set", "configuration", "asked", "n", *(SHORT_LABELS[m] for m in METRICS)]
    rows, commands = [], []
    for record_name, record in sorted(records.items()):
        commands.append(f"- `{record_name}` ({record['measured']}): `{record['command']}`")
        for run in record["configurations"]:
            for set_name, summary in run["sets"].items():
                rows.append(
                    [
                        record_name,
                        set_name,
                        run["name"],
                        run.get("asked", "–"),
                        summary["questions"],
                        *(summary[m] for m in METRICS),
                    ]
                )
    return "\n".join([*_table(header, rows), "", "Commands:", "", *commands]) + "\n"


def recorded_results(directory: Path = RESULTS_DIR) -> dict[str, dict[str, Any]]:
    return {
        path.stem: json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.json"))
    }


def with_results_table(document: str, table: str) -> str:
    """``document`` with the text between the results markers replaced by ``table``."""
    before, rest = document.split(RESULTS_BEGIN, 1)
    _, after = rest.split(RESULTS_END, 1)
    return f"{before}{RESULTS_BEGIN}\n{table}{RESULTS_END}{after}"


def update_evaluation_doc(path: Path = RESULTS_DIR.parent / "evaluation.md") -> None:
    """Regenerate docs/evaluation.md's results table from docs/results/ (`make docs`)."""
    text = path.read_text(encoding="utf-8")
    path.write_text(with_results_table(text, results_table(recorded_results())), encoding="utf-8")
