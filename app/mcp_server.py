"""`sinoqa mcp`: the corpus as Model Context Protocol tools and resources, for assistants and
agents (Claude Desktop, IDE agents, Open WebUI), over stdio or streamable HTTP.

Every tool returns the same fields as the CLI's ``--json``. Requests the caller must correct
(an empty question, a bad date, an unknown outlet, a missing index) come back as tool errors
with a sentence saying what to change.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError
from mcp.types import ToolAnnotations
from pydantic import BaseModel, Field
from rich.logging import RichHandler
from sinoqa_app.limits import MAX_QUESTION_CHARS

from sinoqa import __version__
from sinoqa.errors import SetupError, SinoqaError
from sinoqa.pipeline import AddReport, Pipeline, add
from sinoqa.schema import (
    Answer,
    Article,
    ArticleText,
    Comparison,
    Filters,
    Source,
    Timeline,
    Watch,
    WatchSummary,
)
from sinoqa.settings import Settings

INSTRUCTIONS = (
    "sinoqa searches and answers from one corpus of dated news and analysis on US-China "
    "relations. Quote the passages you use and cite each claim with its outlet, author, date "
    "and URL. When an answer has refused=true the corpus does not answer the question: say "
    "so, and do not fill the gap from memory. Dates marked approximate are the month or year "
    "only."
)

_CITE = (
    " Quote passages verbatim and cite outlet, author, date and URL for each claim; an "
    "approximate date (published_approx) is only as exact as it is written."
)
_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)

Text = Annotated[str, Field(min_length=1, max_length=MAX_QUESTION_CHARS)]
# A tool's arguments are flat for agents; each described as sinoqa's Filters describes it.
_FILTERS = Filters.model_fields
Outlets = Annotated[
    list[str],
    Field(description=f"{_FILTERS['publishers'].description} (names as indexed, any case)."),
]
DateFrom = Annotated[str | None, Field(description=_FILTERS["date_from"].description)]
DateTo = Annotated[str | None, Field(description=_FILTERS["date_to"].description)]
AsOf = Annotated[
    str | None,
    Field(
        description=f"{_FILTERS['as_of'].description} Articles from just before it rank "
        "first, later ones are left out."
    ),
]
TopK = Annotated[int | None, Field(ge=1, le=50, description="Passages to read (default 6).")]
#: URLs one add_urls call takes: each is fetched in turn, and clients time calls out.
MAX_URLS = 20


class Passages(BaseModel):
    """Passages retrieval found, best first."""

    query: str
    passages: list[Source]


class ArticleList(BaseModel):
    articles: list[Article]


class AddResult(BaseModel):
    """What happened to each URL: added (now searchable), known (added before), rejected."""

    added: list[dict[str, str]] = Field(description="{url, doc_id} now searchable.")
    known: list[dict[str, str]] = Field(description="{url, doc_id} added before.")
    rejected: list[dict[str, str]] = Field(description="{url, reason} not added.")

    @classmethod
    def of(cls, report: AddReport) -> AddResult:
        return cls(
            added=[{"url": url, "doc_id": doc_id} for url, doc_id in report.added],
            known=[{"url": url, "doc_id": doc_id} for url, doc_id in report.known],
            rejected=[{"url": url, "reason": reason} for url, reason in report.rejected],
        )


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """What the caller can correct reaches the agent as a sentence, not an internal error."""
    try:
        yield
    except SetupError as exc:  # the server's setup, said as it is
        raise ToolError(f"sinoqa cannot answer: {exc}") from None
    except SinoqaError as exc:
        raise ToolError(str(exc)) from None
    except OSError as exc:  # a corpus or index folder that cannot be written, a full disk
        raise ToolError(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None


def build_server(pipe: Pipeline, settings: Settings) -> MCPServer:
    """The MCP server over ``pipe``; ``add_urls`` only when ``settings.mcp.allow_writes``."""
    server: MCPServer = MCPServer(
        "sinoqa", version=__version__, instructions=INSTRUCTIONS, log_level="WARNING"
    )
    # The SDK gives the root logger a stderr handler of its own; libraries that set their
    # loggers to DEBUG (bm25s) would fill an assistant's log through it.
    for handler in logging.getLogger().handlers:
        if isinstance(handler, RichHandler):
            handler.setLevel(logging.WARNING)
    _answer_tools(server, pipe)
    _article_tools(server, pipe)
    _watch_tools(server, pipe)
    if settings.mcp.allow_writes:
        _write_tools(server, pipe, settings)
    _resources(server, pipe)
    return server


def _answer_tools(server: MCPServer, pipe: Pipeline) -> None:
    """Passages, answers, timelines and comparisons: what an agent cites."""

    @server.tool(
        description="Find the passages on a query (no answer composed), best first, each "
        "with doc_id, outlet, author, date, title, URL, chunk id and text." + _CITE,
        annotations=_READ,
    )
    def search_passages(
        query: Text,
        top_k: TopK = None,
        publishers: Outlets = [],  # noqa: B006 - pydantic copies defaults
        date_from: DateFrom = None,
        date_to: DateTo = None,
        as_of: AsOf = None,
    ) -> Passages:
        with _as_tool_errors():
            filters = Filters(
                publishers=publishers, date_from=date_from, date_to=date_to, as_of=as_of
            )
            found = pipe.search(query, filters, top_k=top_k)
        return Passages(query=query, passages=found)

    @server.tool(
        description="Answer a question from the corpus: every sentence of `answer` is quoted "
        "from a passage and numbered [n] after `citations` (outlet, author, date, URL, the "
        "quote and where it sits in the article). refused=true means the corpus does not "
        "answer the question: tell the user so; `nearest_sources` are the closest passages, "
        "not an answer. `unsupported_terms` are words of the question no article contains." + _CITE,
        annotations=_READ,
    )
    def ask(
        question: Text,
        top_k: TopK = None,
        publishers: Outlets = [],  # noqa: B006
        date_from: DateFrom = None,
        date_to: DateTo = None,
        as_of: AsOf = None,
    ) -> Answer:
        with _as_tool_errors():
            filters = Filters(
                publishers=publishers, date_from=date_from, date_to=date_to, as_of=as_of
            )
            return pipe.ask(question, filters, top_k=top_k)

    @server.tool(
        description="A story's articles in publication order, one quoted sentence each, and "
        "how many articles each month has (`coverage`)." + _CITE,
        annotations=_READ,
    )
    def timeline(
        query: Text,
        publishers: Outlets = [],  # noqa: B006
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> Timeline:
        with _as_tool_errors():
            filters = Filters(publishers=publishers, date_from=date_from, date_to=date_to)
            return pipe.timeline(query, filters)

    @server.tool(
        description="Each outlet's own answer to a question, from its articles only, side "
        "by side; `conflicts` lists names the answers give different numbers or dates for." + _CITE,
        annotations=_READ,
    )
    def compare(
        question: Text,
        publishers: Annotated[list[str], Field(min_length=2, description="Two or more outlets.")],
    ) -> Comparison:
        with _as_tool_errors():
            return pipe.compare(question, Filters(publishers=publishers))


def _article_tools(server: MCPServer, pipe: Pipeline) -> None:
    """One article whole, to read around a quote."""

    @server.tool(
        description="One article whole: its publication facts and cleaned text. A "
        "citation's start_char/end_char index this text, so you can read around a quote.",
        annotations=_READ,
    )
    def get_article(doc_id: Annotated[str, Field(min_length=1, max_length=500)]) -> ArticleText:
        with _as_tool_errors():
            found = pipe.article(doc_id)
        if found is None:
            raise ToolError(
                f"no indexed article has doc_id {doc_id!r}; list them at "
                "sinoqa://articles or find one with search_passages"
            )
        return found


class WatchList(BaseModel):
    watches: list[WatchSummary]


def _watch_tools(server: MCPServer, pipe: Pipeline) -> None:
    """Saved questions and what changed in their answers as new articles arrived."""

    @server.tool(
        description="Watch a question: it is answered now and asked again whenever new "
        "articles may change the answer; each change is recorded (watch_changes). Returns "
        "the watch with its first answer.",
        annotations=ToolAnnotations(readOnlyHint=False, openWorldHint=False),
    )
    def watch_add(
        question: Text,
        name: Annotated[
            str | None, Field(description="What to call it (default: from the question).")
        ] = None,
        publishers: Outlets = [],  # noqa: B006
        date_from: DateFrom = None,
        date_to: DateTo = None,
    ) -> Watch:
        with _as_tool_errors():
            filters = Filters(publishers=publishers, date_from=date_from, date_to=date_to)
            return pipe.watches.add(question, filters, name)

    @server.tool(
        description="The watched questions, with how many changes each recorded and how "
        "many no person has seen yet.",
        annotations=_READ,
    )
    def watch_list() -> WatchList:
        with _as_tool_errors():
            watches = pipe.watches.watches()
        return WatchList(watches=[w.summary() for w in watches])

    @server.tool(
        description="A watch and every recorded change of its answer, oldest first: when, "
        "the new articles that led to it (doc_id, outlet, date, title, passage), the answer "
        "before and after, the sources cited before and after, and what_changed (sentences "
        "added and dropped, figures and people now or no longer given)." + _CITE,
        annotations=_READ,
    )
    def watch_changes(name: Annotated[str, Field(min_length=1, max_length=64)]) -> Watch:
        with _as_tool_errors():
            return pipe.watches.show(name)


def _write_tools(server: MCPServer, pipe: Pipeline, settings: Settings) -> None:
    """Tools that change the corpus, offered only when the server allows writes."""

    @server.tool(
        description="Fetch web pages (http or https) into the corpus and index them at "
        "once. Loopback and private addresses are refused unless the server allows them "
        "(SINOQA_FETCH__ALLOW_PRIVATE=true). A URL added before is reported as known. "
        f"At most {MAX_URLS} URLs a call; each page takes up to the fetch timeout.",
        annotations=ToolAnnotations(readOnlyHint=False, openWorldHint=True),
    )
    def add_urls(
        urls: Annotated[list[str], Field(min_length=1, max_length=MAX_URLS)],
    ) -> AddResult:
        with _as_tool_errors():
            # No waiting on another ingest: an agent gets the reason instead of a hang.
            report = add(settings, urls, (), wait=False)
            pipe.served(fresh=True)  # searchable by the next call
        return AddResult.of(report)


def _resources(server: MCPServer, pipe: Pipeline) -> None:
    """The article list and each article, as resources an agent can read."""

    @server.resource(
        "sinoqa://articles",
        name="articles",
        description="Every indexed article's publication facts, newest first.",
        mime_type="application/json",
    )
    def articles() -> str:
        with _as_resource_errors():
            return ArticleList(articles=pipe.articles()).model_dump_json()

    @server.resource(
        "sinoqa://article/{doc_id}",
        name="article",
        description="One article: its publication facts and cleaned text.",
        mime_type="application/json",
    )
    def article(doc_id: str) -> str:
        with _as_resource_errors():
            found = pipe.article(doc_id)
        if found is None:
            raise ResourceNotFoundError(f"no indexed article has doc_id {doc_id!r}")
        return found.model_dump_json()


@contextmanager
def _as_resource_errors() -> Iterator[None]:
    try:
        yield
    except SinoqaError as exc:
        raise ResourceError(str(exc)) from None


def tools_table(settings: Settings | None = None) -> str:
    """The MCP tools as a Markdown table (docs/api.md, `make docs`), with writes allowed."""
    import anyio

    chosen = settings or Settings()
    chosen = chosen.model_copy(update={"mcp": chosen.mcp.model_copy(update={"allow_writes": True})})
    server = build_server(Pipeline(chosen), chosen)
    tools = anyio.run(server.list_tools)
    rows = ["| tool | arguments | what |", "|---|---|---|"]
    for tool in tools:
        arguments = ", ".join(f"`{name}`" for name in tool.input_schema.get("properties", {}))
        what = (tool.description or "").split(". ")[0].rstrip(".") + "."
        rows.append(f"| `{tool.name}` | {arguments} | {what} |")
    return "\n".join(rows) + "\n"
