"""python -m benchmarks.scale: the largest real corpus at hand, ingested and queried.

    python -m benchmarks.scale            # rtqa-train + rtqa-dev (8,591 articles; ~1 h here)
    python -m benchmarks.scale --limit 40 --questions 5 --out /tmp/scale   # a quick look

Ingests ../shared/rtqa-train (6,237 articles) with `sinoqa ingest` in its own process (its
chunks/s, peak RSS and the index's size on disk), times raw SentenceTransformer encoding of a
sample of the same chunks, then adds ../shared/rtqa-dev to the same index and times the
extractive pipeline on two question sets, rtqa-dev and rtqa-train (p50 / p95 per stage, warm,
each question asked on its `question_date` as `sinoqa eval` asks it). Writes scale.md and
scale.json to --out. `--times-only` re-times the questions on the index a previous run left
in --work, keeping that run's ingest figures (from --out/scale.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.measure import chunk_texts, query_latency, sinoqa_command, timed
from sinoqa import pipeline
from sinoqa.evals.questions import load_questions
from sinoqa.settings import Settings

REPO = Path(__file__).resolve().parent.parent
#: The latency goals the report checks (ms, p50 of the stage).
GOALS_MS = {"answer": 100, "total": 300}


def _link(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True)
    for source in files:
        (folder / source.name).symlink_to(source.resolve())
    return [folder / source.name for source in files]


def _ingest(settings: Settings, folder: Path) -> dict[str, Any]:
    """`sinoqa ingest FOLDER` in a child process: seconds, chunks/s, peak RSS."""
    started = time.perf_counter()
    done = sinoqa_command(settings, "ingest", str(folder), "--json", check=True, timeout=4 * 3600)
    seconds = time.perf_counter() - started
    report = json.loads(done.stdout)
    # The largest child's peak: this ingest, as the children before it were small.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "articles": len(report["added"]) + len(report["updated"]),
        "chunks": report["chunks_total"],
        "chunks_embedded": report["chunks_embedded"],
        "seconds": seconds,
        "chunks_per_s": report["chunks_embedded"] / seconds,
        "peak_rss_mib": peak_kib / 1024,
    }


def _machine() -> str:
    return f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs"


def _size_mib(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def _raw_rate(settings: Settings, paths: list[Path]) -> float:
    from sentence_transformers import SentenceTransformer

    from sinoqa.ingestion.embedding import resolve_model_path

    texts = chunk_texts(settings, paths)
    model = SentenceTransformer(resolve_model_path(settings.embedding.model), device="cpu")
    seconds = timed(
        lambda: model.encode(
            texts, batch_size=settings.embedding.batch_size, normalize_embeddings=True
        )
    )
    return len(texts) / seconds


def write(results: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "scale.json").write_text(json.dumps(results, indent=2) + "\n")
    train, both = results["train_ingest"], results["combined_ingest"]
    sets = [
        (f"{results[key]['questions']} {name}", results[key])
        for key, name in (("latency", "rtqa-dev"), ("latency_train", "rtqa-train"))
        if key in results
    ]
    meets = all(
        latency[f"{stage}_p50_ms"] <= goal
        for _, latency in sets
        for stage, goal in GOALS_MS.items()
    )
    lines = [
        "# Scale: the largest real corpus at hand",
        "",
        f"`{results['command']}` on {results['machine']}, {results['date']}.",
        "",
        "| step | articles | chunks | seconds | chunks/s | peak RSS MiB |",
        "|---|---|---|---|---|---|",
        f"| ingest rtqa-train | {train['articles']} | {train['chunks']} | "
        f"{train['seconds']:.0f} | {train['chunks_per_s']:.1f} | {train['peak_rss_mib']:.0f} |",
        f"| add rtqa-dev | {both['articles']} | {both['chunks']} | {both['seconds']:.0f} | "
        f"{both['chunks_per_s']:.1f} | {both['peak_rss_mib']:.0f} |",
        "",
        f"Raw SentenceTransformer encoding of {results['raw_sample_articles']} of the same "
        f"articles' chunks: {results['raw_chunks_per_s']:.1f} chunks/s. Index on disk: "
        f"{results['index_mib']:.0f} MiB.",
        "",
        *([results["note"], ""] if results.get("note") else []),  # what the figures may miss
        f"Questions on the combined index ({both['chunks']} chunks), warm, p50 / p95 ms"
        + (f" (timed {results['timed']})" if results.get("timed") else "")
        + ":",
        "",
        "| questions | retrieve | answer | total |",
        "|---|---|---|---|",
        *(
            f"| {len_and_name} | "
            + " | ".join(
                f"{latency[f'{stage}_p50_ms']:.0f} / {latency[f'{stage}_p95_ms']:.0f}"
                for stage in ("retrieve", "answer", "total")
            )
            + " |"
            for len_and_name, latency in sets
        ),
        "",
        f"Goals (p50): answer ≤ {GOALS_MS['answer']} ms, total ≤ {GOALS_MS['total']} ms: "
        + ("met" if meets else "**not met**")
        + f". The largest corpus measured, {train['articles'] + both['articles']:,} articles "
        f"in {both['chunks']:,} chunks, is served "
        + ("within" if meets else "**outside**")
        + " them by one machine.",
        "",
    ]
    (out / "scale.md").write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__)
    parser.add_argument("--train", type=Path, default=REPO.parent / "shared" / "rtqa-train")
    parser.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "rtqa-dev")
    parser.add_argument("--work", type=Path, default=REPO / ".bench-scale")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    parser.add_argument("--limit", type=int, default=None, help="articles of each set")
    parser.add_argument("--questions", type=int, default=100, help="timed questions per set")
    parser.add_argument(
        "--times-only", action="store_true", help="re-time the questions on --work's index"
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    corpus = args.work / "corpus"
    settings = Settings().with_paths(corpus=corpus, index=args.work / "index")
    arguments = sys.argv[1:] if argv is None else argv
    command = " ".join(["python -m benchmarks.scale", shlex.join(arguments)]).strip()
    if args.times_only:
        results = json.loads((args.out / "scale.json").read_text())
        chunks = pipeline.status(settings).chunks
        if chunks != results["combined_ingest"]["chunks"]:
            raise SystemExit(
                f"--times-only: {args.work / 'index'} holds {chunks} chunks, the run in "
                f"{args.out / 'scale.json'} built {results['combined_ingest']['chunks']}"
            )
        results["timed"] = f"by `{command}` on {_machine()}, {time.strftime('%Y-%m-%d %H:%M')}"
    else:
        results = _build(args, corpus, settings, command)
    print("query latency on the combined index", flush=True)
    for key, folder in (("latency", args.dev), ("latency_train", args.train)):
        results[key] = _latency(settings, folder, args.questions)
    write(results, args.out)
    print((args.out / "scale.md").read_text())
    return 0


def _latency(settings: Settings, folder: Path, count: int) -> dict[str, Any]:
    """Warm per-stage latency of ``count`` of the set's dated questions (ten more warm up)."""
    questions = [q for q in load_questions(folder / "questions.jsonl") if q.question_date]
    warmup, timed_questions = questions[:10], questions[10 : 10 + count]
    return query_latency(
        settings,
        [q.question for q in warmup],
        [q.question for q in timed_questions],
        [q.question_date for q in timed_questions],
    )


def _build(
    args: argparse.Namespace, corpus: Path, settings: Settings, command: str
) -> dict[str, Any]:
    """Ingest rtqa-train, time raw encoding, add rtqa-dev: the ingest figures."""
    if args.work.exists():
        shutil.rmtree(args.work)
    # The sets' files, linked in: ingested by folder (thousands of paths would not fit a
    # command line), and the corpus folder stays the project's shared copy.
    train = _link(sorted((args.train / "corpus").glob("*.md"))[: args.limit], corpus / "train")
    _link(sorted((args.dev / "corpus").glob("*.md"))[: args.limit], corpus / "dev")
    results: dict[str, Any] = {
        "command": command,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": _machine(),
    }
    print(f"1/3 ingest {len(train)} rtqa-train articles", flush=True)
    results["train_ingest"] = _ingest(settings, corpus / "train")
    print("2/3 raw encoding of a sample; add rtqa-dev", flush=True)
    sample = train[:200]
    results["raw_sample_articles"] = len(sample)
    results["raw_chunks_per_s"] = _raw_rate(settings, sample)
    results["combined_ingest"] = _ingest(settings, corpus / "dev")
    results["index_mib"] = _size_mib(args.work / "index")
    return results


if __name__ == "__main__":
    raise SystemExit(main())
