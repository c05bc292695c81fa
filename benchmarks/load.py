"""python -m benchmarks.load: concurrent chat sessions against a real `sinoqa serve`.

    python -m benchmarks.load                          # N = 1, 4, 16, 32 sessions
    python -m benchmarks.load --levels 1,4 --turns 2   # what the test suite runs

Starts `sinoqa serve` on 127.0.0.1 over the seed corpus (indexed into --work), then for each
level runs N `gradio_client` sessions at once, each asking its own questions and follow-ups
through the `/chat` endpoint. Every answer must be the one a lone session gets for the same
question and history (the extractive answerer is deterministic), so a lost, failed or
mixed-up answer shows as an error. Requests are bounded in count and time; the server is
stopped at the end. Writes load.md and load.json to --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.measure import percentile, sinoqa_server
from sinoqa import pipeline
from sinoqa.settings import Settings

REPO = Path(__file__).resolve().parent.parent

# (question, the article it is about, a follow-up about the same article)
SCRIPTS = [
    (
        "Where did Wang Yi meet Jake Sullivan in September 2023?",
        "eir-2023-new-balance",
        "And how much US military aid to Taiwan did it mention?",
    ),
    (
        "What did Jake Sullivan and Wang Yi discuss in Vienna?",
        "islamabad-telegraph-2023-de-risk",
        "And what did China demand before a defence meeting?",
    ),
    (
        "What did Yang Jiechi ask the United States to do?",
        "teneo-2021-first-contact",
        "And which regions did he call internal affairs?",
    ),
    (
        "Which working groups will Washington and Beijing create?",
        "ft-2023-communication-lines",
        "And who called the renewed contacts zombie engagement?",
    ),
    (
        "Which US official visited Moscow to improve relations?",
        "scmp-2021-bad-faith",
        "And how large could China's warhead stockpile be by 2030?",
    ),
]


@dataclass
class Level:
    sessions: int
    via: str = "chat"  # "chat": gradio_client sessions on /chat; "api": POST /api/v1/ask
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, seconds: float, error: str | None = None) -> None:
        with self.lock:
            self.requests += 1
            self.latencies.append(seconds)
            if error:
                self.errors.append(error)

    def row(self) -> dict[str, Any]:
        return {
            "via": self.via,
            "sessions": self.sessions,
            "requests": self.requests,
            "errors": len(self.errors),
            "throughput_rps": self.requests / self.seconds if self.seconds else 0.0,
            "p50_s": percentile(self.latencies, 0.5) if self.latencies else None,
            "p95_s": percentile(self.latencies, 0.95) if self.latencies else None,
            "first_errors": self.errors[:5],
        }


def turns_for(session: int, turns: int) -> list[tuple[str, str]]:
    """A session's questions in order: (question, expected article); follow-ups included."""
    asked: list[tuple[str, str]] = []
    script = session
    while len(asked) < turns:
        question, doc_id, follow_up = SCRIPTS[script % len(SCRIPTS)]
        asked += [(question, doc_id), (follow_up, doc_id)]
        script += 1
    return asked[:turns]


def run_session(
    url: str, session: int, turns: int, reference: dict[tuple[int, int], str], level: Level
) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
    except Exception as exc:  # the server refused a new session
        level.record(0.0, f"session {session}: cannot connect: {exc}")
        return
    for turn, (question, doc_id) in enumerate(turns_for(session, turns)):
        started = time.perf_counter()
        try:
            _, _, answer, _ = client.submit(question, api_name="/chat").result(timeout=300)
        except Exception as exc:
            error = f"session {session} turn {turn}: {type(exc).__name__}: {exc}"
            level.record(time.perf_counter() - started, error)
            continue
        level.record(time.perf_counter() - started, check(answer, session, turn, doc_id, reference))


def run_api_client(
    url: str, client: int, turns: int, reference: dict[tuple[int, int], str], level: Level
) -> None:
    """One JSON API client: ``turns`` questions (no follow-ups: /api/v1/ask is one turn)."""
    import httpx

    for turn in range(turns):
        question, doc_id, _ = SCRIPTS[(client + turn) % len(SCRIPTS)]
        started = time.perf_counter()
        try:
            response = httpx.post(f"{url}api/v1/ask", json={"question": question}, timeout=300)
            response.raise_for_status()
            answer = response.json()
        except Exception as exc:
            error = f"api client {client} turn {turn}: {type(exc).__name__}: {exc}"
            level.record(time.perf_counter() - started, error)
            continue
        key = (-1 - (client + turn) % len(SCRIPTS), 0)  # the API's own reference answers
        seconds = time.perf_counter() - started
        level.record(seconds, check(answer, client, turn, doc_id, reference, key))


def check(
    answer: dict[str, Any],
    session: int,
    turn: int,
    doc_id: str,
    reference: dict[tuple[int, int], str],
    key: tuple[int, int] | None = None,
) -> str | None:
    """None when the answer is right for this session's own question; else what is wrong."""
    cited = {c["doc_id"] for c in answer.get("citations", [])}
    if doc_id not in cited:
        return f"session {session} turn {turn}: cites {sorted(cited)}, not {doc_id}"
    key = key or (session % len(SCRIPTS), turn)
    expected = reference.setdefault(key, answer["answer"])
    if answer["answer"] != expected:
        return f"session {session} turn {turn}: answer differs from a lone session's"
    return None


def run_level(
    url: str,
    sessions: int,
    turns: int,
    reference: dict[tuple[int, int], str],
    first_session: int = 0,
    via: str = "chat",
) -> Level:
    level = Level(sessions, via)
    run = run_api_client if via == "api" else run_session
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=sessions) as pool:
        for session in range(first_session, first_session + sessions):
            pool.submit(run, url, session, turns, reference, level)
    level.seconds = time.perf_counter() - started
    return level


def write(rows: list[dict[str, Any]], out: Path, command: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "load.json").write_text(json.dumps({"command": command, "levels": rows}, indent=2))
    lines = [
        "# Load: concurrent chat sessions and JSON API clients against `sinoqa serve`",
        "",
        f"Produced by `{command}` on {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        "| via | sessions | requests | errors | throughput (req/s) | p50 latency (s) | "
        "p95 latency (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['via']} | {row['sessions']} | {row['requests']} | {row['errors']} | "
            f"{row['throughput_rps']:.2f} | {row['p50_s']:.2f} | {row['p95_s']:.2f} |"
        )
    (out / "load.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.load", description=__doc__)
    parser.add_argument("--levels", default="1,4,16,32", help="concurrent sessions per level")
    parser.add_argument("--turns", type=int, default=4, help="questions per session")
    parser.add_argument("--work", type=Path, default=REPO / ".bench" / "load")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    command = " ".join(["python -m benchmarks.load", *(sys.argv[1:] if argv is None else argv)])
    settings = Settings().with_paths(corpus=REPO / "corpus", index=args.work / "index")
    pipeline.ingest(settings)
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    with sinoqa_server(settings, args.work / "serve.log") as server:
        # What a lone session gets for each script: the answers every level must reproduce.
        reference: dict[tuple[int, int], str] = {}
        for script in range(len(SCRIPTS)):
            lone = run_level(server.url, 1, args.turns, reference, first_session=script)
            if lone.errors:
                raise RuntimeError(f"a lone session fails: {lone.errors}")
        levels = sorted(int(n) for n in args.levels.split(","))
        for sessions in levels:
            level = run_level(server.url, sessions, args.turns, reference)
            rows.append(level.row())
            print(json.dumps(rows[-1]), flush=True)
        # The JSON API at the highest level, its answers checked the same way.
        for script in range(len(SCRIPTS)):
            run_level(server.url, 1, 1, reference, first_session=script, via="api")
        level = run_level(server.url, levels[-1], args.turns, reference, via="api")
        rows.append(level.row())
        print(json.dumps(rows[-1]), flush=True)
    write(rows, args.out, command)
    print((args.out / "load.md").read_text())
    failed = sum(row["errors"] for row in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
