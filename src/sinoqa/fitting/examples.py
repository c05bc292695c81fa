"""The fitting data: questions sampled from rtqa-train and the seed tuning sets, their
candidate articles indexed under .fit/, and each question's candidate sentences with their
features and labels (does the sentence hold a required fact?)."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sinoqa.answer.extractive import candidate_quotes, distinctive_terms
from sinoqa.answer.features import (
    LEXICAL_GROUPS,
    SENTENCE_REGISTRY,
    SentenceContext,
    sentence_features,
)
from sinoqa.answer.scoring import masked_question, source_groups
from sinoqa.answer.selection import CandidateSentence
from sinoqa.evals.metrics import fact_present
from sinoqa.evals.questions import EvalQuestion, load_questions
from sinoqa.retrieve.lexicon import Lexicon
from sinoqa.retrieve.question import QuestionAnalysis
from sinoqa.settings import Settings

if TYPE_CHECKING:
    from llama_index.core.schema import NodeWithScore


ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Example:
    """One question's candidate sentences, their features and labels."""

    split: str
    question: EvalQuestion
    analysis: QuestionAnalysis
    quotes: list[CandidateSentence]
    lexical: np.ndarray  # one column per name in CANDIDATE_LEXICAL
    labels: np.ndarray
    embedding: np.ndarray
    masked_embedding: np.ndarray  # the question's, names left out (scoring.masked_question)
    words: list[frozenset[str]]  # each quote's stemmed terms
    particulars: frozenset[str]  # the question's distinctive names (answer.distinctive_terms)


def _labels(question: EvalQuestion, quotes: Sequence[CandidateSentence]) -> np.ndarray:
    return np.array(
        [any(fact_present(alts, q.text) for alts in question.facts) for q in quotes], dtype=bool
    )


def _example(
    split: str,
    question: EvalQuestion,
    analysis: QuestionAnalysis,
    passages: Sequence[NodeWithScore],
    lexicon: Lexicon,
    embedding: np.ndarray,
    masked_embedding: np.ndarray,
    common_share: float,
) -> Example | None:
    quotes = candidate_quotes(passages)
    labels = _labels(question, quotes)
    if not quotes or not labels.any():  # nothing to learn which sentence answers
        return None
    words = [frozenset(lexicon.terms(q.text)) for q in quotes]
    groups = source_groups(analysis, passages)
    context = SentenceContext(
        analysis, quotes, words, passages, lexicon, named=frozenset().union(*groups)
    )
    lexical = sentence_features(context, CANDIDATE_LEXICAL)
    particulars = distinctive_terms(analysis, lexicon, common_share)
    return Example(
        split,
        question,
        analysis,
        quotes,
        lexical,
        labels,
        embedding,
        masked_embedding,
        words,
        particulars,
    )


#: Every feature an example carries without embedding its sentences, adopted or a
#: candidate that ``--cv`` measures, in the registry's order.
CANDIDATE_LEXICAL = SENTENCE_REGISTRY.names(groups=LEXICAL_GROUPS)


def candidate_docs(question: EvalQuestion) -> list[str]:
    """The articles a rtqa question is asked over: its own candidates, else the expected."""
    return list(getattr(question, "candidate_docs", None) or question.expected_docs)


#: The seed of the article ranker's question sample: the sentence scorer leaves exactly
#: those questions out, so the two are never fitted on the same questions.
RANKER_SAMPLE_SEED = 0


def sample_questions(directory: Path, count: int | None, seed: int) -> list[EvalQuestion]:
    """``count`` rtqa-train questions (seeded; all when None), each with an answer, a day
    asked and a pool of articles."""
    questions = [
        q for q in load_questions(directory / "questions.jsonl") if q.facts and q.question_date
    ]
    if count is not None and count < len(questions):
        questions = random.Random(seed).sample(questions, count)
    return questions


def prepare_index(
    directory: Path, questions: Sequence[EvalQuestion], work: Path, settings: Settings
) -> Settings:
    """``settings`` over an index of every article the questions' pools hold, built once
    under ``work``."""
    from sinoqa.pipeline import ingest

    corpus = work / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    wanted = sorted({doc_id for q in questions for doc_id in candidate_docs(q)})
    for doc_id in wanted:
        link = corpus / f"{doc_id}.md"
        source = (directory / "corpus" / f"{doc_id}.md").resolve()
        if source.exists() and not link.exists():
            link.symlink_to(source)
    settings = settings.with_paths(corpus=corpus, index=work / "index")
    started = time.perf_counter()
    print(f"indexing {len(wanted)} rtqa-train articles under {work} ...", flush=True)
    report = ingest(settings)  # incremental: a second run only checks the files
    print(
        f"{len(report.added) + len(report.updated)} articles indexed, "
        f"{len(report.unchanged)} unchanged ({time.perf_counter() - started:.0f} s)",
        flush=True,
    )
    return settings


def rtqa_examples(
    directory: Path, work: Path, settings: Settings, limit: int | None, seed: int
) -> list[Example]:
    """Examples from the rtqa-train questions the article ranker answering uses was not
    fitted on, answered over an index of their pools by the real retriever and that ranker:
    the passages, and their order, are those answering sees on questions nobody fitted for."""
    from sinoqa.retrieve.ranking import DEFAULT_RANKER, load_ranker

    ranker = load_ranker(settings.retrieval.ranker_path or DEFAULT_RANKER)
    ranker_sample = ranker.trained_on["rtqa_questions"]
    fitted_ranker = {
        q.id for q in sample_questions(directory, ranker_sample, seed=RANKER_SAMPLE_SEED)
    }
    questions = [q for q in sample_questions(directory, None, seed) if q.id not in fitted_ranker]
    if limit is not None and limit < len(questions):
        questions = random.Random(seed).sample(questions, limit)
    indexed = prepare_index(directory, questions, work, settings)
    examples = indexed_examples("rtqa-train", questions, indexed)
    print(f"rtqa-train: {len(examples)} of {len(questions)} questions have a fact in a sentence")
    return examples


def seed_examples(
    questions_paths: Sequence[Path], corpus: Path, settings: Settings
) -> list[Example]:
    """Examples from the seed tuning questions, through a real index and the real retriever."""
    from sinoqa.pipeline import ingest

    by_file = {path: load_questions(path) for path in questions_paths}
    questions = [q for loaded in by_file.values() for q in loaded]
    holding = [str(p) for p, loaded in by_file.items() if any("holdout" in q.tags for q in loaded)]
    if holding:
        raise SystemExit(f"{', '.join(holding)} hold holdout questions: they are never fitted on")
    with tempfile.TemporaryDirectory(prefix="sinoqa-fit-index-") as work:
        # A subfolder: the ingest lock lives beside the index and goes with the folder.
        indexed = settings.with_paths(corpus=corpus, index=Path(work) / "index")
        ingest(indexed)
        examples = indexed_examples("seed", questions, indexed)
    print(f"seed: {len(examples)} questions have a fact in a sentence")
    return examples


def indexed_examples(
    split: str, questions: Sequence[EvalQuestion], indexed: Settings
) -> list[Example]:
    """Examples from questions answered over a real index by the real retriever, each asked
    as of its ``question_date`` when it has one, as ``sinoqa eval`` asks it."""
    from llama_index.core.schema import QueryBundle

    from sinoqa.dates import parse_day
    from sinoqa.pipeline import Pipeline

    pipeline = Pipeline(indexed)
    view = pipeline.served()
    examples = []
    for question in questions:
        if not (question.answerable and question.facts):
            continue
        as_of = parse_day(question.question_date) if question.question_date else None
        bundle = QueryBundle(question.question)
        passages = pipeline.retriever(as_of=as_of).retrieve(bundle)
        embedding = bundle.embedding or pipeline.embed_model.get_query_embedding(question.question)
        analysis = view.analyse(question.question)
        masked = pipeline.embed_model.get_query_embedding(masked_question(analysis))
        example = _example(
            split,
            question,
            analysis,
            passages,
            view.lexicon,
            np.asarray(embedding),
            np.asarray(masked),
            indexed.answer.common_name_share,
        )
        if example is not None:
            examples.append(example)
    return examples
