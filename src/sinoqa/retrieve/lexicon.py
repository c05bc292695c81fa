"""Tokenising, stemming and term statistics (IDF) shared by retrieval, scoring and views."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b|\$?\d[\d,.]*")


_LETTER_HYPHEN = re.compile(r"\b([A-Z])-(?=[A-Z]+\b)")


def _demonym_forms(term: str) -> tuple[str, ...]:
    """A stemmed word with its place / people pair: "america" <-> "american", "korea" <->
    "korean", "cuba" <-> "cuban" (stems; "americans" stems to "american"). Only these
    shapes: "li" must not pass for "lin", nor "ba" for "ban"."""
    if term.endswith("a") and len(term) >= 4:
        return (term, term + "n")
    if term.endswith("an") and len(term) >= 5:
        return (term, term[:-1])
    return (term,)


class Lexicon:
    """Tokenising, stemming and term statistics shared by BM25 and the answerer."""

    def __init__(self, texts: Iterable[str] = (), names: Iterable[str] = ()) -> None:
        """``texts`` are the chunks (more may be added with :meth:`count`); ``names`` more
        words the corpus knows (titles, outlets)."""
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self._stemmer = Stemmer.Stemmer("english")
        self._stopwords = frozenset(STOPWORDS_EN)
        self._doc_freq: Counter[str] = Counter()
        self._chunks = 0
        for text in texts:
            self.count(text)
        self._names = {t for name in names for t in self.terms(name)}

    def count(self, text: str) -> set[str]:
        """Add one chunk to the term statistics; its distinct terms."""
        terms = set(self.terms(text))
        self._doc_freq.update(terms)
        self._chunks += 1
        return terms

    def known(self, word: str) -> bool:
        """Whether the corpus (its text, titles, outlets, authors and publication dates) uses
        this word; a place and its people's name are one ("America" and "American")."""
        squeezed = re.sub(r"[^a-z0-9]", "", word.lower())  # "E-IR" -> "eir"
        if squeezed in self._names:
            return True
        return all(
            any(form in self._doc_freq or form in self._names for form in _demonym_forms(t))
            for t in self.terms(word)
        )

    def terms(self, text: str) -> list[str]:
        text = _LETTER_HYPHEN.sub(r"\1", text)  # "E-IR" -> "EIR", as in the outlet's initialism
        words = [w.strip(".,").lower() for w in _TOKEN.findall(text)]
        return list(self._stemmer.stemWords([w for w in words if w and w not in self._stopwords]))

    def idf(self, term: str) -> float:
        """Smoothed inverse document frequency over chunks; unseen terms weigh the most."""
        return math.log(1 + (max(self._chunks, 1) + 1) / (self._doc_freq.get(term, 0) + 0.5))

    def share(self, term: str) -> float:
        """The share of chunks that use ``term``."""
        return self._doc_freq.get(term, 0) / max(self._chunks, 1)

    def coverage(self, query_terms: Sequence[str], text: str | Collection[str]) -> float:
        """IDF-weighted share of the query's terms that occur in ``text`` (a text, or the
        terms of one already computed)."""
        unique, weights, total = self.query_weights(query_terms)
        if not total:
            return 0.0
        present = set(self.terms(text)) if isinstance(text, str) else text
        return sum(w for t, w in zip(unique, weights, strict=True) if t in present) / total

    def query_weights(self, query_terms: Sequence[str]) -> tuple[list[str], list[float], float]:
        """The query's distinct terms, their IDF weights and the weights' sum, as every
        coverage sums them."""
        # In a fixed order: float sums differ in the last bit with set order, and that decides
        # ties between copies of a sentence (and so which article is cited) from run to run.
        unique = sorted(set(query_terms))
        weights = [self.idf(t) for t in unique]
        return unique, weights, sum(weights)


class ArticleTerms:
    """Each article's distinct stemmed terms, kept compactly (sorted term numbers) so that a
    corpus of 100k chunks costs megabytes, not a set of strings per article."""

    def __init__(self, numbers: dict[str, int], held: dict[str, np.ndarray]) -> None:
        self._numbers = numbers  # term -> its number
        self._held = held  # doc_id -> the sorted numbers of its terms

    @classmethod
    def from_chunks(cls, chunks: Iterable[tuple[str, Collection[str]]]) -> ArticleTerms:
        """From each chunk's (doc_id, distinct terms)."""
        numbers: dict[str, int] = {}
        parts: dict[str, list[np.ndarray]] = {}
        for doc_id, terms in chunks:
            chunk = (numbers.setdefault(t, len(numbers)) for t in terms)
            parts.setdefault(doc_id, []).append(np.fromiter(chunk, np.int32, len(terms)))
        return cls(numbers, {d: np.unique(np.concatenate(p)) for d, p in parts.items()})

    def coverage(self, lexicon: Lexicon, query_terms: Sequence[str]) -> Callable[[str], float]:
        """:meth:`Lexicon.coverage` of the query's terms over a whole article (by id); 0 for an
        article not served."""
        unique, weights, total = lexicon.query_weights(query_terms)
        numbers = np.array([self._numbers.get(t, -1) for t in unique], dtype=np.int64)

        def share(doc_id: str) -> float:
            held = self._held.get(doc_id)
            if not total or held is None or not len(held):
                return 0.0
            places = np.minimum(np.searchsorted(held, numbers), len(held) - 1)
            found = (held[places] == numbers).tolist()
            return sum(w for w, present in zip(weights, found, strict=True) if present) / total

        return share
