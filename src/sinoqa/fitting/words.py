"""Measure the word lists in ``sinoqa/data`` on the fitting sets (``make word-lists``).

For each entry: how many times it changes a decision on the seed corpus and tuning questions,
and on rtqa-train's articles (and questions). A capitalised-run word counts each run it keeps
from being read as a person's name; an announcing noun, each sentence it makes announce a
list. The counts are written back into the files; an entry that changes nothing on either
set is removed (and named). The holdout and the validation sets are never read.
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from importlib import resources
from pathlib import Path

from sinoqa.answer.selection import announces_pattern
from sinoqa.evals.questions import SEED_TUNING_FILES
from sinoqa.fitting.examples import ROOT
from sinoqa.ingestion.sentences import sentence_spans
from sinoqa.retrieve.question import _CAPITALISED_RUN, CALENDAR_WORDS, person_names
from sinoqa.wordlists import ANNOUNCING_NOUNS, NOT_PERSON, word_list


def seed_texts(root: Path = ROOT) -> Iterator[str]:
    """The seed corpus's articles, then the tuning questions (never the holdout)."""
    for path in sorted((root / "corpus").rglob("*.md")):
        yield path.read_text(encoding="utf-8")
    for name in SEED_TUNING_FILES:
        yield from _questions(root / "evals" / name)


def rtqa_texts(directory: Path) -> Iterator[str]:
    """rtqa-train's articles, then its questions."""
    for path in sorted((directory / "corpus").glob("*.md")):
        yield path.read_text(encoding="utf-8")
    yield from _questions(directory / "questions.jsonl")


def _questions(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield str(json.loads(line)["question"])


def not_person_uses(texts: Iterable[str], listed: frozenset[str]) -> Counter[str]:
    """Per listed word, the capitalised runs whose people change without it (the calendar's
    names, derived rather than listed, stay excluded throughout)."""
    uses: Counter[str] = Counter()
    excluded = listed | CALENDAR_WORDS
    for text in texts:
        for run in _CAPITALISED_RUN.finditer(text):
            words = {re.sub(r"['’]s$", "", w).strip(".").casefold() for w in run.group().split()}
            present = words & listed
            if not present:
                continue
            people = person_names(run.group(), not_person=excluded)
            for word in present:
                if person_names(run.group(), not_person=excluded - {word}) != people:
                    uses[word] += 1
    return uses


def announcing_uses(texts: Iterable[str], listed: frozenset[str]) -> Counter[str]:
    """Per listed noun, the sentences that announce a list with it."""
    patterns = {noun: announces_pattern([noun]) for noun in listed}
    colon = announces_pattern([])  # a sentence ending in a colon announces without a noun
    uses: Counter[str] = Counter()
    for text in texts:
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            if colon.search(sentence):
                continue
            uses.update(noun for noun, pattern in patterns.items() if pattern.search(sentence))
    return uses


def rewrite(name: str, seed: Counter[str], rtqa: Counter[str]) -> list[str]:
    """Write the fresh counts into the list's file, keeping its comments and order; the
    entries that changed nothing, removed."""
    path = Path(str(resources.files("sinoqa").joinpath("data", name)))
    lines, removed = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        entry = line.split("#", 1)[0].split()
        if not entry:
            lines.append(line)
            continue
        word = entry[0].casefold()
        if seed[word] or rtqa[word]:
            lines.append(f"{entry[0]} {seed[word]} {rtqa[word]}")
        else:
            removed.append(entry[0])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    word_list.cache_clear()
    return removed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sinoqa.fitting.words", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rtqa-train", type=Path, default=ROOT.parent / "shared" / "rtqa-train")
    args = parser.parse_args(argv)
    measures = {
        NOT_PERSON: not_person_uses,
        ANNOUNCING_NOUNS: announcing_uses,
    }
    for name, measure in measures.items():
        listed = word_list(name)
        seed = measure(seed_texts(), listed)
        rtqa = measure(rtqa_texts(args.rtqa_train), listed)
        removed = rewrite(name, seed, rtqa)
        print(f"{name}: {len(listed) - len(removed)} entries kept", end="")
        print(f"; removed (changed nothing): {', '.join(removed)}" if removed else "")


if __name__ == "__main__":
    main()
