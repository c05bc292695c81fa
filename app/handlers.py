"""What the chat UI does when it is used: each handler asks the pipeline and renders the
result. :mod:`sinoqa_app.ui` lays out the page and wires these to its components; the API
endpoints (/ask, /timeline, /compare, /feedback) are handlers too."""

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
from sinoqa.errors import SinoqaError
from sinoqa.pipeline import Pipeline
from sinoqa.schema import Answer, Comparison, Filters, Timeline, published_label
from sinoqa.settings import Settings


class Handlers:
    """The UI's event handlers over one warm pipeline."""

    def __init__(self, pipe: Pipeline, settings: Settings) -> None:
        self.pipe = pipe
        self.settings = settings
        self.export_markdown = self.exporter("sinoqa-conversation.md", conversation_markdown)
        self.export_bibtex = self.exporter(
            "sinoqa-sources.bib", lambda answers: bibliography_bibtex(answers, dt.date.today())
        )
        self.export_csl = self.exporter(
            "sinoqa-sources.json", lambda answers: bibliography_csl(answers, dt.date.today())
        )

    def respond(
        self,
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
                outcome["answer"] = self.pipe.ask(
                    message or "",
                    Filters(
                        publishers=publishers, date_from=date_from, date_to=date_to, as_of=as_of
                    ),
                    top_k=int(top_k),
                    history=_answers(state),
                    backend=backend or "extractive",
                    on_token=tokens.put,
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
        # Bad input, an index that is missing or unreachable: say so, keep the question.
        if isinstance(error, SinoqaError):
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
        self,
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
            answer = self.pipe.ask(
                question,
                Filters(publishers=publishers, date_from=date_from, date_to=date_to, as_of=as_of),
                top_k=top_k,
                backend=backend or "extractive",
            )
        return answer.model_dump(mode="json")

    def timeline_api(
        self,
        query: str,
        publishers: list[str] | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
    ) -> dict[str, Any]:
        """The articles on a query in publication order; the Timeline JSON of `sinoqa
        timeline --json`."""
        with _shown_to_the_caller():
            result = self.pipe.timeline(
                query, Filters(publishers=publishers, date_from=date_from, date_to=date_to)
            )
        return result.model_dump(mode="json")

    def give_feedback(
        self, rating: str, comment_text: str, state: list[dict[str, Any]]
    ) -> tuple[str, str]:
        """A 👍 / 👎 on the last answer of this conversation (kept for the maintainers)."""
        if not state:
            return "Ask a question first; the 👍 / 👎 is about the last answer.", comment_text
        pipeline.record_feedback(
            self.settings, Answer.model_validate(state[-1]), rating, comment_text or ""
        )
        return "Thank you: kept for the maintainers' evals.", ""

    def feedback_api(
        self, rating: str, comment_text: str = "", answer: dict[str, Any] | None = None
    ) -> str:
        """Feedback on an Answer JSON (as /ask returns): rating 'up' or 'down'."""
        if answer is None:
            raise gr.Error("give the Answer JSON the feedback is about")
        with _shown_to_the_caller():
            pipeline.record_feedback(
                self.settings, Answer.model_validate(answer), rating, comment_text
            )
        return "kept"

    def prepare_views(
        self,
        answer: dict[str, Any] | None,
        publishers: list[str] | None = None,
        date_from: str = "",
        date_to: str = "",
    ) -> tuple[Any, ...]:
        """Draw the Timeline or Compare outlets tab for a question that asks how something
        developed or names several outlets (the answer's notice offers them): the story or
        the comparison is there when the tab is opened; the chat stays in view."""
        # A follow-up's views are those of the query it was answered as ("How has that
        # changed?" after a question about one meeting).
        views = self.pipe.suggested_views(str(answer["retrieval_query"])) if answer else None
        timeline: tuple[Any, ...] = (gr.skip(),) * 3
        compare: tuple[Any, ...] = (gr.skip(),) * 3
        if views and views.timeline_query:
            try:
                drawn = self.show_timeline(views.timeline_query, publishers, date_from, date_to)
                timeline = (views.timeline_query, *drawn)
            except gr.Error:  # a filter the tab will name when it is used
                timeline = (views.timeline_query, gr.skip(), gr.skip())
        if views and views.compare_outlets:
            outlets = gr.Dropdown(choices=self.pipe.publishers(), value=views.compare_outlets)
            try:
                found = self.compare_api(views.question, list(views.compare_outlets))
                shown = comparison_html(Comparison.model_validate(found))
            except gr.Error:
                shown = gr.skip()
            compare = (views.question, outlets, shown)
        return (*timeline, *compare)

    def compare_api(self, question: str, publishers: list[str]) -> dict[str, Any]:
        """Each outlet's own answer side by side; the Comparison JSON of `sinoqa compare`."""
        with _shown_to_the_caller():
            filters = Filters(publishers=publishers)
            return self.pipe.compare(question, filters).model_dump(mode="json")

    def show_timeline(
        self, query: str, publishers: list[str] | None, date_from: str, date_to: str
    ) -> tuple[str, Any]:
        result = Timeline.model_validate(
            self.timeline_api(query, publishers, date_from.strip(), date_to.strip())
        )
        return timeline_markdown(result), pipeline.timeline_chart(result)

    def embedding_progress(
        self, progress: gr.Progress | None, first: str
    ) -> Callable[[int, int], None]:
        tracker = progress or gr.Progress()
        tracker(0, desc=first)

        def show(done: int, total: int) -> None:
            tracker((done, max(total, 1)), desc="Embedding articles")

        return show

    def corpus_changed(self, added: list[str], rejected: list[tuple[str, str]]) -> tuple[Any, ...]:
        """The status message, the corpus table and the outlets, after an addition."""
        lines = added + [
            f"❌ Rejected {escape_markdown(name)}: {escape_markdown(reason)}"
            for name, reason in rejected
        ]
        self.pipe.served(fresh=True)  # what was just added is searchable at once
        publishers = gr.update(choices=self.pipe.publishers())
        return "\n\n".join(lines) or "Nothing changed.", corpus_rows(self.settings), publishers

    def add_articles(
        self, files: list[str] | None, progress: gr.Progress | None = None
    ) -> tuple[Any, ...]:
        if not files:
            return "Choose one or more files first.", gr.skip(), gr.skip()
        show = self.embedding_progress(progress, "Indexing")
        uploads = [(Path(f), Path(f).name) for f in files]
        report = pipeline.add_files(self.settings, uploads, progress=show)
        added = [f"✅ Added **{escape_markdown(d)}**" for d in report.added]
        added += [f"✅ Updated **{escape_markdown(d)}**" for d in report.updated]
        return self.corpus_changed(added, report.rejected)

    def add_by_url(self, text: str, progress: gr.Progress | None = None) -> tuple[Any, ...]:
        urls = [line.strip() for line in (text or "").split() if line.strip()]
        if not urls:
            return "Paste one or more article URLs first.", gr.skip(), gr.skip()
        show = self.embedding_progress(progress, "Fetching")
        report = pipeline.add(self.settings, urls, progress=show)
        added = [
            f"✅ Added **{escape_markdown(doc_id)}** from {escape_markdown(url)}"
            for url, doc_id in report.added
        ]
        added += [
            f"☑️ Already in the corpus as **{escape_markdown(doc_id)}**: {escape_markdown(url)}"
            for url, doc_id in report.known
        ]
        return self.corpus_changed(added, report.rejected)

    def exporter(
        self, name: str, render: Callable[[list[Answer]], str]
    ) -> Callable[..., str | None]:
        def export(state: list[dict[str, Any]]) -> str | None:
            if not state:
                return None
            path = Path(_export_dir()) / name
            path.write_text(render(_answers(state)), encoding="utf-8")
            return str(path)

        return export


def _answers(state: list[dict[str, Any]]) -> list[Answer]:
    return [Answer.model_validate(item) for item in state]


def _messages(answers: list[Answer]) -> list[dict[str, Any]]:
    """The chat as displayed, rebuilt from the session's answers (the one source of truth)."""
    messages: list[dict[str, Any]] = []
    for turn, answer in enumerate(answers, start=1):
        messages.append({"role": "user", "content": escape_markdown(answer.question)})
        messages.append({"role": "assistant", "content": answer_markdown(answer, turn)})
    return messages


def corpus_rows(settings: Settings) -> list[list[str]]:
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


@contextmanager
def _shown_to_the_caller() -> Iterator[None]:
    """Bad input or a missing index: a Gradio error with sinoqa's message, not a traceback."""
    try:
        yield
    except SinoqaError as exc:
        raise gr.Error(str(exc)) from exc


def _export_dir() -> str:
    import tempfile

    return tempfile.mkdtemp(prefix="sinoqa-export-")
