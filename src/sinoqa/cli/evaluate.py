"""`sinoqa eval`: run the eval suite and print its table; `sinoqa.evals` does the work."""

from __future__ import annotations

import contextlib
import enum
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from sinoqa.cli.common import IndexOption, app, console, err_console, flag, wide, writable
from sinoqa.evals.questions import SEED_HOLDOUT_FILE, SEED_TUNING_FILES
from sinoqa.schema import IngestReport
from sinoqa.settings import Settings

if TYPE_CHECKING:
    from sinoqa.evals.metrics import ConfigurationRun


class DatesAsked(enum.StrEnum):
    """How `sinoqa eval` asks questions that carry the day they were asked."""

    undated = "undated"
    dated = "dated"
    both = "both"


DEFAULT_QUESTIONS = [Path("evals") / name for name in (*SEED_TUNING_FILES, SEED_HOLDOUT_FILE)]


DEFAULT_THRESHOLDS = Path("evals/thresholds.toml")


QuestionsOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--questions",
        exists=True,
        dir_okay=False,
        help="Question file (JSON Lines, the eval schema); repeat for several sets, each "
        "scored apart too. Default: evals/questions.jsonl, evals/tuning-2.jsonl and "
        "evals/holdout.jsonl.",
    ),
]
EvalCorpusOption = Annotated[
    Path | None,
    typer.Option(
        "--corpus",
        exists=True,
        file_okay=False,
        help="Corpus to evaluate on; without --index it is indexed into a temporary index.",
    ),
]
BackendOption = Annotated[
    str | None,
    typer.Option("--backend", help="Answer backend: extractive (default) or an LLM backend."),
]
CompareOption = Annotated[
    str | None,
    typer.Option(
        "--compare",
        help="Comma-separated configurations run side by side: hybrid, dense, bm25, "
        "hybrid-rrf, plain (rank fusion, no fitted ranker), hybrid-w0.3, hybrid-w0.7, "
        "hybrid+rerank, llm, or settings such as "
        "'retrieval.article_support=0.3' ('a=1;b=2' sets two).",
    ),
]
OutOption = Annotated[
    Path,
    typer.Option(
        "--out",
        file_okay=False,
        callback=writable,
        help="Where report.md, results.json and metrics.png go.",
    ),
]
CheckOption = Annotated[
    bool, flag("--check", help="Exit non-zero if the first configuration is below a threshold.")
]
ThresholdsOption = Annotated[
    Path, typer.Option("--thresholds", dir_okay=False, help="Minimum scores for --check (TOML).")
]
LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="Only the first N questions (quick looks).")
]
RecordOption = Annotated[
    Path | None,
    typer.Option(
        "--record",
        dir_okay=False,
        callback=writable,
        help="Also keep the summary (command, day, each set's metrics) in this JSON file: "
        "docs/results/NAME.json is what docs/evaluation.md shows (`make docs`).",
    ),
]
DatesOption = Annotated[
    DatesAsked,
    typer.Option(
        "--dates",
        help="undated: ask every question without a day, as the chat and `sinoqa ask` "
        "do (the primary figure); dated: as of each question's question_date; both: "
        "each configuration both ways, undated first.",
        case_sensitive=False,
    ),
]
BaselineOption = Annotated[
    Path | None,
    typer.Option(
        "--baseline",
        exists=True,
        dir_okay=False,
        help="The results.json of an earlier run: list the answers that differ from it, "
        "question by question (answer text, refusal, confidence, cited and retrieved "
        "articles).",
    ),
]


@dataclass(frozen=True)
class EvalPlan:
    """What `sinoqa eval` was asked to do, checked before any question is asked."""

    settings: Settings
    questions: list[Path]
    configurations: list[str]
    out: Path
    ways: list[bool]  # False: undated, True: as of each question's day
    limit: int | None
    record: Path | None
    thresholds: Path | None  # with --check
    baseline: dict[str, Any] | None


@app.command("eval")
def eval_command(
    questions: QuestionsOption = None,
    corpus: EvalCorpusOption = None,
    index: IndexOption = None,
    backend: BackendOption = None,
    compare: CompareOption = None,
    out: OutOption = Path("eval-out"),
    check: CheckOption = False,
    thresholds: ThresholdsOption = DEFAULT_THRESHOLDS,
    limit: LimitOption = None,
    record: RecordOption = None,
    dates: DatesOption = DatesAsked.undated,
    baseline: BaselineOption = None,
) -> None:
    """Measure retrieval and answer quality on a question set.

    Indexes the corpus (incrementally; into a temporary index, removed afterwards, when
    --corpus is given without --index), answers every question with each configuration,
    prints a compact table and writes report.md (tables, per-tag scores, the
    refusal-threshold trade-off and the worst questions with what was retrieved),
    results.json and metrics.png to --out.
    """
    import tempfile

    from sinoqa.evals.diff import load_results

    earlier = load_results(baseline) if baseline is not None else None  # fail before the run
    if check and not thresholds.is_file():
        raise typer.BadParameter(f"{thresholds} is not a file", param_hint="'--thresholds'")
    settings = Settings()
    if backend:
        answer = {**settings.answer.model_dump(), "backend": backend}
        settings = Settings.model_validate({**settings.model_dump(), "answer": answer})
    with contextlib.ExitStack() as cleanup:
        if corpus is not None and index is None:  # removed when the run ends
            temporary = tempfile.TemporaryDirectory(
                prefix="sinoqa-eval-index-", ignore_cleanup_errors=True
            )
            # A subfolder: the ingest lock lives beside the index and goes with the folder.
            index = Path(cleanup.enter_context(temporary)) / "index"
        if corpus is not None or index is not None:
            settings = settings.with_paths(corpus=corpus, index=index)
        plan = EvalPlan(
            settings=settings,
            questions=questions
            or [path for path in DEFAULT_QUESTIONS if path.exists()]
            or DEFAULT_QUESTIONS,
            configurations=[n.strip() for n in (compare or "hybrid").split(",") if n.strip()],
            out=out,
            ways={"undated": [False], "dated": [True], "both": [False, True]}[dates.value],
            limit=limit,
            record=record,
            thresholds=thresholds if check else None,
            baseline=earlier,
        )
        _evaluate(plan)


def _evaluate(plan: EvalPlan) -> None:
    """Run the plan, print its table, then compare, record and check as asked."""
    import shlex

    from sinoqa.evals.run import evaluate

    settings = plan.settings
    err_console.print(f"Indexing {settings.corpus.dir} into {settings.index.dir} ...")
    evaluation = evaluate(
        settings,
        plan.questions,
        plan.out,
        configurations=plan.configurations,
        ways=plan.ways,
        limit=plan.limit,
        command="sinoqa " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        progress=_run_progress,
        on_indexed=_say_indexed,
    )
    if evaluation.dated_unavailable:
        err_console.print("No question carries a question_date: asked undated only.")
    _print_table(evaluation.runs)
    paths = evaluation.paths
    console.print(
        f"Report: {paths['report']}  Results: {paths['results']}  Chart: {paths['chart']}"
    )
    _after_the_run(plan, evaluation.runs, paths["results"])


def _print_table(runs: Sequence[ConfigurationRun]) -> None:
    from sinoqa.evals.metrics import METRICS, SHORT_LABELS
    from sinoqa.evals.report import format_value

    table = Table("config", "asked", "set", *[SHORT_LABELS[m] for m in METRICS], "p50 ms")
    for run in runs:
        for set_name, summary in run.sets.items():
            table.add_row(
                run.name,
                run.asked,
                set_name,
                *[format_value(summary[m]) for m in METRICS],
                format_value(summary["total_ms_p50"]),
            )
    wide(table)


def _after_the_run(plan: EvalPlan, runs: Sequence[ConfigurationRun], results: Path) -> None:
    """The differences from --baseline, the --record, and the --check against thresholds."""
    import datetime as dt

    from sinoqa.evals.diff import compare_results, summary_lines
    from sinoqa.evals.records import write_record
    from sinoqa.evals.thresholds import check_thresholds

    if plan.baseline is not None:
        current = json.loads(results.read_text(encoding="utf-8"))
        for line in summary_lines(compare_results(plan.baseline, current)):
            console.print(line, markup=False, highlight=False)
    if plan.record is not None:
        write_record(results, plan.record, dt.date.today().isoformat())
        console.print(f"Recorded: {plan.record} (run `make docs` to update docs/evaluation.md)")
    if plan.thresholds is not None:
        first_set = next(iter(runs[0].sets.values()))
        failures = check_thresholds(first_set, plan.thresholds, runs[0].sets)
        for failure in failures:
            err_console.print(f"[red]threshold:[/red] {failure}")
        if failures:
            raise typer.Exit(1)
        err_console.print(f"All thresholds in {plan.thresholds} met.")


def _say_indexed(report: IngestReport) -> None:
    err_console.print(
        f"{report.chunks_total} chunks; {len(report.added) + len(report.updated)} articles "
        f"embedded, {len(report.unchanged)} unchanged, {len(report.skipped)} skipped."
    )


@contextlib.contextmanager
def _run_progress(name: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar for one configuration's run (hidden when not on a terminal)."""
    with Progress(
        TextColumn(name),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=not err_console.is_terminal,
    ) as bar:
        task = bar.add_task(name, total=total)

        def advance(done: int, total: int, task: TaskID = task) -> None:
            bar.update(task, completed=done, total=total)

        yield advance
