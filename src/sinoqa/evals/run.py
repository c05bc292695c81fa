"""The eval suite: retrieval and answer quality over a question set, in numbers.

A run answers every question of a JSON Lines file with one or more named configurations
(dense-only, BM25-only, hybrid, ...) and measures, per question and aggregated overall and per
tag: article-level hit@1, hit@5 and MRR; fact recall; citation precision and support; refusal
accuracy and false refusals; latency per stage. It writes report.md, results.json and a chart.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sinoqa.dates import parse_day
from sinoqa.evals.metrics import RANKING_DEPTH, aggregate, by_tag, score_question
from sinoqa.evals.questions import EvalQuestion
from sinoqa.schema import Filters
from sinoqa.settings import Settings

if TYPE_CHECKING:
    from sinoqa.schema import IngestReport
from sinoqa.evals.configs import configure
from sinoqa.evals.metrics import ConfigurationRun
from sinoqa.evals.questions import question_sets
from sinoqa.evals.report import write_reports


def run_configuration(
    name: str,
    settings: Settings,
    questions: Sequence[EvalQuestion] | Mapping[str, Sequence[EvalQuestion]],
    progress: Callable[[int, int], None] | None = None,
    *,
    dated: bool = False,
) -> ConfigurationRun:
    """Answer every question with ``settings``; the pipeline does all the work.

    ``questions`` is one list, or lists by question-set name, each summarised apart too.
    Each question is asked without a day, as users ask, unless ``dated``: then as of its
    ``question_date`` when it has one."""
    from llama_index.core.schema import QueryBundle

    from sinoqa.pipeline import get_pipeline

    started = time.perf_counter()
    pipe = get_pipeline(settings)
    ranking = settings.retrieval.model_copy(
        update={"top_k": RANKING_DEPTH, "max_chunks_per_doc": 1}
    )
    sets = questions if isinstance(questions, Mapping) else {"questions": questions}
    items = [(set_name, q) for set_name, qs in sets.items() for q in qs]
    results = []
    for done, (set_name, question) in enumerate(items, start=1):
        as_of = question.question_date if dated else None
        answer = pipe.ask(question.question, Filters(as_of=as_of))
        # The articles ranked as the answer's retrieval ranked them: on the day it used (a
        # question about "this week" asked undated gets one too).
        day = parse_day(answer.as_of) if answer.as_of else None
        retrieved = pipe.retriever(None, ranking, day).retrieve(QueryBundle(question.question))
        docs = [str(item.node.metadata["doc_id"]) for item in retrieved]
        result = score_question(question, docs, answer)
        result.question_set = set_name
        results.append(result)
        if progress:
            progress(done, len(items))
    return ConfigurationRun(
        name=name,
        summary=aggregate(results),
        tags=by_tag(results),
        results=results,
        seconds=time.perf_counter() - started,
        sets={
            set_name: aggregate([r for r in results if r.question_set == set_name])
            for set_name in sets
        },
        asked="dated" if dated else "undated",
    )


#: Makes a progress callback for one configuration's run: (its label, questions in all).
ProgressFactory = Callable[[str, int], AbstractContextManager[Callable[[int, int], None]]]


@dataclass
class Evaluation:
    """What one `sinoqa eval` run did: the index it built, each run, the files it wrote."""

    ingest: IngestReport
    runs: list[ConfigurationRun]
    paths: dict[str, Path]
    dated_unavailable: bool  # dated runs were asked for, but no question carries a day


def evaluate(
    settings: Settings,
    question_files: Sequence[Path],
    out: Path,
    *,
    configurations: Sequence[str] = ("hybrid",),
    ways: Sequence[bool] = (False,),
    limit: int | None = None,
    command: str = "sinoqa eval",
    progress: ProgressFactory | None = None,
    on_indexed: Callable[[IngestReport], None] | None = None,
) -> Evaluation:
    """Index ``settings``' corpus, answer every question of ``question_files`` with each
    named configuration, asked undated (False in ``ways``) and/or dated (True), and write
    report.md, results.json and metrics.png to ``out``. ``on_indexed`` hears what the
    ingest did before the questions are asked."""
    from sinoqa.pipeline import ingest

    items = {name: qs[:limit] for name, qs in question_sets(question_files).items()}
    configured = [(name, configure(settings, name)) for name in configurations]
    report = ingest(settings)
    if on_indexed:
        on_indexed(report)
    dated_unavailable = True in ways and not any(
        q.question_date for qs in items.values() for q in qs
    )
    if dated_unavailable:
        ways = [False]
    runs = []
    total = sum(len(qs) for qs in items.values())
    for (name, config), dated in itertools.product(configured, ways):
        with progress(name, total) if progress else contextlib.nullcontext(None) as advance:
            runs.append(run_configuration(name, config, items, advance, dated=dated))
    paths = write_reports(
        runs,
        out,
        questions_path=list(question_files),
        corpus=settings.corpus.dir,
        threshold=settings.answer.refusal_threshold,
        command=command,
    )
    return Evaluation(report, runs, paths, dated_unavailable)
