"""The `sinoqa` command line: one module per command group, each command's docstring its
--help text. :func:`main` turns known failures into one clear line instead of a traceback."""

from __future__ import annotations

import sys

import typer
from rich.markup import escape

# Importing a group registers its commands on the app, in the order --help lists them.
from sinoqa.cli import corpus  # isort: skip
from sinoqa.cli import ask  # isort: skip
from sinoqa.cli import views  # isort: skip
from sinoqa.cli import watch  # isort: skip
from sinoqa.cli import serve  # isort: skip
from sinoqa.cli import evaluate  # isort: skip
from sinoqa.cli.common import app, err_console
from sinoqa.errors import SinoqaError

__all__ = ["app", "ask", "corpus", "evaluate", "main", "serve", "views", "watch"]


def main() -> None:
    """Entry point: turn known failures into one clear line instead of a traceback."""
    from pydantic import ValidationError

    try:
        # Without standalone mode, click returns (rather than raises) a command's exit code.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except SinoqaError as exc:
        err_console.print(f"[red]{exc.label}:[/red] {escape(exc.message)}")
        if exc.hint:
            err_console.print(f"[dim]hint:[/dim] {escape(exc.hint)}")
        sys.exit(exc.exit_code)
    except ValidationError as exc:
        err_console.print(f"[red]error:[/red] invalid settings: {escape(str(exc))}")
        sys.exit(2)
    except OSError as exc:  # a file or folder that cannot be read or written, a full disk
        err_console.print(f"[red]error:[/red] {escape(describe_os_error(exc))}")
        sys.exit(1)
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


def describe_os_error(exc: OSError) -> str:
    """One line naming the path and the cause: "/data/x.jsonl: No space left on device"."""
    cause = exc.strerror or str(exc)
    if exc.filename is None:
        return cause
    return (
        f"{exc.filename}: {cause}"
        if exc.filename2 is None
        else (f"{exc.filename} -> {exc.filename2}: {cause}")
    )
