"""The Gradio chat UI. Built by :func:`build_app`; served by :func:`launch` (or `sinoqa serve`)."""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Any

import gradio as gr
from sinoqa_app.api import build_api
from sinoqa_app.handlers import Handlers, corpus_rows
from sinoqa_app.refresh import FeedRefresh, feed_refresh
from sinoqa_app.render import (
    comparison_html,
    sources_html,
)
from sinoqa_app.watch_tab import build_watch_tab, wire_watch_tab

from sinoqa import pipeline
from sinoqa.errors import SinoqaError
from sinoqa.schema import Comparison
from sinoqa.settings import Settings

EXAMPLES = [
    "Where did Wang Yi meet Jake Sullivan in September 2023?",
    "What did Yang Jiechi demand from the United States?",
    "Which working groups will Washington and Beijing create?",
    "Why did China refuse a meeting between defence chiefs?",
    "How did US-China relations change between 2021 and 2023?",
]
PARTIAL_DATE = "YYYY, YYYY-MM or YYYY-MM-DD"
UPLOAD_TYPES = [".md", ".markdown", ".txt", ".html", ".htm", ".pdf"]

CSS = """
.source-card { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 10px 12px; margin-bottom: 10px; }
.source-head { font-size: 0.9em; color: var(--body-text-color-subdued); }
.source-n { font-weight: 700; color: var(--body-text-color); }
.approx { font-style: italic; margin-left: 4px; }
.source-title { font-weight: 600; margin: 4px 0; }
.passage { margin: 6px 0; font-size: 0.92em; }
.passage mark { background: #fff3a3; color: #000; }
.doc-id { font-size: 0.75em; color: var(--body-text-color-subdued); }
.copies { font-size: 0.85em; margin: 0.3em 0; }
.nearest { margin-top: 6px; }
.nearest-note { font-size: 0.9em; }
"""


def backend_choices(settings: Settings) -> tuple[list[str], str]:
    backend = settings.answer.backend
    problem = pipeline.llm_problem(settings)
    if backend != "extractive" and problem is None:
        return ["extractive", backend], f"{backend}: the LLM writes, sinoqa checks every sentence."
    reason = problem or ""
    if backend != "extractive":
        reason = f"{backend} is unavailable: {problem}"
    return ["extractive"], f"Extractive quotes the articles. No LLM backend: {reason}."


@dataclass(frozen=True)
class ChatTab:
    """The conversation, its question box, feedback, exports and the sources beside it."""

    chatbot: gr.Chatbot
    question: gr.Textbox
    send: gr.Button
    comment: gr.Textbox
    thumbs_up: gr.Button
    thumbs_down: gr.Button
    watch: gr.Button
    feedback_status: gr.Markdown
    clear: gr.Button
    download: gr.DownloadButton
    download_bib: gr.DownloadButton
    download_csl: gr.DownloadButton
    sources: gr.HTML


@dataclass(frozen=True)
class FilterControls:
    """What a question is restricted to (sinoqa's Filters) and how it is answered."""

    publishers: gr.Dropdown
    date_from: gr.Textbox
    date_to: gr.Textbox
    as_of: gr.Textbox
    top_k: gr.Slider
    backend: gr.Radio


@dataclass(frozen=True)
class TimelineTab:
    """A story's articles in publication order: a monthly chart and the dated list."""

    query: gr.Textbox
    go: gr.Button
    chart: gr.Plot
    listing: gr.Markdown


@dataclass(frozen=True)
class CompareTab:
    """One question put to several outlets, their answers side by side."""

    question: gr.Textbox
    outlets: gr.Dropdown
    go: gr.Button
    result: gr.HTML


@dataclass(frozen=True)
class CorpusTab:
    """What is indexed, and the controls that add files and web pages to it."""

    upload: gr.File
    add: gr.Button
    url_box: gr.Textbox
    add_urls: gr.Button
    status: gr.Markdown
    table: gr.Dataframe


def build_app(settings: Settings | None = None, refresh: FeedRefresh | None = None) -> gr.Blocks:
    """The chat UI over the index described by ``settings`` (which must exist); with
    ``refresh``, the Corpus tab says what the last scheduled feed refresh did."""
    settings = settings or Settings()
    pipe = pipeline.get_pipeline(settings)
    pipe.served()  # fail now, with "run sinoqa ingest", rather than on the first question
    handlers = Handlers(pipe, settings)

    with gr.Blocks(title="sinoqa") as demo:
        gr.Markdown(
            "# sinoqa\nAsk about US–China relations. Every sentence of an answer is quoted from "
            "a dated, named article; click a citation to see its source."
        )
        state = gr.State([])
        with gr.Tabs(elem_id="views"):
            with gr.Tab("Chat", id="chat-tab"):
                chat = _chat_tab(settings)
                filters = _filter_controls(settings, pipe.publishers())
            with gr.Tab("Timeline", id="timeline-tab"):
                timeline = _timeline_tab()
            with gr.Tab("Compare outlets", id="compare-tab"):
                compare = _compare_tab(pipe.publishers())
            with gr.Tab("Corpus", id="corpus-tab"):
                corpus = _corpus_tab(settings)
                if refresh is not None:
                    gr.Markdown(refresh.status, every=30, elem_id="feed-refresh")
            watches = build_watch_tab(pipe)
        last_answer = gr.JSON(visible=False)
        _wire_chat(handlers, chat, filters, state, last_answer, timeline, compare)
        _wire_corpus(handlers, corpus, filters, compare)
        _wire_views(handlers, timeline, compare, filters)
        chosen = [filters.publishers, filters.date_from, filters.date_to]
        wire_watch_tab(demo, pipe, watches, chat.watch, chat.feedback_status, state, chosen)
    return demo


def _chat_tab(settings: Settings) -> ChatTab:
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Conversation", height=480, elem_id="chat")
            with gr.Row():
                question = gr.Textbox(
                    placeholder="Ask a question about the articles…",
                    show_label=False,
                    scale=5,
                    elem_id="question",
                    max_length=settings.answer.max_question_chars * 20,
                )
                send = gr.Button("Ask", variant="primary", scale=1, elem_id="ask")
            gr.Examples(EXAMPLES, inputs=question, label="Try")
            with gr.Row():
                comment = gr.Textbox(
                    placeholder="What was wrong or right with the last answer? (optional)",
                    show_label=False,
                    scale=4,
                    elem_id="feedback-comment",
                )
                thumbs_up = gr.Button("👍 Helpful", scale=0, min_width=110, elem_id="thumbs-up")
                thumbs_down = gr.Button(
                    "👎 Not helpful", scale=0, min_width=130, elem_id="thumbs-down"
                )
                watch = gr.Button(
                    "Watch this question", scale=0, min_width=170, elem_id="watch-question"
                )
            feedback_status = gr.Markdown(elem_id="feedback-status")
            with gr.Row():
                clear = gr.Button("New conversation")
                download = gr.DownloadButton("Download conversation (.md)")
                download_bib = gr.DownloadButton("Sources (BibTeX)")
                download_csl = gr.DownloadButton("Sources (CSL-JSON)")
        with gr.Column(scale=2):
            sources = gr.HTML(sources_html(None, 0), elem_id="sources")
    return ChatTab(
        chatbot, question, send, comment, thumbs_up, thumbs_down, watch, feedback_status,
        clear, download, download_bib, download_csl, sources,
    )  # fmt: skip


def _filter_controls(settings: Settings, outlets: list[str]) -> FilterControls:
    backends, backend_info = backend_choices(settings)
    with gr.Accordion("Filters and answer backend", open=False):
        with gr.Row():
            publishers = gr.Dropdown(choices=outlets, multiselect=True, label="Outlets", value=[])
            date_from = gr.Textbox("", label="Published from", placeholder=PARTIAL_DATE)
            date_to = gr.Textbox("", label="Published to", placeholder=PARTIAL_DATE)
            as_of = gr.Textbox(
                "",
                label="As of",
                placeholder="YYYY-MM-DD or today",
                info="Ask as on that day: recent articles first, none published later.",
                elem_id="as-of",
            )
        with gr.Row():
            top_k = gr.Slider(
                1, 20, value=settings.retrieval.top_k, step=1, label="Passages to read (top-k)"
            )
            backend = gr.Radio(
                backends, value="extractive", label="Answer backend", info=backend_info
            )
    return FilterControls(publishers, date_from, date_to, as_of, top_k, backend)


def _timeline_tab() -> TimelineTab:
    with gr.Row():
        query = gr.Textbox(
            label="Story", placeholder="e.g. talks between US and Chinese officials",
            scale=4, elem_id="timeline-query",
        )  # fmt: skip
        go = gr.Button("Show timeline", scale=1, elem_id="timeline-go")
    # The chart `sinoqa timeline --chart` draws: a real time axis, gaps shown.
    chart = gr.Plot(label="Articles per month", elem_id="timeline-chart")
    return TimelineTab(query, go, chart, gr.Markdown(elem_id="timeline"))


def _compare_tab(outlets: list[str]) -> CompareTab:
    with gr.Row():
        question = gr.Textbox(label="Question", scale=3, elem_id="compare-question")
        chosen = gr.Dropdown(
            choices=outlets, multiselect=True, label="Outlets (two or more)",
            scale=2, elem_id="compare-outlets",
        )  # fmt: skip
        go = gr.Button("Compare", scale=1, elem_id="compare-go")
    return CompareTab(question, chosen, go, gr.HTML(elem_id="comparison"))


def _corpus_tab(settings: Settings) -> CorpusTab:
    upload = gr.File(
        file_count="multiple",
        file_types=UPLOAD_TYPES,
        label=f"Markdown, text, HTML or PDF, up to {settings.ui.max_upload_bytes:,} bytes",
        elem_id="upload",
    )
    add = gr.Button("Add to index", elem_id="add")
    url_box = gr.Textbox(
        label="Add by URL: article links, one per line (fetched once, then kept under corpus/web/)",
        lines=2,
        elem_id="url-box",
    )
    add_urls = gr.Button("Fetch and add", elem_id="add-urls")
    status = gr.Markdown(elem_id="upload-status")
    table = gr.Dataframe(
        headers=["title", "outlet", "date", "chunks", "doc_id"],
        value=corpus_rows(settings),
        interactive=False,
        label="Indexed articles",
        elem_id="corpus",
    )
    return CorpusTab(upload, add, url_box, add_urls, status, table)


def _wire_chat(
    handlers: Handlers,
    chat: ChatTab,
    filters: FilterControls,
    state: gr.State,
    last_answer: gr.JSON,
    timeline: TimelineTab,
    compare: CompareTab,
) -> None:
    """The question, its answer, the views it hands off to, feedback and exports."""
    inputs = [chat.question, state, filters.publishers, filters.date_from, filters.date_to]
    gr.on(
        triggers=[chat.question.submit, chat.send.click],
        fn=handlers.respond,
        inputs=[*inputs, filters.top_k, filters.backend, filters.as_of],
        outputs=[chat.chatbot, chat.sources, state, last_answer, chat.question],
        api_name="chat",
    ).success(  # not after an error: the hidden answer may be the previous one
        handlers.prepare_views,
        inputs=[last_answer, filters.publishers, filters.date_from, filters.date_to],
        outputs=[
            timeline.query,
            timeline.listing,
            timeline.chart,
            compare.question,
            compare.outlets,
            compare.result,
        ],
        api_visibility="private",
    )
    chat.clear.click(
        lambda: ([], sources_html(None, 0), [], None),
        outputs=[chat.chatbot, chat.sources, state, last_answer],
        api_visibility="private",
    )
    for download, export in (
        (chat.download, handlers.export_markdown),
        (chat.download_bib, handlers.export_bibtex),
        (chat.download_csl, handlers.export_csl),
    ):
        download.click(export, inputs=state, outputs=download, api_visibility="private")
    gr.api(handlers.ask_api, api_name="ask")
    gr.api(handlers.feedback_api, api_name="feedback")
    for button, rating in ((chat.thumbs_up, "up"), (chat.thumbs_down, "down")):
        button.click(
            lambda text, state, rating=rating: handlers.give_feedback(rating, text, state),
            inputs=[chat.comment, state],
            outputs=[chat.feedback_status, chat.comment],
            api_visibility="private",
        )


def _wire_corpus(
    handlers: Handlers, corpus: CorpusTab, filters: FilterControls, compare: CompareTab
) -> None:
    """Uploads and URLs into the index; the outlet lists learn the new outlets."""
    outputs = [corpus.status, corpus.table, filters.publishers]
    for added in (
        corpus.add.click(
            handlers.add_articles, inputs=corpus.upload, outputs=outputs, api_name="add_articles"
        ),
        corpus.add_urls.click(
            handlers.add_by_url, inputs=corpus.url_box, outputs=outputs, api_name="add_urls"
        ),
    ):  # a new outlet can be compared too
        added.then(
            lambda: gr.update(choices=handlers.pipe.publishers()),
            outputs=compare.outlets,
            api_visibility="private",
        )


def _wire_views(
    handlers: Handlers, timeline: TimelineTab, compare: CompareTab, filters: FilterControls
) -> None:
    """The Timeline and Compare outlets tabs, and their Gradio API endpoints."""
    gr.on(
        triggers=[timeline.query.submit, timeline.go.click],
        fn=handlers.show_timeline,
        inputs=[timeline.query, filters.publishers, filters.date_from, filters.date_to],
        outputs=[timeline.listing, timeline.chart],
        api_visibility="private",
    )
    gr.api(handlers.timeline_api, api_name="timeline")
    gr.api(handlers.compare_api, api_name="compare")
    compare.go.click(
        lambda q, outlets: comparison_html(
            Comparison.model_validate(handlers.compare_api(q, outlets or []))
        ),
        inputs=[compare.question, compare.outlets],
        outputs=compare.result,
        api_visibility="private",
    )


def _warm(pipe: pipeline.Pipeline) -> None:
    with contextlib.suppress(SinoqaError):  # the first real question says it to its asker
        pipe.warm()


def launch(settings: Settings | None = None, **overrides: Any) -> gr.Blocks:
    """Serve the UI as the settings say: 127.0.0.1 unless told otherwise; login if configured."""
    settings = settings or Settings()
    refresh = feed_refresh(settings)
    demo = build_app(settings, refresh)
    ui = settings.ui
    auth = (ui.username, ui.password) if ui.username and ui.password else None
    options: dict[str, Any] = {
        "server_name": ui.host,
        "server_port": ui.port or None,
        "auth": auth,
        "max_file_size": ui.max_upload_bytes,
        "css": CSS,
        "show_error": True,
        "footer_links": [],
    }
    options.update(overrides)
    blocking = not options.pop("prevent_thread_lock", False)
    # The model and the lazy parts of answering load while the server starts.
    threading.Thread(target=_warm, args=(pipeline.get_pipeline(settings),), daemon=True).start()
    demo.queue(default_concurrency_limit=4).launch(prevent_thread_lock=True, **options)
    # The JSON API beside the chat, on the same server (its docs: /api/v1/docs).
    demo.app.mount("/api/v1", build_api(pipeline.get_pipeline(settings), settings))
    if refresh is not None:
        refresh.start()
    if blocking:
        demo.block_thread()
    return demo
