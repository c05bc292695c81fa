"""A plain JSON API beside the chat: /api/v1/ask, /search, /timeline, /compare,
/articles/{doc_id}, /watches (with Atom feeds) and /status, with pydantic models and an
OpenAPI document at /api/v1/openapi.json (docs at /api/v1/docs). For curl, requests and
notebooks: no Gradio client protocol needed.

Errors are JSON with a message: 422 for a request the user must correct, 404 for an unknown
article, 503 while the index is missing or unreachable; never a 500 for bad input.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field
from sinoqa_app.limits import MAX_QUESTION_CHARS

from sinoqa import __version__
from sinoqa.errors import SinoqaError
from sinoqa.pipeline import Pipeline
from sinoqa.schema import (
    Answer,
    ArticleText,
    Comparison,
    Filters,
    Source,
    Timeline,
    Watch,
    WatchChange,
    WatchSummary,
)
from sinoqa.settings import Settings

#: Largest request body taken: a bound for what no question needs.
MAX_BODY_BYTES = 1_000_000


class _Request(Filters):
    """A request body: the filters (sinoqa's one :class:`Filters`, checked by it) and more."""

    def filters(self) -> Filters:
        return Filters.model_validate(self.model_dump(include=set(Filters.model_fields)))


class AskRequest(_Request):
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="The question, as asked."
    )
    top_k: int | None = Field(None, ge=1, le=50, description="Passages to read.")
    backend: str | None = Field(None, description="extractive (default) or an LLM backend.")


class SearchRequest(_Request):
    query: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="What to find passages about."
    )
    top_k: int | None = Field(None, ge=1, le=50, description="Passages to return.")


class TimelineRequest(_Request):
    query: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="What the story is about."
    )


class CompareRequest(_Request):
    question: str = Field(min_length=1, max_length=MAX_QUESTION_CHARS)
    publishers: tuple[str, ...] = Field(min_length=2, description="Two or more outlets.")


class WatchRequest(_Request):
    question: str = Field(
        min_length=1, max_length=MAX_QUESTION_CHARS, description="The question to follow."
    )
    name: str | None = Field(None, description="What to call it (default: from the question).")
    webhook: str | None = Field(None, description="An http(s) URL each change is POSTed to.")


class Status(BaseModel):
    articles: int
    chunks: int
    last_ingest: str | None
    outlets: list[str]
    version: str


def build_api(pipe: Pipeline, settings: Settings) -> FastAPI:
    """The JSON API over ``pipe``, to be mounted at /api/v1 on the chat's server."""
    api = FastAPI(
        title="sinoqa",
        version=__version__,
        description="Cited answers and passages from news and analysis on US-China relations.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        dependencies=[Depends(_login(settings))],
    )

    @api.middleware("http")
    async def limit_size(request: Request, call_next: Any) -> Any:
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_BODY_BYTES:
            return JSONResponse({"detail": f"request body over {MAX_BODY_BYTES} bytes"}, 413)
        return await call_next(request)

    @api.exception_handler(SinoqaError)
    async def sinoqa_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SinoqaError)
        body = {"detail": exc.message, **({"hint": exc.hint} if exc.hint else {})}
        return JSONResponse(body, status_code=exc.http_status)

    @api.post("/ask", response_model=Answer, summary="Answer a question, citing every sentence")
    def ask(body: AskRequest) -> Answer:
        """The same Answer JSON as `sinoqa ask --json`: quote and cite it; `refused` means the
        indexed articles do not answer the question (`nearest_sources` are the closest)."""
        return pipe.ask(body.question, body.filters(), top_k=body.top_k, backend=body.backend)

    @api.post("/search", response_model=list[Source], summary="The passages on a query")
    def search(body: SearchRequest) -> list[Source]:
        return pipe.search(body.query, body.filters(), top_k=body.top_k)

    @api.post("/timeline", response_model=Timeline, summary="A story's articles in order")
    def timeline(body: TimelineRequest) -> Timeline:
        return pipe.timeline(body.query, body.filters())

    @api.post("/compare", response_model=Comparison, summary="Outlets' answers side by side")
    def compare(body: CompareRequest) -> Comparison:
        return pipe.compare(body.question, body.filters())

    @api.get("/articles/{doc_id}", response_model=ArticleText, summary="One article, whole")
    def article(doc_id: str) -> ArticleText:
        """An article's facts and cleaned text: citations' offsets index this text."""
        found = pipe.article(doc_id)
        if found is None:
            raise HTTPException(404, f"no indexed article has doc_id {doc_id!r}")
        return found

    _watch_routes(api, pipe)

    @api.get("/status", response_model=Status, summary="What is indexed")
    def status() -> Status:
        view = pipe.served()
        last = pipe.last_ingest()
        return Status(
            articles=len(view.records),
            chunks=len(view.nodes),
            last_ingest=last,
            outlets=list(view.publishers),
            version=__version__,
        )

    return api


def _watch_routes(api: FastAPI, pipe: Pipeline) -> None:
    """Saved questions and what changed in their answers (`sinoqa watch`), with Atom feeds."""

    def atom(request: Request, name: str | None) -> Response:
        # The base URL carries the mount point (/api/v1): article links resolve from it.
        feed = pipe.watches.feed(str(request.base_url).rstrip("/"), name)
        return Response(feed, media_type="application/atom+xml")

    @api.get("/watches", response_model=list[WatchSummary], summary="The watched questions")
    def watches() -> list[WatchSummary]:
        return [w.summary() for w in pipe.watches.watches()]

    @api.post("/watches", response_model=Watch, summary="Watch a question")
    def add_watch(body: WatchRequest) -> Watch:
        """Answered now; asked again after every ingest that may change the answer."""
        return pipe.watches.add(body.question, body.filters(), body.name, body.webhook)

    @api.get("/watches/feed.atom", summary="Every watch's changes as an Atom feed")
    def feed_all(request: Request) -> Response:
        return atom(request, None)

    @api.get("/watches/{name}", response_model=Watch, summary="A watch and its changes")
    def watch(name: str, mark_read: bool = False) -> Watch:
        return pipe.watches.show(name, mark_read=mark_read)

    @api.get("/watches/{name}/feed.atom", summary="One watch's changes as an Atom feed")
    def feed_one(request: Request, name: str) -> Response:
        return atom(request, name)

    @api.post("/watches/{name}/check", response_model=list[WatchChange], summary="Ask again now")
    def check(name: str) -> list[WatchChange]:
        return [change for _, change in pipe.watches.check([name])]

    @api.delete("/watches/{name}", status_code=204, summary="Stop watching")
    def remove(name: str) -> Response:
        pipe.watches.remove(name)
        return Response(status_code=204)


def _login(settings: Settings) -> Any:
    """The UI's username and password, asked as HTTP Basic; nothing when none is set."""
    basic = HTTPBasic(auto_error=False)
    username, password = settings.ui.username, settings.ui.password

    # A default, not Annotated: this module's annotations are strings, and `basic` is local.
    def check(credentials: HTTPBasicCredentials | None = Depends(basic)) -> None:  # noqa: B008
        if not (username and password):
            return
        given = credentials or HTTPBasicCredentials(username="", password="")
        same_user = secrets.compare_digest(given.username.encode(), username.encode())
        same_password = secrets.compare_digest(given.password.encode(), password.encode())
        if not (same_user and same_password):
            raise HTTPException(401, "log in", headers={"WWW-Authenticate": "Basic"})

    return check


def endpoints_table(document: dict[str, Any]) -> str:
    """The endpoints of an OpenAPI document as a Markdown table (docs/api.md, `make docs`)."""
    rows = ["| method | path | what | body |", "|---|---|---|---|"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            schema = operation.get("requestBody", {}).get("content", {})
            ref = schema.get("application/json", {}).get("schema", {}).get("$ref", "")
            body = ref.rsplit("/", 1)[-1]
            fields = document["components"]["schemas"].get(body, {}).get("properties", {})
            shown = ", ".join(f"`{name}`" for name in fields) or "–"
            rows.append(
                f"| {method.upper()} | `/api/v1{path}` | {operation.get('summary', '')} | {shown} |"
            )
    return "\n".join(rows) + "\n"


API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
_ENDPOINTS = (
    "<!-- endpoints: generated by `make docs` from the OpenAPI document -->",
    "<!-- end of endpoints -->",
)
_TOOLS = ("<!-- tools: generated by `make docs` from the MCP server -->", "<!-- end of tools -->")


def openapi_document() -> dict[str, Any]:
    """The API's OpenAPI document (building it loads nothing)."""
    settings = Settings()
    return build_api(Pipeline(settings), settings).openapi()


def _between(document: str, markers: tuple[str, str], table: str) -> str:
    begin, end = markers
    head, _, rest = document.partition(begin)
    _, _, tail = rest.partition(end)
    return f"{head}{begin}\n{table}{end}{tail}"


def with_tables(document: str) -> str:
    """docs/api.md with its generated tables (endpoints, MCP tools) brought up to date."""
    from sinoqa_app.mcp_server import tools_table

    document = _between(document, _ENDPOINTS, endpoints_table(openapi_document()))
    return _between(document, _TOOLS, tools_table())


def update_api_doc(path: Path = API_DOC) -> None:
    """Regenerate docs/api.md's endpoint and tool tables (`make docs`)."""
    path.write_text(with_tables(path.read_text(encoding="utf-8")), encoding="utf-8")
