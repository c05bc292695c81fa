"""`sinoqa watch`: saved questions, asked again whenever an ingest brings articles they may
be about, and what changed in their answers."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from sinoqa import pipeline
from sinoqa.cli.common import (
    CorpusOption,
    ExistingIndexOption,
    command_group,
    console,
    flag,
    settings_for,
    with_filters,
)
from sinoqa.schema import Filters, Watch, WatchChange

watch_app = command_group(
    "watch",
    "Follow a story: saved questions that say what changed when new articles arrive.",
)

JsonOption = Annotated[bool, flag("--json", help="Print JSON.")]
NameArgument = Annotated[str, typer.Argument(help="The watch's name (`sinoqa watch list`).")]


@watch_app.command("add")
@with_filters
def watch_add(
    question: Annotated[str, typer.Argument(help="The question to follow, in quotes.")],
    name: Annotated[
        str | None,
        typer.Option("--name", help="What to call it (default: made from the question)."),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            help="POST each change as JSON to this http(s) URL (signed with "
            "SINOQA_WATCH__WEBHOOK_SECRET when set).",
        ),
    ] = None,
    as_json: JsonOption = False,
    corpus: CorpusOption = None,
    index: ExistingIndexOption = None,
    filters: Filters = Filters(),  # noqa: B008 - immutable; given by @with_filters
) -> None:
    """Watch a question: it is answered now, and asked again after every ingest, `sinoqa
    add` or upload that brings articles it may be about; a change is recorded only when the
    answer moved. The filters are those of `sinoqa ask`."""
    watch = _book(corpus, index).add(question, filters, name, webhook)
    if as_json:
        print(watch.summary().model_dump_json(indent=2))
        return
    console.print(f"Watching [bold]{escape(watch.name)}[/bold]: {escape(watch.question)}")
    if watch.answer is not None:
        console.print(watch.answer.answer, markup=False, highlight=False)


@watch_app.command("list")
def watch_list(
    as_json: JsonOption = False, corpus: CorpusOption = None, index: ExistingIndexOption = None
) -> None:
    """List the watches, with how many changes each recorded and how many are unread."""
    watches = _book(corpus, index).watches()
    if as_json:
        print(json.dumps([w.summary().model_dump() for w in watches], indent=2))
        return
    if not watches:
        console.print('No watches. Add one: sinoqa watch add "QUESTION"')
    for watch in watches:
        unread = f", [bold]{watch.unread} unread[/bold]" if watch.unread else ""
        console.print(
            f"{escape(watch.name)}  {escape(watch.question)}  "
            f"({len(watch.changes)} changes{unread})"
        )


@watch_app.command("show")
def watch_show(
    name: NameArgument,
    as_json: JsonOption = False,
    corpus: CorpusOption = None,
    index: ExistingIndexOption = None,
) -> None:
    """Show a watch and every change of its answer, newest last (marks them read)."""
    watch = _book(corpus, index).show(name, mark_read=True)
    if as_json:
        print(json.dumps(_detail(watch), indent=2))
        return
    console.print(f"[bold]{escape(watch.name)}[/bold]: {escape(watch.question)}")
    if not watch.changes:
        console.print("No change recorded yet.")
    for change in watch.changes:
        _print_change(change)


@watch_app.command("remove")
def watch_remove(
    name: NameArgument, corpus: CorpusOption = None, index: ExistingIndexOption = None
) -> None:
    """Stop watching a question; its recorded changes go with it."""
    _book(corpus, index).remove(name)
    console.print(f"Removed {escape(name)}.")


@watch_app.command("check")
def watch_check(
    names: Annotated[
        list[str] | None, typer.Argument(help="Watches to check (default: all).")
    ] = None,
    as_json: JsonOption = False,
    corpus: CorpusOption = None,
    index: ExistingIndexOption = None,
) -> None:
    """Ask watched questions again now, whatever arrived, and record what changed."""
    changes = _book(corpus, index).check(names or [])
    if as_json:
        print(json.dumps([{"name": n, **_change(c)} for n, c in changes], indent=2))
        return
    if not changes:
        console.print("No answer changed.")
    for name, change in changes:
        console.print(f"\n[bold]{escape(name)}[/bold]")
        _print_change(change)


def _book(corpus: Any, index: Any) -> Any:
    return pipeline.get_pipeline(settings_for(corpus, index)).watches


def _change(change: WatchChange) -> dict[str, Any]:
    return change.model_dump(mode="json", exclude={"read"})


def _detail(watch: Watch) -> dict[str, Any]:
    return {
        "name": watch.name,
        "question": watch.question,
        "filters": watch.filters.model_dump(mode="json"),
        "created": watch.created,
        "changes": [_change(c) for c in watch.changes],
    }


def _print_change(change: WatchChange) -> None:
    console.print(f"\n[bold]{escape(change.at)}[/bold]")
    for article in change.new_articles:
        facts = ", ".join(str(v) for v in (article.outlet, article.date, article.title) if v)
        console.print(f"  new: {escape(article.doc_id)} ({escape(facts)})")
    for item in change.what_changed:
        console.print(f"  - {escape(item)}")
