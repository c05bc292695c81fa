"""The composition root: the one place that knows the order of the stages.

corpus -> index -> retrieve -> answer. The CLI, the UI and the evals call these functions and
classes, never a stage directly.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sinoqa import index
from sinoqa import ingest as ingest_stage

# IndexUnavailable and InvalidFilter are re-exported: callers (the UI) catch them from here.
from sinoqa.index import IndexStatus
from sinoqa.index import IndexUnavailable as IndexUnavailable
from sinoqa.ingest import IngestReport, ProgressCallback
from sinoqa.question import QuestionAnalysis, analyse
from sinoqa.retrieve import Filters, parse_day
from sinoqa.retrieve import InvalidFilter as InvalidFilter
from sinoqa.schema import Answer, Comparison, OtherViews, Timeline
from sinoqa.settings import RetrievalSettings, Settings

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore, QueryBundle

    from sinoqa.answer import Answerer
    from sinoqa.ranking import ArticleRanker
    from sinoqa.retrieve import CorpusView, HybridRetriever


class InvalidQuestion(ValueError):
    """The question cannot be asked as given; the message says why."""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def ingest(
    settings: Settings | None = None,
    paths: Sequence[Path] | None = None,
    *,
    rebuild: bool = False,
    progress: ProgressCallback | None = None,
    wait: bool = True,
    on_wait: Callable[[], None] | None = None,
) -> IngestReport:
    """Read, clean, chunk and embed the corpus (or just ``paths``) into the index.

    One ingest writes an index at a time (across processes): another waits for it, calling
    ``on_wait`` once, or with ``wait=False`` raises :class:`sinoqa.ingest.IndexBusy`."""
    return ingest_stage.ingest(
        settings or Settings(),
        paths,
        rebuild=rebuild,
        progress=progress,
        wait=wait,
        on_wait=on_wait,
    )


@dataclass
class UploadReport:
    """What happened to each uploaded file."""

    added: list[str] = field(default_factory=list)  # doc_ids now searchable
    updated: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)


def add_files(
    settings: Settings,
    files: Sequence[tuple[Path, str]],
    progress: ProgressCallback | None = None,
) -> UploadReport:
    """Store uploaded files under the corpus directory and index them.

    ``files`` are (temporary path, name the user gave). A file is stored only if it can be
    read as its type; a stored file the ingest rejects (a duplicate, say) is removed again,
    so the corpus keeps only what the index holds.
    """
    from sinoqa.corpus import UnreadableFile, read_file, store_upload

    report = UploadReport()
    target_dir = settings.corpus.dir / settings.ui.upload_subdir
    try:
        indexed = {r.doc_id: r for r in status(settings).records}
    except index.IndexNotFound:
        indexed = {}
    stored: dict[Path, str] = {}
    for path, name in files:
        try:
            target = store_upload(path, name, target_dir, settings.ui.max_upload_bytes)
        except UnreadableFile as exc:
            report.rejected.append((name, str(exc)))
            continue
        doc_id = read_file(target).doc_id
        if doc_id in indexed and indexed[doc_id].source != str(target):
            # Same id as an article from another file: never silently replace it.
            report.rejected.append((name, f"an article with doc_id '{doc_id}' is already indexed"))
            target.unlink()
            continue
        stored[target] = name
    if not stored:
        return report
    ingested = ingest(settings, list(stored), progress=progress)
    for skipped in ingested.skipped:
        path = Path(skipped.path)
        if path in stored:
            report.rejected.append((stored[path], skipped.reason))
            path.unlink(missing_ok=True)
    report.added, report.updated = ingested.added, ingested.updated
    return report


@dataclass
class AddReport:
    """What happened to each URL given to :func:`add_urls` (or found in a feed)."""

    added: list[tuple[str, str]] = field(default_factory=list)  # (URL, doc_id) now searchable
    known: list[tuple[str, str]] = field(default_factory=list)  # (URL, doc_id) added before
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (URL, reason)
    feeds: list[str] = field(default_factory=list)  # feeds read


def add_urls(
    settings: Settings,
    urls: Sequence[str],
    progress: ProgressCallback | None = None,
    *,
    wait: bool = True,
) -> AddReport:
    """Fetch each page, store it under ``corpus/web/`` as Markdown with front matter, and
    index it. A URL already added (by canonical or requested URL) is listed as known; one
    whose text another article has is rejected with the reason; a failure changes nothing
    for the others."""
    from sinoqa import web

    known = web.known_urls(web.web_dir(settings.corpus.dir))
    return _add_pages(settings, urls, known, progress, wait=wait)


def _add_pages(
    settings: Settings,
    urls: Sequence[str],
    known: dict[str, str],
    progress: ProgressCallback | None,
    *,
    wait: bool,
) -> AddReport:
    """:func:`add_urls` given the URLs already added (-> doc_id), read once by the caller
    and extended here as pages are stored."""
    import datetime as dt

    from sinoqa import fetch, web

    report = AddReport()
    directory = web.web_dir(settings.corpus.dir)
    stored: dict[Path, str] = {}
    for url in dict.fromkeys(u.strip() for u in urls if u.strip()):
        if url in known:
            report.known.append((url, known[url]))
            continue
        try:
            page = fetch.fetch(url, settings.fetch)
            meta, text = web.page_article(
                page, dt.datetime.now(dt.UTC), settings.fetch.min_text_chars
            )
        except fetch.FetchError as exc:
            report.rejected.append((url, str(exc)))
            continue
        if meta["url"] in known:  # another address of a page added before
            report.known.append((url, known[meta["url"]]))
            continue
        path = web.write_article(directory, meta, text)
        known[url] = known[meta["url"]] = meta["doc_id"]
        stored[path] = url
    if stored:
        ingested = ingest(settings, list(stored), progress=progress, wait=wait)
        skipped = {Path(s.path): s.reason for s in ingested.skipped}
        for path, url in stored.items():
            if path in skipped:  # the same text as an indexed article: keep the corpus = index
                report.rejected.append((url, skipped[path]))
                path.unlink(missing_ok=True)
            else:
                report.added.append((url, path.stem))
    return report


def add_feeds(
    settings: Settings,
    feeds: Sequence[str],
    progress: ProgressCallback | None = None,
    *,
    wait: bool = True,
) -> AddReport:
    """Every article an RSS or Atom feed links to, added as :func:`add_urls` adds pages; the
    feeds are remembered for :func:`refresh_feeds`."""
    from sinoqa import fetch, web

    links: list[str] = []
    rejected: list[tuple[str, str]] = []
    read: list[str] = []
    for feed in dict.fromkeys(f.strip() for f in feeds if f.strip()):
        try:
            fetched = fetch.fetch(feed, settings.fetch, accept=fetch.FEED_TYPES)
            links += web.feed_links(fetched, settings.fetch.max_feed_items)
        except fetch.FetchError as exc:
            rejected.append((feed, str(exc)))
            continue
        read.append(feed)
    web.remember_feeds(web.web_dir(settings.corpus.dir), read)
    # Already-added links are not news here: a refresh reports only what is new.
    known = web.known_urls(web.web_dir(settings.corpus.dir))
    fresh = [u for u in links if u not in known]
    report = _add_pages(settings, fresh, known, progress, wait=wait)
    report.rejected = rejected + report.rejected
    report.feeds = read
    return report


def refresh_feeds(
    settings: Settings, progress: ProgressCallback | None = None, *, wait: bool = True
) -> AddReport:
    """Fetch every feed added before and add the articles that are new."""
    from sinoqa import web

    return add_feeds(
        settings, web.stored_feeds(web.web_dir(settings.corpus.dir)), progress, wait=wait
    )


def record_feedback(
    settings: Settings, answer: Answer, rating: str, comment: str = ""
) -> dict[str, object]:
    """Keep a 👍 ("up") or 👎 ("down") on ``answer``, with an optional comment."""
    from sinoqa import feedback

    if rating not in ("up", "down"):
        raise InvalidQuestion(f"feedback is 'up' or 'down', not {rating!r}")
    return feedback.record(settings, answer, rating, comment)  # type: ignore[arg-type]


def llm_problem(settings: Settings) -> str | None:
    """Why the configured LLM backend cannot answer right now, or None if it can."""
    from sinoqa.generate import backend_problem

    return backend_problem(settings.answer)


def status(settings: Settings | None = None) -> IndexStatus:
    """What is indexed under the current settings."""
    return index.index_status(settings or Settings())


def normalize_question(question: str, max_chars: int) -> tuple[str, list[str]]:
    """The question cleaned of control characters and truncated, with notices for the user."""
    if not isinstance(question, str):
        raise InvalidQuestion("The question must be text.")
    text = " ".join(_CONTROL.sub(" ", unicodedata.normalize("NFC", question)).split())
    if not text:
        raise InvalidQuestion("The question is empty. Ask something about the articles.")
    notices = []
    if len(text) > max_chars:
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
        notices.append(f"The question was truncated to its first {max_chars} characters.")
    return text, notices


def _other_views(question: QuestionAnalysis) -> OtherViews:
    """The views made for ``question``: a timeline when it asks how something developed, the
    outlets side by side when it names several."""
    return OtherViews(
        question=question.text,
        timeline_query=question.content.strip(" ?") if question.temporal else None,
        compare_outlets=list(question.outlets) if len(question.outlets) >= 2 else [],
    )


def _listed(terms: Sequence[str]) -> str:
    """ "A", "A or B", "A, B or C" """
    return terms[0] if len(terms) == 1 else f"{', '.join(terms[:-1])} or {terms[-1]}"


def condense(question: str, history: Sequence[Answer]) -> str:
    """A retrieval query for a follow-up: it carries the previous question's terms.

    "And what did China demand?" after "Why was the defence chiefs' meeting refused?" has to
    find the passage the first question found, so both are searched together.
    """
    if not history:
        return question
    previous = history[-1].retrieval_query or history[-1].question
    return f"{question} {previous}" if analyse(question).follow_up else question


class Pipeline:
    """Everything needed to answer questions over one index, loaded once and kept warm."""

    def __init__(self, settings: Settings, *, today: Callable[[], dt.date] = dt.date.today) -> None:
        """``today`` is the clock a question about "this week" is asked by."""
        self.settings = settings
        self._today = today
        self._lock = threading.Lock()
        self._index: index.ChromaIndex | None = None
        self._view: CorpusView | None = None
        self._extractive: Answerer | None = None
        self._generative: dict[str, Answerer] = {}
        self._answerers_version: str | None = None  # the index version they were built over
        self._checked_at = 0.0

    @property
    def embed_model(self):  # type: ignore[no-untyped-def]  # a BaseEmbedding, lazily imported
        from sinoqa.embedding import load_embed_model

        return load_embed_model(self.settings.embedding)

    def view(self) -> CorpusView:
        """The served corpus; reloaded when an ingest (here or elsewhere) changed it."""
        from sinoqa.retrieve import CorpusView

        with self._lock, index.reachable(self.settings):
            if self._index is None:
                self._index = index.open_index(self.settings)
            now = time.monotonic()
            # Checking costs one Chroma call; once a second is plenty for a chat.
            if self._view is None or now - self._checked_at > 1.0:
                self._checked_at = now
                if self._view is None or self._index.version() != self._view.version:
                    self._view = CorpusView.load(self._index)
            return self._view

    def publishers(self) -> list[str]:
        return list(self.view().publishers)

    def ask(
        self,
        question: str,
        *,
        publishers: Iterable[str] = (),
        date_from: str | None = None,
        date_to: str | None = None,
        top_k: int | None = None,
        history: Sequence[Answer] = (),
        backend: str | None = None,
        on_token: Callable[[str], None] | None = None,
        as_of: str | dt.date | None = None,
    ) -> Answer:
        """Answer one question (a follow-up when ``history`` holds the earlier turns).

        ``backend`` overrides the configured answer backend for this question; ``on_token``
        receives an LLM's text as it is generated, before it is checked. ``as_of`` is the
        day the question is asked ("this week" then): retrieval prefers articles from just
        before it and leaves out those published later. Without it, a question that asks
        about the present ("the latest", "this week") is asked as of today, or of the
        newest article's day (``retrieval.recent_as_of``); any other, without regard to
        age. ``Answer.as_of`` is the day used.
        """
        from sinoqa.answer import GroundedQueryEngine

        started = time.perf_counter()
        text, notices = normalize_question(question, self.settings.answer.max_question_chars)
        retrieval = self.settings.retrieval
        if top_k is not None:
            retrieval = retrieval.model_copy(update={"top_k": max(1, min(int(top_k), 50))})
        day = (
            as_of if isinstance(as_of, dt.date) or as_of is None else parse_day(as_of, self._today)
        )
        # One snapshot of the served corpus for every stage: an ingest landing meanwhile
        # must not give the retriever and the answerer different versions.
        view = self.view()
        filters = self.filters(publishers, date_from, date_to, view=view)
        if day is not None:
            notices.append(
                f"Answered as of {day.isoformat()}: recent articles first, none published "
                "after that day."
            )
        elif self.settings.retrieval.recent_as_of:
            day, recent_notices = self._recent_day(view, view.analyse(text))
            notices += recent_notices
        retriever = self.retriever(filters, retrieval, day, view=view)
        answerer, answerer_notices = self.answerer(
            backend or self.settings.answer.backend, view=view
        )
        notices.extend(answerer_notices)
        engine = GroundedQueryEngine(
            retriever=retriever,
            answerer=answerer,
            embed_model=self.embed_model,
            question=text,
            on_token=on_token,
            analysis=view.analyse(text),
        )
        query = self.condense(text, history, answerer)
        if query != text:  # a follow-up: keep to what the previous answer was about
            engine.focus = sorted({c.doc_id for c in history[-1].citations})
        with index.reachable(self.settings):
            response = engine.query(query)
        answer: Answer = response.metadata["answer"]  # type: ignore[index]
        if filters.active and not response.source_nodes:
            notices.append("No indexed article matches the filters.")
        notices = notices + answer.notices
        update: dict[str, object] = {
            "question": text,
            "as_of": day.isoformat() if day is not None else None,
        }
        unsupported = view.unsupported_terms(text)
        if unsupported:  # say so plainly: the question's premise is not in the corpus
            said = f"No indexed article mentions {_listed(unsupported)}."
            update["unsupported_terms"] = unsupported
            if answer.refused:
                update["answer"] = f"{said} {answer.answer}"
            else:
                notices.append(f"{said} The answer quotes what they say on the rest.")
        notices += _other_views(view.analyse(query)).notices()  # a follow-up's: its query
        timings = dict(answer.timings_ms)
        timings["total"] = round((time.perf_counter() - started) * 1000, 1)
        update.update(notices=notices, timings_ms=timings)
        return answer.model_copy(update=update)

    def _recent_day(
        self, view: CorpusView, question: QuestionAnalysis
    ) -> tuple[dt.date | None, list[str]]:
        """The day a question that asks about the present is asked as of, and a notice
        saying which: today, or the newest article's day when the corpus is older."""
        if question.recent is None:
            return None, []
        today, newest = self._today(), view.newest_day
        asked = f"The question asks about “{question.recent}”"
        if newest is None or newest >= today:
            return today, [f"{asked}: answered as of today, {today.isoformat()}."]
        return newest, [
            f"{asked}: answered as of {newest.isoformat()}, the newest article's day (no "
            "indexed article is more recent)."
        ]

    def other_views(self, question: str) -> OtherViews:
        """The timeline and outlet comparison made for ``question`` (for a follow-up, the
        query it was answered as: ``Answer.retrieval_query``), for a UI to prepare beside
        the answer."""
        text, _ = normalize_question(question, self.settings.answer.max_question_chars)
        return _other_views(self.view().analyse(text))

    def compare(self, question: str, publishers: Sequence[str]) -> Comparison:
        """Each outlet's own answer to ``question`` (from its articles only) side by side, and
        the names their answers give different numbers or dates for."""
        from sinoqa.compare import compare_answers

        view = self.view()
        outlets = list(dict.fromkeys(view.resolve_publishers(publishers)))
        if len(outlets) < 2:
            raise InvalidFilter("compare needs two or more different outlets (--publisher)")
        text, _ = normalize_question(question, self.settings.answer.max_question_chars)
        answers = [(outlet, self.ask(text, publishers=[outlet])) for outlet in outlets]
        lexicon, share = view.lexicon, self.settings.answer.common_name_share

        def common(name: str) -> bool:
            return all(lexicon.share(term) >= share for term in lexicon.terms(name))

        return compare_answers(text, answers, common)

    def timeline(
        self,
        query: str,
        *,
        publishers: Iterable[str] = (),
        date_from: str | None = None,
        date_to: str | None = None,
        articles: int = 30,
    ) -> Timeline:
        """The articles on ``query`` in publication order, one quoted sentence each, and
        their count per month (:mod:`sinoqa.timeline`)."""
        from llama_index.core.schema import QueryBundle

        from sinoqa.timeline import build_timeline

        text, _ = normalize_question(query, self.settings.answer.max_question_chars)
        view = self.view()
        filters = self.filters(publishers, date_from, date_to, view=view)
        retrieval = self.settings.retrieval.model_copy(
            update={
                "top_k": articles,
                "max_chunks_per_doc": 2,
                "candidates": max(self.settings.retrieval.candidates, 2 * articles),
            }
        )
        with index.reachable(self.settings):
            passages = self.retriever(filters, retrieval, view=view).retrieve(QueryBundle(text))
        terms = view.lexicon.terms(view.analyse(text).content)
        return build_timeline(text, terms, passages, view.lexicon)

    def filters(
        self,
        publishers: Iterable[str] = (),
        date_from: str | None = None,
        date_to: str | None = None,
        *,
        view: CorpusView | None = None,
    ) -> Filters:
        """Filters with outlet names matched to the indexed ones (case-insensitively)."""
        resolved = (view or self.view()).resolve_publishers(publishers)
        return Filters(publishers=resolved, date_from=date_from, date_to=date_to)

    def retriever(
        self,
        filters: Filters | None = None,
        retrieval: RetrievalSettings | None = None,
        as_of: dt.date | None = None,
        *,
        view: CorpusView | None = None,
    ) -> HybridRetriever:
        """The configured retriever over the served corpus (``retrieval`` overrides settings;
        ``as_of`` is the day the question is asked, when known)."""
        from sinoqa.retrieve import HybridRetriever

        view = view or self.view()
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
        self, backend: str, *, view: CorpusView | None = None
    ) -> tuple[Answerer, list[str]]:
        """The answerer for ``backend``; the extractive one, with a notice, if it cannot load."""
        from sinoqa.answer import ExtractiveAnswerer
        from sinoqa.generate import GenerativeAnswerer, LLMUnavailable, make_llm

        view = view or self.view()
        with self._lock:
            if self._answerers_version != view.version:  # built over the lexicon of a version
                self._extractive = None
                self._generative.clear()
                self._answerers_version = view.version
            if self._extractive is None:
                self._extractive = ExtractiveAnswerer(
                    self.settings.answer, self.embed_model, view.lexicon
                )
            extractive = self._extractive
        if backend == "extractive":
            return extractive, []
        with self._lock:
            if backend not in self._generative:
                answer_settings = self.settings.answer.model_copy(update={"backend": backend})
                try:
                    llm = make_llm(answer_settings)
                except LLMUnavailable as exc:
                    return extractive, [f"Showing the extractive answer: {exc}."]
                self._generative[backend] = GenerativeAnswerer(
                    answer_settings,
                    llm,
                    extractive,  # type: ignore[arg-type]
                )
            return self._generative[backend], []

    def condense(self, question: str, history: Sequence[Answer], answerer: Answerer) -> str:
        """The retrieval query for ``question``: an LLM rewrite when one is configured."""
        from sinoqa.generate import GenerativeAnswerer

        heuristic = condense(question, history)
        if heuristic == question or not isinstance(answerer, GenerativeAnswerer):
            return heuristic
        try:
            rewritten = answerer.condense(question, history[-1].retrieval_query)
        except Exception:  # the answer step reports LLM failures; retrieval must go on
            return heuristic
        return f"{rewritten} {question}" if rewritten != question else heuristic

    def _ranker(self, retrieval: RetrievalSettings) -> ArticleRanker | None:
        from sinoqa.ranking import DEFAULT_RANKER, load_ranker

        if not retrieval.article_ranker:
            return None
        return load_ranker(retrieval.ranker_path or DEFAULT_RANKER)

    def _reranker(self):  # type: ignore[no-untyped-def]
        model = self.settings.retrieval.reranker_model
        if not model:
            return None
        return _load_reranker(model, self.settings.retrieval.candidates)


_rerankers: dict[tuple[str, int], object] = {}


def _load_reranker(model: str, top_n: int):  # type: ignore[no-untyped-def]
    """A cross-encoder reranker from a local model path, as a llama-index postprocessor."""
    from llama_index.core.postprocessor import SentenceTransformerRerank

    key = (model, top_n)
    if key not in _rerankers:
        _rerankers[key] = SentenceTransformerRerank(model=model, top_n=top_n, device="cpu")
    postprocessor = _rerankers[key]

    def rerank(nodes: list[NodeWithScore], query: QueryBundle) -> list[NodeWithScore]:
        return list(postprocessor.postprocess_nodes(nodes, query_bundle=query))  # type: ignore[attr-defined]

    return rerank


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
    *,
    publishers: Iterable[str] = (),
    date_from: str | None = None,
    date_to: str | None = None,
    top_k: int | None = None,
    backend: str | None = None,
    as_of: str | dt.date | None = None,
) -> Answer:
    """Answer ``question`` from the indexed articles, with citations (or a refusal)."""
    return get_pipeline(settings).ask(
        question,
        publishers=publishers,
        date_from=date_from,
        date_to=date_to,
        top_k=top_k,
        backend=backend,
        as_of=as_of,
    )


@dataclass
class ChatSession:
    """A conversation: each question may follow up on the previous ones."""

    settings: Settings | None = None
    publishers: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None
    backend: str | None = None
    as_of: str | dt.date | None = None
    history: list[Answer] = field(default_factory=list)

    def ask(self, question: str, *, top_k: int | None = None) -> Answer:
        answer = get_pipeline(self.settings).ask(
            question,
            publishers=self.publishers,
            date_from=self.date_from,
            date_to=self.date_to,
            top_k=top_k,
            history=self.history,
            backend=self.backend,
            as_of=self.as_of,
        )
        self.history.append(answer)
        return answer
