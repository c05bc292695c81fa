"""The `sinoqa` command line. Each command's docstring is its --help text."""

from __future__ import annotations

import contextlib
import enum
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from sinoqa import pipeline
from sinoqa.corpus import CorpusNotFound
from sinoqa.embedding import EmbeddingModelError
from sinoqa.evals import (
    SEED_HOLDOUT_FILE,
    SEED_TUNING_FILES,
    InvalidQuestionFile,
    UnavailableConfiguration,
)
from sinoqa.index import IndexUnavailable
from sinoqa.ingest import IndexBusy, IngestReport, ProgressCallback
from sinoqa.pipeline import InvalidQuestion
from sinoqa.retrieve import InvalidFilter
from sinoqa.schema import Answer, Source, published_label
from sinoqa.scoring import ScorerError
from sinoqa.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _wide(table: Table) -> None:
    """Print a table; piped or redirected, at 160 columns rather than cut at the default 80."""
    (console if console.is_terminal else Console(width=160)).print(table)


def _flag(*names: str, **options: Any) -> Any:
    """An option that takes no value (typer 0.29 labels a bool option '<bool>', as though it
    took one)."""
    return typer.Option(*names, metavar="", **options)


def _print_version(wanted: bool) -> None:
    if wanted:
        from sinoqa import __version__

        print(f"sinoqa {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        _flag("--version", callback=_print_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Ask questions of news and analysis on US-China relations; every answer cites its
    sources."""


CorpusOption = Annotated[
    Path | None,
    typer.Option("--corpus", help="Corpus directory (default: SINOQA_CORPUS__DIR or ./corpus)."),
]
PublisherOption = Annotated[
    list[str] | None,
    typer.Option("--publisher", help="Only articles from this outlet (repeatable)."),
]
DateFromOption = Annotated[
    str | None,
    typer.Option("--from", help="Only articles published on or after YYYY[-MM[-DD]]."),
]
DateToOption = Annotated[
    str | None,
    typer.Option("--to", help="Only articles published on or before YYYY[-MM[-DD]]."),
]
IndexOption = Annotated[
    Path | None,
    typer.Option("--index", help="Index directory (default: SINOQA_INDEX__DIR or ./index)."),
]


def _settings(corpus: Path | None, index: Path | None) -> Settings:
    return Settings().with_paths(corpus=corpus, index=index)


NoWaitOption = Annotated[
    bool,
    _flag(
        "--no-wait",
        help="If another ingest is writing the index, exit (code 3) instead of waiting.",
    ),
]


def _say_waiting() -> None:
    err_console.print("Another ingest is running on this index, waiting for it to finish...")


@contextlib.contextmanager
def _embedding_progress(disabled: bool) -> Iterator[ProgressCallback]:
    with Progress(
        TextColumn("Embedding articles"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=disabled or not err_console.is_terminal,
    ) as bar:
        task = bar.add_task("embed", total=None)

        def show(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield show


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files or folders to add or update. Default: the whole corpus."),
    ] = None,
    corpus: CorpusOption = None,
    index: IndexOption = None,
    rebuild: Annotated[
        bool,
        _flag(
            "--rebuild",
            help="Drop the index and build it again from scratch (with the files it held "
            "from outside the corpus, where they still exist).",
        ),
    ] = False,
    as_json: Annotated[bool, _flag("--json", help="Print the summary as JSON.")] = False,
    no_wait: NoWaitOption = False,
) -> None:
    """Clean, chunk and embed articles into the index.

    With no PATHS the corpus directory is synchronised: new and edited articles are embedded,
    unchanged ones are skipped without any embedding work, and articles deleted from the
    corpus are removed from the index. Files that cannot be read are listed with the reason.
    One ingest writes an index at a time: another waits for it (or, with --no-wait, exits).
    """
    settings = _settings(corpus, index)
    with _embedding_progress(disabled=as_json) as show:
        report = pipeline.ingest(
            settings,
            paths or None,
            rebuild=rebuild,
            progress=show,
            wait=not no_wait,
            on_wait=_say_waiting,
        )
    if as_json:
        print(json.dumps(asdict(report), indent=2))
    else:
        _print_ingest_report(report)


@app.command()
def add(
    urls: Annotated[
        list[str] | None, typer.Argument(help="Article URLs (http or https) to add.")
    ] = None,
    urls_file: Annotated[
        Path | None, typer.Option("--urls", help="A file of article URLs, one per line.")
    ] = None,
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", help="An RSS or Atom feed: add every article it links to."),
    ] = None,
    refresh: Annotated[
        bool, _flag("--refresh", help="Re-read the feeds added before; add what is new.")
    ] = False,
    corpus: CorpusOption = None,
    index: IndexOption = None,
    as_json: Annotated[bool, _flag("--json", help="Print the report as JSON.")] = False,
    no_wait: NoWaitOption = False,
) -> None:
    """Add articles from the web: pages by URL, or every article of a feed.

    Each page is fetched (http or https only, with a time and size limit; addresses on
    loopback and private networks are refused unless SINOQA_FETCH__ALLOW_PRIVATE=true), its
    main text and publication facts are extracted and stored under corpus/web/ as Markdown
    with front matter, and it is indexed at once. Later ingests need no network. A URL added
    before is listed as such and fetched no more; one that fails is listed with the reason and
    changes nothing else. When every URL fails, the exit status is 1.
    """
    settings = _settings(corpus, index)
    given = list(urls or [])
    if urls_file is not None:
        try:
            lines = urls_file.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise typer.BadParameter(f"{urls_file}: {exc.strerror or exc}") from None
        given += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not (given or feed or refresh):
        raise typer.BadParameter("give URLs, --urls FILE, --feed URL or --refresh")
    report = pipeline.AddReport()
    with _embedding_progress(disabled=as_json) as show:
        for part in (
            pipeline.add_urls(settings, given, show, wait=not no_wait) if given else None,
            pipeline.add_feeds(settings, feed, show, wait=not no_wait) if feed else None,
            pipeline.refresh_feeds(settings, show, wait=not no_wait) if refresh else None,
        ):
            if part is not None:
                report.added += part.added
                report.known += part.known
                report.rejected += part.rejected
                report.feeds += part.feeds
    # Scripts can tell when no URL is in the corpus now.
    failed = bool(report.rejected) and not (report.added or report.known)
    if as_json:
        print(json.dumps(asdict(report), indent=2))
        raise typer.Exit(1 if failed else 0)
    for url, doc_id in report.added:
        console.print(f"[green]added[/green]    {escape(doc_id)}  {escape(url)}")
    for url, doc_id in report.known:
        console.print(f"known    {escape(doc_id)}  {escape(url)} (added before)")
    for url, reason in report.rejected:
        console.print(f"[yellow]rejected[/yellow] {escape(url)}: {escape(reason)}")
    if refresh and not (given or feed or report.feeds or report.rejected):
        console.print(
            "No feeds to refresh: none has been added to this corpus yet "
            "(add one with `sinoqa add --feed URL`)."
        )
    elif report.feeds and not (report.added or report.known or report.rejected):
        console.print(f"Nothing new in {len(report.feeds)} feed(s).")
    else:
        console.print(
            f"{len(report.added)} added"
            + (f", {len(report.known)} added before" if report.known else "")
            + f", {len(report.rejected)} rejected"
            + (f"; {len(report.feeds)} feed(s) read" if report.feeds else "")
            + "."
        )
    if failed:
        raise typer.Exit(1)


def _print_ingest_report(report: IngestReport) -> None:
    console.print(f"[bold]Index[/bold] {report.location} (collection {report.collection})")
    table = Table(show_header=False, box=None, pad_edge=False)
    for label, doc_ids in (
        ("added", report.added),
        ("updated", report.updated),
        ("unchanged", report.unchanged),
        ("removed", report.removed),
    ):
        table.add_row(label, str(len(doc_ids)), ", ".join(doc_ids) if label != "unchanged" else "")
    table.add_row("skipped", str(len(report.skipped)), "")
    _wide(table)
    for skipped in report.skipped:
        reason = escape(skipped.reason)
        console.print(f"  [yellow]skipped[/yellow] {escape(str(skipped.path))}: {reason}")
    console.print(
        f"{report.chunks_total} chunks indexed; {report.chunks_embedded} embedded, "
        f"{report.chunks_reused} reused this run"
        + (
            f"; {report.orphans_removed} left over from an interrupted run removed"
            if report.orphans_removed
            else ""
        )
        + (
            f"; {report.sentence_spans_stored} older chunks given their sentence spans"
            if report.sentence_spans_stored
            else ""
        )
        + f". {report.seconds:.1f} s."
    )


@app.command("settings")
def settings_command() -> None:
    """List every setting: its environment variable, default and meaning (Markdown).

    `make docs` writes this table to docs/configuration.md.
    """
    from sinoqa.settings import settings_table

    print(settings_table(), end="")


@app.command()
def status(
    corpus: CorpusOption = None,
    index: IndexOption = None,
    as_json: Annotated[bool, _flag("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show what is indexed: articles, chunks, model and the time of the last ingest."""
    state = pipeline.status(_settings(corpus, index))
    if as_json:
        print(json.dumps(asdict(state), indent=2))
        return
    console.print(f"[bold]Index[/bold] {state.location} (collection {state.collection})")
    console.print(
        f"model {state.model}; chunks of {state.chunk_size} tokens, overlap "
        f"{state.chunk_overlap}; cleaning v{state.cleaning_version}"
    )
    console.print(
        f"{state.documents} articles, {state.chunks} chunks; last ingest {state.last_ingest or '-'}"
    )
    table = Table("published", "publisher", "title", "chunks")
    table.add_column("doc_id", no_wrap=True)
    table.columns.insert(0, table.columns.pop())
    for record in state.records:
        date = published_label(record.published, record.published_approx, missing="-")
        table.add_row(
            record.doc_id, date, record.publisher or "-", record.title, str(len(record.chunk_ids))
        )
    _wide(table)
    if state.other_collections:
        console.print(
            "Other collections (built with other settings): " + ", ".join(state.other_collections)
        )


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="The question to answer.")] = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            help="Answer every line of this file instead (one JSON answer per line, in order).",
        ),
    ] = None,
    as_json: Annotated[bool, _flag("--json", help="Print the Answer as JSON.")] = False,
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", min=1, max=50, help="Passages to consider (default 6)."),
    ] = None,
    publisher: PublisherOption = None,
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The day the question is asked, YYYY-MM-DD or today ('this week' then): "
            "articles from just before it rank first; later ones are left out (a day's grace: "
            "dates carry no time zone). Default: none, unless the question asks about the "
            "present ('this week', 'the latest'): then today, or the newest article's day.",
        ),
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", help="extractive (default), openai, ollama or llamacpp (see README)."
        ),
    ] = None,
    corpus: CorpusOption = None,
    index: IndexOption = None,
) -> None:
    """Answer a question from the indexed articles, citing every sentence.

    The answer quotes the articles and numbers its sources [1], [2], ...; each source shows
    the outlet, date, title and link. When the articles do not answer the question it says
    so and lists the nearest passages instead: that is an answer too, so the exit status is 0
    (with --json, `refused` tells a script which it got). Needs `sinoqa ingest` first.
    """
    settings = _settings(corpus, index)
    if backend:
        settings = settings.model_copy(
            update={"answer": settings.answer.model_copy(update={"backend": backend})}
        )
        settings = Settings.model_validate(settings.model_dump())  # reject unknown backends
    pipe = pipeline.get_pipeline(settings)
    options = {
        "publishers": tuple(publisher or ()),
        "date_from": date_from,
        "date_to": date_to,
        "top_k": top_k,
        "as_of": as_of,
    }
    if questions is not None:
        if question is not None:
            raise typer.BadParameter("give either a QUESTION or --questions FILE, not both")
        for line in questions.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            try:
                answer = pipe.ask(line, **options)  # type: ignore[arg-type]
                print(answer.model_dump_json(), flush=True)
            except pipeline.InvalidQuestion as exc:
                print(json.dumps({"question": line, "error": str(exc)}), flush=True)
        return
    if question is None:
        raise typer.BadParameter("give a QUESTION (in quotes) or --questions FILE")
    answer = pipe.ask(question, **options)  # type: ignore[arg-type]
    if as_json:
        print(answer.model_dump_json(indent=2))
    else:
        print_answer(answer)


feedback_app = typer.Typer(
    help="The 👍 / 👎 given in the chat: list it, or export it as eval question drafts.",
    no_args_is_help=True,
)
app.add_typer(feedback_app, name="feedback")


@feedback_app.command("list")
def feedback_list(index: IndexOption = None) -> None:
    """List the feedback given on answers, newest last."""
    from sinoqa import feedback

    given = feedback.entries(_settings(None, index))
    if not given:
        console.print("No feedback yet.")
        return
    for entry in given:
        mark = "👍" if entry["rating"] == "up" else "👎"
        console.print(f"{entry['time']} {mark} {escape(entry['question'])}")
        if entry["comment"]:
            console.print(f"    “{escape(entry['comment'])}”")


@feedback_app.command("export")
def feedback_export(
    out: Annotated[Path, typer.Option("--out", help="The JSON Lines file to write.")],
    index: IndexOption = None,
) -> None:
    """Write the feedback as eval question drafts (run them with `sinoqa eval --questions`).

    A 👍 answer's cited articles become the question's expected_docs; a 👎 is tagged
    `review`, for a maintainer to say what the right answer is.
    """
    from sinoqa import feedback

    drafts = feedback.eval_drafts(feedback.entries(_settings(None, index)))
    out.write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in drafts), encoding="utf-8"
    )
    console.print(f"{len(drafts)} drafts written to {out}.")


@app.command()
def compare(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    publisher: Annotated[
        list[str] | None,
        typer.Option("--publisher", help="An outlet to compare (give two or more)."),
    ] = None,
    as_json: Annotated[bool, _flag("--json", help="Print the Comparison as JSON.")] = False,
    corpus: CorpusOption = None,
    index: IndexOption = None,
) -> None:
    """Each outlet's own cited answer to QUESTION, side by side, and where they disagree.

    Every outlet answers from its own articles only (or says they don't answer it). Names
    that the answers give different numbers or dates for are flagged to check.
    """
    pipe = pipeline.get_pipeline(_settings(corpus, index))
    result = pipe.compare(question, publisher or [])
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    for column in result.columns:
        console.print(f"\n[bold]{escape(column.publisher)}[/bold]")
        if column.refused:
            console.print("  This outlet's articles don't answer this.")
            continue
        console.print(f"  {escape(column.answer)}")
        for citation in column.citations:
            date = published_label(citation.published, citation.published_approx)
            console.print(f"  [{citation.n}] {escape(date)}: {escape(citation.title)}")
    for conflict in result.conflicts:
        said = "; ".join(f"{o}: {', '.join(v)}" for o, v in conflict.values.items())
        console.print(f"\n[yellow]differ on {escape(conflict.subject)}[/yellow] ({escape(said)})")


@app.command()
def timeline(
    query: Annotated[str, typer.Argument(help="What the story is about, in words.")],
    as_json: Annotated[bool, _flag("--json", help="Print the Timeline as JSON.")] = False,
    publisher: PublisherOption = None,
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    chart: Annotated[
        Path | None, typer.Option("--chart", help="Also draw articles per month to this PNG.")
    ] = None,
    corpus: CorpusOption = None,
    index: IndexOption = None,
) -> None:
    """How a story developed: the articles on QUERY in publication order, grouped by month.

    Each article contributes its sentence closest to the query, quoted verbatim with outlet,
    date (marked approx. when inferred) and title; then the number of articles per month.
    """
    from sinoqa.timeline import period_of, write_chart

    pipe = pipeline.get_pipeline(_settings(corpus, index))
    result = pipe.timeline(
        query, publishers=tuple(publisher or ()), date_from=date_from, date_to=date_to
    )
    if chart is not None:
        write_chart(result, chart)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    if not result.entries:
        console.print("No indexed article is on this query.")
        return
    month = None
    for entry in result.entries:
        period = period_of(entry.date)
        if period != month:
            month = period
            console.print(f"\n[bold]{escape(period)}[/bold]")
        date = published_label(entry.date, entry.date_approx)
        console.print(
            f"  {escape(date)}  {escape(entry.publisher or 'Unknown outlet')}: "
            f"{escape(entry.title)}\n    “{escape(entry.quote)}”"
        )
    console.print(
        "\nArticles per month: "
        + ", ".join(f"{c.period} {c.articles}" for c in result.coverage)
        + (f"\nChart: {chart}" if chart else "")
    )


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to bind (default 127.0.0.1).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=1, max=65535, help="Port (default 7860).")
    ] = None,
    corpus: CorpusOption = None,
    index: IndexOption = None,
) -> None:
    """Open the chat UI in the browser at http://127.0.0.1:7860.

    Binds to 127.0.0.1 unless --host says otherwise. Set SINOQA_UI__USERNAME and
    SINOQA_UI__PASSWORD to require a login on a shared machine. Needs `sinoqa ingest` first.
    """
    from sinoqa_app import launch

    settings = _settings(corpus, index)
    update = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if update:
        settings = settings.model_copy(update={"ui": settings.ui.model_copy(update=update)})
    launch(settings)


class DatesAsked(enum.StrEnum):
    """How `sinoqa eval` asks questions that carry the day they were asked."""

    undated = "undated"
    dated = "dated"
    both = "both"


DEFAULT_QUESTIONS = [Path("evals") / name for name in (*SEED_TUNING_FILES, SEED_HOLDOUT_FILE)]
DEFAULT_THRESHOLDS = Path("evals/thresholds.toml")


@app.command("eval")
def eval_command(
    questions: Annotated[
        list[Path] | None,
        typer.Option(
            "--questions",
            help="Question file (JSON Lines, the eval schema); repeat for several sets, each "
            "scored apart too. Default: evals/questions.jsonl, evals/tuning-2.jsonl and "
            "evals/holdout.jsonl.",
        ),
    ] = None,
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus",
            help="Corpus to evaluate on; without --index it is indexed into a temporary index.",
        ),
    ] = None,
    index: IndexOption = None,
    backend: Annotated[
        str | None,
        typer.Option("--backend", help="Answer backend: extractive (default) or an LLM backend."),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare",
            help="Comma-separated configurations run side by side: hybrid, dense, bm25, "
            "hybrid-rrf, plain (rank fusion, no fitted ranker), hybrid-w0.3, hybrid-w0.7, "
            "hybrid+rerank, llm, or settings such as "
            "'retrieval.article_support=0.3' ('a=1;b=2' sets two).",
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Where report.md, results.json and metrics.png go.")
    ] = Path("eval-out"),
    check: Annotated[
        bool,
        _flag("--check", help="Exit non-zero if the first configuration is below a threshold."),
    ] = False,
    thresholds: Annotated[
        Path, typer.Option("--thresholds", help="Minimum scores for --check (TOML).")
    ] = DEFAULT_THRESHOLDS,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the first N questions (quick looks).")
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option(
            "--record",
            help="Also keep the summary (command, day, each set's metrics) in this JSON file: "
            "docs/results/NAME.json is what docs/evaluation.md shows (`make docs`).",
        ),
    ] = None,
    dates: Annotated[
        DatesAsked,
        typer.Option(
            "--dates",
            help="undated: ask every question without a day, as the chat and `sinoqa ask` "
            "do (the primary figure); dated: as of each question's question_date; both: "
            "each configuration both ways, undated first.",
            case_sensitive=False,
        ),
    ] = DatesAsked.undated,
) -> None:
    """Measure retrieval and answer quality on a question set.

    Indexes the corpus (incrementally; into a temporary index, removed afterwards, when
    --corpus is given without --index), answers every question with each configuration,
    prints a compact table and writes report.md (tables, per-tag scores, the
    refusal-threshold trade-off and the worst questions with what was retrieved),
    results.json and metrics.png to --out.
    """
    import tempfile

    settings = Settings()
    with contextlib.ExitStack() as cleanup:
        if corpus is not None and index is None:  # removed when the run ends
            temporary = tempfile.TemporaryDirectory(
                prefix="sinoqa-eval-index-", ignore_cleanup_errors=True
            )
            # A subfolder: the ingest lock lives beside the index and goes with the folder.
            index = Path(cleanup.enter_context(temporary)) / "index"
        if corpus is not None or index is not None:
            settings = settings.with_paths(corpus=corpus, index=index)
        _evaluate(
            settings,
            questions or [path for path in DEFAULT_QUESTIONS if path.exists()] or DEFAULT_QUESTIONS,
            backend,
            compare,
            out,
            check,
            thresholds,
            limit,
            record,
            dates,
        )


def _evaluate(
    settings: Settings,
    questions: list[Path],
    backend: str | None,
    compare: str | None,
    out: Path,
    check: bool,
    thresholds: Path,
    limit: int | None,
    record: Path | None = None,
    dates: DatesAsked = DatesAsked.undated,
) -> None:
    import datetime as dt
    import shlex

    from sinoqa import evals

    if backend:
        settings = Settings.model_validate(
            {
                **settings.model_dump(),
                "answer": {**settings.answer.model_dump(), "backend": backend},
            }
        )
    items = {name: qs[:limit] for name, qs in evals.question_sets(questions).items()}
    names = [n.strip() for n in (compare or "hybrid").split(",") if n.strip()]
    configured = [(name, evals.configure(settings, name)) for name in names]

    err_console.print(f"Indexing {settings.corpus.dir} into {settings.index.dir} ...")
    report = pipeline.ingest(settings)
    err_console.print(
        f"{report.chunks_total} chunks; {len(report.added) + len(report.updated)} articles "
        f"embedded, {len(report.unchanged)} unchanged, {len(report.skipped)} skipped."
    )
    ways = {
        DatesAsked.undated: [False],
        DatesAsked.dated: [True],
        DatesAsked.both: [False, True],
    }[dates]
    if True in ways and not any(q.question_date for qs in items.values() for q in qs):
        err_console.print("No question carries a question_date: asked undated only.")
        ways = [False]
    runs = []
    for (name, config), dated in itertools.product(configured, ways):
        with Progress(
            TextColumn(f"{name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        ) as bar:
            task = bar.add_task(name, total=sum(len(qs) for qs in items.values()))

            def advance(done: int, total: int, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            run = evals.run_configuration(name, config, items, advance, dated=dated)
        runs.append(run)
    paths = evals.write_reports(
        runs,
        out,
        questions_path=questions,
        corpus=settings.corpus.dir,
        threshold=settings.answer.refusal_threshold,
        command="sinoqa " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
    )
    table = Table(
        "config", "asked", "set", *[evals.SHORT_LABELS[m] for m in evals.METRICS], "p50 ms"
    )
    for run in runs:
        for set_name, summary in run.sets.items():
            table.add_row(
                run.name,
                run.asked,
                set_name,
                *[evals.format_value(summary[m]) for m in evals.METRICS],
                evals.format_value(summary["total_ms_p50"]),
            )
    _wide(table)
    console.print(
        f"Report: {paths['report']}  Results: {paths['results']}  Chart: {paths['chart']}"
    )
    if record is not None:
        results = json.loads(paths["results"].read_text(encoding="utf-8"))
        summary = evals.results_record(results, dt.date.today().isoformat())
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        console.print(f"Recorded: {record} (run `make docs` to update docs/evaluation.md)")
    if check:
        first_set = next(iter(runs[0].sets.values()))
        failures = evals.check_thresholds(first_set, thresholds, runs[0].sets)
        for failure in failures:
            err_console.print(f"[red]threshold:[/red] {failure}")
        if failures:
            raise typer.Exit(1)
        err_console.print(f"All thresholds in {thresholds} met.")


def print_answer(answer: Answer) -> None:
    for notice in answer.notices:
        console.print(f"[yellow]note:[/yellow] {escape(notice)}")
    console.print(answer.answer, markup=False, highlight=False)
    if any(not s.verified for s in answer.sentences):
        console.print(
            "[yellow]Sentences marked (unverified) are not supported by the passages they "
            "cite.[/yellow]"
        )
    if answer.citations:
        console.print("\n[bold]Sources[/bold]")
        for c in answer.citations:
            _print_source(f"[{c.n}]", c, c.quote)
    if answer.refused and answer.confidence_parts:
        parts = ", ".join(
            f"{name.replace('_', ' ')} {value:+.2f}"
            for name, value in answer.confidence_parts.items()
            if value
        )
        console.print(
            f"[dim]Evidence score {answer.confidence:.2f}, below the refusal threshold: "
            f"{parts}.[/dim]",
            highlight=False,
        )
    if answer.nearest_sources:
        console.print("\n[bold]Nearest sources[/bold] (they do not answer the question)")
        for i, source in enumerate(answer.nearest_sources, start=1):
            _print_source(f"({i})", source, source.passage[:240] + "...")


def _print_source(label: str, source: Source, excerpt: str) -> None:
    byline = ", ".join(p for p in (source.publisher, source.author) if p)
    date = published_label(source.published, source.published_approx)
    console.print(
        f"{escape(label)} {escape(byline or 'unknown outlet')}, {date}: {escape(source.title)}",
        highlight=False,
    )
    if source.url:
        console.print(f"    {escape(source.url)}", highlight=False)
    excerpt = " ".join(excerpt.split())  # a passage's blank lines would break the indent
    console.print(f"    \u201c{escape(excerpt)}\u201d", highlight=False, style="dim")


def main() -> None:
    """Entry point: turn known failures into one clear line instead of a traceback."""
    from pydantic import ValidationError

    try:
        # Without standalone mode, click returns (rather than raises) a command's exit code.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (IndexUnavailable, EmbeddingModelError, ScorerError) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)
    except IndexBusy as exc:
        err_console.print(f"[red]busy:[/red] {escape(str(exc))}")
        sys.exit(3)
    except (
        InvalidQuestion,
        InvalidFilter,
        InvalidQuestionFile,
        UnavailableConfiguration,
        CorpusNotFound,
    ) as exc:
        err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(2)
    except ValidationError as exc:
        err_console.print(f"[red]error:[/red] invalid settings: {escape(str(exc))}")
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print(
            "[yellow]interrupted:[/yellow] the index still serves the last fully ingested "
            "version of every article; run the command again to finish."
        )
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: a typo'd command, a bad option value
        show = getattr(exc, "show", None)
        if callable(show):
            show()  # the usage line and the error, as click prints them
        else:
            err_console.print(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(exc.exit_code or 2)


if __name__ == "__main__":
    main()
