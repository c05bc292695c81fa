"""Copies: articles that carry one text (a wire story run by several outlets, a reprint, an
update or a trimmed version), grouped so that a group counts as one source.

Each article's cleaned text becomes a set of word shingles (``SHINGLE`` words, lower-cased);
its MinHash signature (``datasketch``) is kept with its record, and a MinHash LSH built from
the kept signatures proposes candidates that are confirmed by the exact Jaccard similarity of
the two shingle sets (the candidates' texts read back from the index, nothing else). A group
is the connected set of confirmed pairs; it is named by its earliest dated member.
Grouping is incremental: an ingest regroups only the articles it added, changed or removed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from sinoqa.ingestion.records import DocRecord

#: Words per shingle: five, as passim and the text-reuse literature use.
SHINGLE = 5
#: Permutations per signature: datasketch's default; 512 bytes an article.
NUM_PERM = 128
_WORD = re.compile(r"\w+")


def shingles(text: str) -> frozenset[str]:
    """The text's word shingles (a text shorter than one shingle is one shingle)."""
    words = _WORD.findall(text.casefold())
    if not words:
        return frozenset()
    width = min(SHINGLE, len(words))
    return frozenset(" ".join(words[i : i + width]) for i in range(len(words) - width + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def signature(shingle_set: Iterable[str]) -> str:
    """The MinHash signature of a shingle set, as stored with the article's record."""
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32")
    minhash.update_batch([s.encode("utf-8") for s in shingle_set])
    # Values stay below 2**32 (datasketch's hash range), so four bytes each suffice.
    return base64.b64encode(minhash.hashvalues.astype("<u4").tobytes()).decode("ascii")


def _minhash(stored: str):  # type: ignore[no-untyped-def]  # a datasketch LeanMinHash
    from datasketch import LeanMinHash

    # Lean: no permutations drawn (a tenth of the time), which stored values do not need.
    values = np.frombuffer(base64.b64decode(stored), dtype="<u4").astype(np.uint64)
    return LeanMinHash(seed=1, hashvalues=values, scheme="affine32")


@dataclass
class Member:
    """What grouping needs of one indexed article."""

    doc_id: str
    published: str | None
    signature: str
    group: str | None = None  # its group's name as stored (None: never grouped)


@dataclass
class Regrouping:
    """The groups after one ingest: every article whose stored group name must change."""

    changed: dict[str, str] = field(default_factory=dict)  # doc_id -> its group's name


class CopyGroups:
    """The copy groups of the indexed articles, regrouped as articles come and go.

    ``text_of`` reads an indexed article's cleaned text (for the exact check); ``min_jaccard``
    is the similarity from which two texts are one (``copies.min_jaccard``).
    """

    def __init__(
        self,
        members: Iterable[Member],
        text_of: Callable[[str], str | None],
        min_jaccard: float,
    ) -> None:
        from datasketch import MinHashLSH

        self.members = {m.doc_id: m for m in members}
        self._text_of = text_of
        self._shingles: dict[str, frozenset[str]] = {}
        self.min_jaccard = min_jaccard
        # Candidates from a little below the threshold: the exact check removes the extra.
        self._lsh = MinHashLSH(threshold=max(min_jaccard - 0.1, 0.05), num_perm=NUM_PERM)
        with self._lsh.insertion_session() as session:
            for member in self.members.values():
                session.insert(member.doc_id, _minhash(member.signature), check_duplication=False)

    def regroup(
        self,
        arrived: Mapping[str, tuple[Member, str]],
        removed: Iterable[str] = (),
        recheck: Iterable[str] = (),
    ) -> Regrouping:
        """Take in the articles ``arrived`` (doc_id -> its member and cleaned text: new or
        changed; their stored group is gone) and those ``removed``, and group those to
        ``recheck`` again; the group names that change."""
        before = {d: m.group for d, m in self.members.items() if d not in arrived}
        touched: set[str] = set(recheck)
        for doc_id in [*removed, *arrived]:
            touched |= self._group_of(doc_id)
            self._forget(doc_id)
        for doc_id, (member, text) in arrived.items():
            self.members[doc_id] = member
            self._shingles[doc_id] = shingles(text)
            self._lsh.insert(doc_id, _minhash(member.signature), check_duplication=False)
            touched.add(doc_id)
            touched |= {d for c in self._confirmed(doc_id) for d in self._group_of(c)}
        regrouping = Regrouping()
        for group in self._components(touched & self.members.keys()):
            name = min(group, key=lambda d: (self.members[d].published or "9999", d))
            for doc_id in group:
                self.members[doc_id].group = name
                if before.get(doc_id) != name:
                    regrouping.changed[doc_id] = name
        return regrouping

    def groups(self) -> dict[str, list[str]]:
        """Each group of two or more, by name: its members."""
        found: dict[str, list[str]] = {}
        for member in self.members.values():
            found.setdefault(member.group or member.doc_id, []).append(member.doc_id)
        return {name: sorted(m) for name, m in found.items() if len(m) > 1}

    def _group_of(self, doc_id: str) -> set[str]:
        member = self.members.get(doc_id)
        if member is None or member.group is None:
            return {doc_id} if member else set()
        return {d for d, m in self.members.items() if m.group == member.group}

    def _forget(self, doc_id: str) -> None:
        if doc_id in self.members:
            self._lsh.remove(doc_id)
            del self.members[doc_id]
        self._shingles.pop(doc_id, None)

    def _text_shingles(self, doc_id: str) -> frozenset[str]:
        if doc_id not in self._shingles:
            self._shingles[doc_id] = shingles(self._text_of(doc_id) or "")
        return self._shingles[doc_id]

    def _confirmed(self, doc_id: str) -> list[str]:
        """The indexed articles whose text is one with this one's."""
        mine = self._text_shingles(doc_id)
        return [
            other
            for other in self._lsh.query(_minhash(self.members[doc_id].signature))
            if other != doc_id and jaccard(mine, self._text_shingles(other)) >= self.min_jaccard
        ]

    def _components(self, doc_ids: set[str]) -> list[set[str]]:
        """The groups among ``doc_ids``: connected by confirmed pairs (a group that lost a
        member may split)."""
        unseen, components = set(doc_ids), []
        while unseen:
            start = unseen.pop()
            component, frontier = {start}, [start]
            while frontier:
                for other in self._confirmed(frontier.pop()):
                    if other in self.members and other not in component:
                        component.add(other)
                        frontier.append(other)
            unseen -= component
            components.append(component)
        return components


class GroupedIndex(Protocol):
    """What regrouping needs of the index (:class:`sinoqa.ingestion.index.ChromaIndex`)."""

    def cleaned_text(self, doc_id: str) -> str | None: ...

    def update_records(self, fields: Mapping[str, Mapping[str, str]]) -> None: ...


def regroup_copies(
    index: GroupedIndex,
    records: Mapping[str, DocRecord],
    arrived: Mapping[str, tuple[Member, str]],
    removed: Sequence[str],
    min_jaccard: float,
) -> None:
    """After an ingest's writes (``records`` as they were before it): regroup the articles it
    committed (``arrived``: each one's member and cleaned text) or removed, and any never
    grouped (an index from before groups); the others' groups are read, not recomputed.
    Nothing to regroup costs nothing."""
    # The removed are members until regrouping forgets them: their groups are regrouped.
    known = {d: r for d, r in records.items() if d not in arrived}
    ungrouped = [d for d, r in known.items() if r.copy_group is None and d not in removed]
    if not (arrived or removed or ungrouped):
        return
    # Articles indexed before signatures were kept get theirs from their stored text.
    missing = [d for d, r in known.items() if not r.minhash and d not in removed]
    signatures = {d: signature(shingles(index.cleaned_text(d) or "")) for d in missing}
    index.update_records({d: {"minhash": s} for d, s in signatures.items()})
    members = [
        Member(d, r.published, r.minhash or signatures[d], r.copy_group)
        for d, r in known.items()
        if r.minhash or d in signatures
    ]
    groups = CopyGroups(members, index.cleaned_text, min_jaccard)
    changed = groups.regroup(arrived, removed, recheck=ungrouped).changed
    index.update_records({d: {"copy_group": g} for d, g in changed.items()})
