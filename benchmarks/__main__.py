"""python -m benchmarks: measure sinoqa's speed, scale and memory; write results.md + chart.

    python -m benchmarks                      # the full run (1k, 10k, 50k chunks; ~1 h here)
    python -m benchmarks --sizes 300,1000 --questions 20 --out /tmp/bench   # a quick look

The real-news corpus is ../shared/rtqa-dev (override with --rtqa). Work files (indexes,
shuffled variant articles) go under --work and are rebuilt on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import corpora, measure, report
from sinoqa import pipeline
from sinoqa.evals.questions import load_questions
from sinoqa.settings import Settings

REPO = Path(__file__).resolve().parent.parent
SEED_QUESTION = "Where did Wang Yi meet Jake Sullivan in September 2023?"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--rtqa", type=Path, default=REPO.parent / "shared" / "rtqa-dev")
    parser.add_argument("--work", type=Path, default=REPO / ".bench")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    parser.add_argument("--sizes", default="1000,10000,50000", help="corpus sizes in chunks")
    parser.add_argument("--questions", type=int, default=100, help="timed questions per size")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the short runs")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    all_questions = load_questions(args.rtqa / "questions.jsonl")
    warmup = [q.question for q in all_questions[:10]]
    timed = [q.question for q in all_questions[10 : 10 + args.questions]]

    def settings(name: str, corpus: Path | None = None) -> Settings:
        return Settings().with_paths(corpus=corpus or args.rtqa / "corpus", index=args.work / name)

    results: dict[str, Any] = {
        "command": " ".join(
            ["python -m benchmarks", shlex.join(sys.argv[1:] if argv is None else argv)]
        ).strip(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, {_cpus()} CPUs, Python {platform.python_version()}",
    }
    read = corpora.read_corpus(args.rtqa / "corpus")
    real = corpora.real_articles(read)
    real_total = sum(a.estimated_chunks for a in real)
    pool = list(real)
    if sizes[-1] > real_total:
        pool += corpora.make_variants(
            [document for _, document in read], sizes[-1] - real_total, args.work / "variants"
        )

    print("1/5 ingest throughput vs raw encoding", flush=True)
    sample = [a.path for a in corpora.take_until(real, sizes[0])]
    results["throughput"] = measure.ingest_throughput(settings, sample, repeats=2)
    for scratch in args.work.glob("throughput-*"):
        shutil.rmtree(scratch)

    print("2/5 unchanged re-ingest and cold start (seed corpus)", flush=True)
    seeds = settings("seed-index", REPO / "corpus")
    results["reingest"] = measure.unchanged_reingest(seeds, args.repeats)
    results["cold"] = measure.cold_ask(seeds, SEED_QUESTION, args.repeats)
    results["serve_seed"] = measure.serve_run(
        seeds, [SEED_QUESTION, *timed[:4]], args.work / "serve-seed.log"
    )

    print("3/5 query latency by corpus size", flush=True)
    grown = settings("index")
    results["sizes"] = []
    indexed: set[Path] = set()
    for size in sizes:
        paths = [a.path for a in corpora.take_until(pool, size) if a.path not in indexed]
        ingested = pipeline.ingest(grown, paths)
        indexed.update(paths)
        row: dict[str, Any] = {
            "target_chunks": size,
            "chunks": ingested.chunks_total,
            "articles": len(pipeline.status(grown).records),
            "ingest_chunks_per_s": ingested.chunks_embedded / ingested.seconds,
        }
        print(f"  {ingested.chunks_total} chunks; timing {len(timed)} questions", flush=True)
        row["sinoqa"] = measure.query_latency(grown, warmup, timed)
        row["baseline"] = measure.baseline_latency(grown, warmup, timed)
        results["sizes"].append(row)

    print("4/5 retrieval quality at the largest size (sinoqa vs plain VectorStoreIndex)")
    if sizes[-1] >= real_total:
        results["hit_at_5"] = measure.hit_at_5(grown, all_questions)

    print("5/5 memory of sinoqa serve at the largest size", flush=True)
    results["serve_large"] = measure.serve_run(grown, timed[:5], args.work / "serve-large.log")

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(results, args.out)
    print((args.out / "results.md").read_text())
    return 0


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
