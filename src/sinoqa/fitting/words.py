"""Measure the word lists in ``sinoqa/data`` on the fitting sets (``make word-lists``).

Each entry is measured twice. Decisions: the capitalised runs whose people change without it,
or the sentences that announce a list with it, on the seed corpus and tuning questions and on
rtqa-train's articles. Answers: entries are left out for a while in blocks, least used first
(:func:`measure_list`), and every fitting question in whose own text or retrieved passages
that changes a decision is answered again, asked undated as users ask, and scored as `sinoqa
eval` scores it. An entry that loses more answers than it wins goes, and so does one that
changes no decision; the counts are written back into the files. The fitting questions are
the seed tuning questions and the article ranker's rtqa-train sample; the holdout and the
validation sets are never read.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from importlib import resources
from itertools import chain
from pathlib import Path

from sinoqa.answer.selection import announces_pattern
from sinoqa.evals.metrics import score_question
from sinoqa.evals.questions import SEED_TUNING_FILES, EvalQuestion, load_questions
from sinoqa.fitting.examples import RANKER_SAMPLE_SEED, ROOT, prepare_index, sample_questions
from sinoqa.ingestion.sentences import sentence_spans
from sinoqa.retrieve.question import CAPITALISED_RUN, person_names
from sinoqa.schema import Answer
from sinoqa.settings import Settings
from sinoqa.wordlists import (
    ANNOUNCING_NOUNS,
    NOT_PERSON,
    TITLE_WORDS,
    WORD_LISTS,
    Entry,
    entries,
    replaced,
    word_list,
)

#: Per listed word, the decisions it changes in some texts, given the whole list.
DecisionCounter = Callable[[str, Iterable[str], frozenset[str]], Counter[str]]


def seed_texts(root: Path = ROOT) -> Iterator[str]:
    """The seed corpus's articles, then the tuning questions (never the holdout)."""
    for path in sorted((root / "corpus").rglob("*.md")):
        yield path.read_text(encoding="utf-8")
    for name in SEED_TUNING_FILES:
        yield from (q.question for q in load_questions(root / "evals" / name))


def rtqa_texts(directory: Path) -> Iterator[str]:
    """rtqa-train's articles, then its questions."""
    for path in sorted((directory / "corpus").glob("*.md")):
        yield path.read_text(encoding="utf-8")
    with (directory / "questions.jsonl").open(encoding="utf-8") as lines:
        yield from (str(json.loads(line)["question"]) for line in lines if line.strip())


def _run_words(run: str) -> set[str]:
    return {re.sub(r"['’]s$", "", w).strip(".").casefold() for w in run.split()}


def person_uses(name: str, texts: Iterable[str], listed: frozenset[str]) -> Counter[str]:
    """Per word of ``listed`` (the list ``name``: words never in a name, or titles), the
    capitalised runs whose people change without it."""
    uses: Counter[str] = Counter()
    for text in texts:
        for run in CAPITALISED_RUN.finditer(text):
            present = _run_words(run.group()) & listed
            if not present:
                continue
            with replaced(name, listed):
                people = person_names(run.group())
            for word in present:
                with replaced(name, listed - {word}):
                    uses[word] += person_names(run.group()) != people
    return +uses


def announcing_uses(name: str, texts: Iterable[str], listed: frozenset[str]) -> Counter[str]:
    """Per listed noun, the sentences that announce a list with it (and no other way)."""
    patterns = {noun: announces_pattern([noun]) for noun in listed}
    colon = announces_pattern([])  # a sentence ending in a colon announces without a noun
    uses: Counter[str] = Counter()
    for text in texts:
        for start, end in sentence_spans(text):
            sentence = text[start:end]
            if not colon.search(sentence):
                uses.update(noun for noun, pattern in patterns.items() if pattern.search(sentence))
    return uses


MEASURES: dict[str, DecisionCounter] = {
    NOT_PERSON: person_uses,
    TITLE_WORDS: person_uses,
    ANNOUNCING_NOUNS: announcing_uses,
}


def answer_score(question: EvalQuestion, retrieved: Sequence[str], answer: Answer) -> float:
    """How right an answer is, as `sinoqa eval` scores it: the share of the expected facts it
    gives; for a question the corpus cannot answer, whether it refused."""
    if not question.answerable:
        return float(answer.refused)
    recall = score_question(question, retrieved, answer).fact_recall
    return float(not answer.refused) if recall is None else recall


@dataclass
class Asked:
    """One fitting question as last answered: its score, the texts the lists read (itself
    and its retrieved passages) and their words."""

    question: EvalQuestion
    score: float = 0.0
    texts: list[str] = field(default_factory=list)
    words: frozenset[str] = frozenset()

    def update(self, score: float, texts: list[str]) -> None:
        self.score, self.texts = score, texts
        self.words = frozenset(re.findall(r"[\w'’-]+", " ".join(texts).casefold()))


@dataclass
class FittingSet:
    """Fitting questions over their index, answered as the lists stand."""

    name: str
    settings: Settings
    asked: list[Asked]

    def answer(self, items: Sequence[Asked]) -> list[tuple[float, list[str]]]:
        """Each question's score and texts (itself and its retrieved passages), answered now."""
        from llama_index.core.schema import QueryBundle

        from sinoqa.dates import parse_day
        from sinoqa.pipeline import get_pipeline

        pipe = get_pipeline(self.settings)
        out = []
        for item in items:
            answer = pipe.ask(item.question.question)
            day = parse_day(answer.as_of) if answer.as_of else None
            passages = pipe.retriever(None, None, day).retrieve(QueryBundle(item.question.question))
            texts = [item.question.question, *(p.node.get_content() for p in passages)]
            docs = [str(p.node.metadata["doc_id"]) for p in passages]
            out.append((answer_score(item.question, docs, answer), texts))
        return out

    def refresh(self, items: Sequence[Asked]) -> None:
        for item, (score, texts) in zip(items, self.answer(items), strict=True):
            item.update(score, texts)


def person_change(name: str, text: str, listed: frozenset[str], removed: frozenset[str]) -> bool:
    """Whether some capitalised run of ``text`` names other people without ``removed``."""
    for run in CAPITALISED_RUN.finditer(text):
        if _run_words(run.group()) & removed:
            with replaced(name, listed):
                people = person_names(run.group())
            with replaced(name, listed - removed):
                if person_names(run.group()) != people:
                    return True
    return False


def announcing_change(
    name: str, text: str, listed: frozenset[str], removed: frozenset[str]
) -> bool:
    """Whether some sentence of ``text`` announces a list with ``removed`` and not without."""
    before, after = announces_pattern(listed), announces_pattern(listed - removed)
    return any(
        bool(before.search(text[start:end])) != bool(after.search(text[start:end]))
        for start, end in sentence_spans(text)
    )


CHANGES: dict[str, Callable[[str, str, frozenset[str], frozenset[str]], bool]] = {
    NOT_PERSON: person_change,
    TITLE_WORDS: person_change,
    ANNOUNCING_NOUNS: announcing_change,
}


@dataclass
class Trial:
    """What leaving some entries out of a list did: the answers won and lost by keeping them,
    and the questions answered again without them."""

    won: int = 0
    lost: int = 0
    answered: list[tuple[Asked, float, list[str]]] = field(default_factory=list)

    def accept(self) -> None:
        """The entries go: each question keeps its answer without them."""
        for item, score, texts in self.answered:
            item.update(score, texts)


def try_removal(
    name: str, removed: frozenset[str], listed: frozenset[str], sets: Sequence[FittingSet]
) -> Trial:
    """Every fitting question in whose texts leaving ``removed`` out of ``listed`` changes a
    decision, answered again without them."""
    change = CHANGES[name]
    trial = Trial()
    for fitting in sets:
        affected = [
            a
            for a in fitting.asked
            if a.words & removed and any(change(name, t, listed, removed) for t in a.texts)
        ]
        if not affected:
            continue
        with replaced(name, listed - removed):
            answers = fitting.answer(affected)
        for item, (score, texts) in zip(affected, answers, strict=True):
            trial.won += item.score > score + 1e-9
            trial.lost += item.score < score - 1e-9
            trial.answered.append((item, score, texts))
    return trial


def measure_list(
    name: str, sets: Sequence[FittingSet], log: Callable[[str], None], block: int = 32
) -> dict[str, tuple[int, int]]:
    """The entries of the list ``name`` that stay, with the answers each won and lost.

    Entries are tried in blocks, the least used when last measured first: a block whose
    absence changes no answer's score stays whole (won and lost 0: the score cannot see what
    it does); one that changes some is split in two and each half tried again, down to
    single entries, and an entry goes when it loses more answers than it wins. Each try is
    against the list without the entries gone before it."""
    listed = word_list(name)
    last = {entry.word.casefold(): entry.decisions for entry in entries(name)}
    order = sorted(listed, key=lambda w: (last.get(w, 0), w))
    pending = [order[i : i + block] for i in range(0, len(order), block)]
    kept: dict[str, tuple[int, int]] = {}
    while pending:
        group = pending.pop(0)
        trial = try_removal(name, frozenset(group), listed, sets)
        if len(group) > 1 and (trial.won or trial.lost):
            pending[:0] = [group[: len(group) // 2], group[len(group) // 2 :]]
        elif trial.lost > trial.won:
            listed -= set(group)
            trial.accept()
            log(f"{name}: {group[0]} removed (won {trial.won}, lost {trial.lost})")
        else:
            kept.update(dict.fromkeys(group, (trial.won, trial.lost)))
            log(f"{name}: kept {', '.join(group)} (won {trial.won}, lost {trial.lost})")
    return kept


def rewrite(name: str, kept: dict[str, Entry]) -> list[str]:
    """Write the fresh counts into the list's file, keeping its comments and order; the
    removed entries, named."""
    path = Path(str(resources.files("sinoqa").joinpath("data", name)))
    lines, removed = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("#", 1)[0].split()
        if not fields:
            lines.append(line)
        elif (entry := kept.get(fields[0].casefold())) is not None:
            lines.append(f"{fields[0]} {entry.decisions} {entry.won} {entry.lost}")
        else:
            removed.append(fields[0])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    word_list.cache_clear()
    return removed


def fitting_sets(rtqa_train: Path, questions: int, work: Path) -> list[FittingSet]:
    """The seed tuning questions over the seed corpus (indexed under ``work``) and the
    article ranker's rtqa-train sample over its pools (built once under ``.fit/``)."""
    seed_questions = [
        q for name in SEED_TUNING_FILES for q in load_questions(ROOT / "evals" / name)
    ]
    seed = Settings().with_paths(corpus=ROOT / "corpus", index=work / "seed-index")
    sample = sample_questions(rtqa_train, questions, seed=RANKER_SAMPLE_SEED)
    rtqa = prepare_index(rtqa_train, sample, ROOT / ".fit" / "rtqa-train", Settings())
    from sinoqa.pipeline import ingest

    ingest(seed)
    return [
        FittingSet("seed", seed, [Asked(q) for q in seed_questions]),
        FittingSet("rtqa-train", rtqa, [Asked(q) for q in sample]),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m sinoqa.fitting.words", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--rtqa-train", type=Path, default=ROOT.parent / "shared" / "rtqa-train")
    parser.add_argument("--questions", type=int, default=300, help="rtqa-train questions")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sinoqa-words-") as work, ExitStack() as lists:
        sets = fitting_sets(args.rtqa_train, args.questions, Path(work))
        for fitting in sets:
            fitting.refresh(fitting.asked)
        measured = {}
        for name in WORD_LISTS:
            measured[name] = measure_list(name, sets, print)
            # The lists measured next are read with this one as it now stands.
            lists.enter_context(replaced(name, measured[name]))
        for name in WORD_LISTS:
            counter = MEASURES[name]
            listed = frozenset(measured[name])
            texts = chain(seed_texts(), rtqa_texts(args.rtqa_train))
            decisions = counter(name, texts, listed)
            # An entry that changes no decision does nothing at all: it goes too.
            kept = {w: Entry(w, decisions[w], *measured[name][w]) for w in listed if decisions[w]}
            removed = rewrite(name, kept)
            print(f"{name}: {len(kept)} entries kept; removed: {', '.join(removed) or 'none'}")


if __name__ == "__main__":
    main()
