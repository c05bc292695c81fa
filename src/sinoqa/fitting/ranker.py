"""Fit the article ranker (``make fit-ranker``, or ``python -m sinoqa.fitting.ranker``).

Retrieval is what the ranker learns from, so it needs a real index: the script samples
rtqa-train questions (``--questions``, seeded), indexes the articles their web search
returned (``candidate_docs``: each question's pool, with distractors from the other
questions' pools) under ``--work`` (built once, about 20 minutes for 300 questions on two
cores; later runs reuse it), retrieves for every question as sinoqa does, and fits a
logistic regressions telling the articles that hold the answer from the others, each
question weighing the same: the *undated* model on the date-free features (the question
asked without a day, as the chat asks it) and the *dated* model on all of them, each question
asked as of its ``question_date`` (see :mod:`sinoqa.retrieve.ranking`). The candidates do
not depend on the day, so both models learn from the same candidate articles. rtqa-dev and the seed
holdout are never read here.

The file records each model's ranking quality on the fitting questions in the fused order
and in the model's, the latter cross-validated (five folds by question), so it is not an
in-sample figure.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sinoqa.evals.questions import EvalQuestion
from sinoqa.fitting.examples import RANKER_SAMPLE_SEED, ROOT, prepare_index, sample_questions
from sinoqa.fitting.scorer import fit_logistic
from sinoqa.logistic import LogisticModel
from sinoqa.retrieve.ranking import (
    ARTICLE_FEATURES,
    DATE_FREE_FEATURES,
    DEFAULT_RANKER,
    ArticleRanker,
)
from sinoqa.settings import Settings


def question_rows(
    settings: Settings, questions: Sequence[EvalQuestion]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per question, the candidate articles' feature rows (all :data:`ARTICLE_FEATURES`, as
    of the day asked; the undated model reads the first columns) and whether each is
    expected."""
    from llama_index.core.schema import QueryBundle

    from sinoqa.dates import parse_day
    from sinoqa.pipeline import Pipeline
    from sinoqa.retrieve.ranking import ArticleContext, article_features

    # The candidates as fusion leaves them: the ranker being fitted must not order them.
    unranked = settings.retrieval.model_copy(update={"article_ranker": False})
    pipeline = Pipeline(settings.model_copy(update={"retrieval": unranked}))
    features, labels = [], []
    for question in questions:
        assert question.question_date is not None  # sample_questions keeps dated ones
        as_of = parse_day(question.question_date)
        retriever = pipeline.retriever(as_of=as_of)
        fused, dense, bm25 = retriever.candidates(QueryBundle(question.question))
        coverage = retriever.coverage(question.question)
        articles, matrix = article_features(ArticleContext(fused, dense, bm25, coverage, as_of))
        expected = set(question.expected_docs)
        if not articles or not expected.intersection(articles):
            continue  # nothing to learn where retrieval found no expected article
        features.append(matrix)
        labels.append(np.asarray([a in expected for a in articles]))
    return features, labels


def ranking_quality(
    model: Any, features: Sequence[np.ndarray], labels: Sequence[np.ndarray]
) -> dict[str, float]:
    """hit@1 and hit@5 of the articles as ``model`` orders them (None: fused order)."""
    hits1 = hits5 = 0
    for matrix, label in zip(features, labels, strict=True):
        order = (
            np.arange(len(label))
            if model is None
            else np.argsort(-model.probability(matrix), kind="stable")
        )
        first = int(np.flatnonzero(label[order])[0])
        hits1 += first == 0
        hits5 += first < 5
    count = max(len(labels), 1)
    return {"hit@1": round(hits1 / count, 3), "hit@5": round(hits5 / count, 3)}


def _fit_questions(
    features: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    c: float,
    names: Sequence[str] = ARTICLE_FEATURES,
) -> LogisticModel:
    """A logistic regression over the ``names`` columns (the first of
    :data:`ARTICLE_FEATURES`) in which each question weighs the same."""
    weights = np.concatenate([np.full(len(y), 1.0 / len(y)) for y in labels])
    matrix = np.vstack(features)[:, : len(names)]
    return fit_logistic(matrix, np.concatenate(labels), weights, names, c)


def cross_validated(
    features: Sequence[np.ndarray],
    labels: Sequence[np.ndarray],
    c: float,
    names: Sequence[str] = ARTICLE_FEATURES,
    folds: int = 5,
) -> dict[str, float]:
    """hit@1 / hit@5 of models fitted without the questions they rank."""
    hits1 = hits5 = 0.0
    features = [matrix[:, : len(names)] for matrix in features]
    for fold in range(folds):
        inside = [i for i in range(len(labels)) if i % folds != fold]
        outside = [i for i in range(len(labels)) if i % folds == fold]
        model = _fit_questions([features[i] for i in inside], [labels[i] for i in inside], c, names)
        quality = ranking_quality(
            model, [features[i] for i in outside], [labels[i] for i in outside]
        )
        hits1 += quality["hit@1"] * len(outside)
        hits5 += quality["hit@5"] * len(outside)
    count = max(len(labels), 1)
    return {"hit@1": round(hits1 / count, 3), "hit@5": round(hits5 / count, 3)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sinoqa.fitting.ranker", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rtqa-train", type=Path, default=ROOT.parent / "shared" / "rtqa-train")
    parser.add_argument("--questions", type=int, default=300, help="rtqa-train questions")
    parser.add_argument("--work", type=Path, default=ROOT / ".fit" / "rtqa-train")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 regularisation")
    parser.add_argument("--out", type=Path, default=DEFAULT_RANKER)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    questions = sample_questions(args.rtqa_train, args.questions, seed=RANKER_SAMPLE_SEED)
    settings = prepare_index(args.rtqa_train, questions, args.work, Settings())
    # The sample as a question file: `sinoqa eval` over the same index measures candidates
    # on the fitting questions (docs/evaluation.md, "How defaults are chosen").
    sample = args.work / "questions.jsonl"
    sample.write_text("".join(q.model_dump_json() + "\n" for q in questions), encoding="utf-8")
    features, labels = question_rows(settings, questions)
    undated = _fit_questions(features, labels, args.c, DATE_FREE_FEATURES)
    dated = _fit_questions(features, labels, args.c, ARTICLE_FEATURES)
    trained_on: dict[str, Any] = {
        "rtqa_train": args.rtqa_train.name,
        "rtqa_questions": args.questions,
        "questions": len(labels),  # those with an expected article among the candidates
        "c": args.c,
        "fused_order": ranking_quality(None, features, labels),
        "undated_cross_validated": cross_validated(features, labels, args.c, DATE_FREE_FEATURES),
        "dated_cross_validated": cross_validated(features, labels, args.c, ARTICLE_FEATURES),
        "seconds": round(time.perf_counter() - started, 1),
    }
    ArticleRanker({"undated": undated, "dated": dated}, trained_on).save(args.out)
    print(json.dumps(trained_on, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
