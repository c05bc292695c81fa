"""sinoqa's own BERT encoder against the real sentence-transformers, on the packaged model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from sentence_transformers import SentenceTransformer

from sinoqa.ingestion.embedding import (
    BertEmbedding,
    load_embed_model,
    resolve_model_path,
    token_counter,
)
from sinoqa.settings import EmbeddingSettings, Settings
from tests.conftest import CORPUS

PACKAGED = Path(resolve_model_path("all-MiniLM-L6-v2"))


def texts_of_every_length() -> list[str]:
    """Real article text cut short, mid-length and past the model's 256-token window."""
    articles = [path.read_text(encoding="utf-8") for path in sorted(CORPUS.glob("*.md"))]
    return ["China", "Where did Wang Yi meet Jake Sullivan?"] + [
        article[start : start + size]
        for article in articles
        for start, size in ((0, 300), (1500, 1200), (4000, 4000))
    ]


def model_copy(tmp_path: Path, changes: dict[str, dict[str, object]]) -> Path:
    """The packaged model with some of its JSON files changed (weights linked, not copied)."""
    target = tmp_path / "model"
    for path in PACKAGED.rglob("*"):
        if path.is_file():
            copy = target / path.relative_to(PACKAGED)
            copy.parent.mkdir(parents=True, exist_ok=True)
            copy.symlink_to(path)
    for name, update in changes.items():
        config = json.loads((target / name).read_text())
        config.update(update)
        (target / name).unlink()
        (target / name).write_text(json.dumps(config))
    return target


def model_copy_with_pooling(tmp_path: Path, pooling: dict[str, object]) -> Path:
    """The packaged model pooling another way (the old flags all off, then ``pooling``)."""
    config = json.loads((PACKAGED / "1_Pooling" / "config.json").read_text())
    flags_off: dict[str, object] = {k: False for k in config if k.startswith("pooling_mode_")}
    return model_copy(tmp_path, {"1_Pooling/config.json": {**flags_off, **pooling}})


def assert_same_vectors(model_dir: Path, settings: EmbeddingSettings) -> None:
    """Both of sinoqa's encoders (torch for chunks, numpy for a question's short texts) give
    sentence-transformers' vectors."""
    texts = texts_of_every_length()
    reference = SentenceTransformer(str(model_dir), device="cpu")
    expected = reference.encode(texts, normalize_embeddings=True)
    for short_texts in (False, True):
        ours = load_embed_model(settings, short_texts=short_texts)
        assert isinstance(ours, BertEmbedding)
        got = np.array(ours.get_text_embedding_batch(texts))
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() < 1e-6
        query = np.array(ours.get_query_embedding(texts[1]))
        assert np.abs(query - expected[1]).max() < 1e-6


def test_the_packaged_model_runs_on_the_light_encoder_with_sentence_transformers_vectors() -> None:
    assert_same_vectors(PACKAGED, EmbeddingSettings())


def test_cls_pooling_is_reproduced_too(tmp_path: Path) -> None:
    model_dir = model_copy_with_pooling(tmp_path, {"pooling_mode_cls_token": True})
    assert_same_vectors(model_dir, EmbeddingSettings(model=str(model_dir)))


def test_the_one_key_pooling_config_of_newer_sentence_transformers_is_read(
    tmp_path: Path,
) -> None:
    model_dir = model_copy_with_pooling(tmp_path, {"pooling_mode": "cls"})
    assert_same_vectors(model_dir, EmbeddingSettings(model=str(model_dir)))


@pytest.mark.parametrize(
    "changes",
    [
        {"sentence_bert_config.json": {"do_lower_case": True}},
        {"config.json": {"torch_dtype": "float16"}},
        {"config.json": {"hidden_act": "gelu_new"}},
        {"1_Pooling/config.json": {"pooling_mode": "max"}},
    ],
)
def test_a_model_differing_in_any_way_the_encoder_ignores_is_left_to_sentence_transformers(
    tmp_path: Path, changes: dict[str, dict[str, object]]
) -> None:
    from sinoqa.ingestion.bert_encoder import supports

    assert supports(PACKAGED)
    assert not supports(model_copy(tmp_path, changes))


def test_models_the_encoder_cannot_reproduce_load_through_sentence_transformers(
    tmp_path: Path,
) -> None:
    max_pooled = model_copy_with_pooling(tmp_path, {"pooling_mode_max_tokens": True})
    model = load_embed_model(EmbeddingSettings(model=str(max_pooled)))
    assert isinstance(model, HuggingFaceEmbedding)
    expected = SentenceTransformer(str(max_pooled), device="cpu").encode(
        ["China"], normalize_embeddings=True
    )
    assert np.abs(np.array(model.get_text_embedding("China")) - expected[0]).max() < 1e-6

    chosen = load_embed_model(EmbeddingSettings(runtime="sentence-transformers"))
    assert isinstance(chosen, HuggingFaceEmbedding)


def test_the_token_counter_counts_every_token_as_transformers_does() -> None:
    from transformers import AutoTokenizer

    reference = AutoTokenizer.from_pretrained(str(PACKAGED))
    count = token_counter(load_embed_model(EmbeddingSettings()))
    long_text = (CORPUS / sorted(p.name for p in CORPUS.glob("*.md"))[0]).read_text()
    assert len(count(long_text)) > 512  # past the tokenizer file's own truncation
    for text in [*texts_of_every_length(), long_text]:
        assert count(text) == reference.encode(text, add_special_tokens=False, verbose=False)


def test_answering_a_question_skips_the_slow_imports(seeded: Settings) -> None:
    """The cold-start budget depends on it: sentence-transformers alone takes about 4 s to
    import, NLTK about 2 s (the chunks carry their sentence spans), torch about 2 s (a
    question's texts are embedded in numpy)."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from sinoqa.pipeline import Pipeline\n"
        "from sinoqa.settings import Settings\n"
        f"settings = Settings().with_paths(corpus=Path({str(seeded.corpus.dir)!r}), "
        f"index=Path({str(seeded.index.dir)!r}))\n"
        "answer = Pipeline(settings).ask('Where did Wang Yi meet Jake Sullivan?')\n"
        "assert answer.citations, answer\n"
        "print(sorted(m for m in ('sentence_transformers', 'transformers', 'nltk', 'torch') "
        "if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("broken", ["model.safetensors", "tokenizer.json"])
def test_a_damaged_model_directory_is_a_clear_error(tmp_path: Path, broken: str) -> None:
    from sinoqa.errors import EmbeddingModelError

    model_dir = model_copy_with_pooling(tmp_path, {"pooling_mode_mean_tokens": True})
    (model_dir / broken).unlink()
    (model_dir / broken).write_text("not a model")
    with pytest.raises(EmbeddingModelError, match="cannot load embedding model"):
        load_embed_model(EmbeddingSettings(model=str(model_dir)))


def test_weights_numpy_cannot_hold_fall_back_to_torch(tmp_path: Path) -> None:
    """bfloat16 weights under a float32 config: numpy has no bfloat16, so a question's texts
    are embedded by the torch encoder instead of failing."""
    import torch
    from safetensors.torch import load_file, save_file

    model_dir = model_copy_with_pooling(tmp_path, {"pooling_mode_mean_tokens": True})
    weights = load_file(str(PACKAGED / "model.safetensors"))
    (model_dir / "model.safetensors").unlink()
    save_file(
        {k: v.to(torch.bfloat16) for k, v in weights.items()}, model_dir / "model.safetensors"
    )
    settings = EmbeddingSettings(model=str(model_dir))
    for_questions = load_embed_model(settings, short_texts=True)
    for_chunks = load_embed_model(settings)
    question = np.array(for_questions.get_query_embedding("Who met in Vienna?"))
    assert question.shape == (384,)
    assert (
        np.abs(question - np.array(for_chunks.get_query_embedding("Who met in Vienna?"))).max()
        < 1e-6
    )
