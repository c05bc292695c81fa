"""Feedback kept as JSON Lines and exported as eval question drafts the suite can run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sinoqa import pipeline
from sinoqa.errors import InvalidQuestion
from sinoqa.evals.questions import load_questions
from sinoqa.settings import Settings
from sinoqa.views.feedback import feedback_path, read_log
from tests.conftest import run_sinoqa


def test_feedback_is_kept_and_exported_as_eval_drafts(seeded: Settings, tmp_path: Path) -> None:
    settings = seeded.model_copy(
        update={"feedback": seeded.feedback.model_copy(update={"path": tmp_path / "fb.jsonl"})}
    )
    good = pipeline.ask("Where did Wang Yi meet Jake Sullivan in September?", settings)
    bad = pipeline.ask("Who won the 2022 FIFA World Cup?", settings)
    pipeline.record_feedback(settings, good, "up")
    pipeline.record_feedback(settings, bad, "down", "It should say the corpus has no sport.")
    with pytest.raises(InvalidQuestion, match="'up' or 'down'"):
        pipeline.record_feedback(settings, good, "meh")
    kept = read_log(settings).entries
    assert [e["rating"] for e in kept] == ["up", "down"]
    assert kept[0]["citations"][0]["doc_id"] == "eir-2023-new-balance"
    assert kept[1]["comment"] == "It should say the corpus has no sport."
    assert kept[0]["settings"]["answer"]["refusal_threshold"] == settings.answer.refusal_threshold
    assert "llm_api_key" not in kept[0]["settings"]["answer"]

    out = tmp_path / "drafts.jsonl"
    env = {"SINOQA_FEEDBACK__PATH": str(feedback_path(settings))}
    done = run_sinoqa("feedback", "export", "--out", out, "--index", seeded.index.dir, env=env)
    assert done.returncode == 0, done.stderr
    drafts = load_questions(out)  # a valid question file for `sinoqa eval --questions`
    assert drafts[0].expected_docs == ["eir-2023-new-balance"] and drafts[0].answerable
    assert set(drafts[1].tags) == {"feedback", "down", "review"}
    listed = run_sinoqa("feedback", "list", "--index", seeded.index.dir, env=env)
    assert "👎 Who won the 2022 FIFA World Cup?" in listed.stdout
    assert json.loads(out.read_text().splitlines()[1])["comment"].startswith("It should say")


def test_default_place_is_beside_the_index(tmp_path: Path) -> None:
    settings = Settings().with_paths(index=tmp_path / "index")
    assert feedback_path(settings) == tmp_path / "feedback.jsonl"
