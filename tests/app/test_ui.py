"""The chat UI, served for real on 127.0.0.1: API clients, uploads, escaping, a real browser."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError, AuthenticationError
from sinoqa_app import launch
from sinoqa_app.render import conversation_markdown, source_card

from sinoqa import pipeline
from sinoqa.chat import ChatSession
from sinoqa.errors import UnreadableFile
from sinoqa.ingestion.corpus import safe_file_name, store_upload
from sinoqa.schema import Citation
from sinoqa.settings import Settings
from tests.conftest import CORPUS, free_port, run_sinoqa

HOSTILE_ARTICLE = """---
title: "<img src=x onerror=\\"window.__xss='title'\\">Hostile headline about Hainan ports"
publisher: "<script>window.__xss='publisher'</script>Example Wire"
url: "javascript:window.__xss='url'"
published: "2024-03-01"
---
The Hainan port authority said &lt;img src=x onerror="window.__xss='body'"&gt; new berths
for container ships would open in 2026, and &lt;script&gt;window.__xss='script'&lt;/script&gt;
officials expect cargo volume at the Hainan ports to double.
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Settings]]:
    with chat_server(tmp_path_factory.mktemp("ui"), max_upload_bytes=50_000) as served:
        yield served


@contextlib.contextmanager
def chat_server(
    root: Path, extra: dict[str, str] | None = None, **ui: Any
) -> Iterator[tuple[str, Settings]]:
    """The chat app over a fresh copy of the seed corpus (and ``extra`` articles, by doc_id)
    under ``root``, served on a free 127.0.0.1 port with these UI settings: its address and
    settings."""
    shutil.copytree(CORPUS, root / "corpus")
    for doc_id, text in (extra or {}).items():
        (root / "corpus" / f"{doc_id}.md").write_text(text, encoding="utf-8")
    settings = Settings().with_paths(corpus=root / "corpus", index=root / "index")
    ui_settings = settings.ui.model_copy(update={"port": free_port(), **ui})
    settings = settings.model_copy(update={"ui": ui_settings})
    pipeline.ingest(settings)
    demo = launch(settings, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{settings.ui.port}/", settings
    finally:
        demo.close()


def test_ask_endpoint_returns_the_cli_answer_json(served: tuple[str, Settings]) -> None:
    url, _ = served
    client = Client(url, verbose=False)
    answer = client.predict(
        question="Where did Wang Yi meet Jake Sullivan in September?", api_name="/ask"
    )
    assert answer["refused"] is False and "Malta" in answer["answer"]
    assert answer["citations"][0]["doc_id"] == "eir-2023-new-balance"
    assert {"n", "doc_id", "title", "publisher", "published", "url", "chunk_id", "quote"} <= set(
        answer["citations"][0]
    )
    assert set(answer["timings_ms"]) >= {"retrieve", "answer", "total"}
    refused = client.predict(question="Who won the 2022 FIFA World Cup?", api_name="/ask")
    assert refused["refused"] is True and refused["nearest_sources"]
    filtered = client.predict(
        question="What did officials discuss?", publishers=["Financial Times"], api_name="/ask"
    )
    assert {c["publisher"] for c in filtered["citations"] or filtered["nearest_sources"]} == {
        "Financial Times"
    }


@pytest.mark.slow
def test_the_chat_and_the_cli_cite_the_same_articles(served: tuple[str, Settings]) -> None:
    url, settings = served
    for question in (
        "What did Yang Jiechi demand?",
        "What is the latest on the working groups between the US and China?",
    ):
        # A fresh conversation each: a second question could read as a follow-up.
        _, _, chatted, _ = Client(url, verbose=False).predict(question, api_name="/chat")
        cli = run_sinoqa(
            "ask",
            question,
            "--json",
            "--corpus",
            settings.corpus.dir,
            "--index",
            settings.index.dir,
        )
        assert cli.returncode == 0, cli.stderr
        asked = json.loads(cli.stdout)
        assert chatted["citations"], question
        cited = [c["doc_id"] for c in chatted["citations"]]
        assert cited == [c["doc_id"] for c in asked["citations"]]
        assert chatted["as_of"] == asked["as_of"]


def test_the_day_asked_can_be_set_in_the_chat_and_the_api(served: tuple[str, Settings]) -> None:
    url, _ = served
    question = "What happened between the US and China?"
    later = {"eir-2023-new-balance", "ft-2023-communication-lines"}
    answer = Client(url, verbose=False).predict(
        question=question, as_of="2023-06-16", api_name="/ask"
    )
    assert answer["as_of"] == "2023-06-16"
    assert answer["citations"] and not later & {c["doc_id"] for c in answer["citations"]}
    history, _, chatted, _ = Client(url, verbose=False).predict(
        question, as_of="2023-06-16", api_name="/chat"
    )
    # The answer's header says the day (Markdown-escaped in the message).
    assert chatted["as_of"] == "2023-06-16" and "as of 2023\\-06\\-16" in _shown(history[-1])
    assert not later & {c["doc_id"] for c in chatted["citations"]}
    # A day that is no day is said so, and nothing is answered.
    history, _, none, _ = Client(url, verbose=False).predict(
        question, as_of="16 June", api_name="/chat"
    )
    assert none is None and "is not a day" in _shown(history[-1])


def _shown(message: dict[str, Any]) -> str:
    """A chat message's text (Gradio gives it as a string or as a list of parts)."""
    content = message["content"]
    return content if isinstance(content, str) else " ".join(p["text"] for p in content)


def test_chat_endpoint_keeps_the_conversation(served: tuple[str, Settings]) -> None:
    url, _ = served
    client = Client(url, verbose=False)
    _, _, first, _ = client.predict(
        "What did Jake Sullivan and Wang Yi discuss in Vienna?", api_name="/chat"
    )
    assert "islamabad-telegraph-2023-de-risk" in {c["doc_id"] for c in first["citations"]}
    history, sources, follow_up, _ = client.predict("And what did China demand?", api_name="/chat")
    assert "Vienna" in follow_up["retrieval_query"]
    assert "islamabad-telegraph-2023-de-risk" in {c["doc_id"] for c in follow_up["citations"]}
    assert len(history) == 4  # two questions, two answers
    assert "source-card" in sources
    # A different client is a different conversation.
    other = Client(url, verbose=False)
    _, _, fresh, _ = other.predict("And what did China demand?", api_name="/chat")
    assert fresh["retrieval_query"] == "And what did China demand?"


def test_bad_uploads_are_rejected_and_change_nothing(
    served: tuple[str, Settings], tmp_path: Path
) -> None:
    url, settings = served
    before = pipeline.status(settings).records
    corpus_before = sorted(p.name for p in settings.corpus.dir.rglob("*") if p.is_file())
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "fake.md").write_bytes(b"\x00\x01binary\x00" * 50)
    (tmp_path / "tool.exe").write_bytes(b"MZ\x90\x00")
    (tmp_path / "big.txt").write_text("word " * 20_000)
    (tmp_path / "copy.md").write_text((CORPUS / "scmp-2021-bad-faith.md").read_text())
    client = Client(url, verbose=False)
    names = ("empty.md", "fake.md", "copy.md")
    status, _, _ = client.predict(
        [handle_file(str(tmp_path / name)) for name in names], api_name="/add_articles"
    )
    status = status.replace("\\", "")  # the message is Markdown-escaped
    assert "Rejected empty.md: empty file" in status
    assert "Rejected fake.md: binary file" in status
    assert "Rejected copy.md: an article with doc_id 'scmp-2021-bad-faith' is already" in status
    (tmp_path / "renamed.md").write_text(
        (CORPUS / "scmp-2021-bad-faith.md").read_text().replace("scmp-2021-bad-faith", "other")
    )
    status, _, _ = client.predict(
        [handle_file(str(tmp_path / "renamed.md"))], api_name="/add_articles"
    )
    status = status.replace("\\", "")
    assert "Rejected renamed.md: same text as the indexed article 'scmp-2021-bad-faith'" in status
    # A type the UI does not accept, and a file over the size limit: refused by Gradio
    # before they reach sinoqa (whose own checks are tested in test_upload_names...).
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict([handle_file(str(tmp_path / "tool.exe"))], api_name="/add_articles")
    with pytest.raises(ValueError, match="exceeds the maximum file size"):
        client.predict([handle_file(str(tmp_path / "big.txt"))], api_name="/add_articles")
    with pytest.raises(UnreadableFile, match="too large"):
        store_upload(tmp_path / "big.txt", "big.txt", tmp_path / "uploads", 50_000)
    assert pipeline.status(settings).records == before
    assert sorted(p.name for p in settings.corpus.dir.rglob("*") if p.is_file()) == corpus_before


def test_add_by_url_cannot_reach_internal_addresses(served: tuple[str, Settings]) -> None:
    url, settings = served
    before = pipeline.status(settings).records
    client = Client(url, verbose=False)
    status, _, _ = client.predict(
        f"{url}gradio_api/info\nhttp://169.254.169.254/latest/meta-data/\nfile:///etc/passwd",
        api_name="/add_urls",
    )
    status = status.replace("\\", "")
    assert status.count("Rejected") == 3
    assert "loopback, private or link-local address: refused" in status
    assert "only http and https URLs" in status
    assert pipeline.status(settings).records == before
    assert not (settings.corpus.dir / "web").exists()


def test_upload_names_are_sanitised(tmp_path: Path) -> None:
    assert safe_file_name("../../etc/passwd.md") == "passwd.md"
    assert safe_file_name("..\\..\\win.ini.txt") == "win.ini.txt"
    assert safe_file_name("<script>.html") == "script.html"
    assert safe_file_name("...") == "upload"
    source = tmp_path / "incoming.md"
    source.write_text("An article about tariffs.")
    target_dir = tmp_path / "corpus" / "uploads"
    stored = store_upload(source, "../../outside.md", target_dir, 10_000)
    assert stored.parent == target_dir and stored.name == "outside.md"
    again = store_upload(source, "outside.md", target_dir, 10_000)
    assert again.name == "outside-1.md"  # never overwrites
    with pytest.raises(UnreadableFile, match="unsupported"):
        store_upload(source, "notes", target_dir, 10_000)
    with pytest.raises(UnreadableFile, match=r"unsupported file type \(\.exe\)"):
        store_upload(source, "tool.exe", target_dir, 10_000)


def test_source_cards_escape_article_content() -> None:
    card = source_card(
        Citation(
            n=1,
            doc_id="evil",
            title='<img src=x onerror="alert(1)">Title',
            publisher="<script>alert(2)</script>Wire",
            url="javascript:alert(3)",
            chunk_id="evil-1",
            passage='Text <script>alert(4)</script> and <b onclick="x()">bold</b>.',
            start_char=0,
            end_char=60,
            score=1.0,
            quote="Text <script>alert(4)</script> and",
            spans=[(0, 35)],
        ),
        "src-1-1",
        "[1]",
    )
    assert "<script" not in card and "<img" not in card and "<b " not in card
    assert 'href="javascript' not in card
    assert "&lt;script&gt;alert(4)&lt;/script&gt;" in card
    assert "javascript:alert(3)" in card  # shown as text, not as a link


def test_export_has_a_numbered_bibliography(served: tuple[str, Settings]) -> None:
    _, settings = served
    chat = ChatSession(settings=settings)
    chat.ask("Where did Wang Yi meet Jake Sullivan in September?")
    chat.ask("Which working groups will Washington and Beijing create?")
    text = conversation_markdown(chat.history)
    assert "## 1. Where did Wang Yi meet Jake Sullivan in September?" in text
    assert "## Bibliography" in text
    assert "1. E-International Relations, He Xiaoheng Derek, 2023-10-16." in text
    assert "Financial Times, Demetri Sevastopulo, 2023-08-04 (approx.)" in text


def test_bibliographies_list_each_cited_article_once(served: tuple[str, Settings]) -> None:
    import datetime as dt
    import json

    from sinoqa_app.render import bibliography_bibtex, bibliography_csl

    _, settings = served
    chat = ChatSession(settings=settings)
    chat.ask("Where did Wang Yi meet Jake Sullivan in September?")
    chat.ask("What did the Financial Times report about the communication lines?")
    chat.ask("Where did Wang Yi meet Jake Sullivan in September?")  # the same sources again
    cited = list(dict.fromkeys(c.doc_id for a in chat.history for c in a.citations))
    accessed = dt.date(2026, 12, 1)
    items = json.loads(bibliography_csl(chat.history, accessed))
    assert [item["id"] for item in items] == cited
    eir = next(item for item in items if item["id"] == "eir-2023-new-balance")
    assert eir["container-title"] == "E-International Relations"
    assert eir["author"] == [{"literal": "He Xiaoheng Derek"}]
    assert eir["issued"] == {"date-parts": [[2023, 10, 16]]}
    assert eir["URL"].startswith("https://www.e-ir.info/")
    assert eir["accessed"] == {"date-parts": [[2026, 12, 1]]}
    ft = next(item for item in items if item["id"] == "ft-2023-communication-lines")
    assert ft["issued"] == {"date-parts": [[2023, 8, 4]], "circa": True}  # approximate
    bib = bibliography_bibtex(chat.history, accessed)
    assert bib.count("@online{") == len(cited)
    assert "@online{eir-2023-new-balance," in bib and "  urldate = {2026-12-01}" in bib
    assert "  author = {{He Xiaoheng Derek}}" in bib and "  year = {2023}" in bib
    assert "publication date approximate" in bib


def test_timeline_and_comparison_views_escape_article_text() -> None:
    from sinoqa_app.render import comparison_html, timeline_markdown

    from sinoqa.schema import Comparison, OutletColumn, Timeline, TimelineEntry

    hostile = "<img src=x onerror=alert(1)> [click](javascript:alert(2))"
    timeline = Timeline(
        query="q",
        entries=[
            TimelineEntry(
                date="2023", date_approx=True, doc_id="d", title=hostile,
                url="javascript:alert(3)", chunk_id="c", quote=hostile,
            )
        ],
    )  # fmt: skip
    shown = timeline_markdown(timeline)
    assert "<img" not in shown and "](javascript" not in shown
    assert r"**2023 \(approx.\)**" in shown  # Markdown-escaped, shown as "2023 (approx.)"
    comparison = Comparison(
        question="q",
        columns=[OutletColumn(publisher=hostile, answer=hostile, refused=False)],
    )
    html_out = comparison_html(comparison)
    assert "<img" not in html_out and "&lt;img src=x onerror=alert(1)&gt;" in html_out


def test_bibtex_escapes_what_articles_put_in_titles() -> None:
    import datetime as dt

    from sinoqa_app.render import bibliography_bibtex

    from sinoqa.schema import Answer, Citation

    citation = Citation(
        n=1, doc_id="odd", title="Tariffs {up} 10% & more_now", chunk_id="odd-1", passage="x",
        start_char=0, end_char=1, score=1.0, quote="x", spans=[(0, 1)], publisher="A & B",
    )  # fmt: skip
    answer = Answer(question="q", answer="x [1]", refused=False, backend="extractive",
                    citations=[citation])  # fmt: skip
    bib = bibliography_bibtex([answer], dt.date(2026, 12, 1))
    assert r"title = {Tariffs \{up\} 10\% \& more\_now}" in bib
    assert r"organization = {A \& B}" in bib


@pytest.fixture
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    assert Path(chromium).exists(), "Debian's chromium is missing: `make test` installs it"
    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(served: tuple[str, Settings], browser: Any) -> Any:
    """A fresh browser page on the served app."""
    opened = browser.new_page()
    opened.goto(served[0])
    return opened


def test_browser_question_answer_and_source_card(page: Any, tmp_path: Path) -> None:
    page.locator("#question textarea").fill("Where did Wang Yi meet Jake Sullivan in September?")
    page.locator("#ask").click()
    page.locator("#chat").get_by_text("Malta", exact=False).last.wait_for(timeout=60_000)
    # What answers is in view; the further quoted context is folded until asked for.
    context = page.locator("#chat details").last
    assert "More from the sources" in context.locator("summary").inner_text()
    assert not context.get_by_text("Raimondo", exact=False).is_visible()
    context.locator("summary").click()
    context.get_by_text("Raimondo", exact=False).wait_for(timeout=10_000)
    cards = page.locator("#sources .source-card")
    cards.first.wait_for(timeout=30_000)
    text = page.locator("#sources").inner_text()
    assert "E-International Relations" in text and "2023-10-16" in text
    marked = page.locator("#sources mark").all_inner_texts()  # the quoted sentences
    assert any(text.startswith("In addition") for text in marked)
    page.screenshot(path=str(tmp_path / "answer.png"), full_page=True)
    assert (tmp_path / "answer.png").stat().st_size > 10_000


@pytest.mark.slow
def test_browser_a_source_card_names_the_other_carriers_of_its_text(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from tests.ingestion.test_copies import QUESTION, copies_of

    with chat_server(tmp_path_factory.mktemp("copies"), copies_of(CORPUS)) as (url, _):
        page = browser.new_page()
        page.goto(url)
        page.locator("#question textarea").fill(QUESTION)
        page.locator("#ask").click()
        page.locator("#sources .copies").first.wait_for(timeout=60_000)
        cards = page.locator("#sources .source-card").all_inner_texts()
    card = next(c for c in cards if "Also carried by" in c)
    assert "Financial Times" in card and "2023-08-04" in card
    assert (
        "Also carried by: Daily Courier (2023-08-12), Harbour Times (2023-08-15), "
        "Evening Post (2023-08-20). Earliest in this corpus: this article." in card
    )
    assert not any(o in c for c in cards for o in ("Courier ·", "Harbour Times ·"))


def test_browser_timeline_lists_articles_by_month(page: Any, tmp_path: Path) -> None:
    page.get_by_role("tab", name="Timeline").click()
    page.locator("#timeline-query textarea").fill("talks between US and Chinese officials")
    page.locator("#timeline-go").click()
    page.locator("#timeline").get_by_text("2021-02", exact=False).first.wait_for(timeout=60_000)
    text = page.locator("#timeline").inner_text()
    months = [line for line in text.splitlines() if line[:2] == "20" and len(line) <= 7]
    assert months == sorted(months) and len(months) >= 3  # month headings, in order
    assert "2021-02 (approx.)" in text and "Financial Times" in text
    page.screenshot(path=str(tmp_path / "timeline.png"), full_page=True)


def test_browser_every_view_is_a_tab_with_a_drawn_chart_and_named_buttons(
    page: Any, tmp_path: Path
) -> None:
    """Chat, Timeline, Compare outlets and Corpus are tabs; the timeline's chart shows its
    bars; the feedback buttons say what they do (to a screen reader too)."""
    import io

    from PIL import Image

    from sinoqa.views.timeline import BAR_COLOUR

    page.get_by_role("tab", name="Corpus").wait_for(timeout=30_000)
    tabs = [tab.inner_text().strip() for tab in page.get_by_role("tab").all()]
    assert tabs[:4] == ["Chat", "Timeline", "Compare outlets", "Corpus"]
    assert page.get_by_role("button", name="👍 Helpful").is_visible()
    assert page.get_by_role("button", name="👎 Not helpful").is_visible()
    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)

    page.get_by_role("tab", name="Timeline").click()
    page.locator("#timeline-query textarea").fill("talks between US and Chinese officials")
    page.locator("#timeline-go").click()
    chart = page.locator("#timeline-chart img")
    chart.wait_for(timeout=60_000)
    pixels = Image.open(io.BytesIO(chart.screenshot())).convert("RGB").getdata()
    bar = tuple(int(BAR_COLOUR[i : i + 2], 16) for i in (1, 3, 5))
    near = [max(abs(a - b) for a, b in zip(pixel, bar, strict=True)) < 40 for pixel in pixels]
    coloured = sum(near)
    assert coloured > 200, f"the chart shows no bar ({coloured} pixels of the bars' colour)"
    page.screenshot(path=str(tmp_path / "timeline-tab.png"), full_page=True)

    page.get_by_role("tab", name="Compare outlets").click()
    page.locator("#compare-question textarea").wait_for(state="visible")
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#corpus").get_by_text("eir-2023-new-balance").first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "corpus.png"), full_page=True)
    for name in ("chat", "timeline-tab", "compare", "corpus"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_browser_chat_fills_in_the_view_a_question_asks_for(page: Any) -> None:
    """A question about change fills in the Timeline tab; one naming two outlets, the Compare
    outlets tab. The chat stays in view; the answer's notice points to the tab."""
    from playwright.sync_api import expect

    page.locator("#question textarea").fill(
        "How did talks between US and Chinese officials change from 2021 to 2023?"
    )
    page.locator("#ask").click()
    page.locator("#chat").get_by_text("Timeline tab", exact=False).first.wait_for(timeout=60_000)
    page.get_by_role("tab", name="Timeline").click()
    timeline_query = page.locator("#timeline-query textarea")
    # Filled in by an event that follows the answer: wait for it, not for the tab alone.
    expect(timeline_query).to_have_value(
        re.compile("talks between US and Chinese officials"), timeout=30_000
    )
    # ... and drawn: the story's months and chart, without pressing Show timeline.
    expect(page.locator("#timeline")).to_contain_text("2021-02", timeout=30_000)
    expect(page.locator("#timeline-chart img")).to_be_visible(timeout=30_000)

    page.get_by_role("tab", name="Chat").click()
    page.locator("#question textarea").fill(
        "What do the Financial Times and E-IR say about the Malta meeting?"
    )
    page.locator("#ask").click()
    page.locator("#chat").get_by_text("Compare outlets tab", exact=False).first.wait_for(
        timeout=60_000
    )
    page.get_by_role("tab", name="Compare outlets").click()
    compare_question = page.locator("#compare-question textarea")
    expect(compare_question).to_have_value(
        re.compile("^What do the Financial Times and E-IR"), timeout=30_000
    )
    outlets = page.locator("#compare-outlets").inner_text()
    assert "Financial Times" in outlets and "E-International Relations" in outlets
    expect(page.locator("#comparison")).to_contain_text("Financial Times", timeout=30_000)


def test_timeline_endpoint_returns_the_cli_json(served: tuple[str, Settings]) -> None:
    url, _ = served
    client = Client(url, verbose=False)
    result = client.predict(query="talks between US and Chinese officials", api_name="/timeline")
    dates = [entry["date"] for entry in result["entries"]]
    assert dates == sorted(dates) and result["coverage"]
    with pytest.raises(AppError, match="no indexed article is from"):
        client.predict(query="talks", publishers=["Daily Planet"], api_name="/timeline")


def test_compare_endpoint_returns_the_cli_json(served: tuple[str, Settings]) -> None:
    url, _ = served
    client = Client(url, verbose=False)
    outlets = ["E-International Relations", "The Islamabad Telegraph"]
    result = client.predict(
        question="Where did Wang Yi and Jake Sullivan meet?",
        publishers=outlets,
        api_name="/compare",
    )
    assert [c["publisher"] for c in result["columns"]] == outlets
    assert all(not c["refused"] and c["citations"] for c in result["columns"])
    with pytest.raises(AppError, match="two or more"):
        client.predict(question="Who met?", publishers=outlets[:1], api_name="/compare")


def test_browser_thumbs_down_with_a_comment_is_kept(
    served: tuple[str, Settings], page: Any
) -> None:
    _, settings = served
    before = len(pipeline.feedback_log(settings).entries)
    page.locator("#question textarea").fill("Who won the 2022 FIFA World Cup?")
    page.locator("#ask").click()
    page.locator("#sources").get_by_text("Nearest sources", exact=False).first.wait_for(
        timeout=60_000
    )
    page.locator("#feedback-comment textarea").fill("Say that the corpus is not about sport.")
    page.locator("#thumbs-down").click()
    page.locator("#feedback-status").get_by_text("Thank you", exact=False).wait_for()
    kept = pipeline.feedback_log(settings).entries[before:]
    assert [(e["rating"], e["question"]) for e in kept] == [
        ("down", "Who won the 2022 FIFA World Cup?")
    ]
    assert kept[0]["comment"] == "Say that the corpus is not about sport." and kept[0]["refused"]


def test_browser_compare_puts_outlets_side_by_side(page: Any) -> None:
    page.get_by_role("tab", name="Compare outlets").click()
    page.locator("#compare-question textarea").fill("Where did Wang Yi and Jake Sullivan meet?")
    outlets = page.locator("#compare-outlets input")
    for outlet in ("E-International Relations", "Teneo, via Speevr"):
        outlets.click()
        page.get_by_role("option", name=outlet, exact=True).click()
    page.locator("#compare-go").click()
    columns = page.locator("#comparison .outlet-column")
    columns.first.wait_for(timeout=60_000)
    assert columns.count() == 2
    assert "Malta" in columns.nth(0).inner_text()
    assert "don't answer this" in columns.nth(1).inner_text()  # an outlet with no answer


def test_browser_hostile_article_runs_nothing(
    served: tuple[str, Settings], browser: object, tmp_path: Path
) -> None:
    url, _ = served
    hostile = tmp_path / "hostile-hainan.md"
    hostile.write_text(HOSTILE_ARTICLE, encoding="utf-8")
    page = browser.new_page()  # type: ignore[attr-defined]
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    page.get_by_role("tab", name="Corpus").click()
    page.locator("#upload input[type=file]").set_input_files(str(hostile))
    page.locator("#add").click()
    page.locator("#upload-status").get_by_text("Added", exact=False).wait_for(timeout=60_000)
    page.get_by_role("tab", name="Chat").click()
    page.locator("#question textarea").fill("When will new berths open at the Hainan ports?")
    page.locator("#ask").click()
    page.locator("#sources .source-card").first.wait_for(timeout=60_000)
    page.locator("#sources").get_by_text("Hostile headline", exact=False).first.wait_for()
    page.wait_for_timeout(500)
    assert dialogs == []
    assert page.evaluate("window.__xss === undefined")
    assert page.locator("#sources img").count() == 0
    assert page.locator("#sources script").count() == 0
    assert page.locator("#sources a[href^='javascript']").count() == 0
    sources_text = page.locator("#sources").inner_text()
    assert "onerror" in sources_text  # the markup is there, as visible text
    page.screenshot(path=str(tmp_path / "hostile.png"), full_page=True)


def test_llm_backend_streams_and_checks_through_the_ui(
    served: tuple[str, Settings], model_server: str
) -> None:
    """With a reachable LLM server the mode is offered; its answer arrives checked."""
    _, base = served
    settings = base.model_copy(
        update={
            "answer": base.answer.model_copy(
                update={"backend": "openai", "llm_base_url": model_server, "llm_model": "smollm2"}
            ),
            "ui": base.ui.model_copy(update={"port": free_port()}),
        }
    )
    demo = launch(settings, prevent_thread_lock=True, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{settings.ui.port}/", verbose=False)
        job = client.submit(
            "Where did Wang Yi meet Jake Sullivan in September?", backend="openai", api_name="/chat"
        )
        _, _, answer, _ = job.result(timeout=180)
        updates = job.outputs()
        assert len(updates) >= 3  # searching, drafting (streamed), final
        assert answer["backend"] in ("openai", "extractive")
        if answer["backend"] == "extractive":
            assert any(n.startswith("Showing the extractive answer") for n in answer["notices"])
        for citation in answer["citations"]:  # each quoted sentence is the passage's own
            passage, offset = citation["passage"], citation["start_char"]
            quoted = [passage[start - offset : end - offset] for start, end in citation["spans"]]
            assert all(quoted) and " ".join(quoted) == citation["quote"]
    finally:
        demo.close()


def test_llm_backend_is_disabled_with_a_reason_when_unreachable(
    served: tuple[str, Settings],
) -> None:
    from sinoqa_app.ui import backend_choices

    _, base = served
    unreachable = base.answer.model_copy(
        update={"backend": "openai", "llm_base_url": f"http://127.0.0.1:{free_port()}/v1"}
    )
    backends, info = backend_choices(base.model_copy(update={"answer": unreachable}))
    assert backends == ["extractive"] and "openai is unavailable: cannot reach" in info
    backends, info = backend_choices(base)
    assert backends == ["extractive"] and "no LLM backend is configured" in info


def test_login_is_required_when_configured(served: tuple[str, Settings]) -> None:
    _, base = served
    settings = base.model_copy(
        update={
            "ui": base.ui.model_copy(
                update={"port": free_port(), "username": "analyst", "password": "s3cret"}
            )
        }
    )
    demo = launch(settings, prevent_thread_lock=True, quiet=True)
    url = f"http://127.0.0.1:{settings.ui.port}/"
    try:
        with pytest.raises(AuthenticationError, match="credentials were not provided"):
            Client(url, verbose=False).predict(question="Who is Li Shangfu?", api_name="/ask")
        with pytest.raises(ValueError, match="Could not login"):
            Client(url, auth=("analyst", "wrong"), verbose=False)
        client = Client(url, auth=("analyst", "s3cret"), verbose=False)
        answer = client.predict(question="Who is Li Shangfu?", api_name="/ask")
        assert "Li Shangfu" in answer["answer"]
    finally:
        demo.close()


def test_binds_to_localhost_by_default() -> None:
    assert Settings().ui.host == "127.0.0.1"
