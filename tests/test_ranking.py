"""The fitted article ranker: the shipped file, its features, ranking, and fitting it."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from sinoqa.index import open_index
from sinoqa.pipeline import Pipeline
from sinoqa.ranking import (
    ARTICLE_FEATURES,
    DEFAULT_RANKER,
    ArticleRanker,
    article_features,
    load_ranker,
)
from sinoqa.retrieve import DATE_GRACE, published_after
from sinoqa.scoring import LinearScorer, ScorerError
from sinoqa.settings import Settings
from tests.conftest import RTQA_TRAIN


def _passage(doc_id: str, rank: int, score: float, published: int | None) -> NodeWithScore:
    metadata: dict[str, object] = {"doc_id": doc_id}
    if published is not None:
        metadata["published_min"] = metadata["published_max"] = published
    return NodeWithScore(
        node=TextNode(text=doc_id, id_=f"{doc_id}-{rank}", metadata=metadata), score=score
    )


ARTICLE_COVERAGE = {"old": 0.2, "new": 0.6, "later": 0.1, "undated": 0.0, "a": 0.5, "b": 0.5}


def test_the_shipped_ranker_loads_and_was_fitted_not_set() -> None:
    ranker = load_ranker(DEFAULT_RANKER)
    assert ranker.model.features == ARTICLE_FEATURES
    assert ranker.trained_on["questions"] > 200
    # Cross-validated on the fitting questions, it ranks better than fusion alone.
    fused, ranked = ranker.trained_on["fused_order"], ranker.trained_on["ranked_cross_validated"]
    assert ranked["hit@1"] > fused["hit@1"]
    weights = dict(zip(ARTICLE_FEATURES, ranker.model.weights, strict=True))
    # What fitting found: rare words shared and a passage that fused well point to the
    # answer; an article from after the day asked does not hold it.
    assert weights["article_coverage"] > 0 and weights["fused"] > 0 and weights["after"] < 0


def test_a_ranker_fitted_on_other_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_RANKER.read_text())
    data["model"]["features"][0] = "something-else"
    stale = tmp_path / "ranker.json"
    stale.write_text(json.dumps(data))
    with pytest.raises(ScorerError, match="make fit-ranker"):
        load_ranker(stale)
    with pytest.raises(ScorerError, match="cannot read"):
        load_ranker(tmp_path / "missing.json")


def test_features_describe_each_candidate_article() -> None:
    fused = [
        _passage("old", 0, 1.0, 20200101),
        _passage("new", 1, 0.8, 20230601),
        _passage("old", 2, 0.5, 20200101),
        _passage("later", 3, 0.4, 20231201),
        _passage("undated", 4, 0.3, None),
    ]
    dense, bm25 = fused[:2], [fused[1], fused[3]]
    articles, matrix = article_features(
        fused, dense, bm25, ARTICLE_COVERAGE.__getitem__, as_of=dt.date(2023, 6, 11)
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


def test_an_article_is_after_the_day_asked_only_when_it_certainly_is() -> None:
    june, day = {"published_min": 20230601, "published_max": 20230630}, dt.date(2023, 6, 16)
    assert not published_after(june, day)  # "2023-06": maybe out by the 16th
    assert published_after(june, dt.date(2023, 5, 31))
    next_day = {"published_min": 20230617, "published_max": 20230617}
    assert published_after(next_day, day) and not published_after(next_day, day, DATE_GRACE)
    assert not published_after({}, day)  # undated


def test_ranking_orders_articles_and_keeps_each_ones_passages_in_order() -> None:
    fused = [
        _passage("a", 0, 1.0, 20230101),
        _passage("b", 1, 0.9, 20230101),
        _passage("a", 2, 0.8, 20230101),
        _passage("b", 3, 0.7, 20230101),
    ]
    weights = np.zeros(len(ARTICLE_FEATURES))
    weights[ARTICLE_FEATURES.index("bm25")] = 1.0  # this ranker trusts BM25 alone
    model = LinearScorer(
        ARTICLE_FEATURES, weights, 0.0, np.zeros_like(weights), np.ones_like(weights)
    )
    ranked = ArticleRanker(model, {}).rank(
        fused, fused, [fused[1]], ARTICLE_COVERAGE.__getitem__, dt.date(2023, 6, 1)
    )
    assert [item.node.node_id for item in ranked] == ["b-1", "b-3", "a-0", "a-2"]


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

    # Without a day the articles keep their fused order; asked in March 2021, the one seed
    # article published by then (February 2021) comes first.
    assert articles(None)[0] != "teneo-2021-first-contact"
    assert articles(dt.date(2021, 3, 1))[0] == "teneo-2021-first-contact"
    answer = pipeline.ask(question.query_str, as_of="2021-03-01")
    assert answer.citations and answer.citations[0].doc_id == "teneo-2021-first-contact"
    # Asked on a day, nothing published later is used: not in the ranking, not in the answer.
    # An article dated only "2023-06" may have been out by the 16th.
    as_of = dt.date(2023, 6, 16)
    later = {"eir-2023-new-balance", "ft-2023-communication-lines"}
    assert "islamabad-telegraph-2023-de-risk" in articles(as_of)
    assert not later & set(articles(as_of))
    answer = pipeline.ask("What happened this week between the US and China?", as_of=as_of)
    assert answer.citations and not later & {c.doc_id for c in answer.citations}


def test_fitting_the_ranker_from_rtqa_train(tmp_path: Path) -> None:
    from sinoqa.fit_ranker import main

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
    assert set(ranker.trained_on["ranked_cross_validated"]) == {"hit@1", "hit@5"}
    indexed = {path.name for path in (work / "corpus").iterdir()}
    assert 6 <= len(indexed) <= 6 * 10  # each question's pool: the answer's articles and others
