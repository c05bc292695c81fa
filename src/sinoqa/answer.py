"""Grounded answers with [n] citations, and the llama-index query engine that produces them.

The default answerer is extractive: it quotes the few sentences of the retrieved passages that
best answer the question, verbatim, each followed by its citation, and refuses when the
evidence is too weak. Generative backends (``sinoqa.generate``) plug into the same engine.
"""

from __future__ import annotations

import re
import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.base.response.schema import Response
from llama_index.core.query_engine import CustomQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle
from pydantic import Field

from sinoqa.retrieve import (
    Lexicon,
    initialism,
    names_source,
    publication_years,
    published_in,
    referenced_years,
)
from sinoqa.schema import Answer, AnswerSentence, Citation, Source
from sinoqa.settings import AnswerSettings

if TYPE_CHECKING:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from nltk.tokenize.punkt import PunktTokenizer

REFUSAL = "The indexed articles don't answer this."
TokenCallback = Callable[[str], None]
_MIN_SENTENCE_CHARS = 25
_NEAREST = 3
_TEMPORAL = re.compile(
    r"\b(how (?:has|have|did|do|does)\b.*\b(?:chang|evolv|shift|develop|progress)\w*"
    r"|over time|timeline|chronolog\w*|sequence of)\b",
    re.IGNORECASE,
)
# Questions whose answer draws on several articles (with _TEMPORAL).
_COMPARATIVE = re.compile(
    r"\b(?:compare[sd]?|comparison|differ\w*|both|each|first\b.*\bthen|and (?:then|later)"
    r"|(?:reports|articles|sources|outlets|accounts|analyses|columns))\b",
    re.IGNORECASE,
)
# Weights of the sentence score: meaning (embedding), the question's rare words (lexical),
# and the rank of the passage the sentence comes from.
_W_DENSE, _W_LEXICAL, _W_PASSAGE = 0.35, 0.55, 0.10
# Questions that name the kind of answer they want: a sentence without one cannot answer.
_ANSWER_TYPES = (
    ("person", re.compile(r"^\s*who(?:m|se)?\b", re.I)),
    ("duration", re.compile(r"\bhow long\b", re.I)),
    (
        "number",
        re.compile(
            r"\bhow (?:many|much)\b|\bhow large\b|\bwhat (?:\w+ )?(?:number|amount|share|"
            r"percentage|rate)\b",
            re.I,
        ),
    ),
    (
        "date",
        re.compile(
            r"\bwhen\b|\b(?:what|which|exact) (?:date|year|month|day)\b|"
            r"\bon (?:exactly )?what date\b|\bin what year\b",
            re.I,
        ),
    ),
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|billion|trillion|dozen|decade|half"
)
_MONTHS = (
    r"january|february|march|april|may|june|july|august|september|october|november|"
    r"december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_TYPE_PATTERNS = {
    # A full name: two or more capitalised words ("Li Shangfu", "Xie Feng").
    "person": re.compile(r"\b[A-Z][a-z]+(?:[ -][A-Z][a-z]+)+\b"),
    # A bare year is a date, not an answer to "how many".
    "number": re.compile(
        rf"\$?(?<![\d,.])(?!(?:1[89]|20)\d\d\b)\d[\d,.]*%?|\b(?:{_NUMBER_WORDS})\b", re.I
    ),
    "duration": re.compile(
        rf"\b(?:\d[\d,.]*|{_NUMBER_WORDS}|several|a few|many)[- ]"
        r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?)\b"
        r"|\bdecade\b|\bmuch of \d{4}\b",
        re.I,
    ),
    "date": re.compile(
        rf"\b(?:1[89]\d\d|20\d\d)\b|\b(?:{_MONTHS})\b|\b(?:monday|tuesday|"
        r"wednesday|thursday|friday|saturday|sunday)\b|\b(?:last|next|this) "
        r"(?:week|month|year)\b|\b(?:spring|summer|autumn|winter)\b",
        re.I,
    ),
}
_TYPE_BONUS = 0.08
_TYPE_PENALTY = 0.2
_UNKNOWN_NAME_PENALTY = 0.15
# Requests to do something other than answer from the articles: refused before retrieval
# counts (and never passed on as instructions to an LLM).
_NOT_A_QUESTION = re.compile(
    r"^\s*(?:please\s+)?(?:ignore|disregard|forget|override)\b.*\b(?:instructions?|articles?|"
    r"documents?|sources?|context|passages?|rules?)\b"
    r"|\bsystem prompt\b|\byour (?:previous |initial )?instructions\b"
    r"|^\s*(?:please\s+)?(?:pretend|imagine you|act as|role-?play|you are now)\b"
    r"|^\s*(?:please\s+)?(?:write|compose|create|generate|make up)\s+(?:me\s+)?(?:a|an|some)?\s*"
    r"(?:poem|song|story|joke|limerick|haiku|rap|sonnet|tweet)s?\b"
    r"|\byour (?:own |personal )?(?:opinion|view|feelings?)\b|^\s*tell me a joke\b",
    re.IGNORECASE,
)
NOT_A_QUESTION_NOTICE = (
    "sinoqa answers questions from the indexed articles; it does not follow instructions, "
    "role-play, write creative text or give opinions."
)
_FOCUS_BONUS = 0.1  # follow-ups: sentences from the articles the previous answer cited
_NAMED_SOURCE_BONUS = 0.15  # "according to the FT": that outlet's sentences answer it
_MMR_LAMBDA = 0.75
_SPREAD = 0.05  # a comparison or a change over time: a sentence from an article not yet quoted
_KEEP_RATIO = 0.8  # a sentence must score at least this share of the best one
# ... and a sentence from another article than the best one a higher share: mixing in a
# second article costs precision unless it is nearly as relevant.
_OTHER_ARTICLE_RATIO = 0.9
_NEIGHBOUR_RATIO = 0.6  # the best sentence's neighbour often carries the detail asked for
_COMPLETING_RATIO = 0.45  # ... or more, when it holds a name from the question the best lacks
_COMMON = 0.1  # share of passages above which a name is too common to tell events apart
_GROUP_RATIO = 0.6  # "in 2021 and in 2023", "the SCMP and the E-IR pieces": each one's best
_REDUNDANT = 0.92  # cosine above which two sentences say the same thing
_SHORTLIST = 16  # sentences embedded per question (the best by words, rank and kind)
# Words that point at the source rather than at what it says ("the author of the E-IR
# piece"): not looked for in the passages.
_SOURCE_WORDS = re.compile(
    r"\b(?:authors?|writers?|columnists?|columns?|pieces?|op-eds?|essays?|commentary|editorials?"
    r"|articles?(?!\s+\d)|(?<!public )opinion)\b",  # not "Article 23", not "public opinion"
    re.IGNORECASE,
)
_AUTHOR_REFERENCE = re.compile(r"\b(?:author|writer|columnist)s?\b", re.IGNORECASE)
# A sentence opening like this refers back to the one before it.
_ANAPHORIC = re.compile(
    r"^(?:Such|This|These|That|Those|It|Its|They|Their|He|His|She|Her)\b"
    # ... but not "It is unclear whether", "It remains to be seen", "This year", "That same day"
    r"(?!\s+(?:is|was|seems|remains)\s+(?:not\s+)?(?:un)?(?:clear|likely|possible|important|"
    r"worth|true|expected|to be seen)\b)(?!\s+remains\s+to\b)"
    r"(?!\s+(?:year|week|month|day|time|morning|afternoon|evening|weekend|spring|summer|autumn|"
    r"winter|same)\b)"
)
# A name as a question writes it ("Xi Jinping", "South China Sea", "Sullivan-Wang Yi"), or a year.
_WORD = re.compile(r"\b(?:19|20)\d\d\b|[^\W\d_](?:[\w'’-]*[^\W_])?")
_SCATTER_NAMES = 3  # names and dates that pin an event down
_UBIQUITOUS = 0.5  # share of passages above which a name says nothing about which event
_SCATTERED_PENALTY = 0.3  # stronger than a missing kind of value: a premise that is wrong
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


@lru_cache(maxsize=1)
def _punkt() -> PunktTokenizer:
    from llama_index.core.utils import globals_helper
    from nltk.tokenize.punkt import PunktTokenizer

    globals_helper.wait_for_nltk_check()  # puts llama-index's bundled NLTK data on the path
    return PunktTokenizer("english")


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Sentence boundaries (start, end) in ``text``; paragraphs never join into one sentence."""
    spans: list[tuple[int, int]] = []
    tokenizer = _punkt()
    for paragraph in re.finditer(r"[^\n]+(?:\n(?!\n)[^\n]+)*", text):
        for start, end in tokenizer.span_tokenize(paragraph.group()):
            spans.append((paragraph.start() + start, paragraph.start() + end))
    return spans


def to_source(item: NodeWithScore) -> Source:
    meta = item.node.metadata
    return Source(
        doc_id=str(meta["doc_id"]),
        title=str(meta.get("title") or meta["doc_id"]),
        publisher=meta.get("publisher") or None,
        author=meta.get("author") or None,
        published=meta.get("published") or None,
        published_approx=bool(meta.get("published_approx", False)),
        url=meta.get("url") or None,
        chunk_id=item.node.node_id,
        passage=item.node.get_content(),
        start_char=int(meta["start_char"]),
        end_char=int(meta["end_char"]),
        score=float(item.score or 0.0),
    )


@dataclass(frozen=True)
class Quote:
    """One sentence of a retrieved passage."""

    passage: int  # index into the retrieved passages
    start: int  # offsets in the cleaned article
    end: int
    text: str
    doc_id: str = ""

    def followed_by(self, other: Quote) -> bool:
        """Whether ``other`` is the next sentence of the same paragraph."""
        return self.doc_id == other.doc_id and 0 <= other.start - self.end <= 1


@dataclass(frozen=True)
class Evidence:
    """What the retrieved passages offer for one question."""

    quotes: list[Quote]  # candidate sentences
    scores: np.ndarray  # one per quote
    vectors: np.ndarray  # sentence embeddings, one row per quote
    typed: np.ndarray  # whether each quote holds a value of the kind asked for (bool)
    words: list[frozenset[str]]  # each quote's terms, as the lexicon stems them
    confidence: float  # the evidence score compared with the refusal threshold
    groups: tuple[frozenset[str], ...] = ()  # articles the question points at (source_groups)
    particulars: frozenset[str] = frozenset()  # the question's names and years, stemmed


class SentenceEmbeddings:
    """Sentence vectors, cached: the same passages come back across questions."""

    def __init__(self, embed_model: BaseEmbedding, capacity: int = 20_000) -> None:
        self._model = embed_model
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if missing:
            vectors = self._model.get_text_embedding_batch(list(missing))
            with self._lock:
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = np.asarray(vector, dtype=np.float32)
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        with self._lock:
            return np.stack([self._cache[t] for t in texts])


@dataclass(frozen=True)
class AnswerRequest:
    """What an answerer works from.

    ``query_embedding`` embeds ``question``; ``context`` is the retrieval query when it
    differs (a follow-up carrying the previous question's terms) and ``focus`` the articles
    the previous answer cited, which a follow-up most likely asks about. ``on_token``
    receives generated text as it streams (generative answerers only).
    """

    question: str
    passages: Sequence[NodeWithScore]
    query_embedding: list[float]
    context: str = ""
    focus: Collection[str] = ()
    on_token: TokenCallback | None = None


class Answerer(ABC):
    """Turns retrieved passages into an :class:`Answer`. Subclasses fill :meth:`_compose`."""

    mode = "extractive"

    def __init__(self, settings: AnswerSettings) -> None:
        self.settings = settings

    def answer(self, request: AnswerRequest) -> Answer:
        """Plumbing shared by every answerer: no evidence, or no question, means a refusal."""
        if not request.passages:
            return self.refusal(request.question, request.passages, 0.0)
        if _NOT_A_QUESTION.search(request.question):
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
    ) -> Answer:
        return Answer(
            question=question,
            answer=REFUSAL,
            refused=True,
            mode=self.mode,
            nearest_sources=[to_source(p) for p in passages[:_NEAREST]],
            confidence=confidence,
            notices=list(notices),
        )

    def cited_answer(
        self,
        question: str,
        passages: Sequence[NodeWithScore],
        sentences: Sequence[tuple[str, Sequence[Quote], bool]],
        confidence: float,
        notices: Sequence[str] = (),
    ) -> Answer:
        """Number the passages in order of first citation and build the answer text."""
        numbers: dict[int, int] = {}
        quotes: dict[int, list[Quote]] = {}
        rendered: list[AnswerSentence] = []
        for text, cited, verified in sentences:
            refs = []
            for quote in cited:
                n = numbers.setdefault(quote.passage, len(numbers) + 1)
                if quote not in quotes.setdefault(quote.passage, []):
                    quotes[quote.passage].append(quote)
                if n not in refs:
                    refs.append(n)
            rendered.append(AnswerSentence(text=text, citations=refs, verified=verified))
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
        text = " ".join(
            s.text
            + "".join(f" [{n}]" for n in s.citations)
            + ("" if s.verified else " (unverified)")
            for s in rendered
        )
        return Answer(
            question=question,
            answer=text,
            refused=False,
            mode=self.mode,
            citations=citations,
            sentences=rendered,
            confidence=confidence,
            notices=list(notices),
        )


class ExtractiveAnswerer(Answerer):
    """Quotes the sentences that best answer the question; no generative model involved."""

    def __init__(
        self, settings: AnswerSettings, embed_model: BaseEmbedding, lexicon: Lexicon
    ) -> None:
        super().__init__(settings)
        self.embed = SentenceEmbeddings(embed_model)
        self.lexicon = lexicon

    def candidates(self, passages: Sequence[NodeWithScore]) -> list[Quote]:
        """Every sentence of the passages, once (overlapping chunks share sentences)."""
        seen: set[tuple[str, int]] = set()
        quotes: list[Quote] = []
        for index, item in enumerate(passages):
            text = item.node.get_content()
            offset = int(item.node.metadata["start_char"])
            doc_id = str(item.node.metadata["doc_id"])
            for start, end in sentence_spans(text):
                sentence = text[start:end]
                key = (doc_id, offset + start)
                if len(sentence) < _MIN_SENTENCE_CHARS or key in seen:
                    continue
                seen.add(key)
                quotes.append(Quote(index, offset + start, offset + end, sentence, doc_id))
        return quotes

    def evidence(self, request: AnswerRequest) -> Evidence:
        """Candidate sentences, their scores and vectors, and the overall evidence score."""
        question, passages, context = request.question, request.passages, request.context
        quotes = self.candidates(passages)
        if not quotes:
            return Evidence([], np.zeros(0), np.zeros((0, 0)), np.zeros(0, dtype=bool), [], 0.0)
        words = [frozenset(self.lexicon.terms(q.text)) for q in quotes]  # stemmed once
        scattered = self.scattered(question, quotes, words, passages)
        terms = self.lexicon.terms(_SOURCE_WORDS.sub(" ", question))
        particulars = frozenset(self.lexicon.terms(" ".join(question_names(question))))
        lexical = np.array([self.lexicon.coverage(terms, w) for w in words])
        if context:  # a follow-up: the earlier question's terms count, but less
            context_terms = self.lexicon.terms(_SOURCE_WORDS.sub(" ", context))
            lexical = 0.7 * lexical + 0.3 * np.array(
                [self.lexicon.coverage(context_terms, w) for w in words]
            )
            terms = context_terms
        prior = np.array([1.0 - q.passage / max(len(passages), 1) for q in quotes])
        kind = answer_type(question)
        typed = np.array([has_new_answer(kind, q.text, question) for q in quotes], dtype=bool)
        scores = _W_LEXICAL * lexical + _W_PASSAGE * prior + _TYPE_BONUS * typed
        groups = tuple(source_groups(question, passages))
        named = frozenset().union(*groups)
        if named:
            from_named = [q.doc_id in named for q in quotes]
            scores = scores + _NAMED_SOURCE_BONUS * np.array(from_named, dtype=np.float32)
        if _AUTHOR_REFERENCE.search(question):  # "the author of ...": where they are named
            scores = scores + _NAMED_SOURCE_BONUS * np.array(
                [names_author(q.text, passages[q.passage]) for q in quotes], dtype=np.float32
            )
        if request.focus:
            scores = scores + _FOCUS_BONUS * np.array(
                [q.doc_id in request.focus for q in quotes], dtype=np.float32
            )
        # Embedding sentences is the answer stage's main cost: only the sentences that lead
        # on everything else are embedded, plus their neighbours.
        if len(quotes) > _SHORTLIST:
            keep = set(np.argsort(-scores)[:_SHORTLIST].tolist())
            keep |= {
                j
                for i in list(keep)
                for j in (i - 1, i + 1)
                if 0 <= j < len(quotes) and _adjacent(quotes[i], quotes[j])
            }
            chosen = sorted(keep)
            quotes, words = [quotes[i] for i in chosen], [words[i] for i in chosen]
            scores, typed = scores[chosen], typed[chosen]
        vectors = self.embed([q.text for q in quotes])
        dense = vectors @ np.asarray(request.query_embedding, dtype=np.float32)
        scores = scores + _W_DENSE * dense
        # Evidence: how close the best sentence comes, and how much of the question's rare
        # vocabulary the top passages contain at all (unseen names and years mean "not here").
        # The question may name the source ("the SCMP column"): outlet, author and title count.
        top_text = " ".join(
            f"{p.node.get_content()} {_source_words(p)}" for p in passages[:_NEAREST]
        )
        coverage = self.lexicon.coverage(terms, top_text) if terms else 0.0
        confidence = 0.5 * float(dense.max()) + 0.5 * coverage
        if kind and not typed[int(np.argmax(scores))]:
            confidence -= _TYPE_PENALTY  # asks "how many" / "when", and no number or date here
        # A name the corpus never mentions ("Woodside", "FIFA") means the event is not here.
        confidence -= _UNKNOWN_NAME_PENALTY * min(len(unknown_names(question, self.lexicon)), 2)
        if scattered:  # names the corpus knows, but never together: not the event asked about
            confidence -= _SCATTERED_PENALTY
        return Evidence(quotes, scores, vectors, typed, words, confidence, groups, particulars)

    def scattered(
        self,
        question: str,
        quotes: Sequence[Quote],
        words: Sequence[frozenset[str]],
        passages: Sequence[NodeWithScore],
    ) -> bool:
        """Whether a question that pins one event down by three or more names and dates, two
        of them specific ("Xi Jinping", "Joe Biden", "September", "Malta"), finds its most
        specific name only where fewer than half of the others are: each is in the articles,
        the event is not.

        Questions about several events (comparisons, changes over time) are not judged, and
        the outlets and authors named, and names most passages use ("US"), do not count. An
        article's publication year counts as said by each of its sentences."""
        if _TEMPORAL.search(question) or _COMPARATIVE.search(question):
            return False
        sources = {
            (p.node.metadata.get("publisher"), p.node.metadata.get("author")) for p in passages
        }
        names: list[tuple[float, frozenset[str]]] = []
        for name in question_names(question):
            stems = frozenset(self.lexicon.terms(name))
            shares = [self.lexicon.share(t) for t in stems]
            if not stems or min(shares) == 0 or min(shares) >= _UBIQUITOUS:
                continue  # unknown names are judged elsewhere; "US" tells nothing
            if any(names_source(name, publisher, author) for publisher, author in sources):
                continue
            names.append((min(shares), stems))
        rare = [name for name in names if name[0] < _COMMON]
        if len(names) < _SCATTER_NAMES or len(rare) < 2:  # one specific name: nothing to pair
            return False
        anchor = min(rare, key=lambda name: name[0])
        others = [stems for _, stems in names if stems != anchor[1]]
        said = [
            terms | {str(year) for year in publication_years(passages[q.passage].node.metadata)}
            for q, terms in zip(quotes, words, strict=True)
        ]
        together = []
        for i, quote in enumerate(quotes):
            if not anchor[1] & said[i]:
                continue
            window = said[i].union(
                *(
                    said[j]
                    for j in (i - 1, i + 1)
                    if 0 <= j < len(quotes) and _adjacent(quote, quotes[j])
                )
            )
            together.append(sum(bool(stems & window) for stems in others) / len(others))
        return bool(together) and max(together) < 0.5

    def select(
        self, found: Evidence, spans_articles: bool, groups: Sequence[frozenset[str]] = ()
    ) -> list[Quote]:
        """The best sentence; its neighbour when that is nearly as good (or holds a name from
        the question the best one lacks); the best sentence of each group of articles the
        question asks about together ("in 2021 and in 2023"); then maximal marginal relevance
        over the rest: good sentences that do not repeat each other."""
        quotes, scores, vectors, words = found.quotes, found.scores, found.vectors, found.words
        top = int(np.argmax(scores))
        best = float(scores[top])
        chosen = [top]
        # The question's names and years that tell events apart ("Vienna", "September");
        # those nearly every passage uses ("US", "China") do not.
        names = frozenset(t for t in found.particulars if self.lexicon.share(t) < _COMMON)
        neighbours = [i for i, q in enumerate(quotes) if _adjacent(quotes[top], q)]
        if neighbours:
            neighbour = max(neighbours, key=lambda i: float(scores[i]))
            completes = bool((names - words[top]) & words[neighbour])
            if scores[neighbour] >= (_COMPLETING_RATIO if completes else _NEIGHBOUR_RATIO) * best:
                chosen.append(neighbour)
        for group in groups:
            members = [i for i, q in enumerate(quotes) if q.doc_id in group]
            if any(i in chosen for i in members):
                continue
            members = [i for i in members if scores[i] >= _GROUP_RATIO * best]
            if members and len(chosen) < self.settings.max_sentences:
                chosen.append(max(members, key=lambda i: float(scores[i])))
        about = names & words[top]
        covered = names & frozenset().union(*(words[i] for i in chosen))

        def eligible(i: int) -> bool:
            if spans_articles or quotes[i].doc_id == quotes[top].doc_id:
                return bool(scores[i] >= _KEEP_RATIO * best)
            # Another article's sentence must be nearly as relevant and either about the same
            # names and years (the Vienna talks, not the Malta ones) or hold one of the
            # question's that the answer lacks ("Vienna in September?": Malta, in September).
            relevant = bool(scores[i] >= _OTHER_ARTICLE_RATIO * best)
            return relevant and (about <= words[i] or bool(words[i] & (names - covered)))

        remaining = [i for i in range(len(quotes)) if i not in chosen and eligible(i)]
        while remaining and len(chosen) < self.settings.max_sentences:

            def mmr(i: int) -> float:
                # An answer drawing on several articles prefers one it does not quote yet.
                quoted = spans_articles and any(
                    quotes[j].doc_id == quotes[i].doc_id for j in chosen
                )
                spread = _SPREAD if quoted else 0.0
                return _MMR_LAMBDA * float(scores[i]) - (1 - _MMR_LAMBDA) * redundancy(i) - spread

            def redundancy(i: int) -> float:
                return max(float(vectors[i] @ vectors[j]) for j in chosen)

            pick = max(remaining, key=mmr)
            remaining.remove(pick)
            # Re-checked: an earlier pick may have brought the name this one was let in for.
            if redundancy(pick) < _REDUNDANT and eligible(pick):
                chosen.append(pick)
                covered |= names & words[pick]
        return [quotes[i] for i in chosen]

    def _compose(self, request: AnswerRequest) -> Answer:
        question, passages = request.question, request.passages
        found = self.evidence(request)
        if not found.quotes or found.confidence < self.settings.refusal_threshold:
            return self.refusal(question, passages, found.confidence)
        several = bool(_TEMPORAL.search(question) or _COMPARATIVE.search(question))
        groups = list(found.groups)
        if len(groups) < 2 and several:  # "from 2021 to 2023": each year's articles
            groups = year_groups({int(y) for y in _YEAR.findall(question)}, passages)
        chosen = self.select(
            found,
            several or len(found.groups) > 1,
            groups if len(groups) > 1 else (),
        )
        chosen += self.answer_bearing(found, chosen)
        chosen += context_sentences(found.quotes, chosen)
        return self.cited_answer(
            question,
            passages,
            [(q.text, [q], True) for q in order_for_reading(question, chosen, passages)],
            found.confidence,
        )

    def answer_bearing(self, found: Evidence, chosen: list[Quote]) -> list[Quote]:
        """For "how long / how many / when / who": when no chosen sentence holds such a value,
        the article's best sentence that does, if it is nearly as relevant."""
        typed = {q for q, holds in zip(found.quotes, found.typed, strict=True) if holds}
        if len(chosen) >= self.settings.max_sentences or typed.intersection(chosen):
            return []
        bar = _NEIGHBOUR_RATIO * float(found.scores.max())
        bearing = [
            i
            for i, q in enumerate(found.quotes)
            if q in typed and q.doc_id == chosen[0].doc_id and found.scores[i] >= bar
        ]
        return [found.quotes[max(bearing, key=lambda i: float(found.scores[i]))]] if bearing else []


def question_names(question: str) -> list[str]:
    """Names as the question writes them, each once: runs of capitalised words ("Xi Jinping",
    "Sullivan-Wang Yi", "Beyoncé") past the start of a sentence, and years."""
    names: list[str] = []
    run: list[str] = []
    end = 0
    for index, match in enumerate(_WORD.finditer(question)):
        word, between = match.group(), question[end : match.start()]
        end = match.end()
        year = word[0].isdigit()
        opens_sentence = index == 0 or between.strip()[-1:] in {"?", "!"}
        capitalised = word[0].isupper() and not opens_sentence
        if capitalised and run and between == " " and not run[-1][0].isdigit():
            run.append(word)  # "Xi" + "Jinping"
            continue
        if run:
            names.append(" ".join(run))
        run = [word] if capitalised or year else []
    if run:
        names.append(" ".join(run))
    return list(dict.fromkeys(names))


def context_sentences(quotes: Sequence[Quote], chosen: Sequence[Quote]) -> list[Quote]:
    """What chosen sentences need to be understood: the sentence one refers back to ("Such
    action could derail ..."), and the sentence after a question the article asks ("Who is
    the host? Comedian Jimmy Kimmel ...")."""
    added: list[Quote] = []
    for quote in chosen:
        if _ANAPHORIC.match(quote.text):
            added += [q for q in quotes if q.followed_by(quote)]
        if quote.text.rstrip(" \"'”’)").endswith("?"):
            added += [q for q in quotes if quote.followed_by(q)]
    return [q for q in dict.fromkeys(added) if q not in chosen]


def _adjacent(first: Quote, second: Quote) -> bool:
    return first.followed_by(second) or second.followed_by(first)


def _source_words(passage: NodeWithScore) -> str:
    meta = passage.node.metadata
    names = [str(meta[k]) for k in ("title", "publisher", "author") if meta.get(k)]
    return " ".join(names + [initialism(n) for n in names])


def answer_type(question: str) -> str | None:
    """The kind of answer a question asks for ("number", "date", "duration"), if any."""
    for kind, pattern in _ANSWER_TYPES:
        if pattern.search(question):
            return kind
    return None


def answer_values(kind: str, text: str) -> set[str]:
    """The numbers, dates or durations (per ``kind``) that ``text`` mentions."""
    return {m.group().casefold().strip(".,") for m in _TYPE_PATTERNS[kind].finditer(text)}


def has_new_answer(kind: str | None, sentence: str, question: str) -> bool:
    """Whether the sentence holds a value of the asked kind that the question does not."""
    return kind is not None and bool(answer_values(kind, sentence) - answer_values(kind, question))


def source_groups(question: str, passages: Sequence[NodeWithScore]) -> list[frozenset[str]]:
    """The retrieved articles the question points at: one group per outlet or author it names
    ("the SCMP column and the E-IR piece"), or, naming none, per year it refers to articles by
    ("the 2023 reports")."""
    by_outlet: dict[str, set[str]] = {}
    for passage in passages:
        meta = passage.node.metadata
        if names_source(question, meta.get("publisher"), meta.get("author")):
            by_outlet.setdefault(str(meta.get("publisher")), set()).add(str(meta["doc_id"]))
    if by_outlet:
        return [frozenset(docs) for docs in by_outlet.values()]
    return year_groups(referenced_years(question), passages)


def year_groups(years: Collection[int], passages: Sequence[NodeWithScore]) -> list[frozenset[str]]:
    """The retrieved articles published in each of ``years`` (years with none left out)."""
    groups = []
    for year in sorted(years):
        docs = {
            str(p.node.metadata["doc_id"])
            for p in passages
            if published_in(p.node.metadata, [year])
        }
        if docs:
            groups.append(frozenset(docs))
    return groups


def names_author(sentence: str, passage: NodeWithScore) -> bool:
    """Whether the sentence names the author of the article it comes from."""
    author = str(passage.node.metadata.get("author") or "")
    return any(
        len(word) > 3 and re.search(rf"\b{re.escape(word)}\b", sentence) for word in author.split()
    )


def unknown_names(question: str, lexicon: Lexicon) -> list[str]:
    """Capitalised words in the question (past its first word) the corpus never uses."""
    words = re.findall(
        r"(?<!^)(?<![.?!]\s)\b[A-Z][A-Za-z]*(?:-[A-Z][A-Za-z]*)*\b", question.strip()
    )
    words = [w for w in words if len(w) > 1]
    return [w for w in dict.fromkeys(words) if not lexicon.known(w)]


def order_for_reading(
    question: str, quotes: Sequence[Quote], passages: Sequence[NodeWithScore]
) -> list[Quote]:
    """Chronologically for "how did X change" questions; otherwise article by article."""

    def date(quote: Quote) -> int:
        return int(passages[quote.passage].node.metadata.get("published_min") or 0)

    def doc(quote: Quote) -> str:
        return str(passages[quote.passage].node.metadata["doc_id"])

    if _TEMPORAL.search(question):
        return sorted(quotes, key=lambda q: (date(q), doc(q), q.start))
    first_seen: dict[str, int] = {}
    for position, quote in enumerate(quotes):
        first_seen.setdefault(doc(quote), position)
    return sorted(quotes, key=lambda q: (first_seen[doc(q)], q.start))


class GroundedQueryEngine(CustomQueryEngine):
    """Retriever + answerer as a llama-index query engine (callbacks and evaluators apply)."""

    retriever: BaseRetriever
    answerer: Any  # an Answerer; pydantic cannot validate our ABC
    embed_model: Any  # embeds the question when retrieval did not
    question: str = ""  # the user's own words when the query carries earlier turns
    focus: list[str] = Field(default_factory=list)  # articles the previous answer cited
    on_token: Any = None  # receives generated text as it streams (LLM mode)

    def custom_query(self, query_str: str) -> Response:
        started = time.perf_counter()
        bundle = QueryBundle(query_str=query_str)
        passages = self.retriever.retrieve(bundle)
        retrieved = time.perf_counter()
        question = self.question or query_str
        embedding = bundle.embedding if question == query_str else None
        if embedding is None:  # a follow-up, or BM25-only retrieval that embedded nothing
            embedding = self.embed_model.get_query_embedding(question)
        context = query_str if question != query_str else ""
        answer: Answer = self.answerer.answer(
            AnswerRequest(question, passages, embedding, context, self.focus, self.on_token)
        )
        finished = time.perf_counter()
        answer = answer.model_copy(
            update={
                "retrieval_query": query_str,
                "timings_ms": {
                    "retrieve": round((retrieved - started) * 1000, 1),
                    "answer": round((finished - retrieved) * 1000, 1),
                },
            }
        )
        return Response(response=answer.answer, source_nodes=passages, metadata={"answer": answer})
