"""The JSON API at /api/v1: the same answers as the CLI, JSON errors, an OpenAPI document
that validates, the UI's login."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from openapi_spec_validator import validate
from sinoqa_app.api import build_api

from sinoqa import pipeline
from sinoqa.settings import Settings
from tests.app.test_ui import served  # noqa: F401 - the chat server, for the mounted API
from tests.conftest import run_sinoqa

QUESTION = "Where did Wang Yi meet Jake Sullivan in September?"


@pytest.fixture(scope="module")
def api(seeded: Settings) -> Iterator[TestClient]:
    with TestClient(build_api(pipeline.get_pipeline(seeded), seeded)) as client:
        yield client


def test_ask_returns_the_answer_of_the_command_line(api: TestClient, seeded: Settings) -> None:
    answered = api.post("/ask", json={"question": QUESTION})
    assert answered.status_code == 200, answered.text
    cli = run_sinoqa("ask", QUESTION, "--json", "--index", seeded.index.dir)
    expected = json.loads(cli.stdout)
    got = answered.json()
    for field in ("answer", "refused", "confidence", "sentences", "unsupported_terms"):
        assert got[field] == expected[field], field
    assert [c["chunk_id"] for c in got["citations"]] == [
        c["chunk_id"] for c in expected["citations"]
    ]
    article = api.get(f"/articles/{got['citations'][0]['doc_id']}").json()
    for citation in got["citations"]:  # the quote sits in its article, where it says
        passage = article["text"][citation["start_char"] : citation["end_char"]]
        assert passage == citation["passage"] and citation["quote"].split(" ")[0] in passage


def test_search_timeline_compare_status(api: TestClient) -> None:
    found = api.post("/search", json={"query": "Malta meeting", "top_k": 3}).json()
    assert 0 < len(found) <= 3 and {"doc_id", "chunk_id", "passage", "published"} <= set(found[0])
    story = api.post("/timeline", json={"query": "talks between US and Chinese officials"})
    assert story.status_code == 200 and story.json()["entries"]
    status = api.get("/status").json()
    assert status["articles"] == 5 and "Financial Times" in status["outlets"]
    outlets = ["E-International Relations", "Financial Times"]
    compared = api.post("/compare", json={"question": "Who met in Malta?", "publishers": outlets})
    assert [c["publisher"] for c in compared.json()["columns"]] == outlets


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({}, "question"),
        ({"question": "x" * 100_000}, "question"),
        ({"question": QUESTION, "top_k": "lots"}, "top_k"),
        ({"question": QUESTION, "top_k": 0}, "top_k"),
        ({"question": QUESTION, "publishers": "FT"}, "publishers"),
        ({"question": QUESTION, "colour": "blue"}, "colour"),
        ({"question": QUESTION, "date_from": "2023-13-45"}, "not a date"),
        ({"question": QUESTION, "as_of": "someday"}, "not a day"),
        ({"question": QUESTION, "publishers": ["The Daily Nothing"]}, "indexed outlets"),
        ({"question": "\x00\x01"}, "empty"),
    ],
)
def test_bad_bodies_are_422_with_a_message(
    api: TestClient, body: dict[str, Any], says: str
) -> None:
    answered = api.post("/ask", json=body)
    assert answered.status_code == 422, answered.text
    assert says in json.dumps(answered.json())


def test_other_errors_are_json_too(api: TestClient, tmp_path: Any) -> None:
    assert api.get("/articles/no-such-article").status_code == 404
    assert (
        api.post(
            "/ask", content=b"{not json", headers={"content-type": "application/json"}
        ).status_code
        == 422
    )
    huge = api.post("/ask", content=b" " * 1_100_000, headers={"content-type": "application/json"})
    assert huge.status_code == 413 and "bytes" in huge.json()["detail"]
    empty = Settings().with_paths(index=tmp_path / "none")
    with TestClient(build_api(pipeline.Pipeline(empty), empty)) as missing:
        answered = missing.post("/ask", json={"question": QUESTION})
    assert answered.status_code == 503 and "sinoqa ingest" in answered.json()["detail"]


def test_the_openapi_document_validates(api: TestClient) -> None:
    document = api.get("/openapi.json").json()
    validate(document)
    assert {"/ask", "/search", "/timeline", "/compare", "/articles/{doc_id}", "/status"} <= set(
        document["paths"]
    )
    assert api.get("/docs").status_code == 200


def test_the_api_asks_for_the_uis_login(seeded: Settings) -> None:
    guarded = seeded.model_copy(
        update={"ui": seeded.ui.model_copy(update={"username": "ana", "password": "s3cret"})}
    )
    with TestClient(build_api(pipeline.get_pipeline(seeded), guarded)) as client:
        assert client.get("/status").status_code == 401
        assert client.get("/status", auth=("ana", "wrong")).status_code == 401
        assert client.get("/status", auth=("ana", "s3cret")).status_code == 200


def test_the_chat_server_serves_the_api(served: tuple[str, Settings]) -> None:  # noqa: F811
    url, _ = served
    answered = httpx.post(f"{url}api/v1/ask", json={"question": QUESTION}, timeout=120)
    assert answered.status_code == 200 and "Malta" in answered.json()["answer"]
    assert httpx.get(f"{url}api/v1/openapi.json").json()["info"]["title"] == "sinoqa"


def test_the_endpoint_table_in_the_docs_is_the_openapi_documents() -> None:
    from sinoqa_app.api import API_DOC, with_tables

    text = API_DOC.read_text(encoding="utf-8")
    assert text == with_tables(text), "docs/api.md is stale: run `make docs`"
    assert "`/api/v1/ask`" in text
