"""The `sinoqa` command line. Each command's docstring is its --help text."""

from __future__ import annotations

import contextlib
import functools
import inspect
import tempfile
import typing
from collections.abc import Callable, Iterator
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

from sinoqa.errors import InvalidFilter
from sinoqa.schema import Filters, ProgressCallback
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


def writable(value: Path | None) -> Path | None:
    """Check, before any work, that a file or folder can be written where the user asked:
    the nearest folder that exists must take a new file (a trial file, removed at once)."""
    if value is None:
        return None
    place = value if value.is_dir() else value.parent
    while not place.exists() and place != place.parent:
        place = place.parent
    try:
        with tempfile.TemporaryFile(dir=place):
            pass
    except OSError as exc:
        raise typer.BadParameter(f"{value} cannot be written: {exc.strerror or exc}") from None
    return value


def text_lines(path: Path, option: str) -> list[str]:
    """The lines of a text file the user gave with ``option``, or a usage error naming it."""
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise typer.BadParameter(f"{path}: {exc.strerror or exc}", param_hint=option) from None
    except UnicodeDecodeError as exc:
        raise typer.BadParameter(
            f"{path} is not UTF-8 text ({exc.reason})", param_hint=option
        ) from None


def filter_option(param: typer.CallbackParam, value: str | None) -> str | None:
    """Check a filter option (--from, --to, --as-of) as :class:`Filters` checks it, before
    any work: its field is the option's parameter name."""
    if value is not None:
        try:
            Filters.model_validate({param.name: value})
        except InvalidFilter as exc:
            raise typer.BadParameter(exc.message) from None
    return value


CorpusOption = Annotated[
    Path | None,
    typer.Option(
        "--corpus",
        exists=True,
        file_okay=False,
        help="Corpus directory (default: SINOQA_CORPUS__DIR or ./corpus).",
    ),
]
PublisherOption = Annotated[
    list[str] | None,
    typer.Option("--publisher", help="Only articles from this outlet (repeatable)."),
]
DateFromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        callback=filter_option,
        help="Only articles published on or after YYYY[-MM[-DD]].",
    ),
]
DateToOption = Annotated[
    str | None,
    typer.Option(
        "--to", callback=filter_option, help="Only articles published on or before YYYY[-MM[-DD]]."
    ),
]
#: The options every command over the corpus takes to narrow it, in the order --help shows.
_FILTER_OPTIONS = {
    "publisher": PublisherOption,
    "date_from": DateFromOption,
    "date_to": DateToOption,
}


def with_filters(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the --publisher, --from and --to options; it receives them as one
    ``filters: Filters`` (the parameter it declares for them, last), checked once."""
    # The command's annotations are strings (postponed evaluation): typer reads them from
    # the new signature, so they are resolved here, Annotated options and all.
    hints = typing.get_type_hints(command, include_extras=True)
    signature = inspect.signature(command)
    kept = [
        p.replace(annotation=hints.get(name, p.annotation))
        for name, p in signature.parameters.items()
        if name != "filters"
    ]
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=option)
        for name, option in _FILTER_OPTIONS.items()
    ]

    @functools.wraps(command)
    def run(
        *args: Any,
        publisher: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        **kwargs: Any,
    ) -> None:
        filters = Filters(publishers=publisher, date_from=date_from, date_to=date_to)
        command(*args, filters=filters, **kwargs)

    run.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*kept, *added], return_annotation=None
    )
    hints.pop("filters", None)
    run.__annotations__ = {**hints, **_FILTER_OPTIONS}
    return run


IndexOption = Annotated[
    Path | None,
    typer.Option(
        "--index",
        file_okay=False,
        help="Index directory (default: SINOQA_INDEX__DIR or ./index).",
    ),
]


#: For commands that write the index: checked before any work.
WritableIndexOption = Annotated[
    Path | None,
    typer.Option(
        "--index",
        file_okay=False,
        callback=writable,
        help="Index directory (default: SINOQA_INDEX__DIR or ./index).",
    ),
]
#: For commands that only read what an earlier ingest left beside the index (feedback).
ExistingIndexOption = Annotated[
    Path | None,
    typer.Option(
        "--index",
        exists=True,
        file_okay=False,
        help="Index directory (default: SINOQA_INDEX__DIR or ./index).",
    ),
]


def command_group(name: str, help: str) -> typer.Typer:
    """A group of subcommands (`sinoqa NAME ...`), registered on the app."""
    group = typer.Typer(help=help, no_args_is_help=True)
    app.add_typer(group, name=name)
    return group


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
