"""Commands that build and describe the index: `ingest`, `add`, `settings`, `status`."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sinoqa import pipeline
from sinoqa.cli.common import (
    CorpusOption,
    IndexOption,
    NoWaitOption,
    WritableIndexOption,
    app,
    console,
    embedding_progress,
    err_console,
    flag,
    say_waiting,
    settings_for,
    text_lines,
    wide,
    writable,
)
from sinoqa.schema import IngestReport, WatchCheck, published_label


@app.command()
def ingest(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            exists=True, help="Files or folders to add or update. Default: the whole corpus."
        ),
    ] = None,
    corpus: CorpusOption = None,
    index: WritableIndexOption = None,
    rebuild: Annotated[
        bool,
        flag(
            "--rebuild",
            help="Drop the index and build it again from scratch (with the files it held "
            "from outside the corpus, where they still exist).",
        ),
    ] = False,
    as_json: Annotated[bool, flag("--json", help="Print the summary as JSON.")] = False,
    no_wait: NoWaitOption = False,
) -> None:
    """Clean, chunk and embed articles into the index.

    With no PATHS the corpus directory is synchronised: new and edited articles are embedded,
    unchanged ones are skipped without any embedding work, and articles deleted from the
    corpus are removed from the index. Files that cannot be read are listed with the reason.
    One ingest writes an index at a time: another waits for it (or, with --no-wait, exits).
    """
    settings = settings_for(corpus, index)
    with embedding_progress(disabled=as_json) as show:
        report = pipeline.ingest(
            settings,
            paths or None,
            rebuild=rebuild,
            progress=show,
            wait=not no_wait,
            on_wait=say_waiting,
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
        Path | None,
        typer.Option(
            "--urls", exists=True, dir_okay=False, help="A file of article URLs, one per line."
        ),
    ] = None,
    feed: Annotated[
        list[str] | None,
        typer.Option("--feed", help="An RSS or Atom feed: add every article it links to."),
    ] = None,
    refresh: Annotated[
        bool, flag("--refresh", help="Re-read the feeds added before; add what is new.")
    ] = False,
    corpus: Annotated[
        Path | None,
        typer.Option(
            "--corpus",
            file_okay=False,
            callback=writable,
            help="Corpus directory the pages are stored in, under web/ (created if missing; "
            "default: SINOQA_CORPUS__DIR or ./corpus).",
        ),
    ] = None,
    index: WritableIndexOption = None,
    as_json: Annotated[bool, flag("--json", help="Print the report as JSON.")] = False,
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
    settings = settings_for(corpus, index)
    given = list(urls or [])
    if urls_file is not None:
        lines = text_lines(urls_file, "'--urls'")
        given += [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    if not (given or feed or refresh):
        raise typer.BadParameter("give URLs, --urls FILE, --feed URL or --refresh")
    with embedding_progress(disabled=as_json) as show:
        report = pipeline.add(
            settings, given, feed or (), refresh=refresh, progress=show, wait=not no_wait
        )
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
    _say_watches(report.watches)
    if failed:
        raise typer.Exit(1)


def _say_watches(check: WatchCheck | None) -> None:
    """One line on the watches checked after a write, when any are kept."""
    if check is None or not check.tested:
        return
    changed = ", ".join(check.changed)
    console.print(
        f"Watches: {check.tested} tested against {check.arrivals} new or changed articles, "
        f"{len(check.asked)} asked again, {len(check.changed)} changed"
        + (f" ({escape(changed)}; `sinoqa watch show NAME`)" if changed else "")
        + (f", {len(check.failed)} not checked (see the log)" if check.failed else "")
        + "."
    )


def _print_ingest_report(report: IngestReport) -> None:
    for notice in report.notices:
        err_console.print(f"[yellow]note:[/yellow] {escape(notice)}")
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
    wide(table)
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
    _say_watches(report.watches)


@app.command("settings")
def settings_command() -> None:
    """List every setting: its environment variable, default and meaning (Markdown).

    `make docs` writes this table to docs/configuration.md.
    """
    from sinoqa.cli.reference import settings_table

    print(settings_table(), end="")


@app.command()
def refresh(
    index: WritableIndexOption = None,
    corpus: CorpusOption = None,
    as_json: Annotated[bool, flag("--json", help="Print the report as JSON.")] = False,
    no_wait: NoWaitOption = False,
) -> None:
    """Re-read every feed added before and add its new articles (the watches are checked
    after). For cron or a systemd timer; the same as `sinoqa add --refresh`."""
    add(refresh=True, corpus=corpus, index=index, as_json=as_json, no_wait=no_wait)


@app.command()
def status(
    corpus: CorpusOption = None,
    index: IndexOption = None,
    as_json: Annotated[bool, flag("--json", help="Print the status as JSON.")] = False,
) -> None:
    """Show what is indexed: articles, copy groups (`copy_groups`, `copied_articles`), chunks,
    model and the time of the last ingest."""
    state = pipeline.status(settings_for(corpus, index))
    if as_json:
        print(state.model_dump_json(indent=2))
        return
    console.print(f"[bold]Index[/bold] {state.location} (collection {state.collection})")
    console.print(
        f"model {state.model}; chunks of {state.chunk_size} tokens, overlap "
        f"{state.chunk_overlap}; cleaning v{state.cleaning_version}"
    )
    copies = (
        f" ({state.copied_articles} in {state.copy_groups} groups carrying one text)"
        if state.copy_groups
        else ""
    )
    console.print(
        f"{state.documents} articles{copies}, {state.chunks} chunks; "
        f"last ingest {state.last_ingest or '-'}"
    )
    table = Table("published", "publisher", "title", "chunks")
    table.add_column("doc_id", no_wrap=True)
    table.columns.insert(0, table.columns.pop())
    for record in state.records:
        date = published_label(record.published, record.published_approx, missing="-")
        table.add_row(
            record.doc_id, date, record.publisher or "-", record.title, str(len(record.chunk_ids))
        )
    wide(table)
    if state.other_collections:
        console.print(
            "Other collections (built with other settings): " + ", ".join(state.other_collections)
        )
