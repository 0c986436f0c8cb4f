"""The corpus as numpy arrays: what a snapshot knows about documents, members and who
contributed what. Ranking reads only these arrays (no database on the query path).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from copmatch.ranking.text_column import TextColumn

#: Evidence classes of a contribution; their weights are settings (see Settings.role_weight_*).
ACCEPTED, ANSWER, AUTHOR, ASKER, OTHER = range(5)
EVIDENCE_CLASS_NAMES = ("accepted answer", "answer", "author", "asked", "contributor")
#: Classes that offer knowledge (answering or authoring), as opposed to asking or other roles.
OFFERING_CLASSES = (ACCEPTED, ANSWER, AUTHOR)


def evidence_class(role: str, accepted: bool) -> int:
    if role == "answerer":
        return ACCEPTED if accepted else ANSWER
    if role == "author":
        return AUTHOR
    if role == "asker":
        return ASKER
    return OTHER


@dataclass
class Corpus:
    doc_ids: np.ndarray  # (n_docs,) str
    doc_titles: TextColumn  # (n_docs,) str: own title, or the parent question's for answers
    doc_kinds: np.ndarray  # (n_docs,) str
    doc_days: np.ndarray  # (n_docs,) float64 days since 1970, NaN when unknown
    passage_doc: np.ndarray  # (n_passages,) int32 row into doc_*
    member_ids: np.ndarray  # (n_members,) str
    member_names: np.ndarray  # (n_members,) str
    member_silos: np.ndarray  # (n_members,) str, "" when unknown
    contrib_member: np.ndarray  # (n_contrib,) int32, sorted by contrib_doc
    contrib_doc: np.ndarray  # (n_contrib,) int32
    contrib_class: np.ndarray  # (n_contrib,) int8 evidence class
    doc_ptr: np.ndarray  # (n_docs + 1,) int64: contributions of doc d are [ptr[d], ptr[d+1])

    @property
    def n_docs(self) -> int:
        return len(self.doc_ids)

    @property
    def n_members(self) -> int:
        return len(self.member_ids)

    @property
    def n_passages(self) -> int:
        return len(self.passage_doc)

    def save(self, path: Path) -> None:
        arrays = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _TEXT_COLUMNS}
        for name in _TEXT_COLUMNS:
            column = getattr(self, name)
            arrays |= {f"{name}.utf8": column.data, f"{name}.offsets": column.offsets}
        np.savez(path, **arrays)

    @classmethod
    def load(cls, path: Path) -> Corpus:
        with np.load(path, allow_pickle=False) as data:
            values = {f.name: data[f.name] for f in fields(cls) if f.name not in _TEXT_COLUMNS}
            for name in _TEXT_COLUMNS:
                values[name] = TextColumn(data[f"{name}.utf8"], data[f"{name}.offsets"])
            return cls(**values)

    def member_rows(self) -> dict[str, int]:
        return {member_id: row for row, member_id in enumerate(self.member_ids.tolist())}

    def contributions_of_docs(self, docs: np.ndarray) -> np.ndarray:
        """Indices into contrib_* of every contribution to the given document rows."""
        return concat_ranges(self.doc_ptr, docs)


_TEXT_COLUMNS = ("doc_titles",)


def concat_ranges(ptr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Concatenation of arange(ptr[r], ptr[r + 1]) over rows, without a Python loop."""
    return concat_runs(ptr[rows], ptr[rows + 1] - ptr[rows])


def concat_runs(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenation of arange(start, start + length) over the pairs, without a Python loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    # Each output position is its index plus the offset of the run it falls in.
    offsets = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.arange(total, dtype=np.int64) + offsets


def build_corpus(
    documents: list[dict], passage_doc: np.ndarray, members: list[dict], contributions: list[tuple[str, str, str]]
) -> Corpus:
    """Arrays from store rows. Contributions to unknown members or documents are dropped."""
    doc_row = {d["id"]: i for i, d in enumerate(documents)}
    member_row = {m["id"]: i for i, m in enumerate(members)}
    accepted = {d["id"]: bool(d["accepted"]) for d in documents}
    contrib_doc, contrib_member, contrib_class = contribution_arrays(contributions, doc_row, member_row, accepted)
    return Corpus(
        doc_ids=np.array([d["id"] for d in documents], dtype=str),
        doc_titles=TextColumn.from_strings(display_titles(documents)),
        doc_kinds=np.array([d["kind"] for d in documents], dtype=str),
        doc_days=np.array([day_number(d.get("created_at")) for d in documents], dtype=np.float64),
        passage_doc=passage_doc.astype(np.int32),
        member_ids=np.array([m["id"] for m in members], dtype=str),
        member_names=np.array([m["name"] for m in members], dtype=str),
        member_silos=np.array([m.get("silo") or "" for m in members], dtype=str),
        contrib_member=contrib_member,
        contrib_doc=contrib_doc,
        contrib_class=contrib_class,
        doc_ptr=document_pointers(contrib_doc, len(documents)),
    )


def contribution_arrays(
    contributions: list[tuple[str, str, str]],
    doc_row: dict[str, int],
    member_row: dict[str, int],
    accepted: dict[str, bool],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(doc, member, class) of each (document, member) pair with its strongest evidence class,
    sorted by document then member. Contributions to unknown members or documents are dropped."""
    best: dict[tuple[int, int], int] = {}
    for member_id, document_id, role in contributions:
        if member_id in member_row and document_id in doc_row:
            key = (doc_row[document_id], member_row[member_id])
            cls = evidence_class(role, accepted[document_id])
            best[key] = min(cls, best.get(key, OTHER + 1))
    keys = sorted(best)
    return (
        np.array([k[0] for k in keys], dtype=np.int32),
        np.array([k[1] for k in keys], dtype=np.int32),
        np.array([best[k] for k in keys], dtype=np.int8),
    )


def document_pointers(contrib_doc: np.ndarray, n_docs: int) -> np.ndarray:
    """(n_docs + 1,) int64: contributions of document d are [ptr[d], ptr[d + 1])."""
    ptr = np.zeros(n_docs + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(contrib_doc.astype(np.int64), minlength=n_docs))
    return ptr


def display_titles(documents: list[dict]) -> list[str]:
    """Each document's own title, or its parent's (an answer is shown under its question's)."""
    titles = {d["id"]: d["title"] for d in documents}
    return [d["title"] or titles.get(d.get("parent_id") or "", "") for d in documents]


def day_number(timestamp: str | None) -> float:
    if not timestamp:
        return float("nan")
    value = np.datetime64(timestamp.replace("Z", "").split("+")[0], "s")
    return float(value.astype("int64")) / 86400.0
