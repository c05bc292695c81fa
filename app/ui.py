"""The Gradio chat UI. Built by :func:`build_app`; served by :func:`launch` (or `sinoqa serve`)."""

from __future__ import annotations

import datetime as dt
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gradio as gr
from sinoqa_app.render import (
    answer_markdown,
    bibliography_bibtex,
    bibliography_csl,
    comparison_html,
    conversation_markdown,
    escape_markdown,
    sources_html,
    timeline_markdown,
)

from sinoqa import pipeline
from sinoqa.dates import published_label
from sinoqa.pipeline import IndexUnavailable, InvalidFilter, InvalidQuestion
from sinoqa.schema import Answer, Comparison, Timeline
from sinoqa.settings import Settings

EXAMPLES = [
    "Where did Wang Yi meet Jake Sullivan in September 2023?",
    "What did Yang Jiechi demand from the United States?",
    "Which working groups will Washington and Beijing create?",
    "Why did China refuse a meeting between defence chiefs?",
    "How did US-China relations change between 2021 and 2023?",
]
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
.nearest { margin-top: 6px; }
.nearest-note { font-size: 0.9em; }
"""


def _answers(state: list[dict[str, Any]]) -> list[Answer]:
    return [Answer.model_validate(item) for item in state]


def _messages(answers: list[Answer]) -> list[dict[str, Any]]:
    """The chat as displayed, rebuilt from the session's answers (the one source of truth)."""
    messages: list[dict[str, Any]] = []
    for turn, answer in enumerate(answers, start=1):
        messages.append({"role": "user", "content": escape_markdown(answer.question)})
        messages.append({"role": "assistant", "content": answer_markdown(answer, turn)})
    return messages


def backend_choices(settings: Settings) -> tuple[list[str], str]:
    backend = settings.answer.backend
    problem = pipeline.llm_problem(settings)
    if backend != "extractive" and problem is None:
        return ["extractive", backend], f"{backend}: the LLM writes, sinoqa checks every sentence."
    reason = problem or ""
    if backend != "extractive":
        reason = f"{backend} is unavailable: {problem}"
    return ["extractive"], f"Extractive quotes the articles. No LLM backend: {reason}."


def _corpus_rows(settings: Settings) -> list[list[str]]:
    state = pipeline.status(settings)
    return [
        [
            r.title,
            r.publisher or "—",
            published_label(r.published, r.published_approx),
            str(len(r.chunk_ids)),
            r.doc_id,
        ]
        for r in state.records
    ]


def build_app(settings: Settings | None = None) -> gr.Blocks:
    """The chat UI over the index described by ``settings`` (which must exist)."""
    settings = settings or Settings()
    pipe = pipeline.get_pipeline(settings)
    pipe.view()  # fail now, with "run sinoqa ingest", rather than on the first question
    backends, backend_info = backend_choices(settings)

    def respond(
        message: str,
        state: list[dict[str, Any]],
        publishers: list[str] | None,
        date_from: str,
        date_to: str,
        top_k: float,
        backend: str,
        as_of: str = "",
    ) -> Iterator[tuple[Any, ...]]:
        history = _messages(_answers(state))
        history.append({"role": "user", "content": escape_markdown(message or "")})
        history.append({"role": "assistant", "content": "*Searching the articles…*"})
        yield history, gr.skip(), state, gr.skip(), ""
        tokens: queue.Queue[str | None] = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["answer"] = pipe.ask(
                    message or "",
                    publishers=publishers or (),
                    date_from=(date_from or "").strip() or None,
                    date_to=(date_to or "").strip() or None,
                    top_k=int(top_k),
                    history=_answers(state),
                    backend=backend or "extractive",
                    on_token=tokens.put,
                    as_of=(as_of or "").strip() or None,
                )
            except Exception as exc:  # shown to the user below, or re-raised
                outcome["error"] = exc
            finally:
                tokens.put(None)

        threading.Thread(target=work, daemon=True).start()
        drafted = ""
        # In LLM mode the model's words stream in; they are checked before they are final.
        while (token := tokens.get()) is not None:
            drafted += token
            history[-1] = {
                "role": "assistant",
                "content": "*Drafting; every sentence is checked when it is done…*\n\n"
                + escape_markdown(drafted),
            }
            yield history, gr.skip(), state, gr.skip(), ""
        error = outcome.get("error")
        # Bad input, or an index that is missing or unreachable: say so, keep the question.
        if isinstance(error, InvalidQuestion | InvalidFilter | IndexUnavailable):
            history[-1] = {"role": "assistant", "content": f"⚠️ {escape_markdown(str(error))}"}
            yield history, gr.skip(), state, None, message  # no answer this time
            return
        if error is not None:
            raise error
        answer: Answer = outcome["answer"]
        turn = len(state) + 1
        # Show the answer as it is assembled, sentence by sentence.
        for shown in range(1, len(answer.sentences)):
            partial = answer.model_copy(update={"sentences": answer.sentences[:shown]})
            history[-1] = {"role": "assistant", "content": answer_markdown(partial, turn)}
            yield history, gr.skip(), state, gr.skip(), ""
        history[-1] = {"role": "assistant", "content": answer_markdown(answer, turn)}
        dumped = answer.model_dump(mode="json")
        yield history, sources_html(answer, turn), [*state, dumped], dumped, ""

    def ask_api(
        question: str,
        publishers: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        top_k: int | None = None,
        backend: str | None = None,
        as_of: str | None = None,
    ) -> dict[str, Any]:
        """Answer one question; returns the same Answer JSON as `sinoqa ask --json`.
        ``as_of`` (YYYY-MM-DD or today) is the day it is asked, as `--as-of`."""
        with _shown_to_the_caller():
            answer = pipe.ask(
                question,
                publishers=publishers or (),
                date_from=date_from or None,
                date_to=date_to or None,
                top_k=top_k,
                backend=backend or "extractive",
                as_of=(as_of or "").strip() or None,
            )
        return answer.model_dump(mode="json")

    def timeline_api(
        query: str,
        publishers: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> dict[str, Any]:
        """The articles on a query in publication order; the Timeline JSON of `sinoqa
        timeline --json`."""
        with _shown_to_the_caller():
            result = pipe.timeline(
                query,
                publishers=publishers or (),
                date_from=date_from or None,
                date_to=date_to or None,
            )
        return result.model_dump(mode="json")

    def give_feedback(
        rating: str, comment_text: str, state: list[dict[str, Any]]
    ) -> tuple[str, str]:
        """A 👍 / 👎 on the last answer of this conversation (kept for the maintainers)."""
        if not state:
            return "Ask a question first; the 👍 / 👎 is about the last answer.", comment_text
        pipeline.record_feedback(
            settings, Answer.model_validate(state[-1]), rating, comment_text or ""
        )
        return "Thank you: kept for the maintainers' evals.", ""

    def feedback_api(
        rating: str, comment_text: str = "", answer: dict[str, Any] | None = None
    ) -> str:
        """Feedback on an Answer JSON (as /ask returns): rating 'up' or 'down'."""
        if answer is None:
            raise gr.Error("give the Answer JSON the feedback is about")
        try:
            pipeline.record_feedback(settings, Answer.model_validate(answer), rating, comment_text)
        except InvalidQuestion as exc:
            raise gr.Error(str(exc)) from exc
        return "kept"

    def prepare_views(answer: dict[str, Any] | None) -> tuple[Any, ...]:
        """Open the Timeline or Compare panel, filled in, for a question that asks how
        something developed or names several outlets (the answer's notice offers them)."""
        # A follow-up's views are those of the query it was answered as ("How has that
        # changed?" after a question on the Vienna talks).
        views = pipe.other_views(str(answer["retrieval_query"])) if answer else None
        timeline: tuple[Any, ...] = (gr.skip(), gr.skip())
        compare: tuple[Any, ...] = (gr.skip(), gr.skip(), gr.skip())
        if views and views.timeline_query:
            timeline = (views.timeline_query, gr.Accordion(open=True))
        if views and views.compare_outlets:
            outlets = gr.Dropdown(choices=pipe.publishers(), value=views.compare_outlets)
            compare = (views.question, outlets, gr.Accordion(open=True))
        return (*timeline, *compare)

    def compare_api(question: str, publishers: list[str]) -> dict[str, Any]:
        """Each outlet's own answer side by side; the Comparison JSON of `sinoqa compare`."""
        with _shown_to_the_caller():
            return pipe.compare(question, publishers).model_dump(mode="json")

    def show_timeline(
        query: str, publishers: list[str] | None, date_from: str, date_to: str
    ) -> tuple[str, Any]:
        import pandas as pd

        result = Timeline.model_validate(
            timeline_api(query, publishers, date_from.strip(), date_to.strip())
        )
        chart = pd.DataFrame(
            {
                "month": [c.period for c in result.coverage],
                "articles": [c.articles for c in result.coverage],
            }
        )
        return timeline_markdown(result), chart

    def embedding_progress(progress: gr.Progress | None, first: str) -> Callable[[int, int], None]:
        tracker = progress or gr.Progress()
        tracker(0, desc=first)

        def show(done: int, total: int) -> None:
            tracker((done, max(total, 1)), desc="Embedding articles")

        return show

    def corpus_changed(added: list[str], rejected: list[tuple[str, str]]) -> tuple[Any, ...]:
        """The status message, the corpus table and the outlets, after an addition."""
        lines = added + [
            f"❌ Rejected {escape_markdown(name)}: {escape_markdown(reason)}"
            for name, reason in rejected
        ]
        publishers = gr.update(choices=pipe.publishers())
        return "\n\n".join(lines) or "Nothing changed.", _corpus_rows(settings), publishers

    def add_articles(
        files: list[str] | None, progress: gr.Progress | None = None
    ) -> tuple[Any, ...]:
        if not files:
            return "Choose one or more files first.", gr.skip(), gr.skip()
        show = embedding_progress(progress, "Indexing")
        uploads = [(Path(f), Path(f).name) for f in files]
        report = pipeline.add_files(settings, uploads, progress=show)
        added = [f"✅ Added **{escape_markdown(d)}**" for d in report.added]
        added += [f"✅ Updated **{escape_markdown(d)}**" for d in report.updated]
        return corpus_changed(added, report.rejected)

    def add_by_url(text: str, progress: gr.Progress | None = None) -> tuple[Any, ...]:
        urls = [line.strip() for line in (text or "").split() if line.strip()]
        if not urls:
            return "Paste one or more article URLs first.", gr.skip(), gr.skip()
        show = embedding_progress(progress, "Fetching")
        report = pipeline.add(settings, urls, progress=show)
        added = [
            f"✅ Added **{escape_markdown(doc_id)}** from {escape_markdown(url)}"
            for url, doc_id in report.added
        ]
        added += [
            f"☑️ Already in the corpus as **{escape_markdown(doc_id)}**: {escape_markdown(url)}"
            for url, doc_id in report.known
        ]
        return corpus_changed(added, report.rejected)

    def exporter(name: str, render: Callable[[list[Answer]], str]) -> Callable[..., str | None]:
        def export(state: list[dict[str, Any]]) -> str | None:
            if not state:
                return None
            path = Path(_export_dir()) / name
            path.write_text(render(_answers(state)), encoding="utf-8")
            return str(path)

        return export

    export_markdown = exporter("sinoqa-conversation.md", conversation_markdown)
    export_bibtex = exporter(
        "sinoqa-sources.bib", lambda answers: bibliography_bibtex(answers, dt.date.today())
    )
    export_csl = exporter(
        "sinoqa-sources.json", lambda answers: bibliography_csl(answers, dt.date.today())
    )

    with gr.Blocks(title="sinoqa") as demo:
        gr.Markdown(
            "# sinoqa\nAsk about US–China relations. Every sentence of an answer is quoted from "
            "a dated, named article; click a citation to see its source."
        )
        state = gr.State([])
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
                        show_label=False, scale=4, elem_id="feedback-comment",
                    )  # fmt: skip
                    thumbs_up = gr.Button("👍", scale=0, min_width=60, elem_id="thumbs-up")
                    thumbs_down = gr.Button("👎", scale=0, min_width=60, elem_id="thumbs-down")
                feedback_status = gr.Markdown(elem_id="feedback-status")
                with gr.Row():
                    clear = gr.Button("New conversation")
                    download = gr.DownloadButton("Download conversation (.md)")
                    download_bib = gr.DownloadButton("Sources (BibTeX)")
                    download_csl = gr.DownloadButton("Sources (CSL-JSON)")
            with gr.Column(scale=2):
                sources = gr.HTML(sources_html(None, 0), elem_id="sources")
        with gr.Accordion("Filters and answer backend", open=False):
            with gr.Row():
                publishers = gr.Dropdown(
                    choices=pipe.publishers(), multiselect=True, label="Outlets", value=[]
                )
                date_from = gr.Textbox(
                    "", label="Published from", placeholder="YYYY, YYYY-MM or YYYY-MM-DD"
                )
                date_to = gr.Textbox(
                    "", label="Published to", placeholder="YYYY, YYYY-MM or YYYY-MM-DD"
                )
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
        with gr.Accordion("Timeline: how a story developed", open=False) as timeline_panel:
            with gr.Row():
                timeline_query = gr.Textbox(
                    label="Story", placeholder="e.g. talks between US and Chinese officials",
                    scale=4, elem_id="timeline-query",
                )  # fmt: skip
                timeline_go = gr.Button("Show timeline", scale=1, elem_id="timeline-go")
            timeline_chart = gr.BarPlot(
                x="month", y="articles", label="Articles per month", elem_id="timeline-chart"
            )
            timeline_list = gr.Markdown(elem_id="timeline")
        with gr.Accordion("Compare outlets", open=False) as compare_panel:
            with gr.Row():
                compare_question = gr.Textbox(label="Question", scale=3, elem_id="compare-question")
                compare_outlets = gr.Dropdown(
                    choices=pipe.publishers(), multiselect=True, label="Outlets (two or more)",
                    scale=2, elem_id="compare-outlets",
                )  # fmt: skip
                compare_go = gr.Button("Compare", scale=1, elem_id="compare-go")
            comparison = gr.HTML(elem_id="comparison")
        with gr.Accordion("Corpus: add your own articles", open=False):
            upload = gr.File(
                file_count="multiple",
                file_types=UPLOAD_TYPES,
                label=f"Markdown, text, HTML or PDF, up to {settings.ui.max_upload_bytes:,} bytes",
                elem_id="upload",
            )
            add = gr.Button("Add to index", elem_id="add")
            url_box = gr.Textbox(
                label="Add by URL: article links, one per line (fetched once, then kept under "
                "corpus/web/)",
                lines=2,
                elem_id="url-box",
            )
            add_urls = gr.Button("Fetch and add", elem_id="add-urls")
            upload_status = gr.Markdown(elem_id="upload-status")
            corpus_table = gr.Dataframe(
                headers=["title", "outlet", "date", "chunks", "doc_id"],
                value=_corpus_rows(settings),
                interactive=False,
                label="Indexed articles",
                elem_id="corpus",
            )
        last_answer = gr.JSON(visible=False)

        gr.on(
            triggers=[question.submit, send.click],
            fn=respond,
            inputs=[question, state, publishers, date_from, date_to, top_k, backend, as_of],
            outputs=[chatbot, sources, state, last_answer, question],
            api_name="chat",
        ).success(  # not after an error: the hidden answer may be the previous one
            prepare_views,
            inputs=last_answer,
            outputs=[
                timeline_query,
                timeline_panel,
                compare_question,
                compare_outlets,
                compare_panel,
            ],
            api_visibility="private",
        )
        clear.click(
            lambda: ([], sources_html(None, 0), [], None),
            outputs=[chatbot, sources, state, last_answer],
            api_visibility="private",
        )
        download.click(export_markdown, inputs=state, outputs=download, api_visibility="private")
        download_bib.click(
            export_bibtex, inputs=state, outputs=download_bib, api_visibility="private"
        )
        download_csl.click(export_csl, inputs=state, outputs=download_csl, api_visibility="private")
        for added in (
            add.click(
                add_articles,
                inputs=upload,
                outputs=[upload_status, corpus_table, publishers],
                api_name="add_articles",
            ),
            add_urls.click(
                add_by_url,
                inputs=url_box,
                outputs=[upload_status, corpus_table, publishers],
                api_name="add_urls",
            ),
        ):  # a new outlet can be compared too
            added.then(
                lambda: gr.update(choices=pipe.publishers()),
                outputs=compare_outlets,
                api_visibility="private",
            )
        gr.on(
            triggers=[timeline_query.submit, timeline_go.click],
            fn=show_timeline,
            inputs=[timeline_query, publishers, date_from, date_to],
            outputs=[timeline_list, timeline_chart],
            api_visibility="private",
        )
        gr.api(ask_api, api_name="ask")
        gr.api(timeline_api, api_name="timeline")
        gr.api(compare_api, api_name="compare")
        compare_go.click(
            lambda q, outlets: comparison_html(
                Comparison.model_validate(compare_api(q, outlets or []))
            ),
            inputs=[compare_question, compare_outlets],
            outputs=comparison,
            api_visibility="private",
        )
        gr.api(feedback_api, api_name="feedback")
        for button, rating in ((thumbs_up, "up"), (thumbs_down, "down")):
            button.click(
                lambda text, state, rating=rating: give_feedback(rating, text, state),
                inputs=[comment, state],
                outputs=[feedback_status, comment],
                api_visibility="private",
            )
    return demo


@contextmanager
def _shown_to_the_caller() -> Iterator[None]:
    """Bad input or a missing index: a Gradio error with sinoqa's message, not a traceback."""
    try:
        yield
    except (InvalidQuestion, InvalidFilter, IndexUnavailable) as exc:
        raise gr.Error(str(exc)) from exc


def _export_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="sinoqa-export-")


def launch(settings: Settings | None = None, **overrides: Any) -> gr.Blocks:
    """Serve the UI as the settings say: 127.0.0.1 unless told otherwise; login if configured."""
    settings = settings or Settings()
    demo = build_app(settings)
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
    demo.queue(default_concurrency_limit=4).launch(**options)
    return demo
