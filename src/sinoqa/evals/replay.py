"""Watches measured on a replay of real news: articles ingested week by week in publication
order, as a feed brings them, with a watch for each question added before the week that
brings an article answering it.

A question of the eval schema becomes a watch when one of its expected articles was
published in the ``window`` days before it was asked (its ``question_date``); the earliest
such article is its target, and the watch is added just before the week that brings it.
Articles published before the first of those weeks (and undated ones) form the starting
index. Then, for each week:

- alert recall: the watch recorded a change in its target week naming an expected article;
- alert precision: the share of all changes whose new articles hold an expected one;
- false alerts: changes naming no expected article, per watch per week it was kept;
- fact recall of the answer after each recalled change; check time per watch per week.

`make eval-watch` runs it on rtqa-dev (the figures in docs/evaluation.md);
`make fit-watch` replays rtqa-train to fit the cheap test's thresholds
(:mod:`sinoqa.fitting.watch`).
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sinoqa.errors import InvalidQuestionFile
from sinoqa.evals.metrics import fact_present, percentile
from sinoqa.evals.questions import EvalQuestion, load_questions
from sinoqa.pipeline import get_pipeline, ingest
from sinoqa.schema import IngestReport, WatchChange
from sinoqa.settings import Settings

Say = Callable[[str], None]


@dataclass(frozen=True)
class Batch:
    """One week's articles, and the watches added just before they arrive."""

    monday: dt.date
    paths: list[Path]
    new_watches: list[EvalQuestion]


@dataclass(frozen=True)
class Plan:
    """What a replay ingests, in order, and what it expects."""

    base: list[Path]
    batches: list[Batch]
    expected: dict[str, frozenset[str]]  # watch name -> doc_ids that answer its question
    facts: dict[str, list[list[str]]]  # watch name -> the facts an answer must hold
    targets: dict[str, str]  # watch name -> its target article


@dataclass
class BatchRun:
    """What ingesting one week did."""

    monday: str
    articles: list[str]  # doc_ids added or changed
    watches: int  # watches kept while it was ingested
    write_seconds: float  # the ingest itself (the write, under its lock)
    wall_seconds: float  # the ingest with the watches' check after it
    test_seconds: float = 0.0
    asked: dict[str, float] = field(default_factory=dict)
    changes: list[tuple[str, WatchChange]] = field(default_factory=list)


def watch_name(question_id: str) -> str:
    name = re.sub(r"[^a-z0-9._-]+", "-", question_id.casefold()).strip("-._")[:64]
    return name or "question"


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def read_published(corpus_root: Path) -> dict[str, dt.date | None]:
    """published.tsv beside the corpus: each article's day (None when it has none)."""
    path = corpus_root / "published.tsv"
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidQuestionFile(f"{path}: {exc.strerror or exc}") from exc
    days: dict[str, dt.date | None] = {}
    for line in lines[1:]:
        parts = line.split("\t")
        if len(parts) >= 2 and parts[0]:
            try:
                days[parts[0]] = dt.date.fromisoformat(parts[1]) if parts[1] else None
            except ValueError:
                days[parts[0]] = None
    return days


def plan_replay(
    root: Path,
    *,
    window: int = 14,
    since: dt.date | None = None,
    until: dt.date | None = None,
    base_weeks: int | None = None,
) -> Plan:
    """The replay of the rtqa-style set in ``root`` (questions.jsonl, corpus/,
    published.tsv): its target articles published between ``since`` and ``until``, its
    starting index the ``base_weeks`` weeks before the first target's (all: every article
    before it)."""
    days = read_published(root)
    files = {p.stem: p for p in sorted((root / "corpus").iterdir()) if p.is_file()}
    targets: dict[str, tuple[dt.date, str, EvalQuestion]] = {}
    for question in load_questions(root / "questions.jsonl"):
        if not question.answerable or not question.question_date:
            continue
        asked = dt.date.fromisoformat(question.question_date)
        recent = sorted(
            (day, doc_id)
            for doc_id in question.expected_docs
            if doc_id in files
            and (day := days.get(doc_id)) is not None
            and 0 <= (asked - day).days <= window
            and (since is None or day >= since)
            and (until is None or day <= until)
        )
        if recent:
            targets[watch_name(question.id)] = (*recent[0], question)
    if not targets:
        raise InvalidQuestionFile(f"{root}: no question has an expected article to replay")
    first = _monday(min(day for day, _, _ in targets.values()))
    # Weeks run on to the last question's day: a watch is kept past its target's week.
    last = _monday(
        max(dt.date.fromisoformat(q.question_date or "") for _, _, q in targets.values())
    )
    weeks: dict[dt.date, list[Path]] = {}
    base = []
    for doc_id, path in files.items():
        day = days.get(doc_id)
        if day is None or day < first:
            if base_weeks is None or (day and day >= first - dt.timedelta(weeks=base_weeks)):
                base.append(path)
        elif _monday(day) <= last:
            weeks.setdefault(_monday(day), []).append(path)
    adding: dict[dt.date, list[EvalQuestion]] = {}
    for day, _, question in targets.values():
        adding.setdefault(_monday(day), []).append(question)
    batches = [Batch(m, weeks[m], adding.get(m, [])) for m in sorted(weeks)]
    return Plan(
        base=base,
        batches=batches,
        expected={n: frozenset(q.expected_docs) for n, (_, _, q) in targets.items()},
        facts={n: q.facts for n, (_, _, q) in targets.items()},
        targets={n: doc_id for n, (_, doc_id, _) in targets.items()},
    )


def _replayed(
    plan: Plan, settings: Settings, writing: Settings, say: Say
) -> Iterator[tuple[Batch, IngestReport, float]]:
    """Ingest the plan's base, then each week with ``writing`` (its watches added first
    with ``settings``): each week's report and wall time."""
    pipe = get_pipeline(settings)
    say(f"starting index: {len(plan.base)} articles")
    ingest(writing, plan.base)
    for number, batch in enumerate(plan.batches, start=1):
        for question in batch.new_watches:
            pipe.watches.add(question.question, name=watch_name(question.id))
        started = time.perf_counter()
        report = ingest(writing, batch.paths)
        wall = time.perf_counter() - started
        say(f"week {number}/{len(plan.batches)} {batch.monday}: {len(report.added)} articles")
        yield batch, report, wall


def run_replay(plan: Plan, settings: Settings, say: Say = print) -> list[BatchRun]:
    """Ingest the plan's base, then each week, adding its watches first; each week's
    check as the watches recorded it."""
    book = get_pipeline(settings).watches
    runs = []
    for batch, report, wall in _replayed(plan, settings, settings, say):
        run = BatchRun(
            monday=batch.monday.isoformat(),
            articles=report.added + report.updated,
            watches=len(book.watches()),
            write_seconds=report.seconds,
            wall_seconds=wall,
        )
        if report.watches is not None:
            run.test_seconds = report.watches.test_seconds
            run.asked = report.watches.asked
            run.changes = [(n, book.show(n).changes[-1]) for n in report.watches.changed]
        say(f"  {run.watches} watches, {len(run.asked)} asked, {len(run.changes)} changed")
        runs.append(run)
    return runs


def collect_scores(plan: Plan, settings: Settings, say: Say = print) -> list[dict[str, Any]]:
    """Replay the plan with no watch asked again: the cheap test's scores of each watch kept
    against each article of each week (for fitting its thresholds)."""
    # The ingest sees no watches (another, never-written file); the scores read the real ones.
    quiet = settings.model_copy(
        update={"watch": settings.watch.model_copy(update={"path": _unused(settings)})}
    )
    book = get_pipeline(settings).watches
    return [
        {"monday": batch.monday.isoformat(), **score.__dict__}
        for batch, report, _ in _replayed(plan, settings, quiet, say)
        for score in book.scores(report.added + report.updated)
    ]


def _unused(settings: Settings) -> Path:
    return settings.index.dir.resolve().parent / "no-watches.sqlite3"


def alert_figures(plan: Plan, runs: Sequence[BatchRun]) -> dict[str, Any]:
    """Alert recall and precision, false alerts, fact recall after a change, check times."""
    week_of = {name: b.monday.isoformat() for b in plan.batches for name in _names(b)}
    arrived = {(r.monday, d) for r in runs for d in r.articles}
    due = [n for n, t in plan.targets.items() if (week_of.get(n), t) in arrived]
    hits, facts = set(), []
    changes = [(r.monday, n, c) for r in runs for n, c in r.changes]
    answering = [
        (week, name, change)
        for week, name, change in changes
        if plan.expected[name] & {a.doc_id for a in change.new_articles}
    ]
    for week, name, change in answering:
        if week == week_of.get(name) and name not in hits:
            hits.add(name)
            held = [fact_present(f, change.answer_after) for f in plan.facts[name]]
            facts.append(sum(held) / len(held) if held else 1.0)
    kept = sum(r.watches for r in runs)
    times = [
        r.test_seconds / r.watches + r.asked.get(name, 0.0)
        for r in runs
        if r.watches
        for name in _kept(plan, r.monday)
    ]
    return {
        "watches": len(plan.targets),
        "watches_due": len(due),
        "weeks": len(runs),
        "articles": sum(len(r.articles) for r in runs),
        "changes": len(changes),
        "alert_recall": len(hits & set(due)) / len(due) if due else None,
        "alert_precision": len(answering) / len(changes) if changes else None,
        "false_alerts_per_watch_week": (len(changes) - len(answering)) / kept if kept else None,
        "fact_recall_after_change": statistics.fmean(facts) if facts else None,
        "asked_per_watch_week": sum(len(r.asked) for r in runs) / kept if kept else None,
        "check_seconds_p50": percentile(times, 0.5),
        "check_seconds_p95": percentile(times, 0.95),
    }


def _names(batch: Batch) -> Iterator[str]:
    return (watch_name(q.id) for q in batch.new_watches)


def _kept(plan: Plan, monday: str) -> list[str]:
    return [n for b in plan.batches if b.monday.isoformat() <= monday for n in _names(b)]


def timed_watch_counts(
    plan: Plan,
    questions: Sequence[str],
    make_settings: Callable[[int], Settings],
    counts: Sequence[int] = (0, 50, 500),
    weeks: int = 4,
    say: Say = print,
) -> list[dict[str, Any]]:
    """The plan's last ``weeks`` weeks ingested onto the eight weeks before them, once per
    count of watches (``questions`` asked as watches, the first ``count``): ingest time and
    check time per watch per week. Each count gets a fresh index from ``make_settings``."""
    measured = plan.batches[-weeks:]
    first = measured[0].monday
    start = first - dt.timedelta(weeks=8)
    before = [p for b in plan.batches if start <= b.monday < first for p in b.paths]
    rows = []
    for count in counts:
        settings = make_settings(count)
        pipe = get_pipeline(settings)
        ingest(settings, before)
        for number, question in enumerate(questions[:count]):
            pipe.watches.add(question, name=f"w{number}")
        write = wall = 0.0
        times: list[float] = []
        for batch in measured:
            started = time.perf_counter()
            report = ingest(settings, batch.paths)
            wall += time.perf_counter() - started
            write += report.seconds
            if report.watches is not None and report.watches.tested:
                check = report.watches
                share = check.test_seconds / check.tested
                times += [share + check.asked.get(f"w{n}", 0.0) for n in range(check.tested)]
        rows.append(
            {
                "watches": count,
                "weeks": len(measured),
                "articles": sum(len(b.paths) for b in measured),
                "write_seconds": round(write, 2),
                "wall_seconds": round(wall, 2),
                "check_seconds_p50": percentile(times, 0.5),
                "check_seconds_p95": percentile(times, 0.95),
            }
        )
        say(f"{count} watches: ingest {write:.1f} s, with the check {wall:.1f} s")
    return rows


def _day(value: str) -> dt.date:
    return dt.date.fromisoformat(value)


def main(argv: Sequence[str] | None = None) -> None:
    """`make eval-watch`: replay rtqa-dev with watches and record the figures."""
    import argparse
    import json
    import shutil

    from sinoqa.evals.records import WATCH_RESULTS, update_evaluation_doc

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rtqa", type=Path, default=Path("../shared/rtqa-dev"))
    parser.add_argument("--work", type=Path, default=Path(".replay"), help="scratch indexes")
    parser.add_argument("--record", type=Path, help="default: docs/results/watches/SET.json")
    parser.add_argument("--since", type=_day, help="first target article's earliest day")
    parser.add_argument("--until", type=_day, help="last target article's latest day")
    parser.add_argument("--base-weeks", type=int, help="weeks of articles to start from")
    parser.add_argument(
        "--timing-questions",
        type=Path,
        action="append",
        default=[],
        help="more question files whose questions fill the timed runs' 500 watches",
    )
    args = parser.parse_args(argv)
    args.record = args.record or WATCH_RESULTS / f"{args.rtqa.resolve().name}.json"
    plan = plan_replay(args.rtqa, since=args.since, until=args.until, base_weeks=args.base_weeks)
    shutil.rmtree(args.work, ignore_errors=True)

    def settings_for(name: str) -> Settings:
        return Settings().with_paths(corpus=args.rtqa / "corpus", index=args.work / name)

    runs = run_replay(plan, settings_for("replay"))
    figures = alert_figures(plan, runs)
    questions = [
        q.question
        for path in [args.rtqa / "questions.jsonl", *args.timing_questions]
        for q in load_questions(path)
    ]
    timings = timed_watch_counts(plan, questions, lambda n: settings_for(f"timed-{n}"))
    settings = Settings()
    record = {
        "measured": dt.date.today().isoformat(),
        "set": args.rtqa.resolve().name,
        "thresholds": settings.watch.model_dump(include={"min_similarity", "min_coverage"}),
        "alerts": figures,
        "timings": timings,
        "weeks": [
            {k: v for k, v in r.__dict__.items() if k != "changes"} | {"changed": len(r.changes)}
            for r in runs
        ],
    }
    args.record.parent.mkdir(parents=True, exist_ok=True)
    args.record.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({"alerts": figures, "timings": timings}, indent=2))
    update_evaluation_doc()


if __name__ == "__main__":
    main()
