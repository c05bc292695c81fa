"""Fit the watches' cheap test (`make fit-watch`): its two thresholds, on a replay of
rtqa-train (:mod:`sinoqa.evals.replay`).

A watch is asked again when a new article's closest passage is ``min_similarity`` like its
question, or the article holds ``min_coverage`` of the question's IDF-weighted terms. Every
pair of thresholds on a grid is scored on the replay's (watch, week) pairs: its recall (the
weeks that bring a watch's target article in which the test passes an article that answers
it) and how many watches it asks again per week. The pair chosen asks the fewest with a
recall of at least ``--min-recall``; the settings' defaults are that pair.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sinoqa.evals.records import WATCH_FIT
from sinoqa.evals.replay import Plan, collect_scores, plan_replay, watch_name
from sinoqa.settings import Settings

SIMILARITIES = np.round(np.arange(0.20, 0.81, 0.01), 2)
COVERAGES = np.round(np.arange(0.30, 1.001, 0.05), 2)


def choose(plan: Plan, rows: Sequence[dict[str, Any]], min_recall: float) -> dict[str, Any]:
    """The grid's pair asking the fewest watches again per week with recall >= min_recall."""
    kept = _watch_weeks(plan)
    due = {(week, name) for name, week in _target_weeks(plan).items()}
    similarity = np.array([r["similarity"] for r in rows], dtype=np.float32)
    coverage = np.array([r["coverage"] for r in rows], dtype=np.float32)
    pairs = [(r["monday"], r["watch"]) for r in rows]
    answers = np.array([r["doc_id"] in plan.expected[r["watch"]] for r in rows])
    best: dict[str, Any] | None = None
    grid = []
    for s in SIMILARITIES:
        for c in COVERAGES:
            passes = (similarity >= s) | (coverage >= c)
            asked = {pairs[i] for i in np.flatnonzero(passes)}
            found = {pairs[i] for i in np.flatnonzero(passes & answers)} & due
            recall = len(found) / len(due) if due else 0.0
            row = {
                "min_similarity": float(s),
                "min_coverage": float(c),
                "recall": round(recall, 4),
                "asked_per_watch_week": round(len(asked) / kept, 4) if kept else 0.0,
            }
            grid.append(row)
            if recall >= min_recall and (
                best is None or row["asked_per_watch_week"] < best["asked_per_watch_week"]
            ):
                best = row
    if best is None:
        best = max(grid, key=lambda r: (r["recall"], -r["asked_per_watch_week"]))
    # The fewest asked at each recall a reader may prefer: what the minimum costs.
    frontier = []
    for level in (0.8, 0.85, 0.9, 0.95, 1.0):
        able = [r for r in grid if r["recall"] >= level]
        if able:
            frontier.append(
                {"min_recall": level} | min(able, key=lambda r: r["asked_per_watch_week"])
            )
    return {"chosen": best, "frontier": frontier, "due": len(due), "watch_weeks": kept}


def _target_weeks(plan: Plan) -> dict[str, str]:
    return {watch_name(q.id): b.monday.isoformat() for b in plan.batches for q in b.new_watches}


def _watch_weeks(plan: Plan) -> int:
    """(watch, week) pairs: each watch counts from the week it was added on."""
    kept, total = 0, 0
    for batch in plan.batches:
        kept += len(batch.new_watches)
        total += kept
    return total


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rtqa-train", type=Path, default=Path("../shared/rtqa-train"))
    parser.add_argument("--work", type=Path, default=Path(".fit/watch"))
    parser.add_argument("--since", type=dt.date.fromisoformat, default=dt.date(2025, 1, 1))
    parser.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2025, 6, 30))
    parser.add_argument("--base-weeks", type=int, default=8)
    parser.add_argument("--min-recall", type=float, default=0.95)
    parser.add_argument(
        "--reuse-scores", action="store_true", help="fit on the scores the last replay kept"
    )
    args = parser.parse_args(argv)
    plan = plan_replay(
        args.rtqa_train, since=args.since, until=args.until, base_weeks=args.base_weeks
    )
    settings = Settings().with_paths(corpus=args.rtqa_train / "corpus", index=args.work / "index")
    scores = args.work / "scores.jsonl"
    if args.reuse_scores and scores.is_file():
        rows = [json.loads(line) for line in scores.read_text("utf-8").splitlines()]
    else:
        shutil.rmtree(args.work, ignore_errors=True)
        rows = collect_scores(plan, settings)
        scores.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    fit = choose(plan, rows, args.min_recall)
    record = {
        "measured": dt.date.today().isoformat(),
        "set": args.rtqa_train.resolve().name,
        "window": [args.since.isoformat(), args.until.isoformat()],
        "base_articles": len(plan.base),
        "weeks": len(plan.batches),
        "articles": sum(len(b.paths) for b in plan.batches),
        "watches": len(plan.targets),
        "min_recall": args.min_recall,
        **fit,
    }
    WATCH_FIT.parent.mkdir(parents=True, exist_ok=True)
    WATCH_FIT.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
