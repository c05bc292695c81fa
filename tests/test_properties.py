"""Property-based tests: arbitrary text never breaks cleaning, chunking or the answer composer.

Invariants: no crash; chunks are exact spans of the cleaned article; every citation quotes
text present in its cited passage, at offsets inside the article.
"""

from __future__ import annotations

from collections import Counter
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from llama_index.core.node_parser import SentenceSplitter
from llama_index.core.schema import NodeWithScore

from sinoqa.answer.base import AnswerRequest
from sinoqa.answer.extractive import ExtractiveAnswerer
from sinoqa.ingestion.chunking import make_splitter, prepare_document
from sinoqa.ingestion.clean import clean_text
from sinoqa.ingestion.corpus import Document
from sinoqa.ingestion.embedding import load_embed_model, token_counter
from sinoqa.retrieve.lexicon import Lexicon
from sinoqa.settings import Settings

# Text that looks like articles and text that does not: words, names, numbers, punctuation,
# blank lines, markup, other scripts, control characters.
WORDS = st.sampled_from(
    [
        "China", "the", "US", "talks", "Wang Yi", "met", "in", "Vienna", "1,300", "$345",
        "million", "2023.", "said", ".", ",", "?", "!", "\n", "\n\n", "  ", "<b>", "</p>",
        "Subscribe", "Advertisement", "©", "中国", "外交部", "مرحبا", "🙂", "\t", "—", "“quoted”",
        "Mr.", "U.S.", "Jan.", "e.g.", "…",
    ]
)  # fmt: skip
ARTICLE_TEXT = st.one_of(
    st.lists(WORDS, min_size=0, max_size=400).map(" ".join),
    st.text(max_size=3000),
)
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def _settings() -> Settings:
    return Settings()


@cache
def _splitter() -> SentenceSplitter:
    model = load_embed_model(_settings().embedding)
    return make_splitter(_settings().chunking, token_counter(model))


@SLOW
@given(ARTICLE_TEXT)
def test_cleaning_never_fails_and_is_stable(text: str) -> None:
    cleaned = clean_text(text)
    assert isinstance(cleaned, str)
    assert clean_text(cleaned) == cleaned


@SLOW
@given(ARTICLE_TEXT, st.one_of(st.none(), st.text(max_size=60)))
def test_chunks_are_exact_spans_of_the_cleaned_article(text: str, title: str | None) -> None:
    document = Document(doc_id="prop", text=text, source="prop.md", format="md", title=title)
    prepared = prepare_document(document, _splitter())
    for node in prepared.nodes:
        start, end = node.metadata["start_char"], node.metadata["end_char"]
        assert 0 <= start < end <= len(prepared.cleaned_text)
        assert prepared.cleaned_text[start:end] == node.get_content()


def _passages(articles: list[str]) -> tuple[list[NodeWithScore], dict[str, str]]:
    passages: list[NodeWithScore] = []
    cleaned: dict[str, str] = {}
    for number, text in enumerate(articles):
        doc_id = f"doc-{number}"
        document = Document(doc_id=doc_id, text=text, source=f"{doc_id}.md", format="md")
        prepared = prepare_document(document, _splitter())
        cleaned[doc_id] = prepared.cleaned_text
        for node in prepared.nodes:
            passages.append(NodeWithScore(node=node, score=1.0 / (1 + len(passages))))
    return passages, cleaned


#: How many generated examples ended refused, and how many reached the citation checks.
REACHED: Counter[str] = Counter()
# A question in an article's own words (a run of its words) gets an answer; arbitrary text
# mostly gets a refusal. Both are drawn, so the citation checks see real answers.
CONTENT_WORDS = st.sampled_from(
    [
        "China", "the", "US", "talks", "Wang Yi", "met", "in", "Vienna", "1,300", "$345",
        "million", "said", "Sullivan", "tariffs", "Beijing", "Washington", "trade", "chips",
        "officials", "agreed", "on", "Taiwan", "summit", "envoy", "sanctions", "2023",
    ]
)  # fmt: skip
SENTENCE = st.lists(CONTENT_WORDS, min_size=5, max_size=15).map(lambda w: " ".join(w) + ".")
WORDY_ARTICLE = st.lists(SENTENCE, min_size=2, max_size=30).map(" ".join)
ARTICLES = st.lists(st.one_of(WORDY_ARTICLE, ARTICLE_TEXT), min_size=1, max_size=3)


def _question(data: st.DataObject, articles: list[str]) -> str:
    words = " ".join(articles).split()
    if len(words) < 4 or data.draw(st.integers(0, 3)) == 0:
        return data.draw(st.text(min_size=1, max_size=200))
    start = data.draw(st.integers(0, len(words) - 4))
    return " ".join(words[start : start + data.draw(st.integers(4, 12))]) + "?"


@settings(SLOW, derandomize=True)  # the floor below must not depend on a random seed
@given(ARTICLES, st.data())
def check_answers_quote_only_their_cited_passages(articles: list[str], data: st.DataObject) -> None:
    question = _question(data, articles)
    passages, cleaned = _passages(articles)
    model = load_embed_model(_settings().embedding)
    texts = [p.node.get_content() for p in passages]
    answerer = ExtractiveAnswerer(_settings().answer, model, Lexicon(texts))
    embedding = model.get_query_embedding(question)
    answer = answerer.answer(AnswerRequest(question, passages, embedding))
    if answer.refused:
        assert answer.citations == [] and answer.sentences == []
        REACHED["refused"] += 1
        return
    REACHED["cited"] += 1
    for citation in answer.citations:
        article = cleaned[citation.doc_id]
        assert article[citation.start_char : citation.end_char] == citation.passage
        for start, end in citation.spans:
            assert citation.start_char <= start < end <= citation.end_char
            assert article[start:end] in citation.passage
    for sentence in answer.sentences:
        assert sentence.citations
        for n in sentence.citations:
            assert sentence.text in answer.citations[n - 1].passage


def test_answers_quote_only_their_cited_passages() -> None:
    """The property above, run here so that it can be seen to check something: a floor of
    generated examples must get an answer with citations, not a refusal."""
    REACHED.clear()
    check_answers_quote_only_their_cited_passages()
    assert REACHED["cited"] >= 10, dict(REACHED)
