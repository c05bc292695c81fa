"""Fit the sentence scorer (``make fit``, or ``python -m sinoqa.fitting.scorer``).

Fitting data, never the validation sets:

- rtqa-train (``../shared/rtqa-train``): the questions the article ranker was not fitted on
  (about 720). The articles their web searches returned (``candidate_docs``, about 4,500) are
  indexed under ``.fit/rtqa-train-scorer`` (once: about 30 minutes on two cores; later runs
  reuse it) and each question is answered as ``sinoqa eval`` answers it, as of its day, by
  the real retriever and ranker, so the scorer learns from the passages, and the article
  order, that answering sees.
- the seed tuning questions, ``evals/questions.jsonl`` and ``evals/tuning-2.jsonl``
  (``evals/holdout.jsonl`` is never read here), answered through a real index of ``corpus/``
  and the real retriever.

A sentence is a positive example when it holds one of the question's facts. Both models are
logistic regressions over standardised features (:mod:`sinoqa.answer.scoring`); the shortlist model
is fitted on every candidate sentence, the full model on the sentences the shortlist keeps,
as at answer time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sinoqa.answer.features import FULL_FEATURES, SENTENCE_REGISTRY
from sinoqa.answer.scoring import DEFAULT_SCORER, SentenceScorer, load_scorer, shortlist_indices
from sinoqa.answer.selection import Evidence, Selection, Selector
from sinoqa.evals.metrics import fact_present
from sinoqa.evals.questions import SEED_TUNING_FILES
from sinoqa.fitting.examples import CANDIDATE_LEXICAL, ROOT, Example, rtqa_examples, seed_examples
from sinoqa.logistic import LogisticModel
from sinoqa.settings import Settings


def fit_logistic(
    matrix: np.ndarray, labels: np.ndarray, weights: np.ndarray, names: Sequence[str], c: float
) -> LogisticModel:
    from sklearn.linear_model import LogisticRegression

    mean = matrix.mean(axis=0)
    scale = matrix.std(axis=0)
    scale[scale == 0] = 1.0
    model = LogisticRegression(C=c, max_iter=1000)
    model.fit((matrix - mean) / scale, labels, sample_weight=weights * len(weights) / weights.sum())
    return LogisticModel(tuple(names), model.coef_[0], float(model.intercept_[0]), mean, scale)


def _row_weights(examples: Sequence[Example], rows: Sequence[int]) -> np.ndarray:
    """Each question weighs the same within its split, and each split the same in all: the
    seed questions (analysis pieces) count as much as the many rtqa ones (news), and a
    question with many candidate sentences no more than one with few."""
    per_split: dict[str, int] = {}
    for example in examples:
        per_split[example.split] = per_split.get(example.split, 0) + 1
    return np.concatenate(
        [
            np.full(n, 1.0 / (n * per_split[e.split] * len(per_split)))
            for e, n in zip(examples, rows, strict=True)
        ]
    )


Vectors = dict[str, np.ndarray]  # sentence text -> embedding


def _embed_missing(texts: Sequence[str], vectors: Vectors, settings: Settings) -> None:
    from sinoqa.ingestion.embedding import load_embed_model

    missing = sorted(set(texts) - vectors.keys())
    if missing:
        model = load_embed_model(settings.embedding)
        embedded = model.get_text_embedding_batch(missing)
        vectors.update(zip(missing, np.asarray(embedded, dtype=np.float32), strict=True))


@dataclass
class Shortlisted:
    """An example as the full model sees it: the shortlisted quotes and their features."""

    example: Example
    keep: list[int]
    features: np.ndarray
    vectors: np.ndarray
    names: tuple[str, ...] = FULL_FEATURES  # the columns of ``features``


@dataclass(frozen=True)
class Models:
    """A shortlist and a full model, and every example as the full model sees it."""

    shortlist: LogisticModel
    full: LogisticModel
    shortlisted: list[Shortlisted]


def fit_models(
    examples: Sequence[Example],
    settings: Settings,
    c: float,
    vectors: Vectors,
    features: Sequence[str] = FULL_FEATURES,
) -> Models:
    """Fit the shortlist model on every sentence, then the full one on the shortlisted.
    ``features`` name the full model's columns; those in :data:`CANDIDATE_LEXICAL` make the
    shortlist model's, in that order."""
    lexical_names = [f for f in features if f in CANDIDATE_LEXICAL]
    labels = np.concatenate([e.labels for e in examples])
    shortlist = fit_logistic(
        np.vstack([_columns(e, lexical_names) for e in examples]),
        labels,
        _row_weights(examples, [len(e.labels) for e in examples]),
        lexical_names,
        c,
    )
    shortlisted = shortlist_examples(examples, shortlist, features, vectors, settings)
    full = fit_logistic(
        np.vstack([s.features for s in shortlisted]),
        np.concatenate([s.example.labels[s.keep] for s in shortlisted]),
        _row_weights(examples, [len(s.keep) for s in shortlisted]),
        features,
        c,
    )
    return Models(shortlist, full, shortlisted)


def _columns(example: Example, names: Sequence[str]) -> np.ndarray:
    return example.lexical[:, [CANDIDATE_LEXICAL.index(n) for n in names]]


def shortlist_examples(
    examples: Sequence[Example],
    shortlist: LogisticModel,
    features: Sequence[str],
    vectors: Vectors,
    settings: Settings,
) -> list[Shortlisted]:
    """Each example's sentences that ``shortlist`` keeps, with the full model's ``features``."""
    kept = [
        shortlist_indices(
            e.quotes,
            shortlist.probability(_columns(e, shortlist.features)),
            settings.answer.shortlist,
        )
        for e in examples
    ]
    _embed_missing(
        [e.quotes[i].text for e, keep in zip(examples, kept, strict=True) for i in keep],
        vectors,
        settings,
    )
    shortlisted = []
    for example, keep in zip(examples, kept, strict=True):
        matrix = np.stack([vectors[example.quotes[i].text] for i in keep])
        dense = {
            "dense": matrix @ example.embedding,
            "masked_dense": matrix @ example.masked_embedding,
        }
        columns = [
            _columns(example, [f])[keep, 0] if f in CANDIDATE_LEXICAL else dense[f]
            for f in features
        ]
        shortlisted.append(
            Shortlisted(example, keep, np.column_stack(columns), matrix, tuple(features))
        )
    return shortlisted


def fit(
    examples: Sequence[Example],
    settings: Settings,
    c: float,
    vectors: Vectors | None = None,
    selection: Selection | None = None,
) -> tuple[SentenceScorer, dict[str, Any]]:
    """Fit the scorer's two models, then choose the selection that quotes the most facts
    from the right articles; or keep ``selection``, reporting the grid's pick beside it."""
    models = fit_models(examples, settings, c, {} if vectors is None else vectors)
    chosen, quality = choose_selection(models.shortlisted, models.full, settings)
    labels = np.concatenate([e.labels for e in examples])
    report: dict[str, Any] = {"rows": len(labels), "positives": int(labels.sum())}
    if selection is not None:
        report["grid_pick"] = {"selection": dataclasses.asdict(chosen), "quality": quality}
        scored = [(s, models.full.probability(s.features)) for s in models.shortlisted]
        chosen = selection
        quality = _answer_quality(Selector(settings.answer, selection), scored)
    top1 = _top1(models.shortlisted, models.full)
    for split in sorted(quality):
        report[split] = {
            "questions": len(top1[split]),
            "top1": round(float(np.mean(top1[split])), 3),
            "fact_recall": quality[split][0],
            "citation_precision": quality[split][1],
        }
    fitted = {"shortlist": models.shortlist, "full": models.full}
    return SentenceScorer(fitted, {}, chosen), report


def _top1(shortlisted: Sequence[Shortlisted], full: LogisticModel) -> dict[str, list[bool]]:
    """Per split, whether each question's best-scored sentence holds a fact."""
    found: dict[str, list[bool]] = {}
    for s in shortlisted:
        best = int(np.argmax(full.probability(s.features)))
        found.setdefault(s.example.split, []).append(bool(s.example.labels[s.keep][best]))
    return found


BASE_LEXICAL = SENTENCE_REGISTRY.names(groups=["base"])
PREDICATE_FEATURES = SENTENCE_REGISTRY.names(groups=["predicate"])
#: The feature sets ``--cv`` compares: the base features and each candidate group added.
FEATURE_SETS: dict[str, tuple[str, ...]] = {
    "base": (*BASE_LEXICAL, "dense"),
    "+predicate": (*BASE_LEXICAL, "predicate", "neighbour_predicate", "dense"),
    "+reports_speech": (*BASE_LEXICAL, "reports_speech", "dense"),
    "+masked_dense": (*BASE_LEXICAL, "dense", "masked_dense"),
    "+all": (*BASE_LEXICAL, *PREDICATE_FEATURES, "dense", "masked_dense"),
    "shipped (+predicate, covered_new_names)": FULL_FEATURES,
}


def cross_validate(
    examples: Sequence[Example],
    settings: Settings,
    c: float,
    folds: int,
    repeats: int = 1,
    feature_sets: dict[str, tuple[str, ...]] = FEATURE_SETS,
) -> dict[str, dict[str, dict[str, float]]]:
    """Each feature set's ``folds``-fold cross-validated top-1, fact recall and citation
    precision per split, averaged over ``repeats`` seeded shuffles of the questions, answering
    with the shipped scorer's selection so that only the features differ."""
    selector = Selector(settings.answer, load_scorer(DEFAULT_SCORER).selection)
    vectors: Vectors = {}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, features in feature_sets.items():
        top1: dict[str, list[bool]] = {}
        quality: dict[str, list[tuple[float, float]]] = {}
        for repeat in range(repeats):
            order = random.Random(repeat).sample(range(len(examples)), len(examples))
            fold_of = {index: position % folds for position, index in enumerate(order)}
            for fold in range(folds):
                train = [e for i, e in enumerate(examples) if fold_of[i] != fold]
                test = [e for i, e in enumerate(examples) if fold_of[i] == fold]
                models = fit_models(train, settings, c, vectors, features)
                shortlisted = shortlist_examples(
                    test, models.shortlist, features, vectors, settings
                )
                for split, found in _top1(shortlisted, models.full).items():
                    top1.setdefault(split, []).extend(found)
                scored = [(s, models.full.probability(s.features)) for s in shortlisted]
                for split, pairs in _answer_pairs(selector, scored).items():
                    quality.setdefault(split, []).extend(pairs)
        results[name] = {
            split: {
                "top1": round(float(np.mean(top1[split])), 3),
                "fact_recall": round(float(np.mean([r for r, _ in pairs])), 3),
                "citation_precision": round(float(np.mean([p for _, p in pairs])), 3),
            }
            for split, pairs in sorted(quality.items())
        }
        print(name, json.dumps(results[name]), flush=True)
    return results


#: The selections tried: most sentences and the score shares the others need. Six
#: sentences is a cap for reading, not fitted: fact recall and citation precision alone keep
#: rewarding longer answers (docs/evaluation.md: eight sentences quote more facts, at lower
#: citation precision and about 950 characters a median answer).
SELECTION_GRID = {
    "max_sentences": (3, 4, 5, 6),
    "keep_ratio": (0.1, 0.2, 0.3, 0.4, 0.6, 0.8),
    "other_article_ratio": (0.4, 0.5, 0.6, 0.7, 0.8, 0.9),
    "neighbour_ratio": (0.4, 0.6, 0.8),
    "typed_ratio": (0.1, 0.2, 0.4),
}


def choose_selection(
    shortlisted: Sequence[Shortlisted], full: LogisticModel, settings: Settings
) -> tuple[Selection, dict[str, tuple[float, float]]]:
    """The selection with the best mean of fact recall and citation precision (each split
    weighing the same), answering every fitting question as the answerer would."""
    import itertools

    scored = [(s, full.probability(s.features)) for s in shortlisted]
    best: tuple[float, Selection, dict[str, tuple[float, float]]] | None = None
    for values in itertools.product(*SELECTION_GRID.values()):
        selection = Selection(**dict(zip(SELECTION_GRID, values, strict=True)))  # type: ignore[arg-type]
        quality = _answer_quality(Selector(settings.answer, selection), scored)
        objective = float(np.mean([sum(q) / 2 for q in quality.values()]))
        if best is None or objective > best[0]:
            best = (objective, selection, quality)
    assert best is not None
    return best[1], best[2]


def _answer_quality(
    selector: Selector, scored: Sequence[tuple[Shortlisted, np.ndarray]]
) -> dict[str, tuple[float, float]]:
    """Fact recall and citation precision per split, of the sentences the answerer picks."""
    return {
        split: (
            round(float(np.mean([r for r, _ in pairs])), 3),
            round(float(np.mean([p for _, p in pairs])), 3),
        )
        for split, pairs in _answer_pairs(selector, scored).items()
    }


def _answer_pairs(
    selector: Selector, scored: Sequence[tuple[Shortlisted, np.ndarray]]
) -> dict[str, list[tuple[float, float]]]:
    """Per split, each question's fact recall and citation precision."""
    measured: dict[str, list[tuple[float, float]]] = {}
    for item, scores in scored:
        example = item.example
        quotes = [example.quotes[i] for i in item.keep]
        kind_match = item.features[:, item.names.index("kind_match")] > 0
        found = Evidence(
            quotes,
            scores,
            item.vectors,
            kind_match,
            [example.words[i] for i in item.keep],
            1.0,
            (),
            example.particulars,
        )
        chosen = selector.quote(found, example.analysis.spans_articles)
        text = " ".join(q.text for q in chosen)
        recall = float(np.mean([fact_present(alts, text) for alts in example.question.facts]))
        docs = [q.doc_id for q in chosen]
        precision = sum(d in example.question.expected_docs for d in docs) / len(docs)
        measured.setdefault(example.split, []).append((recall, precision))
    return measured


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sinoqa.fitting.scorer", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rtqa-train", type=Path, default=ROOT.parent / "shared" / "rtqa-train")
    parser.add_argument(
        "--seed-questions",
        type=Path,
        nargs="+",
        default=[ROOT / "evals" / name for name in SEED_TUNING_FILES],
        help="seed tuning question files (never the holdout)",
    )
    parser.add_argument("--seed-corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--limit", type=int, default=None, help="rtqa-train questions (sampled)")
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / ".fit" / "rtqa-train-scorer",
        help="where the fitting questions' articles are indexed (built once, reused)",
    )
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 regularisation")
    parser.add_argument("--out", type=Path, default=DEFAULT_SCORER)
    parser.add_argument(
        "--selection-from",
        type=Path,
        default=None,
        metavar="SCORER_JSON",
        help="keep that scorer file's selection shares instead of the grid's pick (used when "
        "the pick fails the seed constraint of docs/evaluation.md)",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=0,
        metavar="FOLDS",
        help="cross-validate the candidate feature sets instead of fitting (writes --cv-out)",
    )
    parser.add_argument("--cv-repeats", type=int, default=3, help="shuffles the CV averages")
    parser.add_argument("--cv-out", type=Path, default=ROOT / ".fit" / "scorer-cv.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    settings = Settings()
    examples = rtqa_examples(args.rtqa_train, args.work, settings, args.limit, seed=0)
    examples += seed_examples(args.seed_questions, args.seed_corpus, settings)
    if args.cv:
        results = cross_validate(examples, settings, args.c, args.cv, args.cv_repeats)
        args.cv_out.parent.mkdir(parents=True, exist_ok=True)
        args.cv_out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.cv_out}")
        return
    kept = None
    if args.selection_from is not None:
        try:
            kept = Selection(**json.loads(args.selection_from.read_text("utf-8"))["selection"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"cannot read a selection from {args.selection_from}: {exc}") from exc
    scorer, report = fit(examples, settings, args.c, selection=kept)
    trained_on = {
        "rtqa_train": str(args.rtqa_train.name),
        "seed_questions": [
            str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)
            for path in args.seed_questions
        ],
        "limit": args.limit,
        "c": args.c,
        "selection_from": None if kept is None else args.selection_from.name,
        **report,
        "seconds": round(time.perf_counter() - started, 1),
    }
    SentenceScorer(scorer.models, trained_on, scorer.selection).save(args.out)
    print(json.dumps(trained_on, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
