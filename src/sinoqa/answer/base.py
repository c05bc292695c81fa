"""What every answerer shares: the request it answers, the refusal, and the numbering of
citations in order of first use. Subclasses fill :meth:`Answerer._compose`."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from llama_index.core.schema import NodeWithScore

from sinoqa.answer.selection import CandidateSentence
from sinoqa.retrieve.hybrid import COPIES_KEY, EARLIEST_KEY
from sinoqa.retrieve.question import (
    QuestionAnalysis,
    analyse,
)
from sinoqa.schema import Answer, AnswerSentence, Article, Citation, Copy, Source
from sinoqa.settings import AnswerSettings

REFUSAL = "The indexed articles don't answer this."


TokenCallback = Callable[[str], None]


NEAREST_SOURCES = 3  # passages shown with a refusal, and read for the evidence score


NOT_A_QUESTION_NOTICE = (
    "sinoqa answers questions from the indexed articles; it does not follow instructions, "
    "role-play, write creative text or give opinions."
)


def to_source(item: NodeWithScore) -> Source:
    meta = item.node.metadata
    article = Article.from_metadata(meta)
    return Source(
        **article.model_dump(),
        chunk_id=item.node.node_id,
        passage=item.node.get_content(),
        start_char=int(meta["start_char"]),
        end_char=int(meta["end_char"]),
        score=float(item.score or 0.0),
        copies=[Copy(**c) for c in json.loads(meta.get(COPIES_KEY, "[]"))],
        earliest_doc_id=meta.get(EARLIEST_KEY, article.doc_id),
    )


@dataclass(frozen=True)
class AnswerRequest:
    """What an answerer works from.

    ``query_embedding`` embeds ``question``; ``retrieval_query`` is the query retrieval ran
    when it differs (a follow-up carrying the previous question's terms) and ``focus`` the
    articles the previous answer cited, which a follow-up most likely asks about. ``on_token``
    receives generated text as it streams (generative answerers only). ``analysis`` is the
    question as the pipeline read it; without one the answerer reads it from the passages.
    """

    question: str
    passages: Sequence[NodeWithScore]
    query_embedding: list[float]
    retrieval_query: str = ""
    focus: Collection[str] = ()
    on_token: TokenCallback | None = None
    analysis: QuestionAnalysis | None = None

    @cached_property
    def analysed(self) -> QuestionAnalysis:
        """The question's analysis: the pipeline's, or read here from the passages' sources."""
        if self.analysis is not None:
            return self.analysis
        sources = {
            (str(p.node.metadata["publisher"]), p.node.metadata.get("author") or None)
            for p in self.passages
            if p.node.metadata.get("publisher")
        }
        return analyse(self.question, sorted(sources, key=lambda s: (s[0], s[1] or "")))


class Answerer(ABC):
    """Turns retrieved passages into an :class:`Answer`. Subclasses fill :meth:`_compose`."""

    backend = "extractive"

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def answer(self, request: AnswerRequest) -> Answer:
        """Plumbing shared by every answerer: no evidence, or no question, means a refusal."""
        if not request.passages:
            return self.refusal(request.question, request.passages, 0.0)
        if request.analysed.not_a_question:
            return self.refusal(request.question, request.passages, 0.0, [NOT_A_QUESTION_NOTICE])
        return self._compose(request)

    @abstractmethod
    def _compose(self, request: AnswerRequest) -> Answer: ...

    def refusal(
        self,
        question: str,
        passages: Sequence[NodeWithScore],
        confidence: float,
        notices: Sequence[str] = (),
        parts: Mapping[str, float] | None = None,
    ) -> Answer:
        return Answer(
            question=question,
            answer=REFUSAL,
            refused=True,
            backend=self.backend,
            nearest_sources=[to_source(p) for p in passages[:NEAREST_SOURCES]],
            confidence=confidence,
            confidence_parts=dict(parts or {}),
            notices=list(notices),
        )

    def cited_answer(
        self,
        question: str,
        passages: Sequence[NodeWithScore],
        sentences: Sequence[tuple[str, Sequence[CandidateSentence], bool]],
        confidence: float,
        notices: Sequence[str] = (),
        parts: Mapping[str, float] | None = None,
        paragraph_starts: Collection[int] = (),
    ) -> Answer:
        """Number the passages in order of first citation and build the answer text; the
        sentences at ``paragraph_starts`` begin a new paragraph."""
        numbers: dict[int, int] = {}
        quotes: dict[int, list[CandidateSentence]] = {}
        rendered: list[AnswerSentence] = []
        for position, (text, cited, verified) in enumerate(sentences):
            refs = []
            for quote in cited:
                n = numbers.setdefault(quote.passage_index, len(numbers) + 1)
                if quote not in quotes.setdefault(quote.passage_index, []):
                    quotes[quote.passage_index].append(quote)
                if n not in refs:
                    refs.append(n)
            rendered.append(
                AnswerSentence(
                    text=text,
                    citations=refs,
                    verified=verified,
                    new_paragraph=position in paragraph_starts and position > 0,
                )
            )
        citations = []
        for passage, n in sorted(numbers.items(), key=lambda item: item[1]):
            source = to_source(passages[passage])
            used = sorted(quotes.get(passage, []), key=lambda q: q.start)
            citations.append(
                Citation(
                    **source.model_dump(),
                    n=n,
                    quote=" ".join(q.text for q in used),
                    spans=[(q.start, q.end) for q in used],
                )
            )
        text = "".join(
            ("\n\n" if s.new_paragraph else " " if i else "")
            + s.text
            + "".join(f" [{n}]" for n in s.citations)
            + ("" if s.verified else " (unverified)")
            for i, s in enumerate(rendered)
        )
        return Answer(
            question=question,
            answer=text,
            refused=False,
            backend=self.backend,
            citations=citations,
            sentences=rendered,
            confidence=confidence,
            confidence_parts=dict(parts or {}),
            notices=list(notices),
        )
