"""Calibrate copy detection (`make fit-copies`): from which Jaccard similarity two
articles carry one text, on a labelled set of article pairs from the shared rtqa corpora.

``sample`` draws the pairs (evals/copies/pairs.jsonl, without texts: they stay in
../shared): natural pairs across the similarity range (MinHash LSH candidates and pairs of
one question's candidate articles, stratified by their Jaccard similarity) and pairs derived
from one article by trimming its ending, giving it another title and outlet, or adding a
paragraph of another article. Each pair is labelled by reading it: "same text", "same story,
rewritten" or "different". ``fit`` scores every threshold on the labels ("same text" is
positive) and picks the lowest whose precision is at least ``--min-precision``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sinoqa.evals.records import RESULTS_DIR
from sinoqa.ingestion.clean import clean_text
from sinoqa.ingestion.copies import jaccard, shingles

PAIRS = Path(__file__).resolve().parents[3] / "evals" / "copies" / "pairs.jsonl"
RECORD = RESULTS_DIR / "copies" / "calibration.json"
LABELS = ("same text", "same story, rewritten", "different")
#: Natural pairs drawn per Jaccard band (fewer where the corpora hold fewer).
BANDS = {
    (0.0, 0.1): 30,
    (0.1, 0.3): 30,
    (0.3, 0.5): 30,
    (0.5, 0.7): 40,
    (0.7, 0.8): 20,
    (0.8, 0.9): 20,
    (0.9, 0.97): 20,
    (0.97, 1.01): 30,
}
DERIVED = {"trimmed": 40, "retitled": 30, "extended": 40, "trimmed+extended": 20}


@dataclass(frozen=True)
class Article:
    set: str
    doc_id: str
    meta: dict[str, str]
    body: str

    @property
    def paragraphs(self) -> list[str]:
        return [p.strip() for p in self.body.split("\n\n") if p.strip()]


def read_article(path: Path, set_name: str) -> Article:
    text = path.read_text(encoding="utf-8", errors="replace")
    meta: dict[str, str] = {}
    if text.startswith("---"):
        _, head, text = text.split("---", 2)
        for line in head.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                meta[key.strip()] = value.strip().strip('"')
    return Article(set_name, path.stem, meta, text.strip())


def corpora(roots: Sequence[Path]) -> dict[str, Article]:
    return {
        p.stem: read_article(p, root.name)
        for root in roots
        for p in sorted((root / "corpus").glob("*.md"))
    }


def derived_text(pair: dict[str, Any], articles: dict[str, Article]) -> str:
    """The second text of a derived pair, made again from its recipe."""
    source = articles[pair["a"]].paragraphs
    kind = pair["kind"]
    kept = source[: max(1, round(len(source) * pair["keep"]))] if "trimmed" in kind else source
    if "extended" in kind:
        extra = articles[pair["extra"]].paragraphs[pair["extra_paragraph"]]
        kept = [*kept[: pair["at"]], extra, *kept[pair["at"] :]]
    return "\n\n".join(kept)


def pair_texts(pair: dict[str, Any], articles: dict[str, Article]) -> tuple[str, str]:
    first = articles[pair["a"]].body
    if pair["kind"] == "natural":
        return first, articles[pair["b"]].body
    return first, derived_text(pair, articles)


def sample(roots: Sequence[Path], seed: int = 39) -> list[dict[str, Any]]:
    """The pairs to label: natural ones by band, then derived ones."""
    from datasketch import MinHash, MinHashLSH

    rng = random.Random(seed)
    articles = corpora(roots)
    sets = {d: shingles(a.body) for d, a in articles.items() if len(a.body.split()) >= 80}
    lsh = MinHashLSH(threshold=0.3, num_perm=128)
    hashes = {}
    for doc_id, shingle_set in sets.items():
        minhash = MinHash(num_perm=128, seed=1, scheme="affine32")
        minhash.update_batch([s.encode() for s in shingle_set])
        hashes[doc_id] = minhash
        lsh.insert(doc_id, minhash)
    found = {tuple(sorted((d, o))) for d, m in hashes.items() for o in lsh.query(m) if o != d}
    found |= set(_same_question_pairs(roots, sets, rng))
    scored = sorted((jaccard(sets[a], sets[b]), a, b) for a, b in found)
    pairs: list[dict[str, Any]] = []
    for (low, high), wanted in BANDS.items():
        band = [(j, a, b) for j, a, b in scored if low <= j < high]
        for j, a, b in rng.sample(band, min(wanted, len(band))):
            pairs.append({"kind": "natural", "a": a, "b": b, "jaccard": round(j, 4)})
    pairs += list(_derived(articles, sorted(sets), rng))
    for number, pair in enumerate(pairs, start=1):
        pair["id"] = f"p{number:03d}"
    return pairs


def _same_question_pairs(
    roots: Sequence[Path], sets: dict[str, frozenset[str]], rng: random.Random
) -> Iterator[tuple[str, str]]:
    """Two candidate articles of one question: one topic, mostly written apart."""
    for root in roots:
        for line in (root / "questions.jsonl").read_text("utf-8").splitlines():
            candidates = [d for d in json.loads(line).get("candidate_docs", []) if d in sets]
            if len(candidates) >= 2:
                a, b = rng.sample(candidates, 2)
                yield (min(a, b), max(a, b))


def _derived(
    articles: dict[str, Article], usable: list[str], rng: random.Random
) -> Iterator[dict[str, Any]]:
    long_enough = [d for d in usable if len(articles[d].paragraphs) >= 4]
    for kind, count in DERIVED.items():
        for doc_id in rng.sample(long_enough, count):
            pair: dict[str, Any] = {"kind": kind, "a": doc_id, "b": f"{doc_id}~{kind}"}
            if "trimmed" in kind:
                pair["keep"] = round(rng.uniform(0.5, 0.9), 2)
            if "extended" in kind:
                extra = rng.choice([d for d in long_enough if d != doc_id])
                pair["extra"] = extra
                pair["extra_paragraph"] = rng.randrange(len(articles[extra].paragraphs))
                pair["at"] = rng.randrange(1, len(articles[doc_id].paragraphs))
            if kind == "retitled":
                pair["title"] = f"Copy of {articles[doc_id].meta.get('title', doc_id)}"
            yield pair


def fit(
    pairs: Sequence[dict[str, Any]], articles: dict[str, Article], min_precision: float
) -> dict[str, Any]:
    """Precision and recall of "same text" at each threshold; the one chosen."""
    scored = []
    for pair in pairs:
        # Compared as the index compares them: cleaned as an ingest cleans them.
        first, second = (clean_text(t) for t in pair_texts(pair, articles))
        scored.append((jaccard(shingles(first), shingles(second)), pair["label"] == "same text"))
    positives = sum(same for _, same in scored)
    table = []
    for step in range(10, 100, 5):
        threshold = step / 100
        found = [same for j, same in scored if j >= threshold]
        precision = sum(found) / len(found) if found else 1.0
        recall = sum(found) / positives if positives else 0.0
        table.append(
            {
                "min_jaccard": threshold,
                "precision": round(precision, 4),
                "recall": round(recall, 4),
                "found": len(found),
            }
        )
    able = [row for row in table if row["precision"] >= min_precision]
    chosen = (
        min(able, key=lambda r: r["min_jaccard"])
        if able
        else max(table, key=lambda r: r["precision"])
    )
    counts = {label: sum(p["label"] == label for p in pairs) for label in LABELS}
    return {"pairs": len(pairs), "labels": counts, "chosen": chosen, "table": table}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["sample", "fit"])
    parser.add_argument("--rtqa", type=Path, action="append", help="rtqa-style folders")
    parser.add_argument("--min-precision", type=float, default=0.95)
    args = parser.parse_args(argv)
    roots = args.rtqa or [Path("../shared/rtqa-dev"), Path("../shared/rtqa-train")]
    if args.action == "sample":
        PAIRS.parent.mkdir(parents=True, exist_ok=True)
        lines = [json.dumps(p | {"label": None, "note": ""}) for p in sample(roots)]
        PAIRS.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"{len(lines)} pairs to label in {PAIRS}")
        return
    pairs = [json.loads(line) for line in PAIRS.read_text("utf-8").splitlines() if line]
    unlabelled = [p["id"] for p in pairs if p.get("label") not in LABELS]
    if unlabelled:
        raise SystemExit(f"{len(unlabelled)} pairs are not labelled yet: {unlabelled[:5]}")
    record = {"measured": dt.date.today().isoformat(), "min_precision": args.min_precision}
    record |= fit(pairs, corpora(roots), args.min_precision)
    RECORD.parent.mkdir(parents=True, exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: record[k] for k in ("pairs", "labels", "chosen")}, indent=2))


if __name__ == "__main__":
    main()
