"""Which candidate sentences an extractive answer quotes, and what they bring along.

The scorer (:mod:`sinoqa.answer.scoring`) says how likely each sentence answers; the
:class:`Selector` turns those scores into a short answer: the best sentence, its neighbour,
each named source's best, then good sentences that do not repeat each other.
:func:`context_sentences` adds what a chosen sentence needs to stand on its own.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from sinoqa.settings import AnswerSettings
from sinoqa.wordlists import ANNOUNCING_NOUNS, words

# A sentence opening like this refers back to the one before it: a pronoun, or a
# demonstrative within its first words ("Given this mindset, ...", "Under such a deal").
_REFERS_BACK = re.compile(
    r"^(?:(?:It|Its|They|Their|He|His|She|Her)\b"
    # ... but not "It is unclear whether", "It remains to be seen"
    r"(?!\s+(?:is|was|seems|remains)\s+(?:not\s+)?(?:un)?(?:clear|likely|possible|important|"
    r"worth|true|expected|to be seen)\b)(?!\s+remains\s+to\b)"
    r"|(?:(?:[A-Z]\w*(?:\s+\w+){0,2}\s+)?(?i:such|this|these|those)|That)\b"
    # ... but not "This year", "That same day": a time, not a reference
    r"(?!\s+(?:year|week|month|days?|time|morning|afternoon|evening|weekend|spring|summer|"
    r"autumn|winter|same|quarter|season|decade|century|past|who)\b))"
)


def announces_pattern(nouns: Collection[str]) -> re.Pattern[str]:
    """A sentence announcing what the next one lists: "... relies on two implicit conditions."
    (one of ``nouns`` after a count), or one ending in a colon."""
    branches = [r":(?!\s*[\"“‘'])"]  # a colon, unless a quotation follows it
    if nouns:
        listed = "|".join(sorted(re.escape(n) for n in nouns))
        branches.append(
            r"(?<!\bthe\s)\b(?:two|three|four|five|six|several|a few|a number of|the following)"
            rf"\s+(?:[\w-]+\s+){{0,2}}(?:{listed})\b"
        )
    return re.compile(rf"(?:{'|'.join(branches)})[^.;:]{{0,40}}[.:]?[\"'”’)]*$", re.IGNORECASE)


@lru_cache(maxsize=16)
def _announcing(nouns: frozenset[str]) -> re.Pattern[str]:
    return announces_pattern(nouns)


def quotation_left_open(text: str) -> int:
    """+1 when ``text`` opens a quotation it does not close (the quoted words go on in the
    next sentence), -1 when it closes one opened before it, else 0."""
    curly = text.count("“") - text.count("”")
    if curly:
        return 1 if curly > 0 else -1
    if text.count('"') % 2 == 0:
        return 0
    first = text.index('"')
    # A quote mark after a word closes; at the start or after a space it opens.
    return 1 if first == 0 or text[first - 1] in " ([" else -1


@dataclass(frozen=True)
class CandidateSentence:
    """One sentence of a retrieved passage."""

    passage_index: int  # which of the retrieved passages it is from
    start: int  # offsets in the cleaned article
    end: int
    text: str
    doc_id: str = ""

    def followed_by(self, other: CandidateSentence) -> bool:
        """Whether ``other`` is the next sentence of the same paragraph."""
        return self.doc_id == other.doc_id and 0 <= other.start - self.end <= 1


@dataclass(frozen=True)
class Evidence:
    """What the retrieved passages offer for one question."""

    quotes: list[CandidateSentence]  # candidate sentences
    scores: np.ndarray  # one per quote: the fitted scorer's probability that it answers
    vectors: np.ndarray  # sentence embeddings, one row per quote
    typed: np.ndarray  # whether each quote holds a value of the kind asked for (bool)
    words: list[frozenset[str]]  # each quote's terms, as the lexicon stems them
    confidence: float  # the evidence score compared with the refusal threshold
    groups: tuple[frozenset[str], ...] = ()  # articles the question points at (source_groups)
    particulars: frozenset[str] = frozenset()  # the question's distinctive names, stemmed
    parts: Mapping[str, float] = field(default_factory=dict)  # what ``confidence`` sums


@dataclass(frozen=True)
class Selection:
    """How many sentences an answer quotes, and what share of the best one's score the others
    need. Fitted with the scorer (``make fit``, stored with it); settings may override each."""

    max_sentences: int
    keep_ratio: float  # another sentence (of the best one's article, in one-article answers)
    other_article_ratio: float  # a sentence from another article, in one-article answers
    neighbour_ratio: float  # the best sentence's neighbour
    typed_ratio: float  # the article's best sentence with the kind of value asked for

    def overridden(self, settings: AnswerSettings) -> Selection:
        """These values, with those ``settings`` set explicitly instead."""
        chosen = {
            name: getattr(settings, name)
            for name in self.__dataclass_fields__
            if getattr(settings, name) is not None
        }
        return dataclasses.replace(self, **chosen)


class Selector:
    """Picks the sentences to quote from scored evidence."""

    def __init__(self, settings: AnswerSettings, selection: Selection) -> None:
        self.settings = settings
        self.selection = selection

    def select(
        self, found: Evidence, spans_articles: bool, groups: Sequence[frozenset[str]] = ()
    ) -> list[CandidateSentence]:
        """The best sentence; its neighbour when it scores ``neighbour_ratio`` of the best; the
        best sentence of each group of articles the question asks about together ("in 2021 and
        in 2023"); then maximal marginal relevance over the rest that score ``keep_ratio`` of
        the best (``other_article_ratio`` for another article in a one-article answer): good
        sentences that do not repeat each other."""
        settings = self.settings
        quotes, scores, vectors, words = found.quotes, found.scores, found.vectors, found.words
        top = int(np.argmax(scores))
        best = float(scores[top])
        chosen = [top]
        neighbours = [i for i, q in enumerate(quotes) if adjacent(quotes[top], q)]
        if neighbours:
            neighbour = max(neighbours, key=lambda i: float(scores[i]))
            if scores[neighbour] >= self.selection.neighbour_ratio * best:
                chosen.append(neighbour)
        for group in groups:
            members = [i for i, q in enumerate(quotes) if q.doc_id in group]
            if any(i in chosen for i in members):
                continue
            members = [i for i in members if scores[i] >= settings.group_ratio * best]
            if members and len(chosen) < self.selection.max_sentences:
                chosen.append(max(members, key=lambda i: float(scores[i])))
        names = found.particulars
        about = names & words[top]
        covered = names & frozenset().union(*(words[i] for i in chosen))

        def eligible(i: int) -> bool:
            if spans_articles or quotes[i].doc_id == quotes[top].doc_id:
                return bool(scores[i] >= self.selection.keep_ratio * best)
            # Another article's sentence must score its share and either be about the same
            # names and years (one meeting, not another of its kind) or hold one of the
            # question's that the answer lacks.
            relevant = bool(scores[i] >= self.selection.other_article_ratio * best)
            return relevant and (about <= words[i] or bool(words[i] & (names - covered)))

        def redundancy(i: int) -> float:
            return max(float(vectors[i] @ vectors[j]) for j in chosen)

        def mmr(i: int) -> float:
            # An answer drawing on several articles prefers one it does not quote yet.
            quoted = spans_articles and any(quotes[j].doc_id == quotes[i].doc_id for j in chosen)
            spread = settings.spread_penalty if quoted else 0.0
            return (
                settings.mmr_lambda * float(scores[i])
                - (1 - settings.mmr_lambda) * redundancy(i)
                - spread
            )

        remaining = [i for i in range(len(quotes)) if i not in chosen and eligible(i)]
        while remaining and len(chosen) < self.selection.max_sentences:
            pick = max(remaining, key=mmr)
            remaining.remove(pick)
            # Re-checked: an earlier pick may have brought the name this one was let in for.
            if redundancy(pick) < settings.redundant_cosine and eligible(pick):
                chosen.append(pick)
                covered |= names & words[pick]
        return [quotes[i] for i in chosen]

    def quote(
        self, found: Evidence, spans_articles: bool, groups: Sequence[frozenset[str]] = ()
    ) -> list[CandidateSentence]:
        """Everything an answer quotes: the selection, the sentence with the kind of value
        asked for, and what those need to stand on their own."""
        chosen = self.select(found, spans_articles, groups)
        chosen += self.answer_bearing(found, chosen)
        return chosen + context_sentences(found.quotes, chosen)

    def answer_bearing(
        self, found: Evidence, chosen: list[CandidateSentence]
    ) -> list[CandidateSentence]:
        """For "how long / how many / when / who": when no chosen sentence holds such a value,
        the article's best sentence that does, if it scores ``typed_ratio`` of the best."""
        typed = {q for q, holds in zip(found.quotes, found.typed, strict=True) if holds}
        if len(chosen) >= self.selection.max_sentences or typed.intersection(chosen):
            return []
        bar = self.selection.typed_ratio * float(found.scores.max())
        bearing = [
            i
            for i, q in enumerate(found.quotes)
            if q in typed and q.doc_id == chosen[0].doc_id and found.scores[i] >= bar
        ]
        return [found.quotes[max(bearing, key=lambda i: float(found.scores[i]))]] if bearing else []


def context_sentences(
    quotes: Sequence[CandidateSentence], chosen: Sequence[CandidateSentence]
) -> list[CandidateSentence]:
    """What chosen sentences need to stand on their own: the sentence one refers back to
    ("Given this mindset, ...", "Such action ..."), the sentence after one that announces a
    list ("... relies on two implicit conditions.") and after a question the article asks
    ("Who is the host? Comedian Jimmy Kimmel ..."), and the rest of a quotation that runs
    over two sentences."""
    added: list[CandidateSentence] = []
    for quote in chosen:
        quotation = quotation_left_open(quote.text)
        if _REFERS_BACK.match(quote.text) or quotation < 0:
            added += [q for q in quotes if q.followed_by(quote)]
        text = quote.text.rstrip(" \"'”’)")
        if (
            text.endswith("?")
            or _announcing(words(ANNOUNCING_NOUNS)).search(quote.text)
            or quotation > 0
        ):
            added += [q for q in quotes if quote.followed_by(q)]
    return [q for q in dict.fromkeys(added) if q not in chosen]


def adjacent(first: CandidateSentence, second: CandidateSentence) -> bool:
    return first.followed_by(second) or second.followed_by(first)
