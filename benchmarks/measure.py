"""The measurements: each returns plain numbers, so the report can put them side by side.

Everything goes through sinoqa's public pipeline (ingest, Pipeline.ask, Pipeline.retriever)
or the `sinoqa` command, as users would; the baseline is plain llama-index.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.servers import free_port, serving

from sinoqa import pipeline
from sinoqa.evals import metrics
from sinoqa.evals.questions import EvalQuestion
from sinoqa.schema import Filters
from sinoqa.settings import Settings

QuestionList = Sequence[str]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The eval suite's nearest-rank percentile, so both report the same statistic."""
    value = metrics.percentile(values, q)
    if value is None:
        raise ValueError("no values")
    return float(value)


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --- ingest -------------------------------------------------------------------------------


def chunk_texts(settings: Settings, paths: Sequence[Path]) -> list[str]:
    """Exactly the texts an ingest of ``paths`` embeds (cleaned chunks with their metadata)."""
    from llama_index.core.schema import MetadataMode

    from sinoqa.ingestion.chunking import make_splitter, prepare_document
    from sinoqa.ingestion.corpus import read_corpus
    from sinoqa.ingestion.embedding import load_embed_model, token_counter

    splitter = make_splitter(settings.chunking, token_counter(load_embed_model(settings.embedding)))
    texts: list[str] = []
    for document in read_corpus(paths).documents:
        nodes = prepare_document(document, splitter).nodes
        texts.extend(n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes)
    return texts


def ingest_throughput(
    make_settings: Callable[[str], Settings], paths: Sequence[Path], repeats: int
) -> dict[str, float]:
    """Full ingests of ``paths`` into fresh indexes vs raw SentenceTransformer.encode."""
    from sinoqa.ingestion.embedding import load_embed_model

    settings = make_settings("throughput-0")
    # Loaded before timing (cold start is not throughput); the raw baseline loads the very
    # same weights from the same directory.
    embed_model = load_embed_model(settings.embedding)
    ingest_seconds, chunks = [], 0
    for run in range(repeats):
        report = pipeline.ingest(make_settings(f"throughput-{run}"), list(paths), rebuild=True)
        ingest_seconds.append(report.seconds)
        chunks = report.chunks_total
    texts = chunk_texts(settings, paths)
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(embed_model.model_name, device=settings.embedding.device)
    encode_seconds = [
        timed(
            lambda: model.encode(
                texts, batch_size=settings.embedding.batch_size, normalize_embeddings=True
            )
        )
        for _ in range(repeats)
    ]
    pipeline_rate = chunks / median(ingest_seconds)
    raw_rate = len(texts) / median(encode_seconds)
    return {
        "articles": len(paths),
        "chunks": chunks,
        "pipeline_seconds": median(ingest_seconds),
        "pipeline_chunks_per_s": pipeline_rate,
        "raw_encode_seconds": median(encode_seconds),
        "raw_chunks_per_s": raw_rate,
        "overhead": raw_rate / pipeline_rate - 1,
        "repeats": repeats,
    }


def unchanged_reingest(settings: Settings, repeats: int) -> dict[str, float]:
    """Re-ingest of an already indexed, unchanged corpus: in-process and as a command."""
    pipeline.ingest(settings)
    in_process = [pipeline.ingest(settings).seconds for _ in range(repeats)]
    command = [
        timed(lambda: sinoqa_command(settings, "ingest", check=True)) for _ in range(repeats)
    ]
    return {"in_process_s": median(in_process), "command_s": median(command), "repeats": repeats}


# --- queries -------------------------------------------------------------------------------


def query_latency(
    settings: Settings,
    warmup: QuestionList,
    questions: QuestionList,
    days: Sequence[str | None] | None = None,
) -> dict:
    """Per-stage latency of the extractive answerer, warm (model and index loaded); each
    question asked on its day in ``days`` when given (the article ranker runs then)."""
    pipe = pipeline.get_pipeline(settings)
    for question in warmup:
        pipe.ask(question)
    stages: dict[str, list[float]] = {"retrieve": [], "answer": [], "total": []}
    for question, day in zip(questions, days or [None] * len(questions), strict=True):
        answer = pipe.ask(question, Filters(as_of=day))
        for stage in stages:
            stages[stage].append(answer.timings_ms[stage])
    result: dict[str, Any] = {"questions": len(questions)}
    for stage, values in stages.items():
        result[f"{stage}_p50_ms"] = percentile(values, 0.5)
        result[f"{stage}_p95_ms"] = percentile(values, 0.95)
    return result


def baseline_retriever(settings: Settings, top_k: int) -> Any:
    """What a user would write: a plain VectorStoreIndex over the same Chroma collection."""
    from llama_index.core import VectorStoreIndex

    from sinoqa.ingestion.embedding import load_embed_model
    from sinoqa.ingestion.index import open_index

    index = VectorStoreIndex.from_vector_store(
        open_index(settings).vector_store, embed_model=load_embed_model(settings.embedding)
    )
    return index.as_retriever(similarity_top_k=top_k)


def baseline_latency(settings: Settings, warmup: QuestionList, questions: QuestionList) -> dict:
    retriever = baseline_retriever(settings, settings.retrieval.top_k)
    for question in warmup:
        retriever.retrieve(question)
    values = []
    for question in questions:
        started = time.perf_counter()
        retriever.retrieve(question)
        values.append(1000 * (time.perf_counter() - started))
    return {"p50_ms": percentile(values, 0.5), "p95_ms": percentile(values, 0.95)}


def hit_at_5(settings: Settings, questions: Sequence[EvalQuestion]) -> dict[str, float]:
    """Article-level hit@5 of sinoqa's retriever and of the baseline, same questions."""
    from llama_index.core.schema import QueryBundle

    ranking = settings.retrieval.model_copy(update={"top_k": 20, "max_chunks_per_doc": 1})
    ours = pipeline.get_pipeline(settings).retriever(None, ranking)
    theirs = baseline_retriever(settings, 20)
    scores: dict[str, list[float]] = {"sinoqa": [], "baseline": []}
    for question in questions:
        expected = set(question.expected_docs)
        for name, retriever in (("sinoqa", ours), ("baseline", theirs)):
            found = retriever.retrieve(QueryBundle(query_str=question.question))
            docs = list(dict.fromkeys(str(n.node.metadata["doc_id"]) for n in found))[:5]
            scores[name].append(float(bool(expected & set(docs))))
    return {name: sum(v) / len(v) for name, v in scores.items()}


# --- processes: cold start and memory -------------------------------------------------------


def _env(settings: Settings, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SINOQA_INDEX__DIR"] = str(settings.index.dir)
    env["SINOQA_CORPUS__DIR"] = str(settings.corpus.dir)
    env.update(extra)
    return env


def sinoqa_command(
    settings: Settings, *args: str, check: bool = False, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sinoqa.cli", *args],
        env=_env(settings),
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def cold_ask(settings: Settings, question: str, repeats: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        done = sinoqa_command(settings, "ask", question)
        if done.returncode != 0 or "[1]" not in done.stdout:
            raise RuntimeError(f"sinoqa ask failed: {done.stdout}{done.stderr}")
        seconds.append(time.perf_counter() - started)
    imports = [
        timed(lambda: subprocess.run([sys.executable, "-c", "import sinoqa"], check=True))
        for _ in range(repeats)
    ]
    return {"ask_s": median(seconds), "import_s": median(imports), "repeats": repeats}


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    ready: float  # seconds until it answered its first question


@contextmanager
def sinoqa_server(settings: Settings, log_path: Path, first_question: str = "") -> Iterator[Server]:
    """`sinoqa serve` on a free 127.0.0.1 port, yielded once it answers a question."""
    from gradio_client import Client

    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    started = time.perf_counter()
    command = [sys.executable, "-m", "sinoqa.cli", "serve"]
    environment = _env(settings, SINOQA_UI__PORT=str(port))
    with serving(command, url, log_path, timeout=300, env=environment) as process:
        Client(url, verbose=False).predict(
            question=first_question or "What is this about?", api_name="/ask"
        )
        yield Server(process, url, time.perf_counter() - started)


def serve_run(settings: Settings, questions: QuestionList, log: Path) -> dict[str, float]:
    """Seconds until `sinoqa serve` answers its first question, and its peak RSS after
    answering ``questions``."""
    from gradio_client import Client

    with sinoqa_server(settings, log, questions[0]) as server:
        client = Client(server.url, verbose=False)
        for question in questions[1:]:
            client.predict(question=question, api_name="/ask")
        peak_kib = _peak_rss_kib(server.process.pid)
    return {"first_answer_s": server.ready, "peak_rss_mib": peak_kib / 1024}


def _peak_rss_kib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return float(line.split()[1])
    raise RuntimeError("no VmHWM in /proc status (Linux only)")
