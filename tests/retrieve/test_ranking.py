"""The fitted article ranker: the shipped file, its features, ranking, and fitting it."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from sinoqa.dates import DATE_GRACE, published_after
from sinoqa.ingestion.index import open_index
from sinoqa.logistic import LogisticModel
from sinoqa.pipeline import Pipeline
from sinoqa.retrieve.ranking import (
    ARTICLE_FEATURES,
    DATE_FREE_FEATURES,
    DEFAULT_RANKER,
    ArticleContext,
    ArticleRanker,
    article_features,
    load_ranker,
)
from sinoqa.schema import Filters
from sinoqa.settings import Settings
from tests.conftest import RTQA_TRAIN


def _fused(docs: str, scores: list[float], published: dict[str, int]) -> list[NodeWithScore]:
    """Passages of the articles ``docs`` names, in this fused order, with these scores; each
    article published on its day in ``published`` (an article not in it is undated)."""
    fused = []
    for rank, (doc_id, score) in enumerate(zip(docs.split(), scores, strict=True)):
        metadata: dict[str, object] = {"doc_id": doc_id}
        if doc_id in published:
            metadata["published_min"] = metadata["published_max"] = published[doc_id]
        node = TextNode(text=doc_id, id_=f"{doc_id}-{rank}", metadata=metadata)
        fused.append(NodeWithScore(node=node, score=score))
    return fused


ARTICLE_COVERAGE = {"old": 0.2, "new": 0.6, "later": 0.1, "undated": 0.0, "a": 0.5, "b": 0.5}


def test_the_shipped_ranker_loads_and_was_fitted_not_set() -> None:
    ranker = load_ranker(DEFAULT_RANKER)
    assert ranker.model(None).features == DATE_FREE_FEATURES
    assert ranker.models["dated"].features == ARTICLE_FEATURES
    assert ranker.trained_on["questions"] > 200
    # Cross-validated on the fitting questions, each model ranks better than fusion alone.
    fused = ranker.trained_on["fused_order"]
    for model in ("undated", "dated"):
        assert ranker.trained_on[f"{model}_cross_validated"]["hit@1"] > fused["hit@1"]
    # What fitting found: rare words shared and a passage that fused well point to the
    # answer; an article from after the day asked does not hold it.
    for model in (ranker.model(None), ranker.models["dated"]):
        weights = dict(zip(model.features, model.weights, strict=True))
        assert weights["article_coverage"] > 0 and weights["fused"] > 0
    assert dict(zip(ARTICLE_FEATURES, ranker.models["dated"].weights, strict=True))["after"] < 0


def test_features_describe_each_candidate_article() -> None:
    days = {"old": 20200101, "new": 20230601, "later": 20231201}
    fused = _fused("old new old later undated", [1.0, 0.8, 0.5, 0.4, 0.3], days)
    dense, bm25 = fused[:2], [fused[1], fused[3]]
    coverage = ARTICLE_COVERAGE.__getitem__
    articles, matrix = article_features(
        ArticleContext(fused, dense, bm25, coverage, as_of=dt.date(2023, 6, 11))
    )
    assert articles == ["old", "new", "later", "undated"]
    assert matrix.shape == (4, len(ARTICLE_FEATURES))
    column = {name: matrix[:, i] for i, name in enumerate(ARTICLE_FEATURES)}
    assert column["fused"].tolist() == [1.0, 0.8, 0.4, 0.3]
    assert column["bm25"].tolist() == [0.0, 1.0, 0.5, 0.0]  # a share of the best BM25 score
    assert column["passages"][0] == pytest.approx(np.log1p(2))
    assert column["article_coverage"].tolist() == [0.2, 0.6, 0.1, 0.0]
    assert column["after"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert column["age"][1] == pytest.approx(np.log1p(10))
    assert column["age"][0] > column["age"][1]
    assert column["age_gap"][1] == 0.0  # the youngest article published by then
    # An undated article is neither old nor new: it gets the median age of the others.
    assert column["age"][3] == pytest.approx(np.median(column["age"][:3]))
    # Asked without a day: the same date-free columns, and no others.
    _, undated = article_features(ArticleContext(fused, dense, bm25, coverage, as_of=None))
    assert undated.tolist() == matrix[:, : len(DATE_FREE_FEATURES)].tolist()


def test_an_article_is_after_the_day_asked_only_when_it_certainly_is() -> None:
    june, day = {"published_min": 20230601, "published_max": 20230630}, dt.date(2023, 6, 16)
    assert not published_after(june, day)  # "2023-06": maybe out by the 16th
    assert published_after(june, dt.date(2023, 5, 31))
    next_day = {"published_min": 20230617, "published_max": 20230617}
    assert published_after(next_day, day) and not published_after(next_day, day, DATE_GRACE)
    assert not published_after({}, day)  # undated


def test_ranking_orders_articles_and_keeps_each_ones_passages_in_order() -> None:
    fused = _fused("a b a b", [1.0, 0.9, 0.8, 0.7], {"a": 20230101, "b": 20230101})

    def trusting(feature: str, names: tuple[str, ...]) -> LogisticModel:
        weights = np.zeros(len(names))
        weights[names.index(feature)] = 1.0
        return LogisticModel(names, weights, 0.0, np.zeros_like(weights), np.ones_like(weights))

    # Asked undated, this ranker trusts BM25 alone; asked on a day, fusion alone.
    undated, dated = trusting("bm25", DATE_FREE_FEATURES), trusting("fused", ARTICLE_FEATURES)
    ranker = ArticleRanker({"undated": undated, "dated": dated}, {})
    for as_of, order in (
        (None, ["b-1", "b-3", "a-0", "a-2"]),
        (dt.date(2023, 6, 1), ["a-0", "a-2", "b-1", "b-3"]),
    ):
        candidates = ArticleContext(fused, fused, [fused[1]], ARTICLE_COVERAGE.__getitem__, as_of)
        ranked = ranker.rank(candidates)
        assert [item.node.node_id for item in ranked] == order


def test_article_coverage_reads_the_whole_article_not_only_retrieved_passages(
    seeded: Settings,
) -> None:
    nodes = open_index(seeded).live_nodes()
    doc_id = str(nodes[0].metadata["doc_id"])
    chunks = [n.get_content() for n in nodes if n.metadata["doc_id"] == doc_id]
    # A question made of the article's first and last sentences: no one chunk holds both.
    first, last = chunks[0].split(". ")[0], chunks[-1].split(". ")[-1]
    question = f"{first} {last}?"
    words = set(re.findall(r"\w+", question.lower()))
    assert all(not words <= set(re.findall(r"\w+", chunk.lower())) for chunk in chunks)
    held = Pipeline(seeded).retriever().coverage(question)
    assert held(doc_id) == pytest.approx(1.0)
    assert held("no-such-article") == 0.0


def test_the_day_asked_brings_up_what_was_published_by_then(seeded: Settings) -> None:
    pipeline = Pipeline(seeded)
    question = QueryBundle("What did the United States and China agree to do?")

    def articles(as_of: dt.date | None) -> list[str]:
        ranked = pipeline.retriever(as_of=as_of).retrieve(question)
        return list(dict.fromkeys(str(item.node.metadata["doc_id"]) for item in ranked))

    # Without a day an article's age plays no part; asked in March 2021, the one seed
    # article published by then (February 2021) comes first.
    assert articles(None)[0] != "teneo-2021-first-contact"
    assert articles(dt.date(2021, 3, 1))[0] == "teneo-2021-first-contact"
    answer = pipeline.ask(question.query_str, Filters(as_of="2021-03-01"))
    assert answer.citations and answer.citations[0].doc_id == "teneo-2021-first-contact"
    # Asked on a day, nothing published later is used: not in the ranking, not in the answer.
    # An article dated only "2023-06" may have been out by the 16th.
    as_of = dt.date(2023, 6, 16)
    later = {"eir-2023-new-balance", "ft-2023-communication-lines"}
    assert "islamabad-telegraph-2023-de-risk" in articles(as_of)
    assert not later & set(articles(as_of))
    answer = pipeline.ask("What happened this week between the US and China?", Filters(as_of=as_of))
    assert answer.citations and not later & {c.doc_id for c in answer.citations}


@pytest.mark.slow
def test_fitting_the_ranker_from_rtqa_train(tmp_path: Path) -> None:
    from sinoqa.fitting.ranker import main

    out = tmp_path / "ranker.json"
    work = tmp_path / "work"
    main(
        [
            "--rtqa-train",
            str(RTQA_TRAIN),
            "--questions",
            "6",
            "--work",
            str(work),
            "--out",
            str(out),
        ]
    )
    ranker = load_ranker(out)
    assert ranker.trained_on["rtqa_questions"] == 6
    assert 0 < ranker.trained_on["questions"] <= 6
    for model in ("undated", "dated"):
        assert set(ranker.trained_on[f"{model}_cross_validated"]) == {"hit@1", "hit@5"}
    indexed = {path.name for path in (work / "corpus").iterdir()}
    assert 6 <= len(indexed) <= 6 * 10  # each question's pool: the answer's articles and others


@pytest.mark.parametrize(
    ("question", "recent"),
    [
        ("What did the two sides agree this week?", "this week"),
        ("What is the latest on the working groups?", "the latest"),
        ("Who recently visited Beijing?", "recently"),
        ("Where do the talks stand now?", "now"),
        ("How many officials visited so far this year?", "so far"),
        ("Where did Wang Yi meet Jake Sullivan in September?", None),
        ("What did the now-defunct office do?", None),
    ],
)
def test_words_that_ask_about_the_present(question: str, recent: str | None) -> None:
    from sinoqa.retrieve.question import analyse

    assert analyse(question).recent == recent


def test_a_question_about_the_present_is_asked_as_of_a_day(seeded: Settings) -> None:
    question = "What is the latest on talks between the US and China?"
    # The corpus is older than today: asked as of its newest article's day, and said so.
    answer = Pipeline(seeded).ask(question)
    assert answer.as_of == "2023-10-16"
    assert any("newest article's day" in notice for notice in answer.notices)
    # On a day the corpus reaches past, nothing published after it is used.
    earlier = Pipeline(seeded, today=lambda: dt.date(2023, 6, 16)).ask(question)
    assert earlier.as_of == "2023-06-16"
    later = {"eir-2023-new-balance", "ft-2023-communication-lines"}
    assert earlier.citations and not later & {c.doc_id for c in earlier.citations}
    assert any("as of today, 2023-06-16" in notice for notice in earlier.notices)
    # The rule can be switched off; a question about no time in particular has no day.
    off = seeded.model_copy(
        update={"retrieval": seeded.retrieval.model_copy(update={"recent_as_of": False})}
    )
    assert Pipeline(off).ask(question).as_of is None
    assert Pipeline(seeded).ask("Where did Wang Yi meet Jake Sullivan?").as_of is None
    # A day given by the user is the day used, and the answer says so.
    given = Pipeline(seeded).ask(question, Filters(as_of="2021-03-01"))
    assert given.as_of == "2021-03-01" and any("as of 2021-03-01" in n for n in given.notices)


def test_questions_without_a_day_are_ranked_by_the_date_free_model(seeded: Settings) -> None:
    retrieval = seeded.retrieval.model_copy(update={"rank_undated": True})
    retriever = Pipeline(seeded.model_copy(update={"retrieval": retrieval})).retriever()
    question = QueryBundle("What did the United States and China agree to do?")
    fused, dense, bm25 = retriever.candidates(question)
    coverage = retriever.coverage(question.query_str)
    by_model = load_ranker().rank(ArticleContext(fused, dense, bm25, coverage, None))

    def articles(ranked: list[NodeWithScore]) -> list[str]:
        return list(dict.fromkeys(str(item.node.metadata["doc_id"]) for item in ranked))

    retrieved = articles(retriever.retrieve(question))
    assert retrieved == articles(by_model)[: len(retrieved)]
    # Off (the default), an undated question keeps the fused order.
    fused_order = articles(Pipeline(seeded).retriever().retrieve(question))
    assert fused_order == articles(fused)[: len(fused_order)]
