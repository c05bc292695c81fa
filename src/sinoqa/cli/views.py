"""Commands for the views beside the chat: `compare`, `timeline` and `feedback`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sinoqa import pipeline
from sinoqa.cli.common import (
    CorpusOption,
    DateFromOption,
    DateToOption,
    ExistingIndexOption,
    IndexOption,
    app,
    command_group,
    console,
    err_console,
    flag,
    settings_for,
    with_filters,
    writable,
)
from sinoqa.schema import Filters, published_label

feedback_app = command_group(
    "feedback",
    "The 👍 / 👎 given in the chat: list it, or export it as eval question drafts.",
)


@feedback_app.command("list")
def feedback_list(index: ExistingIndexOption = None) -> None:
    """List the feedback given on answers, newest last."""
    log = pipeline.feedback_log(settings_for(None, index))
    _say_unreadable(log.unreadable, log.path)
    given = log.entries
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
    out: Annotated[
        Path,
        typer.Option(
            "--out", dir_okay=False, callback=writable, help="The JSON Lines file to write."
        ),
    ],
    index: ExistingIndexOption = None,
) -> None:
    """Write the feedback as eval question drafts (run them with `sinoqa eval --questions`).

    A 👍 answer's cited articles become the question's expected_docs; a 👎 is tagged
    `review`, for a maintainer to say what the right answer is.
    """
    log = pipeline.feedback_log(settings_for(None, index))
    _say_unreadable(log.unreadable, log.path)
    drafts = log.drafts()
    out.write_text(
        "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in drafts), encoding="utf-8"
    )
    console.print(f"{len(drafts)} drafts written to {out}.")


def _say_unreadable(lines: list[int], path: Path) -> None:
    if lines:
        shown = ", ".join(map(str, lines[:10])) + (" …" if len(lines) > 10 else "")
        err_console.print(
            f"[yellow]note:[/yellow] {escape(str(path))}: line(s) {shown} hold no feedback "
            "entry and were left out (the file is unchanged)."
        )


@app.command()
def compare(
    question: Annotated[str, typer.Argument(help="The question, in quotes.")],
    publisher: Annotated[
        list[str] | None,
        typer.Option("--publisher", help="An outlet to compare (give two or more)."),
    ] = None,
    date_from: DateFromOption = None,
    date_to: DateToOption = None,
    as_json: Annotated[bool, flag("--json", help="Print the Comparison as JSON.")] = False,
    corpus: CorpusOption = None,
    index: IndexOption = None,
) -> None:
    """Each outlet's own cited answer to QUESTION, side by side, and where they disagree.

    Every outlet answers from its own articles only (or says they don't answer it). Names
    that the answers give different numbers or dates for are flagged to check.
    """
    pipe = pipeline.get_pipeline(settings_for(corpus, index))
    result = pipe.compare(
        question, Filters(publishers=publisher, date_from=date_from, date_to=date_to)
    )
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
@with_filters
def timeline(
    query: Annotated[str, typer.Argument(help="What the story is about, in words.")],
    as_json: Annotated[bool, flag("--json", help="Print the Timeline as JSON.")] = False,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            dir_okay=False,
            callback=writable,
            help="Also draw articles per month to this PNG.",
        ),
    ] = None,
    corpus: CorpusOption = None,
    index: IndexOption = None,
    filters: Filters = Filters(),  # noqa: B008 - immutable; given by @with_filters
) -> None:
    """How a story developed: the articles on QUERY in publication order, grouped by month.

    Each article contributes its sentence closest to the query, quoted verbatim with outlet,
    date (marked approx. when inferred) and title; then the number of articles per month.
    """
    pipe = pipeline.get_pipeline(settings_for(corpus, index))
    result = pipe.timeline(query, filters)
    if chart is not None:
        pipeline.save_timeline_chart(result, chart)
    if as_json:
        print(result.model_dump_json(indent=2))
        return
    if not result.entries:
        console.print("No indexed article is on this query.")
        return
    month = None
    for entry in result.entries:
        period = entry.period
        if period != month:
            month = period
            console.print(f"\n[bold]{escape(period)}[/bold]")
        date = published_label(entry.date, entry.date_approx)
        also = ", ".join(c.outlet or "unknown outlet" for c in entry.copies)
        console.print(
            f"  {escape(date)}  {escape(entry.publisher or 'Unknown outlet')}"
            + (f" (also carried by {escape(also)})" if also else "")
            + f": {escape(entry.title)}\n    “{escape(entry.quote)}”"
        )
    console.print(
        "\nArticles per month: "
        + ", ".join(f"{c.period} {c.articles}" for c in result.coverage)
        + (f"\nChart: {chart}" if chart else "")
    )
