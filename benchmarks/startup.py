"""python -m benchmarks.startup (`make bench-startup`): how long a new user waits, against what
the machine must do anyway.

This machine's speed varies from day to day, so start-up is reported as a ratio to a floor
timed in the same run: ``python -c "import torch, chromadb"`` (the two libraries no answer can
do without). Each figure is the median of ``--repeats`` runs, taken in turn (floor, cold
``sinoqa ask``, ``sinoqa serve`` to its first answer), so that a slow minute hits all three.
Writes benchmarks/startup.json and benchmarks/startup.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import median, sinoqa_command, sinoqa_server
from sinoqa import pipeline
from sinoqa.settings import Settings

HERE = Path(__file__).resolve().parent
QUESTION = "Where did Wang Yi meet Jake Sullivan in September 2023?"
#: The goals (issue 37): cold `sinoqa ask` within 1.4x the floor, serve within 2.0x.
GOALS = {"ask": 1.4, "serve": 2.0}


def floor_seconds() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch, chromadb"], check=True)
    return time.perf_counter() - started


def ask_seconds(settings: Settings) -> float:
    started = time.perf_counter()
    done = sinoqa_command(settings, "ask", QUESTION)
    if done.returncode != 0 or "[1]" not in done.stdout:
        raise RuntimeError(f"sinoqa ask failed: {done.stdout}{done.stderr}")
    return time.perf_counter() - started


def serve_seconds(settings: Settings, log: Path) -> float:
    with sinoqa_server(settings, log, QUESTION) as server:
        return server.ready


def measure(settings: Settings, repeats: int, work: Path) -> dict[str, Any]:
    runs: dict[str, list[float]] = {"floor": [], "ask": [], "serve": []}
    for _ in range(repeats):
        runs["floor"].append(floor_seconds())
        runs["ask"].append(ask_seconds(settings))
        runs["serve"].append(serve_seconds(settings, work / "serve.log"))
    result: dict[str, Any] = {name: round(median(values), 2) for name, values in runs.items()}
    result["runs"] = {name: [round(v, 2) for v in values] for name, values in runs.items()}
    for name in GOALS:
        result[f"{name}_ratio"] = round(result[name] / result["floor"], 2)
    return result


def write(result: dict[str, Any], out: Path) -> None:
    floor = result["floor"]
    lines = [
        "# Start-up against the import floor",
        "",
        f"Produced by `{result['command']}` on {result['date']} ({result['machine']}); "
        f"medians of {result['repeats']} runs taken in turn.",
        "",
        "| what | seconds | × floor | goal |",
        "|---|---|---|---|",
        f'| floor: `python -c "import torch, chromadb"` | {floor:.2f} | 1.00 | — |',
        f"| cold `sinoqa ask` (seed index) | {result['ask']:.2f} | {result['ask_ratio']:.2f} | "
        f"≤ {GOALS['ask']} |",
        f"| `sinoqa serve` to its first answer | {result['serve']:.2f} | "
        f"{result['serve_ratio']:.2f} | ≤ {GOALS['serve']} |",
        "",
    ]
    out.write_text("\n".join(lines), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.startup", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sinoqa-startup-") as tmp:
        work = Path(tmp)
        settings = Settings().with_paths(corpus=Path("corpus"), index=work / "index")
        pipeline.ingest(settings)
        result = measure(settings, args.repeats, work)
    result.update(
        command="python -m benchmarks.startup " + " ".join(argv or sys.argv[1:]),
        date=dt.date.today().isoformat(),
        machine=f"{platform.machine()}, Python {platform.python_version()}",
        repeats=args.repeats,
    )
    (args.out / "startup.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    write(result, args.out / "startup.md")
    print((args.out / "startup.md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
