"""The `sinoqa` command line. Each command's docstring is its --help text."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from sinoqa.ingestion.build import ProgressCallback
from sinoqa.settings import Settings

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def wide(table: Table) -> None:
    """Print a table; piped or redirected, at 160 columns rather than cut at the default 80."""
    (console if console.is_terminal else Console(width=160)).print(table)


def flag(*names: str, **options: Any) -> Any:
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
        flag("--version", callback=_print_version, is_eager=True, help="Print the version."),
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


def settings_for(corpus: Path | None, index: Path | None) -> Settings:
    return Settings().with_paths(corpus=corpus, index=index)


NoWaitOption = Annotated[
    bool,
    flag(
        "--no-wait",
        help="If another ingest is writing the index, exit (code 3) instead of waiting.",
    ),
]


def say_waiting() -> None:
    err_console.print("Another ingest is running on this index, waiting for it to finish...")


@contextlib.contextmanager
def embedding_progress(disabled: bool) -> Iterator[ProgressCallback]:
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
