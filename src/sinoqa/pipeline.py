"""The composition root, the one place that knows the order of the stages: corpus -> index
-> retrieve -> answer. The CLI, the UI and the evals call this, never a stage directly."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from sinoqa.answer.backends import AnswererCache, retrieval_query
from sinoqa.answer.notices import (
    as_of_notice,
    recent_day,
    suggested_views,
    unsupported_premise,
)
from sinoqa.errors import IndexUnavailable, InvalidFilter, InvalidQuestion
from sinoqa.ingestion import add as adding
from sinoqa.ingestion import build, index
from sinoqa.ingestion.add import AddReport, UploadReport
from sinoqa.ingestion.records import IndexStatus, StoredChunks, reachable
from sinoqa.retrieve.question import normalize_question
from sinoqa.retrieve.rerank import load_reranker
from sinoqa.schema import (
    Answer,
    Article,
    ArticleText,
    Comparison,
    Filters,
    IngestReport,
    ProgressCallback,
    Source,
    SuggestedViews,
    Timeline,
)
from sinoqa.settings import RetrievalSettings, Settings
from sinoqa.watch.book import checked_after

if TYPE_CHECKING:
    from llama_index.core.llms import LLM
    from matplotlib.figure import Figure

    from sinoqa.answer.base import Answerer
    from sinoqa.retrieve.hybrid import HybridRetriever
    from sinoqa.retrieve.ranking import ArticleRanker
    from sinoqa.retrieve.served_corpus import ServedCorpus
    from sinoqa.views.feedback import FeedbackLog
    from sinoqa.watch.book import WatchBook


__all__ = [
    "AddReport",
    "Filters",
    "IngestReport",
    "Pipeline",
    "ProgressCallback",
    "UploadReport",
    "add",
    "add_files",
    "ask",
    "feedback_log",
    "get_pipeline",
    "ingest",
    "llm_problem",
    "record_feedback",
    "save_timeline_chart",
    "status",
    "timeline_chart",
]


# Every write of the corpus goes through these: the watches are checked after each.
ingest = checked_after(build.ingest, lambda settings: get_pipeline(settings))
add = checked_after(adding.add, lambda settings: get_pipeline(settings))
add_files = checked_after(adding.add_files, lambda settings: get_pipeline(settings))


def record_feedback(
    settings: Settings, answer: Answer, rating: str, comment: str = ""
) -> dict[str, object]:
    """Keep a 👍 ("up") or 👎 ("down") on ``answer``, with an optional comment."""
    from sinoqa.views import feedback

    if rating not in ("up", "down"):
        raise InvalidQuestion(f"feedback is 'up' or 'down', not {rating!r}")
    return feedback.record(settings, answer, rating, comment)  # type: ignore[arg-type]


def feedback_log(settings: Settings) -> FeedbackLog:
    """The feedback kept for the index ``settings`` name: entries, unreadable lines, drafts."""
    from sinoqa.views import feedback

    return feedback.read_log(settings)


def timeline_chart(timeline: Timeline) -> Figure:
    """Articles per month (matplotlib): the chart the chat shows and `--chart` writes."""
    from sinoqa.views.timeline import chart_figure

    return chart_figure(timeline)


def save_timeline_chart(timeline: Timeline, path: Path) -> None:
    """:func:`timeline_chart` as a PNG file."""
    from sinoqa.views.timeline import write_chart

    write_chart(timeline, path)


def llm_problem(settings: Settings) -> str | None:
    """Why the configured LLM backend cannot answer right now, or None if it can."""
    from sinoqa.answer.generate import backend_problem

    return backend_problem(settings.answer)


def status(settings: Settings | None = None) -> IndexStatus:
    """What is indexed under the current settings."""
    return index.index_status(settings or Settings())


class Pipeline:
    """Everything needed to answer questions over one index, loaded once and kept warm."""

    def __init__(
        self,
        settings: Settings,
        *,
        today: Callable[[], dt.date] = dt.date.today,
        clock: Callable[[], float] = time.monotonic,
        llms: Mapping[str, LLM] | None = None,
    ) -> None:
        """``today`` is the calendar a question about "this week" is asked by; ``clock``
        (seconds) paces the check for a newer index version, at most once a second; ``llms``
        are LLM clients by backend name, used instead of the ones the settings describe."""
        self.settings = settings
        self._today = today
        self._clock = clock
        self._answerers = AnswererCache(settings.answer, lambda: self.embed_model, llms)
        self._lock = threading.Lock()
        self._index: index.ChromaIndex | None = None
        self._view: ServedCorpus | None = None
        self._checked_at = 0.0

    @property
    def embed_model(self):  # type: ignore[no-untyped-def]  # a BaseEmbedding, lazily imported
        from sinoqa.ingestion.embedding import load_embed_model

        return load_embed_model(self.settings.embedding, short_texts=True)

    @functools.cached_property
    def watches(self) -> WatchBook:
        """The watches kept for this index (:mod:`sinoqa.watch`)."""
        from sinoqa.watch.book import WatchBook

        return WatchBook(self)

    def stored_chunks(self, doc_ids: Sequence[str]) -> list[StoredChunks]:
        """These articles with their chunks as stored (texts, vectors), read by id: the
        served corpus is not loaded for them."""
        with reachable(self.settings):
            return index.open_index(self.settings).stored_chunks(doc_ids)

    def content_hashes(self) -> dict[str, str]:
        """Each indexed article's content hash, by doc_id (none before a first ingest)."""
        try:
            with reachable(self.settings):
                records = index.open_index(self.settings).records()
        except IndexUnavailable:
            return {}
        return {doc_id: record.content_hash for doc_id, record in records.items()}

    def served(self, *, fresh: bool = False) -> ServedCorpus:
        """The served corpus, reloaded once an ingest changed it (checked each second, or now)."""
        from sinoqa.retrieve.served_corpus import ServedCorpus

        with self._lock, reachable(self.settings):
            if self._index is None:
                self._index = index.open_index(self.settings)
            now = self._clock()
            # Checking costs one Chroma call; once a second is plenty for a chat.
            if self._view is None or fresh or now - self._checked_at > 1.0:
                self._checked_at = now
                if self._view is None or self._index.version() != self._view.version:
                    if self._view is not None:  # a rebuild makes new collections: reopen
                        self._index = index.open_index(self.settings)
                    self._view = ServedCorpus.load(self._index)
            return self._view

    def warm(self) -> None:
        """Load everything the first question needs (the served corpus, the embedding model,
        the retrievers' and the answerer's lazy parts) by answering one nobody sees: a server
        does it while it starts, so its first user does not wait for it."""
        # Extractive whatever the configured backend: warming must not ask an LLM anything.
        self.ask("What is this about?", backend="extractive")

    def publishers(self) -> list[str]:
        return list(self.served().publishers)

    def ask(
        self,
        question: str,
        filters: Filters | None = None,
        *,
        top_k: int | None = None,
        history: Sequence[Answer] = (),
        backend: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer one question (a follow-up when ``history`` holds the earlier turns).

        ``filters`` restrict the articles and may give the day the question is asked
        (``Filters.as_of``: "this week" then; retrieval prefers articles from just before it
        and leaves out those published later). Without a day, a question that asks about the
        present ("the latest", "this week") is asked as of today, or of the newest article's
        day (``retrieval.recent_as_of``); any other, without regard to age. ``Answer.as_of``
        is the day used. ``backend`` overrides the configured answer backend for this
        question; ``on_token`` receives an LLM's text as it is generated, before it is
        checked.
        """
        from sinoqa.answer.engine import GroundedQueryEngine

        started = time.perf_counter()
        text, notices = normalize_question(question, self.settings.answer.max_question_chars)
        retrieval = self._retrieval(top_k)
        # One snapshot of the served corpus for every stage: an ingest landing meanwhile
        # must not give the retriever and the answerer different versions.
        view = self.served()
        filters = self.resolve(filters, view=view)
        day = filters.day_asked(self._today)
        if day is not None:
            notices.append(as_of_notice(day))
        elif self.settings.retrieval.recent_as_of:
            day, recent_notices = recent_day(view.analyse(text), self._today(), view.newest_day)
            notices += recent_notices
        retriever = self.retriever(filters, retrieval, day, view=view)
        answerer, answerer_notices = self.answerer(
            backend or self.settings.answer.backend, view=view
        )
        notices.extend(answerer_notices)
        query = retrieval_query(text, history, answerer)
        # A follow-up keeps to what the previous answer was about.
        focus = sorted({c.doc_id for c in history[-1].citations}) if query != text else []
        engine = GroundedQueryEngine(
            retriever=retriever,
            answerer=answerer,
            embed_model=self.embed_model,
            focus=focus,
            on_token=on_token,
            analysis=view.analyse(text),
        )
        with reachable(self.settings):
            answer, found = engine.ask(query)
        if filters.active and not found:
            notices.append("No indexed article matches the filters.")
        update, premise_notices = unsupported_premise(answer, view.unsupported_terms(text))
        notices += answer.notices + premise_notices
        notices += suggested_views(view.analyse(query)).notices()  # a follow-up's: its query
        update.update(question=text, as_of=day.isoformat() if day is not None else None)
        timings = dict(answer.timings_ms)
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
        update.update(notices=notices, timings_ms=timings)
        return answer.model_copy(update=update)

    def suggested_views(self, question: str) -> SuggestedViews:
        """The timeline and outlet comparison made for ``question`` (for a follow-up, the
        query it was answered as: ``Answer.retrieval_query``), for a UI to prepare beside
        the answer."""
        text, _ = normalize_question(question, self.settings.answer.max_question_chars)
        return suggested_views(self.served().analyse(text))

    def compare(self, question: str, filters: Filters) -> Comparison:
        """Each of ``filters``' outlets' own answer to ``question`` (from its articles only,
        within the filters' dates) side by side, and the names their answers give different
        numbers or dates for."""
        from sinoqa.views.compare import compare_answers

        view = self.served()
        outlets = list(dict.fromkeys(view.resolve_publishers(filters.publishers)))
        if len(outlets) < 2:
            raise InvalidFilter("compare needs two or more different outlets (--publisher)")
        text, _ = normalize_question(question, self.settings.answer.max_question_chars)
        answers = [
            (outlet, self.ask(text, filters.model_copy(update={"publishers": (outlet,)})))
            for outlet in outlets
        ]
        lexicon, share = view.lexicon, self.settings.answer.common_name_share

        def common(name: str) -> bool:
            return all(lexicon.share(term) >= share for term in lexicon.terms(name))

        return compare_answers(text, answers, common)

    def timeline(
        self, query: str, filters: Filters | None = None, *, articles: int = 30
    ) -> Timeline:
        """The articles on ``query`` in publication order, one quoted sentence each, and
        their count per month (:mod:`sinoqa.views.timeline`); with ``Filters.as_of``, none
        published after that day."""
        from llama_index.core.schema import QueryBundle

        from sinoqa.views.timeline import build_timeline

        text, _ = normalize_question(query, self.settings.answer.max_question_chars)
        view = self.served()
        filters = self.resolve(filters, view=view)
        retrieval = self.settings.retrieval.model_copy(
            update={
                "top_k": articles,
                "max_chunks_per_doc": 2,
                "candidates": max(self.settings.retrieval.candidates, 2 * articles),
            }
        )
        with reachable(self.settings):
            retriever = self.retriever(
                filters, retrieval, filters.day_asked(self._today), view=view
            )
            passages = retriever.retrieve(QueryBundle(text))
        terms = view.lexicon.terms(view.analyse(text).content)
        return build_timeline(text, terms, passages, view.lexicon)

    def search(
        self, query: str, filters: Filters | None = None, *, top_k: int | None = None
    ) -> list[Source]:
        """The passages retrieval finds for ``query`` (no answer composed), best first;
        ``filters`` as for :meth:`ask` (without the day guessed from the wording)."""
        from llama_index.core.schema import QueryBundle

        from sinoqa.answer.base import to_source

        text, _ = normalize_question(query, self.settings.answer.max_question_chars)
        view = self.served()
        filters = self.resolve(filters, view=view)
        retrieval = self._retrieval(top_k)
        day = filters.day_asked(self._today)
        with reachable(self.settings):
            found = self.retriever(filters, retrieval, day, view=view).retrieve(QueryBundle(text))
        return [to_source(item) for item in found]

    def articles(self) -> list[Article]:
        """The indexed articles' publication facts, newest first (undated ones last)."""
        records = self.served().records.values()
        facts = [Article.model_validate(r.model_dump(include=_ARTICLE_FIELDS)) for r in records]
        return sorted(facts, key=lambda a: (a.published or "", a.doc_id), reverse=True)

    def article(self, doc_id: str) -> ArticleText | None:
        """An indexed article's facts and cleaned text; None when no article has ``doc_id``."""
        view = self.served()
        record = view.records.get(doc_id)
        if record is None or self._index is None:
            return None
        with reachable(self.settings):
            text = self._index.cleaned_text(doc_id) or ""
        facts = record.model_dump(include=_ARTICLE_FIELDS)
        return ArticleText(**facts, text=text, chunks=len(record.chunk_ids))

    def resolve(self, filters: Filters | None, *, view: ServedCorpus | None = None) -> Filters:
        """``filters`` (none: no filters) with outlet names matched to the indexed ones,
        case-insensitively; :class:`InvalidFilter` names an outlet that is not indexed."""
        filters = filters or Filters()
        if not filters.publishers:
            return filters
        resolved = (view or self.served()).resolve_publishers(filters.publishers)
        return filters.model_copy(update={"publishers": resolved})

    def retriever(
        self,
        filters: Filters | None = None,
        retrieval: RetrievalSettings | None = None,
        as_of: dt.date | None = None,
        *,
        view: ServedCorpus | None = None,
    ) -> HybridRetriever:
        """The configured retriever over the served corpus (``retrieval`` overrides settings;
        ``as_of`` is the day the question is asked, when known)."""
        from sinoqa.retrieve.hybrid import HybridRetriever

        view = view or self.served()
        assert self._index is not None
        retrieval = retrieval or self.settings.retrieval
        return HybridRetriever(
            self._index,
            view,
            self.embed_model,
            retrieval,
            filters,
            reranker=self._reranker(),
            ranker=self._ranker(retrieval),
            as_of=as_of,
        )

    def answerer(
        self, backend: str, *, view: ServedCorpus | None = None
    ) -> tuple[Answerer, list[str]]:
        """The answerer for ``backend``; the extractive one, with a notice, if it cannot load."""
        view = view or self.served()
        return self._answerers.get(backend, view.version, view.lexicon)

    def _retrieval(self, top_k: int | None) -> RetrievalSettings:
        """The retrieval settings, with the caller's top-k (1 to 50) when given."""
        retrieval = self.settings.retrieval
        top = {"top_k": max(1, min(int(top_k), 50))} if top_k is not None else {}
        return retrieval.model_copy(update=top)

    def last_ingest(self) -> str | None:
        """When the served index was last written (asked of the open index)."""
        return self._index.last_ingest() if self.served() and self._index is not None else None

    def _ranker(self, retrieval: RetrievalSettings) -> ArticleRanker | None:
        from sinoqa.retrieve.ranking import DEFAULT_RANKER, load_ranker

        if not retrieval.article_ranker:
            return None
        return load_ranker(retrieval.ranker_path or DEFAULT_RANKER)

    def _reranker(self):  # type: ignore[no-untyped-def]
        model = self.settings.retrieval.reranker_model
        if not model:
            return None
        return load_reranker(model, self.settings.retrieval.candidates)


_ARTICLE_FIELDS = set(Article.model_fields)
_pipelines: dict[Settings, Pipeline] = {}
_pipelines_lock = threading.Lock()


def get_pipeline(settings: Settings | None = None) -> Pipeline:
    """The warm pipeline for ``settings`` (one per process and settings)."""
    settings = settings or Settings()
    with _pipelines_lock:
        if settings not in _pipelines:
            _pipelines[settings] = Pipeline(settings)
        return _pipelines[settings]


def ask(
    question: str,
    settings: Settings | None = None,
    filters: Filters | None = None,
    *,
    top_k: int | None = None,
    backend: str | None = None,
) -> Answer:
    """Answer ``question`` from the indexed articles, with citations (or a refusal)."""
    return get_pipeline(settings).ask(question, filters, top_k=top_k, backend=backend)
