"""The eval suite: question files, metrics, reports and the threshold check."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sinoqa.errors import InvalidBaseline, InvalidQuestionFile, UnavailableConfiguration
from sinoqa.evals.configs import configure
from sinoqa.evals.metrics import (
    QuestionResult,
    aggregate,
    best_threshold,
    fact_present,
    refusal_tradeoff,
    score_question,
)
from sinoqa.evals.questions import EvalQuestion, load_questions
from sinoqa.evals.thresholds import check_thresholds
from sinoqa.ingestion.clean import clean_text
from sinoqa.ingestion.corpus import read_file
from sinoqa.schema import Answer, AnswerSentence, Citation
from sinoqa.settings import Settings
from tests.conftest import REPO, run_sinoqa

QUESTIONS = [
    {
        "id": "q1",
        "question": "Where did Wang Yi meet Jake Sullivan in September?",
        "answerable": True,
        "expected_docs": ["eir-2023-new-balance"],
        "facts": [["Malta"]],
        "tags": ["single"],
    },
    {
        "id": "q2",
        "question": "Which working groups will Washington and Beijing create?",
        "answerable": True,
        "expected_docs": ["ft-2023-communication-lines"],
        "facts": [["maritime"]],
        "tags": ["single"],
    },
    {
        "id": "q3",
        "question": "Who won the 2022 FIFA World Cup?",
        "answerable": False,
        "expected_docs": [],
        "facts": [],
        "tags": ["unanswerable"],
    },
]


def sinoqa_eval(
    questions: Path, corpus: Path, out: Path, *options: str | Path, **run: Any
) -> subprocess.CompletedProcess[str]:
    """`sinoqa eval` of ``questions`` over ``corpus``, writing its reports to ``out``."""
    return run_sinoqa(
        "eval", "--questions", questions, "--corpus", corpus, "--out", out, *options, **run
    )


def write_questions(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def test_question_files_are_validated(tmp_path: Path) -> None:
    good = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    assert [q.id for q in load_questions(good)] == ["q1", "q2", "q3"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(QUESTIONS[0]) + "\n{not json}\n")
    with pytest.raises(InvalidQuestionFile, match=r"bad\.jsonl:2"):
        load_questions(bad)
    duplicate = write_questions(tmp_path / "dup.jsonl", [QUESTIONS[0], QUESTIONS[0]])
    with pytest.raises(InvalidQuestionFile, match="duplicate id 'q1'"):
        load_questions(duplicate)
    missing = write_questions(tmp_path / "missing.jsonl", [{"id": "x"}])
    with pytest.raises(InvalidQuestionFile, match="question"):
        load_questions(missing)
    dated = write_questions(
        tmp_path / "dated.jsonl", [{**QUESTIONS[0], "question_date": "2022/06/16"}]
    )
    assert load_questions(dated)[0].question_date == "2022-06-16"  # as rtqa writes it
    undated = write_questions(
        tmp_path / "undated.jsonl", [{**QUESTIONS[0], "question_date": "June"}]
    )
    with pytest.raises(InvalidQuestionFile, match="not a day"):
        load_questions(undated)


@pytest.mark.parametrize(
    ("name", "at_least"), [("questions", 80), ("tuning-2", 40), ("holdout", 40)]
)
def test_seed_question_sets_follow_the_schema_and_cover_the_corpus(
    name: str, at_least: int
) -> None:
    questions = load_questions(REPO / "evals" / f"{name}.jsonl")
    assert len(questions) >= at_least
    # The holdout set is tagged as such (the fitting script refuses it) and repeats no id.
    holdout = [q for q in questions if "holdout" in q.tags]
    assert len(holdout) == (len(questions) if name == "holdout" else 0)
    doc_ids = {p.stem for p in (REPO / "corpus").glob("*.md")}
    covered = {d for q in questions for d in q.expected_docs}
    assert covered == doc_ids
    tags = [t for q in questions for t in q.tags]
    for tag in ("single", "multi", "temporal", "unanswerable", "adversarial"):
        assert tag in tags, tag
    hard = [q for q in questions if {"unanswerable", "adversarial"} & set(q.tags)]
    assert len(hard) >= 12
    # Facts must survive cleaning: a fact only in a photo caption or byline is not answerable.
    texts = {}
    for doc_id in doc_ids:
        document = read_file(REPO / "corpus" / f"{doc_id}.md")
        texts[doc_id] = clean_text(document.text, title=document.title, author=document.author)
    for question in questions:
        if not question.answerable:
            assert question.expected_docs == [] and question.facts == []
            continue
        assert question.expected_docs and set(question.expected_docs) <= doc_ids
        for alternatives in question.facts:
            assert any(
                fact_present([a], texts[d]) for a in alternatives for d in question.expected_docs
            ), (question.id, alternatives)


def _answer(text: str, cited: list[tuple[str, str]], refused: bool = False) -> Answer:
    citations = [
        Citation(
            n=i,
            doc_id=doc_id,
            title=doc_id,
            chunk_id=f"{doc_id}-1",
            passage=f"Before. {quote} After.",
            start_char=0,
            end_char=100,
            score=1.0,
            quote=quote,
            spans=[(8, 8 + len(quote))],
        )
        for i, (doc_id, quote) in enumerate(cited, start=1)
    ]
    sentences = [AnswerSentence(text=quote, citations=[i]) for i, (_, quote) in enumerate(cited, 1)]
    return Answer(
        question="q",
        answer=text,
        refused=refused,
        backend="extractive",
        citations=citations,
        sentences=sentences,
        confidence=0.5,
        timings_ms={"retrieve": 10.0, "answer": 20.0, "total": 30.0},
    )


def test_scores_per_question() -> None:
    question = EvalQuestion.model_validate(QUESTIONS[0])
    answer = _answer(
        "They met in Malta. [1] Something else. [2]",
        [
            ("eir-2023-new-balance", "They met in Malta."),
            ("scmp-2021-bad-faith", "Something else."),
        ],
    )
    result = score_question(question, ["scmp-2021-bad-faith", "eir-2023-new-balance"], answer)
    assert (result.hit_at_1, result.hit_at_5, result.reciprocal_rank) == (0.0, 1.0, 0.5)
    assert result.fact_recall == 1.0 and result.missing_facts == []
    assert result.citation_precision == 0.5
    assert result.citation_support == 1.0
    assert fact_present(["1,300", "1300"], "over 1300 entities")
    assert not fact_present(["Malta"], "Vienna")
    # Quotes around a whole fact mark a title; the answer may close them after a comma.
    assert fact_present(['"Leave it to Beaver"'], 'on the sitcom "Leave It to Beaver," died')
    assert fact_present(["“Succession”"], "HBO's Succession won")
    assert not fact_present(['"Leave it to Beaver"'], "on the sitcom Leave It, died")
    assert not fact_present(['"'], "no quote here")


def test_aggregate_refusals_and_tradeoff() -> None:
    def result(answerable: bool, refused: bool, confidence: float) -> QuestionResult:
        return QuestionResult(
            id=str(confidence),
            question="",
            tags=["t"],
            answerable=answerable,
            expected_docs=[],
            retrieved_docs=[],
            answer="",
            refused=refused,
            confidence=confidence,
            cited_docs=[],
            timings_ms={"total": confidence * 100},
        )

    results = [
        result(True, False, 0.6),
        result(True, True, 0.35),
        result(False, True, 0.3),
        result(False, False, 0.45),
    ]
    summary = aggregate(results)
    assert summary["refusal_accuracy"] == 0.5 and summary["false_refusal_rate"] == 0.5
    rows = refusal_tradeoff(results, [0.3, 0.4, 0.5, 0.7])
    assert [(r["refusal_accuracy"], r["false_refusal_rate"]) for r in rows] == [
        (0.0, 0.0),
        (0.5, 0.5),
        (1.0, 0.5),
        (1.0, 1.0),
    ]
    assert best_threshold(rows, max_false_refusals=0.5) == 0.5
    assert best_threshold(rows, max_false_refusals=0.0) == 0.3
    only_answerable = refusal_tradeoff([r for r in results if r.answerable], [0.3, 0.5])
    assert best_threshold(only_answerable) is None  # e.g. the rtqa-dev set


def test_threshold_check(tmp_path: Path) -> None:
    limits = tmp_path / "t.toml"
    limits.write_text("[thresholds]\nfact_recall = 0.9\nfalse_refusal_rate = 0.05\n")
    assert check_thresholds({"fact_recall": 0.95, "false_refusal_rate": 0.0}, limits) == []
    failures = check_thresholds({"fact_recall": 0.5, "false_refusal_rate": 0.2}, limits)
    assert [f.metric for f in failures] == ["fact_recall", "false_refusal_rate"]
    assert "below the minimum 0.900" in str(failures[0])
    assert "above the maximum 0.050" in str(failures[1])


@pytest.mark.slow
def test_eval_command_compares_configurations_and_writes_reports(
    tmp_path: Path, corpus_dir: Path
) -> None:
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    out = tmp_path / "out"
    passing = tmp_path / "pass.toml"
    passing.write_text("[thresholds]\nhit_at_5 = 0.5\n")
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    result = sinoqa_eval(
        questions, corpus_dir, out, "--compare", "hybrid,bm25", "--check", "--thresholds",
        passing, cwd=tmp_path, env={"TMPDIR": str(scratch)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "hybrid" in result.stdout and "bm25" in result.stdout
    data = json.loads((out / "results.json").read_text())
    assert [c["name"] for c in data["configurations"]] == ["hybrid", "bm25"]
    hybrid = data["configurations"][0]
    assert hybrid["summary"]["questions"] == 3 and hybrid["summary"]["hit_at_5"] == 1.0
    assert {r["id"] for r in hybrid["results"]} == {"q1", "q2", "q3"}
    report = (out / "report.md").read_text()
    assert "## Refusal threshold trade-off" in report and "| bm25 |" in report
    assert (out / "metrics.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "index").exists()  # a temporary index, not ./index
    assert not list(scratch.iterdir())  # ... removed afterwards, its ingest lock with it

    failing = tmp_path / "fail.toml"
    failing.write_text("[thresholds]\nhit_at_5 = 1.01\n")
    result = sinoqa_eval(
        questions, corpus_dir, out, "--index", tmp_path / "idx", "--check", "--thresholds",
        failing, "--baseline", out / "results.json",  # read before this run writes over it
    )  # fmt: skip
    assert result.returncode == 1
    assert "hit_at_5 = 1.000 is below the minimum 1.010" in result.stderr
    # The same answers from another index of the same corpus; bm25 was not run this time.
    assert "0 of 3 answers differ from the baseline." in result.stdout
    assert "In only one of the runs: bm25 (undated)" in result.stdout


def test_answers_that_moved_since_a_baseline_are_listed(tmp_path: Path) -> None:
    from sinoqa.evals.diff import compare_results, load_results, summary_lines

    def results(confidence: float, answer: str) -> dict[str, Any]:
        item = {"id": "q1", "question_set": "s", "answer": answer, "refused": False}
        other = {"id": "q2", "question_set": "s", "answer": "same", "refused": True}
        return {
            "configurations": [
                {
                    "name": "hybrid",
                    "asked": "undated",
                    "results": [{**item, "confidence": confidence}, other],
                }
            ]
        }

    unchanged = compare_results(results(0.51, "A"), results(0.51004, "A"))  # rounding only
    assert unchanged.compared == 2 and unchanged.changes == []
    moved = compare_results(results(0.51, "A"), results(0.62, "B"))
    assert [(c.question_id, c.changed) for c in moved.changes] == [
        ("s/q1", ("answer", "confidence"))
    ]
    assert "  hybrid (undated) s/q1: answer, confidence (0.51 -> 0.62)" in summary_lines(moved)
    broken = tmp_path / "results.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidBaseline, match="not JSON"):
        load_results(broken)
    result = run_sinoqa("eval", "--baseline", str(tmp_path / "missing.json"))
    assert result.returncode == 2 and "missing.json" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_configuration_is_a_clear_error(tmp_path: Path) -> None:
    questions = write_questions(tmp_path / "q.jsonl", QUESTIONS)
    result = run_sinoqa(
        "eval",
        "--questions",
        str(questions),
        "--compare",
        "hybrid,magic",
        "--index",
        str(tmp_path / "i"),
    )
    assert result.returncode == 2 and "unknown configuration 'magic'" in result.stderr
    result = run_sinoqa(
        "eval", "--questions", str(questions), "--compare", "llm", "--index", str(tmp_path / "i")
    )
    assert result.returncode == 2 and "llm needs SINOQA_ANSWER__BACKEND" in result.stderr


@pytest.mark.slow
def test_question_sets_are_scored_apart_and_checked_against_their_own_thresholds(
    tmp_path: Path, corpus_dir: Path
) -> None:
    first = write_questions(tmp_path / "tuning.jsonl", QUESTIONS[:2])
    second = write_questions(
        tmp_path / "holdout.jsonl", [{**q, "id": f"h-{q['id']}"} for q in QUESTIONS]
    )
    limits = tmp_path / "limits.toml"
    limits.write_text("[thresholds]\nhit_at_5 = 0.5\n[thresholds.holdout]\nhit_at_5 = 1.01\n")
    out = tmp_path / "out"
    result = run_sinoqa(
        "eval",
        "--questions",
        str(first),
        "--questions",
        str(second),
        "--corpus",
        str(corpus_dir),
        "--index",
        str(tmp_path / "index"),
        "--compare",
        "hybrid,answer.keep_ratio=0.9",
        "--out",
        str(out),
        "--check",
        "--thresholds",
        str(limits),
    )
    assert result.returncode == 1, result.stderr
    assert "holdout.hit_at_5 = 1.000 is below the minimum 1.010" in result.stderr
    assert "threshold: hit_at_5" not in result.stderr  # the first set's floor is met
    data = json.loads((out / "results.json").read_text())
    names = [c["name"] for c in data["configurations"]]
    assert names == ["hybrid", "answer.keep_ratio=0.9"]
    hybrid = data["configurations"][0]
    assert {s: v["questions"] for s, v in hybrid["sets"].items()} == {"tuning": 2, "holdout": 3}
    assert hybrid["summary"]["questions"] == 5
    assert all("confidence_parts" in r for r in hybrid["results"])
    report = (out / "report.md").read_text()
    assert "## Question sets" in report and "| hybrid | undated | holdout | 3 |" in report


@pytest.mark.slow
def test_questions_are_asked_undated_as_users_ask_or_as_of_their_day(
    tmp_path: Path, corpus_dir: Path
) -> None:
    dated = {
        "id": "d1",
        "question": "What did China demand from the United States this week?",
        "answerable": True,
        "expected_docs": ["teneo-2021-first-contact"],
        "facts": [["rectify"]],
        "question_date": "2021-03-01",
    }
    out = tmp_path / "out"

    def asked_both_ways(rows: list[dict[str, object]]) -> tuple[str, list[dict[str, Any]]]:
        questions = write_questions(tmp_path / "questions.jsonl", rows)
        index = tmp_path / "index"
        result = sinoqa_eval(questions, corpus_dir, out, "--index", index, "--dates", "both")
        assert result.returncode == 0, result.stderr
        return result.stderr, json.loads((out / "results.json").read_text())["configurations"]

    _, runs = asked_both_ways([dated])
    assert [(r["name"], r["asked"]) for r in runs] == [("hybrid", "undated"), ("hybrid", "dated")]
    undated, on_the_day = (r["results"][0] for r in runs)
    # Asked on its day, nothing published later is cited and the demand is found; undated,
    # "this week" is the newest article's week.
    assert set(on_the_day["cited_docs"]) == {"teneo-2021-first-contact"}
    assert on_the_day["fact_recall"] == 1.0
    assert "teneo-2021-first-contact" not in undated["cited_docs"]
    assert "| hybrid | dated |" in (out / "report.md").read_text()
    # Questions without a day have no dated run.
    said, runs = asked_both_ways(QUESTIONS[:1])
    assert "No question carries a question_date" in said
    assert [r["asked"] for r in runs] == ["undated"]


def test_a_configuration_can_set_any_setting() -> None:
    settings = configure(Settings(), "answer.keep_ratio=0.7;retrieval.top_k=9")
    assert settings.answer.keep_ratio == 0.7 and settings.retrieval.top_k == 9
    with pytest.raises(UnavailableConfiguration, match=r"unknown setting 'answer\.nope'"):
        configure(Settings(), "answer.nope=1")
    with pytest.raises(UnavailableConfiguration, match="top_k"):
        configure(Settings(), "retrieval.top_k=0")
