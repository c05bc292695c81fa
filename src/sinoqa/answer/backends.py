"""Which answerer answers: the extractive one, or an LLM backend checked against it, built
once per corpus version (the extractive answerer reads that version's lexicon) and rebuilt
when an ingest changes the corpus; and the retrieval query for a follow-up."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from sinoqa.answer.base import Answerer
from sinoqa.retrieve.question import condense
from sinoqa.schema import Answer
from sinoqa.settings import AnswerSettings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.llms import LLM

    from sinoqa.retrieve.lexicon import Lexicon


class AnswererCache:
    """The answerer for each backend over one corpus version."""

    def __init__(
        self,
        settings: AnswerSettings,
        embed_model: Callable[[], BaseEmbedding],
        llms: Mapping[str, LLM] | None = None,
    ) -> None:
        """``embed_model`` gives the embedding model when first needed; ``llms`` are LLM
        clients by backend name, used instead of the ones ``settings`` describe."""
        self._settings = settings
        self._embed_model = embed_model
        self._llms = dict(llms or {})
        self._lock = threading.Lock()
        self._version: str | None = None
        self._extractive: Answerer | None = None
        self._generative: dict[str, Answerer] = {}

    def get(self, backend: str, version: str, lexicon: Lexicon) -> tuple[Answerer, list[str]]:
        """The answerer for ``backend`` over corpus ``version``; the extractive one, with a
        notice, when the backend cannot be used."""
        from sinoqa.answer.extractive import ExtractiveAnswerer
        from sinoqa.answer.generate import GenerativeAnswerer, LLMUnavailable, make_llm

        with self._lock:
            if self._version != version:
                self._extractive = None
                self._generative.clear()
                self._version = version
            if self._extractive is None:
                self._extractive = ExtractiveAnswerer(self._settings, self._embed_model(), lexicon)
            extractive = self._extractive
            if backend == "extractive":
                return extractive, []
            if backend not in self._generative:
                settings = self._settings.model_copy(update={"backend": backend})
                try:
                    llm = self._llms.get(backend) or make_llm(settings)
                except LLMUnavailable as exc:
                    return extractive, [f"Showing the extractive answer: {exc}."]
                self._generative[backend] = GenerativeAnswerer(
                    settings,
                    llm,
                    extractive,  # type: ignore[arg-type]
                )
            return self._generative[backend], []


def retrieval_query(question: str, history: Sequence[Answer], answerer: Answerer) -> str:
    """The retrieval query for ``question``: an LLM's rewrite of a follow-up when one
    answers, else the previous question's terms added (:func:`condense`)."""
    from sinoqa.answer.generate import GenerativeAnswerer

    heuristic = condense(question, history)
    if heuristic == question or not isinstance(answerer, GenerativeAnswerer):
        return heuristic
    try:
        rewritten = answerer.condense(question, history[-1].retrieval_query)
    except Exception:  # the answer step reports LLM failures; retrieval must go on
        return heuristic
    return f"{rewritten} {question}" if rewritten != question else heuristic
