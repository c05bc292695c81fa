"""`sinoqa serve`: the chat UI in the browser."""

from __future__ import annotations

from typing import Annotated

import typer

from sinoqa.cli.common import CorpusOption, IndexOption, app, settings_for


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

    settings = settings_for(corpus, index)
    update = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    if update:
        settings = settings.model_copy(update={"ui": settings.ui.model_copy(update=update)})
    launch(settings)
