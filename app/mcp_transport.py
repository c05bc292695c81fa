"""How `sinoqa mcp` reaches its clients: over stdio as desktop assistants start it, or as
streamable HTTP behind a login (a bearer token, or the UI's username and password)."""

from __future__ import annotations

import base64
import ipaddress
import os
import secrets
import signal
import socket
import sys
from contextlib import redirect_stdout, suppress

from sinoqa_app.mcp_server import build_server
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from sinoqa.pipeline import Pipeline
from sinoqa.settings import Settings


class RequireLogin:
    """ASGI middleware: with a token set, ``Authorization: Bearer <token>``; with the UI's
    username and password set, HTTP Basic with them. Either is enough when both are set."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        token = settings.mcp.token
        self.token = token.get_secret_value().encode() if token is not None else None
        ui = settings.ui
        login = f"{ui.username}:{ui.password}" if ui.username and ui.password else None
        self.basic = login.encode() if login else None

    @property
    def required(self) -> bool:
        return bool(self.token or self.basic)

    def allows(self, authorization: bytes) -> bool:
        # Bytes throughout: a header is bytes on the wire, a token may hold any character.
        scheme, _, given = authorization.partition(b" ")
        given = given.strip()
        if scheme.lower() == b"bearer" and self.token:
            return secrets.compare_digest(given, self.token)
        if scheme.lower() == b"basic" and self.basic:
            try:
                decoded = base64.b64decode(given, validate=True)
            except ValueError:
                return False
            return secrets.compare_digest(decoded, self.basic)
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or not self.required:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if scope["type"] == "http" and self.allows(headers.get(b"authorization", b"")):
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # a websocket, say: nothing here speaks it
            return
        message = (
            "log in: send Authorization: Bearer <token> (SINOQA_MCP__TOKEN)"
            if self.token
            else "log in with the UI's username and password (HTTP Basic)"
        )
        challenge = "Bearer" if self.token else 'Basic realm="sinoqa"'
        refusal = JSONResponse(
            {"error": message}, status_code=401, headers={"WWW-Authenticate": challenge}
        )
        await refusal(scope, receive, send)


def _opened(settings: Settings) -> Pipeline:
    """The pipeline with its index open and its embedding model loaded: a missing index stops
    the server before it starts (the CLI says which command to run)."""
    pipe = Pipeline(settings)
    pipe.served()
    pipe.embed_model  # noqa: B018 - loaded now, not on the first question
    return pipe


def serve_stdio(settings: Settings) -> None:
    """Serve over this process's stdin and stdout until the client closes them."""
    import anyio

    with redirect_stdout(sys.stderr):  # stdout is the protocol's, from the first byte
        pipe = _opened(settings)
    server = build_server(pipe, settings)
    # The SDK reads stdin in a thread no signal can interrupt: Ctrl-C ends the process here
    # (a read-only server has nothing to save; an ingest survives being stopped).
    signal.signal(signal.SIGINT, lambda *_: os._exit(130))
    anyio.run(server.run_stdio_async)


def serve_http(settings: Settings) -> None:
    """Serve streamable HTTP at http://HOST:PORT/mcp until interrupted."""
    import anyio
    import uvicorn

    host, port = settings.mcp.host, settings.mcp.port
    shown = f"[{host}]" if ":" in host else host
    # Bind first: a port in use is an OSError the CLI reports in one line.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"cannot listen on {shown}:{port}: {exc.strerror}") from None
    try:
        server = build_server(_opened(settings), settings)
    except BaseException:
        sock.close()
        raise
    app = RequireLogin(server.streamable_http_app(host=host), settings)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    print(f"sinoqa MCP server at http://{shown}:{port}/mcp", flush=True)
    if not app.required and not _loopback(host):
        print(
            f"warning: {host} is reachable from other machines and no login is set: anyone "
            "who can reach it can use the corpus (set SINOQA_MCP__TOKEN)",
            file=sys.stderr,
            flush=True,
        )
    with suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has closed the connections
        anyio.run(uvicorn.Server(config).serve, [sock])


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"
