"""Compare an eval run with an earlier one, question by question: which answers changed.

A maintainer who refactors expects no change; one who tunes wants to see exactly which
answers moved. `sinoqa eval --baseline OLD/results.json` prints these.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinoqa.errors import InvalidBaseline

#: What makes two answers to the same question different, in the order they are reported.
COMPARED = ("answer", "refused", "confidence", "cited_docs", "retrieved_docs")
#: results.json rounds confidences to four decimals.
CONFIDENCE_TOLERANCE = 5e-5


@dataclass(frozen=True)
class AnswerChange:
    configuration: str  # "hybrid (undated)"
    question_id: str
    changed: tuple[str, ...]  # which of COMPARED differ
    before: Mapping[str, Any]
    after: Mapping[str, Any]


@dataclass(frozen=True)
class Comparison:
    compared: int  # questions answered in both runs
    changes: list[AnswerChange]
    unmatched: list[str]  # configurations or questions in only one of the runs


def load_results(path: Path) -> dict[str, Any]:
    """A results.json written by `sinoqa eval`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidBaseline(f"{path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise InvalidBaseline(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("configurations"), list):
        raise InvalidBaseline(f"{path}: not the results.json of a `sinoqa eval` run")
    return data


def _runs(results: Mapping[str, Any]) -> dict[str, dict[str, Mapping[str, Any]]]:
    """Each configuration's answers by question (id, and set when several share an id)."""
    runs: dict[str, dict[str, Mapping[str, Any]]] = {}
    for run in results["configurations"]:
        label = f"{run['name']} ({run.get('asked', 'undated')})"
        runs[label] = {
            f"{item.get('question_set', '')}/{item['id']}".lstrip("/"): item
            for item in run.get("results", [])
        }
    return runs


def _differs(field: str, before: Any, after: Any) -> bool:
    if field == "confidence" and before is not None and after is not None:
        return bool(abs(float(before) - float(after)) > CONFIDENCE_TOLERANCE)
    return bool(before != after)


def compare_results(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> Comparison:
    """Every answer of ``current`` against the same question's in ``baseline``."""
    before_runs, after_runs = _runs(baseline), _runs(current)
    unmatched = sorted(set(before_runs) ^ set(after_runs))
    changes: list[AnswerChange] = []
    compared = 0
    for label in [label for label in after_runs if label in before_runs]:
        before, after = before_runs[label], after_runs[label]
        unmatched += [f"{label}: {key}" for key in sorted(set(before) ^ set(after))]
        for key in [key for key in after if key in before]:
            compared += 1
            changed = tuple(
                field
                for field in COMPARED
                if _differs(field, before[key].get(field), after[key].get(field))
            )
            if changed:
                changes.append(AnswerChange(label, key, changed, before[key], after[key]))
    return Comparison(compared, changes, unmatched)


def summary_lines(comparison: Comparison, limit: int = 20) -> Sequence[str]:
    """A few lines for people: how many answers changed, and the first ``limit`` of them."""
    lines = [
        f"{len(comparison.changes)} of {comparison.compared} answers differ from the baseline."
    ]
    for change in comparison.changes[:limit]:
        detail = ", ".join(change.changed)
        if "confidence" in change.changed:
            detail += f" ({change.before.get('confidence')} -> {change.after.get('confidence')})"
        lines.append(f"  {change.configuration} {change.question_id}: {detail}")
    if len(comparison.changes) > limit:
        lines.append(f"  ... and {len(comparison.changes) - limit} more")
    if comparison.unmatched:
        lines.append(f"In only one of the runs: {', '.join(comparison.unmatched[:10])}")
    return lines
