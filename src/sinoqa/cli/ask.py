"""`sinoqa ask`: answer a question (or a file of them) and print the answer with its sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sinoqa import pipeline
from sinoqa.cli.common import (
    CorpusOption,
    IndexOption,
    app,
    console,
    filter_option,
    flag,
    settings_for,
    text_lines,
    with_filters,
)
from sinoqa.errors import InvalidQuestion
from sinoqa.schema import Answer, Filters, Source, published_label
from sinoqa.settings import Settings


@app.command()
@with_filters
def ask(
    question: Annotated[str | None, typer.Argument(help="The question to answer.")] = None,
    questions: Annotated[
        Path | None,
        typer.Option(
            "--questions",
            exists=True,
            dir_okay=False,
            help="Answer every line of this file instead (one JSON answer per line, in order).",
        ),
    ] = None,
    as_json: Annotated[bool, flag("--json", help="Print the Answer as JSON.")] = False,
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", min=1, max=50, help="Passages to consider (default 6)."),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            callback=filter_option,
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
    filters: Filters = Filters(),  # noqa: B008 - immutable; given by @with_filters
) -> None:
    """Answer a question from the indexed articles, citing every sentence.

    The answer quotes the articles and numbers its sources [1], [2], ...; each source shows
    the outlet, date, title and link. When the articles do not answer the question it says
    so and lists the nearest passages instead: that is an answer too, so the exit status is 0
    (with --json, `refused` tells a script which it got). Needs `sinoqa ingest` first.
    """
    settings = settings_for(corpus, index)
    if backend:
        settings = Settings.model_validate(
            {
                **settings.model_dump(),
                "answer": {**settings.answer.model_dump(), "backend": backend},
            }
        )
        settings = Settings.model_validate(settings.model_dump())  # reject unknown backends
    pipe = pipeline.get_pipeline(settings)
    filters = Filters.model_validate({**filters.model_dump(), "as_of": as_of})
    if questions is not None:
        if question is not None:
            raise typer.BadParameter("give either a QUESTION or --questions FILE, not both")
        for line in text_lines(questions, "'--questions'"):
            if not line.strip():
                continue
            try:
                answer = pipe.ask(line, filters, top_k=top_k)
                print(answer.model_dump_json(), flush=True)
            except InvalidQuestion as exc:
                print(json.dumps({"question": line, "error": str(exc)}), flush=True)
        return
    if question is None:
        raise typer.BadParameter("give a QUESTION (in quotes) or --questions FILE")
    answer = pipe.ask(question, filters, top_k=top_k)
    if as_json:
        print(answer.model_dump_json(indent=2))
    else:
        print_answer(answer)


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
    if source.copies:
        carried = ", ".join(
            f"{c.outlet or 'unknown outlet'} ({c.date or 'undated'})" for c in source.copies
        )
        console.print(
            f"    also carried by: {escape(carried)}; earliest in this corpus: "
            f"{escape(source.earliest_doc_id or source.doc_id)}",
            highlight=False,
        )
    excerpt = " ".join(excerpt.split())  # a passage's blank lines would break the indent
    console.print(f"    \u201c{escape(excerpt)}\u201d", highlight=False, style="dim")
