"""The fitted sentence scorer: the shipped file, its features, and fitting it from real data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from llama_index.core.schema import NodeWithScore, TextNode

from sinoqa.answer.extractive import candidate_quotes
from sinoqa.answer.features import (
    FULL_FEATURES,
    LEXICAL_FEATURES,
    SENTENCE_REGISTRY,
    SentenceContext,
    sentence_features,
)
from sinoqa.answer.scoring import DEFAULT_SCORER, load_scorer, masked_question
from sinoqa.fitting.examples import candidate_docs, sample_questions
from sinoqa.fitting.scorer import FEATURE_SETS
from sinoqa.retrieve.lexicon import Lexicon
from sinoqa.retrieve.question import analyse
from sinoqa.retrieve.ranking import load_ranker
from tests.conftest import RTQA_TRAIN


def _passage(doc_id: str, text: str, rank: int) -> NodeWithScore:
    node = TextNode(
        text=text,
        id_=f"{doc_id}-{rank}",
        metadata={"doc_id": doc_id, "title": doc_id, "start_char": 0, "end_char": len(text)},
    )
    return NodeWithScore(node=node, score=1.0 / (rank + 1))


def test_the_shipped_scorer_loads_and_says_what_it_was_fitted_on() -> None:
    scorer = load_scorer(DEFAULT_SCORER)
    assert scorer.shortlist.features == LEXICAL_FEATURES
    assert scorer.full.features == FULL_FEATURES
    assert scorer.trained_on["rtqa-train"]["questions"] > 500
    assert scorer.trained_on["seed"]["questions"] > 50
    assert scorer.trained_on["seed_questions"] == ["evals/questions.jsonl", "evals/tuning-2.jsonl"]
    # Fitted, not hand-set: sharing the question's rare words and meaning makes an answer likelier.
    weights = dict(zip(scorer.full.features, scorer.full.weights, strict=True))
    assert weights["lexical"] > 0 and weights["dense"] > 0
    # ... and so does sharing what it asks beyond the names it gives.
    assert weights["predicate"] > 0


def test_features_describe_each_candidate_sentence() -> None:
    passages = [
        _passage("a", "The envoys met in Vienna. They agreed on four points with Austria.", 0),
        _passage("b", "Officials in Washington said little about the weather.", 1),
    ]
    question = analyse("How many points did the envoys agree on in Vienna?")
    quotes = candidate_quotes(passages)
    lexicon = Lexicon(p.node.get_content() for p in passages)
    words = [frozenset(lexicon.terms(q.text)) for q in quotes]
    context = SentenceContext(question, quotes, words, passages, lexicon, named={"b"})
    matrix = sentence_features(context, LEXICAL_FEATURES)
    assert matrix.shape == (len(quotes), len(LEXICAL_FEATURES))
    column = {name: matrix[:, i] for i, name in enumerate(LEXICAL_FEATURES)}
    assert [q.text[:10] for q in quotes] == ["The envoys", "They agree", "Officials "]
    vienna, four, weather = 0, 1, 2
    assert column["kind_match"].tolist() == [0.0, 1.0, 0.0]  # "four" answers "how many"
    assert column["lexical"][four] > column["lexical"][weather]
    assert column["neighbour_lexical"][four] == column["lexical"][vienna]
    assert column["passage_rank"][weather] < column["passage_rank"][four]
    assert column["named_source"].tolist() == [0.0, 0.0, 1.0]
    # Covering the question and adding a name it lacks ("Austria") is what an answer does.
    assert column["covered_new_names"][four] > column["covered_new_names"][weather]
    assert column["covered_new_names"][vienna] == 0.0  # adds no name or number
    assert np.all((matrix >= 0) & (matrix <= 1))


@pytest.mark.slow
def test_fitting_from_rtqa_train_and_the_seed_questions(tmp_path: Path) -> None:
    from sinoqa.fitting.scorer import main

    out = tmp_path / "scorer.json"
    work = tmp_path / "work"
    common = ["--rtqa-train", str(RTQA_TRAIN), "--limit", "10", "--work", str(work)]
    main([*common, "--out", str(out), "--selection-from", str(DEFAULT_SCORER)])
    scorer = load_scorer(out)
    assert scorer.trained_on["limit"] == 10
    # The shipped selection shares are kept; the grid's own pick is reported beside them.
    assert scorer.selection == load_scorer(DEFAULT_SCORER).selection
    assert set(scorer.trained_on["grid_pick"]["quality"]) == {"rtqa-train", "seed"}
    assert 0 < scorer.trained_on["rtqa-train"]["questions"] <= 10
    # Only the questions the shipped ranker was not fitted on are asked, over their own pools.
    ranker_questions = sample_questions(RTQA_TRAIN, load_ranker().trained_on["rtqa_questions"], 0)
    ranker_pools = {doc for q in ranker_questions for doc in candidate_docs(q)}
    indexed = {path.stem for path in (work / "corpus").iterdir()}
    assert 10 <= len(indexed) <= 10 * 10
    assert len(indexed & ranker_pools) < len(indexed) / 2
    assert scorer.trained_on["seed"]["questions"] > 50
    assert scorer.trained_on["seed_questions"] == ["evals/questions.jsonl", "evals/tuning-2.jsonl"]
    assert 0 < scorer.trained_on["positives"] < scorer.trained_on["rows"]
    scores = scorer.full.probability(np.zeros((2, len(FULL_FEATURES))))
    assert np.all((scores > 0) & (scores < 1))
    # The candidate features, cross-validated on the same questions (the index is reused).
    cv = tmp_path / "cv.json"
    main([*common, "--cv", "2", "--cv-repeats", "1", "--cv-out", str(cv)])
    results = json.loads(cv.read_text())
    assert set(results) == set(FEATURE_SETS)
    for measured in results.values():
        assert set(measured) == {"rtqa-train", "seed"}
        assert all(0 <= v <= 1 for split in measured.values() for v in split.values())


def test_predicate_features_tell_the_sentence_that_answers_from_the_one_that_names() -> None:
    text = (
        "Envoy Li Wei arrived in Vienna on Monday. "
        "Li Wei demanded that the new tariffs be lifted before any deal. "
        "The weather in Vienna was cold."
    )
    passages = [_passage("a", text, 0)]
    question = analyse("What did Li Wei demand at the Vienna talks?")
    quotes = candidate_quotes(passages)
    lexicon = Lexicon([text])
    words = [frozenset(lexicon.terms(q.text)) for q in quotes]
    predicate = SENTENCE_REGISTRY.names(groups=["predicate"])
    context = SentenceContext(question, quotes, words, passages, lexicon)
    matrix = sentence_features(context, predicate)
    column = {name: matrix[:, i] for i, name in enumerate(predicate)}
    arrived, demanded = 0, 1
    # Every sentence names the subject; only one says what was demanded.
    assert column["predicate"][demanded] > column["predicate"][arrived]
    assert column["predicate"][2] == 0  # the weather sentence names only Vienna
    assert column["neighbour_predicate"][arrived] == column["predicate"][demanded]
    assert column["reports_speech"].tolist() == [0.0, 1.0, 0.0]
    assert masked_question(question) == "What did demand at the talks?"
    # A question that does not ask what was said gets no speech feature.
    asked_when = analyse("When did Li Wei arrive in Vienna?")
    asked = SentenceContext(asked_when, quotes, words, passages, lexicon)
    assert not sentence_features(asked, ["reports_speech"]).any()


def test_the_registry_is_the_one_list_of_the_scorer_features() -> None:
    """The shipped models' columns, the fitting's candidates and the file check all read the
    registry: a feature registered as a candidate is computed, and is no model's column."""
    from sinoqa.fitting.examples import CANDIDATE_LEXICAL

    assert (
        SENTENCE_REGISTRY.names(groups=["base", "predicate", "shape"], adopted=True)
        == LEXICAL_FEATURES
    )
    assert (*LEXICAL_FEATURES, "dense") == FULL_FEATURES
    assert set(LEXICAL_FEATURES) < set(CANDIDATE_LEXICAL)
    assert "reports_speech" in CANDIDATE_LEXICAL and "reports_speech" not in FULL_FEATURES
    for name in SENTENCE_REGISTRY.names():
        assert SENTENCE_REGISTRY[name].description, f"{name}: say what it measures"
