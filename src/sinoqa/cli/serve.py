"""`sinoqa serve` and `sinoqa mcp`: the chat UI in the browser, the corpus for assistants."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from sinoqa.cli.common import CorpusOption, IndexOption, app, flag, settings_for, writable

#: Both servers listen on this machine only unless told otherwise.
HostOption = Annotated[
    str | None, typer.Option("--host", help="Address to listen on (default 127.0.0.1).")
]


def port_option(default: int) -> Any:
    return typer.Option("--port", min=1, max=65535, help=f"Port (default {default}).")


@app.command()
def serve(
    host: HostOption = None,
    port: Annotated[int | None, port_option(7860)] = None,
    refresh_every: Annotated[
        str | None,
        typer.Option(
            "--refresh-every",
            help="Re-read the feeds added before this often: 30m, 2h, 1d "
            "(default: SINOQA_UI__REFRESH_EVERY, else never).",
        ),
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
    given = (("host", host), ("port", port), ("refresh_every", refresh_every))
    update = {k: v for k, v in given if v is not None}
    if update:  # validated as the settings validate them
        ui = type(settings.ui).model_validate({**settings.ui.model_dump(), **update})
        settings = settings.model_copy(update={"ui": ui})
    launch(settings)


@app.command()
def mcp(
    http: Annotated[
        bool,
        flag("--http", help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio."),
    ] = False,
    host: HostOption = None,
    port: Annotated[int | None, port_option(7861)] = None,
    allow_writes: Annotated[
        bool, flag("--allow-writes", help="Offer the add_urls tool (fetch pages into the corpus).")
    ] = False,
    corpus: CorpusOption = None,
    index: IndexOption = None,
) -> None:
    """Serve the corpus to assistants and agents over the Model Context Protocol.

    Tools: search_passages, ask, timeline, compare, get_article, watch_add, watch_list,
    watch_changes (and add_urls with --allow-writes, under the same rules as `sinoqa add`);
    resources: sinoqa://articles and sinoqa://article/{doc_id}. Over stdio by default, as
    desktop assistants start it. With --http it listens on 127.0.0.1 unless --host says
    otherwise; set SINOQA_MCP__TOKEN to require `Authorization: Bearer <token>`, or
    SINOQA_UI__USERNAME and SINOQA_UI__PASSWORD for a login. Needs `sinoqa ingest` first.
    """
    from sinoqa_app.mcp_transport import serve_http, serve_stdio

    settings = settings_for(corpus, index)
    update: dict[str, object] = {k: v for k, v in (("host", host), ("port", port)) if v}
    if allow_writes:  # add_urls writes both: say now, not on an agent's first call
        update["allow_writes"] = True
        writable(settings.corpus.dir)
        writable(settings.index.dir)
    settings = settings.model_copy(update={"mcp": settings.mcp.model_copy(update=update)})
    if http:
        serve_http(settings)
    else:
        serve_stdio(settings)
