"""`sinoqa mcp`: the official MCP client talks to the server over stdio and streamable HTTP,
on the real seed index; add_urls only with --allow-writes, under `sinoqa add`'s rules."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import anyio
import httpx
import pytest
from mcp import Client, MCPError, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from sinoqa_app.api import MAX_QUESTION_CHARS
from sinoqa_app.mcp_server import build_server

from sinoqa import pipeline
from sinoqa.ingestion.build import writing
from sinoqa.settings import Settings
from tests.conftest import run_sinoqa
from tests.ingestion.test_web import site  # noqa: F401 - a news site on 127.0.0.1
from tests.servers import free_port, serving

QUESTION = "Where did Wang Yi meet Jake Sullivan in September?"
READ_TOOLS = {
    "search_passages",
    "ask",
    "timeline",
    "compare",
    "get_article",
    "watch_add",
    "watch_list",
    "watch_changes",
}
T = TypeVar("T")


def _run(session: Callable[[Client], Awaitable[T]], server: Any) -> T:
    async def main() -> T:
        async with Client(server) as client:
            return await session(client)

    return anyio.run(main)


def _server_env() -> dict[str, str]:
    # The stdio client passes on only a few variables: the rest must be given.
    return {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "HF_HUB_OFFLINE")}


def _leaves(error: BaseException) -> list[BaseException]:
    nested = getattr(error, "exceptions", None)
    return [leaf for e in nested for leaf in _leaves(e)] if nested else [error]


async def _ask_and_search(client: Client) -> dict[str, Any]:
    tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    answered = await client.call_tool("ask", {"question": QUESTION})
    found = await client.call_tool("search_passages", {"query": "Malta meeting", "top_k": 3})
    answer = answered.structured_content or {}
    articles = {}
    for doc_id in {c["doc_id"] for c in answer.get("citations", [])}:
        read = await client.call_tool("get_article", {"doc_id": doc_id})
        articles[doc_id] = (read.structured_content or {})["text"]
    missing = await client.call_tool("ask", {"question": QUESTION, "date_from": "2023-13-45"})
    unknown = await client.call_tool("get_article", {"doc_id": "no-such-article"})
    assert unknown.is_error and "no indexed article has doc_id" in unknown.content[0].text
    return {
        "tools": tools,
        "answer": answer,
        "found": found.structured_content,
        "articles": articles,
        "missing": missing,
    }


def _check_cited(got: dict[str, Any]) -> None:
    answer = got["answer"]
    assert answer["refused"] is False and "Malta" in answer["answer"]
    assert answer["citations"] and "unsupported_terms" in answer
    for citation in answer["citations"]:  # every quote sits in its article, where it says
        text = got["articles"][citation["doc_id"]]
        assert text[citation["start_char"] : citation["end_char"]] == citation["passage"]
        left = citation["quote"]
        for start, end in citation["spans"]:
            sentence = text[start:end]
            assert sentence and sentence in left
            left = left.replace(sentence, "", 1)
        assert not left.strip(" .…\n"), left
    passages = got["found"]["passages"]
    assert 0 < len(passages) <= 3
    assert {"doc_id", "publisher", "author", "published", "published_approx", "title", "url"} <= (
        set(passages[0])
    )
    assert {"chunk_id", "passage"} <= set(passages[0])
    assert got["missing"].is_error and "is not a date" in got["missing"].content[0].text


def test_stdio_answers_with_quotes_found_in_their_articles(seeded: Settings) -> None:
    command = [
        "-m", "sinoqa.cli", "mcp", "--index", str(seeded.index.dir),
        "--corpus", str(seeded.corpus.dir),
    ]  # fmt: skip
    params = StdioServerParameters(command=sys.executable, args=command, env=_server_env())
    unreadable: list[Exception] = []  # a line on stdout that is not the protocol's

    async def record(message: Any) -> None:
        if isinstance(message, Exception):
            unreadable.append(message)

    async def main() -> dict[str, Any]:
        async with Client(params, message_handler=record) as client:
            return await _ask_and_search(client)

    got = anyio.run(main)
    assert not unreadable, unreadable
    assert set(got["tools"]) == READ_TOOLS  # no add_urls without --allow-writes
    assert "refused" in (got["tools"]["ask"].description or "")
    assert got["tools"]["ask"].annotations.read_only_hint is True
    question = got["tools"]["ask"].input_schema["properties"]["question"]
    assert question["maxLength"] == MAX_QUESTION_CHARS  # the JSON API's limit
    _check_cited(got)
    cli = run_sinoqa("ask", QUESTION, "--json", "--index", seeded.index.dir)
    expected = json.loads(cli.stdout)  # the same Answer as `sinoqa ask --json`
    for field in ("answer", "refused", "citations", "sentences", "unsupported_terms"):
        assert got["answer"][field] == expected[field], field


@pytest.fixture(scope="module")
def mcp_http(seeded: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`sinoqa mcp --http --allow-writes` on 127.0.0.1 with a bearer token and a login."""
    port = free_port()
    command = [
        sys.executable, "-m", "sinoqa.cli", "mcp", "--http", "--port", str(port),
        "--allow-writes", "--index", str(seeded.index.dir), "--corpus", str(seeded.corpus.dir),
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("SINOQA_")}
    env.update(
        SINOQA_MCP__TOKEN="s3cret-token", SINOQA_UI__USERNAME="ana", SINOQA_UI__PASSWORD="pw"
    )
    url = f"http://127.0.0.1:{port}/mcp"
    log = tmp_path_factory.mktemp("mcp") / "server.log"
    with serving(command, url, log, env=env) as process:
        yield url
        process.send_signal(signal.SIGINT)  # Ctrl-C stops it quietly
        assert process.wait(timeout=30) == 0, log.read_text()
    assert "Traceback" not in log.read_text()


def test_streamable_http_with_a_token(mcp_http: str) -> None:
    async def session() -> dict[str, Any]:
        headers = {"Authorization": "Bearer s3cret-token"}
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(streamable_http_client(mcp_http, http_client=http)) as client,
        ):
            return await _ask_and_search(client)

    got = anyio.run(session)
    assert set(got["tools"]) == READ_TOOLS | {"add_urls"}
    _check_cited(got)


def test_http_basic_login_timeline_and_compare(mcp_http: str) -> None:
    async def session() -> tuple[Any, Any]:
        login = "Basic " + base64.b64encode(b"ana:pw").decode()
        async with (
            create_mcp_http_client(headers={"Authorization": login}) as http,
            Client(streamable_http_client(mcp_http, http_client=http)) as client,
        ):
            story = await client.call_tool(
                "timeline", {"query": "talks between US and Chinese officials"}
            )
            outlets = ["E-International Relations", "Financial Times"]
            compared = await client.call_tool(
                "compare", {"question": "Who met in Malta?", "publishers": outlets}
            )
            return story.structured_content, compared.structured_content

    story, compared = anyio.run(session)
    dates = [entry["date"] for entry in story["entries"]]
    assert len(dates) >= 3 and dates == sorted(dates)
    assert [c["publisher"] for c in compared["columns"]] == [
        "E-International Relations",
        "Financial Times",
    ]


def test_a_foreign_host_header_is_refused(mcp_http: str) -> None:
    """DNS rebinding: a page elsewhere that resolves its name to 127.0.0.1 gets nothing."""
    headers = {"Authorization": "Bearer s3cret-token", "Host": "attacker.example"}
    answered = httpx.post(
        mcp_http, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers
    )
    assert answered.status_code == 421


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "Bearer", "Basic YW5hOndyb25n", "Basic !!", "s3cret-token"],
)
def test_streamable_http_refuses_without_the_token(
    mcp_http: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    refused = httpx.post(
        mcp_http, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=headers
    )
    assert refused.status_code == 401 and "SINOQA_MCP__TOKEN" in refused.json()["error"]

    async def session() -> None:
        async with (
            create_mcp_http_client(headers=headers) as http,
            Client(streamable_http_client(mcp_http, http_client=http)) as client,
        ):
            await client.list_tools()

    with pytest.raises(BaseExceptionGroup) as raised:
        anyio.run(session)
    assert [type(leaf) for leaf in _leaves(raised.value)] == [MCPError]


def test_http_port_in_use_is_one_sentence(mcp_http: str) -> None:
    port = mcp_http.split(":")[2].split("/")[0]
    busy = run_sinoqa("mcp", "--http", "--port", port, timeout=120)
    assert busy.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr and "Traceback" not in busy.stderr


def test_add_urls_keeps_the_rules_of_sinoqa_add(settings: Settings, site: str) -> None:  # noqa: F811
    pipeline.ingest(settings)
    page = f"{site}/news/rare-earths.html"
    writes = settings.model_copy(
        update={"mcp": settings.mcp.model_copy(update={"allow_writes": True})}
    )
    assert "add_urls" not in {
        t.name for t in anyio.run(build_server(pipeline.Pipeline(settings), settings).list_tools)
    }

    async def add_then_search(client: Client) -> tuple[Any, Any]:
        added = await client.call_tool("add_urls", {"urls": [page]})
        found = await client.call_tool("search_passages", {"query": "gallium licences"})
        return added.structured_content, found.structured_content

    added, _ = _run(add_then_search, build_server(pipeline.Pipeline(writes), writes))
    assert added["added"] == [] and "private" in added["rejected"][0]["reason"]

    private = writes.model_copy(
        update={"fetch": writes.fetch.model_copy(update={"allow_private": True})}
    )
    with writing(private):  # another ingest is running: the reason, at once, not a wait
        busy = _run(
            lambda c: c.call_tool("add_urls", {"urls": [page]}),
            build_server(pipeline.Pipeline(private), private),
        )
    assert busy.is_error and "is running on" in busy.content[0].text

    added, found = _run(add_then_search, build_server(pipeline.Pipeline(private), private))
    assert added["added"], added
    assert added["added"][0]["url"] == page
    assert found["passages"][0]["doc_id"] == added["added"][0]["doc_id"]


def test_resources_list_and_read_articles(seeded: Settings) -> None:
    async def read(client: Client) -> tuple[Any, Any, Any]:
        listed = await client.read_resource("sinoqa://articles")
        one = await client.read_resource("sinoqa://article/ft-2023-communication-lines")
        templates = await client.list_resource_templates()
        return listed.contents[0], one.contents[0], templates.resource_templates

    server = build_server(pipeline.get_pipeline(seeded), seeded)
    listed, one, templates = _run(read, server)
    articles = json.loads(listed.text)["articles"]
    assert len(articles) == 5 and articles[0]["published"] >= articles[-1]["published"]
    article = json.loads(one.text)
    assert article["publisher"] == "Financial Times" and len(article["text"]) > 1000
    assert [t.uri_template for t in templates] == ["sinoqa://article/{doc_id}"]
    with pytest.raises(BaseExceptionGroup) as raised:
        _run(lambda c: c.read_resource("sinoqa://article/no-such-article"), server)
    (leaf,) = _leaves(raised.value)
    assert isinstance(leaf, MCPError) and "no indexed article has doc_id" in str(leaf)


def test_ctrl_c_stops_the_stdio_server(seeded: Settings) -> None:
    """The SDK reads stdin in a thread no signal interrupts: Ctrl-C must end it anyway."""
    command = [sys.executable, "-m", "sinoqa.cli", "mcp", "--index", str(seeded.index.dir)]
    server = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        request = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write((json.dumps(request) + "\n").encode())
        server.stdin.flush()
        server.stdout.readline()  # it is serving (stdin stays open, as an assistant keeps it)
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=20) == 130
    finally:
        server.kill()
        server.wait()


def test_watch_tools_follow_a_question_through_an_ingest(settings: Settings) -> None:
    from tests.test_watch import BANGKOK
    from tests.test_watch import QUESTION as WATCHED

    pipeline.ingest(settings)
    server = build_server(pipeline.Pipeline(settings), settings)

    async def add(client: Client) -> tuple[Any, Any, Any]:
        added = await client.call_tool("watch_add", {"question": WATCHED, "name": "envoys"})
        taken = await client.call_tool("watch_add", {"question": WATCHED, "name": "envoys"})
        missing = await client.call_tool("watch_changes", {"name": "nobody"})
        return added.structured_content, taken, missing

    added, taken, missing = _run(add, server)
    assert added["name"] == "envoys" and "Malta" in added["answer"]["answer"]
    assert taken.is_error and "exists" in taken.content[0].text
    assert missing.is_error and "no watch named 'nobody'" in missing.content[0].text
    (settings.corpus.dir / "bangkok.md").write_text(BANGKOK, encoding="utf-8")
    pipeline.ingest(settings)

    async def read(client: Client) -> tuple[Any, Any]:
        listed = await client.call_tool("watch_list", {})
        changes = await client.call_tool("watch_changes", {"name": "envoys"})
        return listed.structured_content, changes.structured_content

    listed, watch = _run(read, server)
    assert listed == {
        "watches": [{"name": "envoys", "question": WATCHED, "changes": 1, "unread": 1}]
    }
    [change] = watch["changes"]
    assert change["new_articles"][0]["doc_id"] == "bangkok"
    assert any("Bangkok" in item for item in change["what_changed"])
