"""An eval run's report.md, results.json and metrics.png."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from sinoqa.evals.metrics import (
    METRICS,
    ConfigurationRun,
    QuestionResult,
    best_threshold,
    refusal_tradeoff,
)


def format_value(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.3f}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
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
    lines = _header(first, paths, corpus, command, threshold)
    lines += _configuration_tables(runs)
    lines += _refusal_section(first, calibration_set, tradeoff, suggested)
    lines += _worst_section(first)
    report = out / "report.md"
    report.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results_path = out / "results.json"
    results = {
        "questions": [str(p) for p in paths],
        "corpus": str(corpus),
        "command": command,
        "refusal_threshold": threshold,
        "suggested_refusal_threshold": suggested,
        "refusal_tradeoff": tradeoff,
        "configurations": [_run_json(r) for r in runs],
    }
    results_path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    chart = out / "metrics.png"
    _chart(runs, chart)
    return {"report": report, "results": results_path, "chart": chart}


def _header(
    first: ConfigurationRun, paths: Sequence[Path], corpus: Path, command: str, threshold: float
) -> list[str]:
    return [
        "# sinoqa eval report",
        "",
        f"- questions: {', '.join(f'`{p}`' for p in paths)} ({first.summary['questions']}: "
        f"{first.summary['answerable']} answerable, {first.summary['unanswerable']} not)",
        f"- corpus: `{corpus}`",
        f"- command: `{command}`",
        f"- refusal threshold in use: {threshold:.2f}",
        "",
    ]


def _configuration_tables(runs: Sequence[ConfigurationRun]) -> list[str]:
    """Each configuration's metrics, each question set's, and the first's latency and tags."""
    first = runs[0]
    lines = ["## Configurations", ""]
    lines += markdown_table(
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
        lines += markdown_table(
            ["configuration", "asked", "set", "n", *METRICS],
            [
                [r.name, r.asked, set_name, summary["questions"], *(summary[m] for m in METRICS)]
                for r in runs
                for set_name, summary in r.sets.items()
            ],
        )
    lines += ["", "Latency per stage (ms), first configuration:", ""]
    lines += markdown_table(
        ["stage", "p50", "p95"],
        [
            [stage, first.summary[f"{stage}_ms_p50"], first.summary[f"{stage}_ms_p95"]]
            for stage in ("retrieve", "answer", "total")
        ],
    )
    lines += ["", f"## Per tag ({first.name})", ""]
    lines += markdown_table(
        ["tag", "n", *METRICS],
        [[tag, s["questions"], *(s[m] for m in METRICS)] for tag, s in first.tags.items()],
    )
    return lines


def _refusal_section(
    first: ConfigurationRun,
    calibration_set: str,
    tradeoff: list[dict[str, float]],
    suggested: float | None,
) -> list[str]:
    lines = [
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
    return lines + markdown_table(
        ["threshold", "refusal accuracy", "false refusals"],
        [[r["threshold"], r["refusal_accuracy"], r["false_refusal_rate"]] for r in tradeoff],
    )


def _worst_section(first: ConfigurationRun) -> list[str]:
    """The worst answered questions, with what was retrieved and cited."""
    lines = ["", f"## Worst questions ({first.name})", ""]
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
    return lines


def _run_json(run: ConfigurationRun) -> dict[str, object]:
    return {
        "name": run.name,
        "asked": run.asked,
        "summary": run.summary,
        "sets": run.sets,
        "tags": run.tags,
        "seconds": run.seconds,
        "results": [asdict(q) for q in run.results],
    }


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
