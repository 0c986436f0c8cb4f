"""Import sources: every record keeps the source that imported it, so none overwrites another's.

A source is a StackExchange dump (named after its site folder, or ``--source NAME``) or the
native JSONL records (``native`` unless named). The first source into a data dir keeps its
ids as they are (the StackExchange contract: member id = user ``Id``, document id = post
``Id``). A new dump whose ids collide with another source's records is stored under the
prefix ``NAME:`` (user 17 of coffee becomes ``coffee:17``), decided once and kept for every
re-import of that source, which updates its own records in place. Native ids are the
admin's own and are never rewritten: a native record colliding with another source's is
refused, and nothing is written. Rows imported before sources were recorded (no source)
are taken over by a native import and avoided by a dump's.
"""

from __future__ import annotations

import re
from dataclasses import replace

from copmatch.errors import InvalidArgumentError, SourceConflictError
from copmatch.store.records import Contribution, ImportBatch

#: The source of native JSONL records (files or the API) unless the admin names another.
NATIVE_SOURCE = "native"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
#: Examples of colliding ids named in an error.
_EXAMPLES = 5


def check_source_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgumentError(
            f"Invalid source name {name!r}.",
            hint="Use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit (e.g. --source beer).",
        )
    return name


def with_prefix(batch: ImportBatch, prefix: str) -> ImportBatch:
    """The batch with every member and document id (and each reference to one) prefixed."""
    if not prefix:
        return batch

    def p(value: str | None) -> str | None:
        return None if value is None else prefix + value

    return replace(
        batch,
        members=[replace(m, id=p(m.id)) for m in batch.members],
        documents=[replace(d, id=p(d.id), parent_id=p(d.parent_id)) for d in batch.documents],
        contributions=[Contribution(p(c.member_id), p(c.document_id), c.role) for c in batch.contributions],
    )


def place(db, batch: ImportBatch, kind: str, now: str) -> tuple[ImportBatch, str]:
    """Where ``batch``'s records go: (the batch with its source's prefix applied, the prefix).

    Runs inside the import's transaction (``db`` is the store's sqlite-utils database), so
    two imports cannot both claim the same ids. Raises SourceConflictError, writing
    nothing, when records of another source would be overwritten.
    """
    name = check_source_name(batch.source_name)
    row = db.execute("SELECT id_prefix FROM sources WHERE name = ?", [name]).fetchone()
    if row is not None:
        prefix = row[0]
    else:
        # A new source: bare ids unless they collide with another source's (or unsourced) rows.
        clashes = _clashes(db, batch, name, unsourced_clash=batch.namespaceable)
        prefix = f"{name}:" if clashes and batch.namespaceable else ""
    placed = with_prefix(batch, prefix)
    clashes = _clashes(db, placed, name, unsourced_clash=batch.namespaceable)
    if clashes:
        owners = sorted({owner for _, _, owner in clashes})
        example = ", ".join(f"{table[:-1]} {record_id!r}" for table, record_id, _ in clashes[:_EXAMPLES])
        raise SourceConflictError(
            f"Importing source {name!r} would overwrite {len(clashes)} record(s) of source(s) "
            f"{', '.join(owners)}, e.g. {example}; nothing was written.",
            hint="Give these records ids of their own, or import them as their own source (--source NAME)"
            if not batch.namespaceable
            else "Import the dump under another name: --source NAME.",
            details={"source": name, "conflicts": len(clashes), "owners": owners},
        )
    if row is None:
        db.execute(
            "INSERT INTO sources (name, kind, id_prefix, created_at) VALUES (?, ?, ?, ?)", [name, kind, prefix, now]
        )
    return placed, prefix


def _clashes(db, batch: ImportBatch, name: str, unsourced_clash: bool) -> list[tuple[str, str, str]]:
    """(table, id, owning source) of every batch id already held by another source."""
    found: list[tuple[str, str, str]] = []
    for table, ids in (("members", [m.id for m in batch.members]), ("documents", [d.id for d in batch.documents])):
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows = db.execute(f"SELECT id, source FROM {table} WHERE id IN ({marks})", chunk).fetchall()
            for record_id, source in rows:
                if source is None and not unsourced_clash:
                    continue
                if source != name:
                    found.append((table, record_id, source or "(unrecorded)"))
    return found


def list_sources(db) -> list[dict]:
    """Every source with its kind, prefix and record counts."""
    rows = db.execute(
        "SELECT s.name, s.kind, s.id_prefix, s.created_at,"
        " (SELECT count(*) FROM members m WHERE m.source = s.name),"
        " (SELECT count(*) FROM documents d WHERE d.source = s.name)"
        " FROM sources s ORDER BY s.created_at, s.name"
    ).fetchall()
    keys = ("name", "kind", "id_prefix", "created_at", "members", "documents")
    return [dict(zip(keys, r)) for r in rows]
