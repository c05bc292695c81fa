"""Minimum scores (evals/thresholds.toml) that `sinoqa eval --check` holds a run to."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinoqa.evals.metrics import LOWER_IS_BETTER


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
