"""results.md and results.png from one benchmark run's numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

GOALS_MS = {10_000: 150.0, 50_000: 300.0}  # total p50, extractive, on the 2-core machine


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _goal(target: int) -> str:
    goal = GOALS_MS.get(target)
    return f"< {goal:.0f} ms" if goal else "—"


def write(results: dict[str, Any], out: Path) -> None:
    t, r, c = results["throughput"], results["reingest"], results["cold"]
    lines = [
        "# sinoqa benchmarks",
        "",
        f"Produced by `{results['command']}` on {results['date']} ({results['machine']}).",
        "Figures are medians over repeated runs inside that one run; latency is warm (model and",
        "index loaded), each timed question asked once after ten warm-up questions.",
        "",
        "## Ingest throughput vs raw encoding",
        "",
        _row(["", "chunks", "seconds", "chunks/s"]),
        _row(["---"] * 4),
        _row(
            [
                f"`sinoqa` full ingest ({t['articles']} articles: read, clean, chunk, embed, "
                "store)",
                t["chunks"],
                f"{t['pipeline_seconds']:.1f}",
                f"{t['pipeline_chunks_per_s']:.1f}",
            ]
        ),
        _row(
            [
                "`SentenceTransformer.encode` of the same chunk texts",
                t["chunks"],
                f"{t['raw_encode_seconds']:.1f}",
                f"{t['raw_chunks_per_s']:.1f}",
            ]
        ),
        "",
        f"Pipeline overhead over raw encoding: **{100 * t['overhead']:.1f}%** (goal: at most "
        f"15%; median of {t['repeats']} runs each).",
        "",
        f"Re-ingest of the unchanged seed corpus: **{r['in_process_s']:.3f} s** inside the "
        f"process, **{r['command_s']:.2f} s** for the whole `sinoqa ingest` command (goal: under "
        "2 s).",
        "",
        "## Query latency by corpus size (extractive answers)",
        "",
        _row(
            [
                "chunks",
                "articles",
                "retrieve p50 / p95",
                "answer p50 / p95",
                "total p50 / p95",
                "goal (total p50)",
                "plain VectorStoreIndex retrieve p50 / p95",
            ]
        ),
        _row(["---"] * 7),
    ]
    for row in results["sizes"]:
        s, b = row["sinoqa"], row["baseline"]
        lines.append(
            _row(
                [
                    f"{row['chunks']:,}",
                    f"{row['articles']:,}",
                    f"{s['retrieve_p50_ms']:.0f} / {s['retrieve_p95_ms']:.0f} ms",
                    f"{s['answer_p50_ms']:.0f} / {s['answer_p95_ms']:.0f} ms",
                    f"**{s['total_p50_ms']:.0f}** / {s['total_p95_ms']:.0f} ms",
                    _goal(row["target_chunks"]),
                    f"{b['p50_ms']:.0f} / {b['p95_ms']:.0f} ms",
                ]
            )
        )
    lines += [
        "",
        "Ratios to the baseline (a plain llama-index `VectorStoreIndex` over the same Chroma",
        "collection, dense retrieval only, no answer): total p50 / baseline retrieve p50 = "
        + ", ".join(
            f"{r['sinoqa']['total_p50_ms'] / r['baseline']['p50_ms']:.1f}× at "
            f"{r['chunks']:,} chunks"
            for r in results["sizes"]
        )
        + ".",
        "",
        "Ingest rate while growing the index (chunks embedded per second, incremental): "
        + ", ".join(
            f"{r['ingest_chunks_per_s']:.1f} up to {r['chunks']:,}" for r in results["sizes"]
        )
        + ".",
        "",
    ]
    if "hit_at_5" in results:
        h = results["hit_at_5"]
        lines += [
            "Retrieval quality at the largest size, article hit@5 on the 300 rtqa-dev questions:",
            f"sinoqa hybrid **{h['sinoqa']:.3f}**, plain VectorStoreIndex {h['baseline']:.3f}.",
            "",
        ]
    seed, large = results["serve_seed"], results["serve_large"]
    lines += [
        "## Cold start and memory",
        "",
        _row(["", "seconds", "goal"]),
        _row(["---"] * 3),
        _row(["`import sinoqa`", f"{c['import_s']:.2f}", ""]),
        _row(["`sinoqa ask` to the answer (process start to exit)", f"{c['ask_s']:.2f}", "< 8"]),
        _row(
            [
                "`sinoqa serve` to the first answered question",
                f"{seed['first_answer_s']:.2f}",
                "< 8",
            ]
        ),
        "",
        _row(["`sinoqa serve` peak RSS after five questions", "MiB"]),
        _row(["---"] * 2),
        _row(["seed corpus (5 articles)", f"{seed['peak_rss_mib']:.0f}"]),
        _row([f"{results['sizes'][-1]['chunks']:,} chunks", f"{large['peak_rss_mib']:.0f}"]),
        "",
        "![latency and throughput](results.png)",
        "",
    ]
    (out / "results.md").write_text("\n".join(lines))
    chart(results, out / "results.png")


def chart(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    chunks = [r["chunks"] for r in results["sizes"]]
    for stage, style in (("retrieve", "o-"), ("answer", "s-"), ("total", "D-")):
        left.plot(
            chunks,
            [r["sinoqa"][f"{stage}_p50_ms"] for r in results["sizes"]],
            style,
            label=f"sinoqa {stage} p50",
        )
    left.plot(
        chunks,
        [r["baseline"]["p50_ms"] for r in results["sizes"]],
        "x--",
        label="plain VectorStoreIndex retrieve p50",
    )
    for size, goal in GOALS_MS.items():
        left.plot([size], [goal], "r_", markersize=18, mew=2)
    left.plot([], [], "r_", label="goal (total p50)")
    left.set_xscale("log")
    left.set_xlabel("chunks in the index")
    left.set_ylabel("ms per question")
    left.set_title("Query latency (warm, extractive)")
    left.legend(fontsize=8)
    t = results["throughput"]
    right.bar(
        ["sinoqa ingest", "raw encode"],
        [t["pipeline_chunks_per_s"], t["raw_chunks_per_s"]],
        color=["#4c72b0", "#999999"],
    )
    right.set_ylabel("chunks per second")
    right.set_title(f"Ingest throughput ({t['chunks']} chunks)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- docs/benchmarks.md -------------------------------------------------------------------

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"
DOC_BEGIN = "<!-- generated by `make docs` from benchmarks/*.md; do not edit below -->"
#: The reports the benchmark commands write, in the order the doc shows them.
REPORTS = ("results.md", "startup.md", "scale.md", "load.md")


def doc_section(folder: Path = DOC.parent.parent / "benchmarks") -> str:
    """The committed benchmark reports, each under a second-level heading."""
    parts = []
    for name in REPORTS:
        path = folder / name
        if path.exists():
            text = path.read_text(encoding="utf-8").strip()
            # Each report's title becomes a section; its own sections go one level down.
            text = "\n".join(
                "#" + line if line.startswith("#") else line for line in text.splitlines()
            )
            text = text.replace("](results.png)", "](../benchmarks/results.png)")  # from docs/
            parts.append(text)
    return "\n\n".join(parts) + "\n"


def update_doc(path: Path = DOC) -> None:
    """Regenerate the part of docs/benchmarks.md below its marker (`make docs`)."""
    text = path.read_text(encoding="utf-8")
    head = text.split(DOC_BEGIN, 1)[0]
    path.write_text(f"{head}{DOC_BEGIN}\n\n{doc_section()}", encoding="utf-8")
