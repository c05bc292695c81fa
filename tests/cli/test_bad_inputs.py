"""Bad input of kinds the generated probes do not cover: settings in the environment,
question files with a wrong schema, control characters, huge inputs, hostile URLs. Each
gives a sentence, never a traceback, and never hangs."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sinoqa.settings import Settings
from tests.conftest import run_sinoqa

#: About 95 KB: near the most one command-line argument may hold (128 KiB on Linux).
HUGE = "Where did Wang Yi meet Jake Sullivan? " * 2_500

#: (what is tried, the command, environment variables, whether it must fail, words it says)
CASES: list[tuple[str, list[str], dict[str, str], bool, str]] = [
    ("a word for a number in the environment", ["status"],
     {"SINOQA_CHUNKING__CHUNK_SIZE": "lots"}, True, "invalid settings"),
    ("a negative top-k in the environment", ["ask", "x", "--index", "{index}"],
     {"SINOQA_RETRIEVAL__TOP_K": "-3"}, True, "invalid settings"),
    ("a malformed server URL in the environment", ["status"],
     {"SINOQA_INDEX__CHROMA_URL": "http://[::1"}, True, "not a valid URL"),
    ("a server that is not there", ["status"],
     {"SINOQA_INDEX__CHROMA_URL": "http://127.0.0.1:9"}, True, "Cannot reach the Chroma server"),
    ("an unknown answer backend", ["ask", "x", "--index", "{index}"],
     {"SINOQA_ANSWER__BACKEND": "magic"}, True, "invalid settings"),
    ("an embedding model that is not on disk", ["ingest", "--corpus", "{corpus}", "--index",
     "{tmp}/other-index"], {"SINOQA_EMBEDDING__MODEL": "{tmp}/no-model"}, True, "no-model"),
    ("a port out of range in the environment", ["serve", "--index", "{index}"],
     {"SINOQA_UI__PORT": "99999"}, True, "invalid settings"),
    ("an index path that cannot be written, in the environment", ["ingest", "--corpus",
     "{corpus}"], {"SINOQA_INDEX__DIR": "/proc/sinoqa-probe"}, True, "lock file"),
    ("a question file holding a JSON array", ["eval", "--questions", "{tmp}/array.jsonl",
     "--index", "{index}"], {}, True, "array.jsonl:1"),
    ("a question file that is not JSON", ["eval", "--questions", "{tmp}/not-json.jsonl",
     "--index", "{index}"], {}, True, "not-json.jsonl:1"),
    ("a question file with the same id twice", ["eval", "--questions", "{tmp}/twice.jsonl",
     "--index", "{index}"], {}, True, "duplicate id"),
    ("a question dated 30 February", ["eval", "--questions", "{tmp}/feb30.jsonl", "--index",
     "{index}"], {}, True, "not a day"),
    ("an empty question file", ["eval", "--questions", "{tmp}/empty.jsonl", "--index",
     "{index}"], {}, True, "no questions"),
    ("a question file that is not UTF-8", ["eval", "--questions", "{tmp}/latin1.txt",
     "--index", "{index}"], {}, True, "not UTF-8"),
    ("questions to ask that are not UTF-8", ["ask", "--questions", "{tmp}/latin1.txt",
     "--index", "{index}"], {}, True, "not UTF-8"),
    ("a question of control characters only", ["ask", "\x01\x02\x7f", "--index", "{index}"],
     {}, True, "empty"),
    ("a question of 95 KB", ["ask", HUGE, "--index", "{index}"], {}, False, "truncated"),
    ("right-to-left text and emoji", ["ask", "ما هو 🐼 ؟", "--index", "{index}"], {}, False,
     "don't answer"),
    ("a URL list with control characters", ["add", "--urls", "{tmp}/urls.txt", "--corpus",
     "{tmp}/web-corpus", "--index", "{tmp}/web-index"], {}, True, "rejected"),
    ("a local file URL", ["add", "file:///etc/passwd", "--corpus", "{tmp}/web-corpus",
     "--index", "{tmp}/web-index"], {}, True, "only http and https"),
    ("a cloud metadata address", ["add", "http://169.254.169.254/latest/meta-data",
     "--corpus", "{tmp}/web-corpus", "--index", "{tmp}/web-index"], {}, True, "refused"),
    ("compare with one outlet", ["compare", "Where?", "--publisher", "E-International "
     "Relations", "--index", "{index}"], {}, True, "two or more"),
    ("an outlet that is not indexed", ["ask", "Where?", "--publisher", "The Daily Nothing",
     "--index", "{index}"], {}, True, "indexed outlets"),
    ("dates the wrong way round", ["ask", "Where?", "--from", "2024", "--to", "2021",
     "--index", "{index}"], {}, True, "after date to"),
    ("an empty timeline query", ["timeline", "   ", "--index", "{index}"], {}, True, "empty"),
    ("a feedback file with lines that are not feedback", ["feedback", "list", "--index",
     "{feedback_index}"], {}, False, "left out"),
]  # fmt: skip


def _files(tmp: Path) -> None:
    (tmp / "array.jsonl").write_text("[1, 2]\n", encoding="utf-8")
    (tmp / "not-json.jsonl").write_text("{question: where}\n", encoding="utf-8")
    line = '{"id": "a", "question": "Where?"}\n'
    (tmp / "twice.jsonl").write_text(line + line, encoding="utf-8")
    dated = '{"id": "a", "question": "Where?", "question_date": "2023-02-30"}\n'
    (tmp / "feb30.jsonl").write_text(dated, encoding="utf-8")
    (tmp / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    (tmp / "latin1.txt").write_bytes("Qu'a dit le ministre à Pékin ?\n".encode("latin-1"))
    (tmp / "urls.txt").write_text("http://exa\x00mple.com/\x1b[31mred\n", encoding="utf-8")
    (tmp / "feedback-index").mkdir()
    (tmp / "feedback.jsonl").write_text('not json\n{"rating": "up"}\n', encoding="utf-8")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("tried", "args", "env", "fails", "says"), CASES, ids=[c[0] for c in CASES]
)
def test_bad_input_is_a_sentence(
    tried: str,
    args: list[str],
    env: dict[str, str],
    fails: bool,
    says: str,
    seeded: Settings,
    tmp_path: Path,
) -> None:
    _files(tmp_path)
    fill = {
        "index": str(seeded.index.dir),
        "corpus": str(seeded.corpus.dir),
        "tmp": str(tmp_path),
        "feedback_index": str(tmp_path / "feedback-index"),
    }
    command = [arg.format(**fill) if "{" in arg[:2] or "{tmp}" in arg else arg for arg in args]
    variables = {key: value.format(**fill) for key, value in env.items()}
    try:
        result = run_sinoqa(*command, cwd=tmp_path, env=variables, timeout=180)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{tried}: still running after 180 s")
    said = " ".join((result.stdout + result.stderr).split())
    assert "Traceback" not in said, said
    assert (result.returncode != 0) == fails, f"{tried}: exit {result.returncode}\n{said}"
    assert says in said, f"{tried}: expected {says!r} in\n{said}"
