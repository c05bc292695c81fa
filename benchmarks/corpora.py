"""Benchmark corpora from real news: subsets of rtqa-dev sized in chunks, plus variants.

Sizes are reached by whole articles, in a fixed order, using an estimate of each article's
chunk count (the measured count is reported after indexing). Beyond the real corpus, more
articles are made by shuffling real sentences across articles (fixed seed, new doc_ids), so
BM25 and the dense index keep a realistic vocabulary instead of random words.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sinoqa.ingestion.corpus import Document, read_file
from sinoqa.settings import ChunkSettings, Settings

# News English runs about 1.3 model tokens per word; each chunk adds its size less the overlap.
_TOKENS_PER_WORD = 1.3
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"“])")


@dataclass(frozen=True)
class Article:
    path: Path
    estimated_chunks: int


def estimate_chunks(text: str, chunking: ChunkSettings | None = None) -> int:
    """Chunks ``text`` will make with the chunk settings in use (the configured ones)."""
    chunking = chunking or Settings().chunking
    new_tokens_per_chunk = chunking.chunk_size - chunking.chunk_overlap
    return max(1, round(len(text.split()) * _TOKENS_PER_WORD / new_tokens_per_chunk + 0.5))


def read_corpus(corpus: Path) -> list[tuple[Path, Document]]:
    """The corpus's articles in a fixed order (by file name), read once."""
    return [(path, read_file(path)) for path in sorted(corpus.glob("*.md"))]


def real_articles(read: Sequence[tuple[Path, Document]]) -> list[Article]:
    """The articles with their estimated chunk counts."""
    return [Article(path, estimate_chunks(document.text)) for path, document in read]


def make_variants(
    documents: Sequence[Document], target_chunks: int, out_dir: Path, seed: int = 7
) -> list[Article]:
    """Write articles of real sentences shuffled across articles until ``target_chunks``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sentences = [s for d in documents for s in _SENTENCE.split(d.text) if len(s.split()) >= 5]
    lengths = [len(_SENTENCE.split(d.text)) for d in documents]
    rng = random.Random(seed)
    rng.shuffle(sentences)
    articles: list[Article] = []
    total, cursor, number = 0, 0, 0
    while total < target_chunks:
        count = max(5, rng.choice(lengths))
        picked = [sentences[(cursor + i) % len(sentences)] for i in range(count)]
        cursor += count
        number += 1
        body = _paragraphs(picked, rng)
        doc_id = f"variant-{seed}-{number:05d}"
        path = out_dir / f"{doc_id}.md"
        path.write_text(
            "---\n"
            f"doc_id: {doc_id}\n"
            f'title: "Shuffled real sentences {number}"\n'
            'publisher: "benchmark variant"\n'
            "---\n\n" + body + "\n",
            encoding="utf-8",
        )
        article = Article(path, estimate_chunks(body))
        articles.append(article)
        total += article.estimated_chunks
    return articles


def _paragraphs(sentences: Sequence[str], rng: random.Random) -> str:
    paragraphs, position = [], 0
    while position < len(sentences):
        size = rng.randint(2, 5)
        paragraphs.append(" ".join(s.strip() for s in sentences[position : position + size]))
        position += size
    return "\n\n".join(paragraphs)


def take_until(articles: Sequence[Article], chunks: int) -> list[Article]:
    """The first articles whose estimated chunks add up to ``chunks``."""
    taken, total = [], 0
    for article in articles:
        if total >= chunks:
            break
        taken.append(article)
        total += article.estimated_chunks
    return taken
