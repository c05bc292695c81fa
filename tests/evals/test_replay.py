"""The watch replay (`make eval-watch`) on a small real set: the seed corpus to start from,
then a week bringing the article that answers a watch and a week bringing one that does
not. Real index, real model, real watches."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sinoqa.evals.replay import alert_figures, plan_replay, run_replay, watch_name
from sinoqa.fitting.watch import choose
from sinoqa.settings import Settings
from tests.conftest import CORPUS
from tests.test_watch import BANGKOK, QUESTION, UNRELATED


def _rtqa_set(root: Path) -> Path:
    """An rtqa-style folder: corpus/, published.tsv and questions.jsonl."""
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    (corpus / "bangkok.md").write_text(BANGKOK, encoding="utf-8")
    (corpus / "weather.md").write_text(UNRELATED, encoding="utf-8")
    days = {p.stem: "2021-06-01" for p in CORPUS.glob("*.md")}
    days |= {"bangkok": "2024-01-28", "weather": "2024-02-02"}
    rows = ["doc_id\tpublished\toutlet", *(f"{d}\t{day}\twire" for d, day in days.items())]
    (root / "published.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    question = {
        "id": "Q_1",
        "question": QUESTION,
        "expected_docs": ["bangkok"],
        "facts": [["Bangkok"]],
        "question_date": "2024/02/04",
    }
    (root / "questions.jsonl").write_text(json.dumps(question) + "\n", encoding="utf-8")
    return root


def test_a_replay_plans_weeks_in_publication_order(tmp_path: Path) -> None:
    plan = plan_replay(_rtqa_set(tmp_path))
    assert sorted(p.stem for p in plan.base) == sorted(p.stem for p in CORPUS.glob("*.md"))
    assert [(b.monday.isoformat(), [p.stem for p in b.paths]) for b in plan.batches] == [
        ("2024-01-22", ["bangkok"]),
        ("2024-01-29", ["weather"]),
    ]
    assert [q.id for q in plan.batches[0].new_watches] == ["Q_1"] and watch_name("Q_1") == "q_1"
    assert plan.targets == {"q_1": "bangkok"}


@pytest.mark.slow
def test_a_replay_measures_alerts_and_the_fit_finds_thresholds(tmp_path: Path) -> None:
    root = _rtqa_set(tmp_path / "set")
    plan = plan_replay(root)
    settings = Settings().with_paths(corpus=root / "corpus", index=tmp_path / "index")
    runs = run_replay(plan, settings, say=lambda _: None)
    figures = alert_figures(plan, runs)
    assert figures["watches_due"] == 1 and figures["weeks"] == 2
    assert figures["alert_recall"] == 1.0 and figures["alert_precision"] == 1.0
    assert figures["false_alerts_per_watch_week"] == 0.0
    assert figures["fact_recall_after_change"] == 1.0
    assert runs[0].changes[0][1].new_articles[0].doc_id == "bangkok"
    assert runs[1].changes == [] and "q_1" not in runs[1].asked  # the weather never passes

    from sinoqa.pipeline import get_pipeline

    rows = [
        {"monday": run.monday, **s.__dict__}
        for run in runs
        for s in get_pipeline(settings).watches.scores(run.articles)
    ]
    fit = choose(plan, rows, min_recall=1.0)
    assert fit["chosen"]["recall"] == 1.0 and fit["due"] == 1
    # The pair chosen passes the answering article and asks nothing in the other week.
    assert fit["chosen"]["asked_per_watch_week"] == 0.5
