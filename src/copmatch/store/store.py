"""The store: SQLite through sqlite-utils, the single source of truth.

Everything durable lives here; indexes are derived from it and can be rebuilt at any
time. The store knows nothing about vectors.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlite_utils

from copmatch.errors import DataDirError, InvalidArgumentError, NotFoundError, RecordError, StoreVersionError
from copmatch.store.records import Document, ImportBatch, Member
from copmatch.store.schema import MIGRATIONS, SCHEMA_VERSION
from copmatch.store.sources import list_sources, place

#: Seconds within which a commit by another process (an opt-out, a revoked key) is seen by
#: this one's cached reads.
CACHE_RECHECK_S = 0.5


@dataclass(frozen=True)
class _Cached:
    value: Any
    version: int  # PRAGMA data_version when loaded
    changes: int  # this connection's total_changes when loaded
    checked: float  # time.monotonic() of the last check


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class ImportSummary:
    source: str
    members: int
    documents: int
    contributions: int
    new_members: int
    new_documents: int
    source_name: str = "native"
    id_prefix: str = ""  # prepended to this source's ids ("coffee:") when they collide with another's


class Store:
    """A copmatch database file. Open with ``Store(path)``; the schema is migrated on open."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # The API serves requests from a thread pool; a lock serialises writers
            # while WAL lets readers on other connections proceed.
            conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30)
            self.db = sqlite_utils.Database(conn)
            self._write_lock = threading.RLock()
            self._cache: dict[str, _Cached] = {}
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA foreign_keys=ON")
        except (OSError, sqlite3.DatabaseError) as exc:
            raise DataDirError(
                f"Cannot open the database {self.path}: {exc}.",
                hint="Point --data-dir at a copmatch data folder (or an empty one); check its permissions.",
            ) from None
        self._migrate()

    def close(self) -> None:
        self.db.close()

    # --- schema --------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return int(self.db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > SCHEMA_VERSION:
            raise StoreVersionError(
                f"{self.path} has schema version {current}; this copmatch knows up to {SCHEMA_VERSION}.",
                hint="Upgrade copmatch, or point --data-dir at another folder.",
            )
        for version in range(current, SCHEMA_VERSION):
            with self._write_lock:
                self.db.conn.executescript(
                    "BEGIN;" + MIGRATIONS[version] + f"; PRAGMA user_version={version + 1}; COMMIT;"
                )

    # --- import ----------------------------------------------------------------------
    def import_batch(self, batch: ImportBatch) -> ImportSummary:
        """Write one import in a single transaction: all of it, or nothing.

        Records keep their source; a source never overwrites another's (store/sources.py)."""
        with self._write_lock, self.db.atomic():
            now = utc_now()
            batch, prefix = place(self.db, batch, "dump" if batch.namespaceable else "native", now)
            self._check_references(batch)
            known_members = self._existing_ids("members", [m.id for m in batch.members])
            known_docs = self._existing_ids("documents", [d.id for d in batch.documents])
            name = batch.source_name
            revision = self._next_revision()
            if batch.members:
                rows = (_member_row(m, now, name) for m in batch.members)
                self.db["members"].upsert_all(rows, pk="id", alter=False)
            if batch.documents:
                self.db["documents"].upsert_all(
                    (_document_row(d, now, name, revision) for d in batch.documents), pk="id", alter=False
                )
                # Re-importing a document replaces its contributors rather than adding to them.
                self._delete_where_in("contributions", "document_id", [d.id for d in batch.documents])
            if batch.contributions:
                self.db["contributions"].insert_all((asdict(c) for c in batch.contributions), ignore=True)
            summary = ImportSummary(
                source=batch.source,
                members=len(batch.members),
                documents=len(batch.documents),
                contributions=len(batch.contributions),
                new_members=len(batch.members) - len(known_members),
                new_documents=len(batch.documents) - len(known_docs),
                source_name=name,
                id_prefix=prefix,
            )
            self.db["imports"].insert({"source": batch.source, "at": now, "counts": json.dumps(asdict(summary))})
        return summary

    def _check_references(self, batch: ImportBatch) -> None:
        batch_members = {m.id for m in batch.members}
        missing = {c.member_id for c in batch.contributions} - batch_members
        missing -= self._existing_ids("members", sorted(missing))
        if missing:
            example = sorted(missing)[:5]
            raise RecordError(
                batch.source or "import",
                0,
                f"contributions name {len(missing)} unknown member(s), e.g. {example}",
                hint="Import the members first, or include them in the members file.",
            )

    def _existing_ids(self, table: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(ids, 500):
            marks = ",".join("?" * len(chunk))
            found.update(r[0] for r in self.db.execute(f"SELECT id FROM {table} WHERE id IN ({marks})", chunk))
        return found

    def _delete_where_in(self, table: str, column: str, values: list[str]) -> None:
        for chunk in _chunks(values, 500):
            marks = ",".join("?" * len(chunk))
            self.db.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk)

    # --- change tracking and deletion (incremental index builds) --------------------------
    def _next_revision(self) -> int:
        """Take the next store revision; call inside the write transaction that uses it."""
        self.db.execute("UPDATE store_revision SET revision = revision + 1")
        return int(self.db.execute("SELECT revision FROM store_revision").fetchone()[0])

    def revision(self) -> int:
        """The latest revision: an index built from the store as of now records it."""
        return int(self.db.execute("SELECT revision FROM store_revision").fetchone()[0])

    def delete_documents(self, document_ids: Iterable[str]) -> int:
        """Delete documents with their contributions and passages, in one transaction.

        Unknown ids are an error and nothing is deleted. The next index build drops them from
        every result (an incremental build finds them through their tombstones)."""
        ids = list(dict.fromkeys(document_ids))
        for document_id in ids:
            if not isinstance(document_id, str) or not _utf8(document_id):
                raise InvalidArgumentError(
                    f"Document id {document_id!r} is not valid text (a lone surrogate); nothing was deleted.",
                    hint="Document ids are UTF-8 text, as imported.",
                )
        with self._write_lock, self.db.atomic():
            unknown = sorted(set(ids) - self._existing_ids("documents", ids))
            if unknown:
                more = " …" if len(unknown) > 5 else ""
                raise NotFoundError(
                    f"No document with id(s) {unknown[:5]}{more}; nothing was deleted.",
                    hint="Check the ids; documents come from imports.",
                )
            revision, now = self._next_revision(), utc_now()
            for table, column in (("contributions", "document_id"), ("passages", "document_id"), ("documents", "id")):
                self._delete_where_in(table, column, ids)
            self.db.conn.executemany(
                "INSERT OR REPLACE INTO document_deletions (document_id, revision, at) VALUES (?, ?, ?)",
                [(i, revision, now) for i in ids],
            )
        return len(ids)

    def changed_document_ids(self, since_revision: int) -> set[str]:
        """Documents written or deleted after ``since_revision``, and the children (answers) of
        those: an answer is indexed under its question's title, so it changes with it."""
        changed = {r[0] for r in self.db.execute("SELECT id FROM documents WHERE revision > ?", [since_revision])}
        changed |= {
            r[0]
            for r in self.db.execute("SELECT document_id FROM document_deletions WHERE revision > ?", [since_revision])
        }
        for chunk in _chunks(sorted(changed), 500):
            marks = ",".join("?" * len(chunk))
            changed.update(
                r[0] for r in self.db.execute(f"SELECT id FROM documents WHERE parent_id IN ({marks})", chunk)
            )
        return changed

    def documents_by_id(self, document_ids: Iterable[str]) -> list[dict[str, Any]]:
        """The given documents that exist, ordered by id (as ``documents()``)."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(list(document_ids), 500):
            marks = ",".join("?" * len(chunk))
            rows += [_decode(r) for r in self.db["documents"].rows_where(f"id IN ({marks})", chunk)]
        return sorted(rows, key=lambda row: row["id"])

    def document_parents(self) -> tuple[list[str], list[str]]:
        """(ids, parent ids) of every document with a parent (answers), in no given order: what
        training needs of them all, read from the ``documents_parent`` index alone."""
        rows = self.db.execute("SELECT id, parent_id FROM documents WHERE parent_id IS NOT NULL").fetchall()
        return [r[0] for r in rows], [r[1] for r in rows]

    def titles_by_id(self, document_ids: Iterable[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for chunk in _chunks(list(document_ids), 500):
            marks = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT id, title FROM documents WHERE id IN ({marks})", chunk).fetchall())
        return out

    def contributions_of(self, document_ids: Iterable[str]) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        for chunk in _chunks(list(document_ids), 500):
            marks = ",".join("?" * len(chunk))
            sql = f"SELECT member_id, document_id, role FROM contributions WHERE document_id IN ({marks})"
            out += [tuple(r) for r in self.db.execute(sql, chunk)]
        return out

    def sources(self) -> list[dict[str, Any]]:
        """Every import source with its kind, id prefix and record counts."""
        return list_sources(self.db)

    def member_ids(self) -> set[str]:
        return {r[0] for r in self.db.execute("SELECT id FROM members")}

    # --- reads -------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        tables = ("members", "documents", "contributions", "passages")
        return {t: self.db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}

    def members(self) -> list[dict[str, Any]]:
        return [_decode(row) for row in self.db["members"].rows_where(order_by="id")]

    def documents(self) -> Iterator[dict[str, Any]]:
        for row in self.db["documents"].rows_where(order_by="id"):
            yield _decode(row)

    def contributions(self) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self.db.execute("SELECT member_id, document_id, role FROM contributions")]

    def get_member(self, member_id: str) -> dict[str, Any]:
        row = next(self.db["members"].rows_where("id = ?", [member_id]), None)
        if row is None:
            raise NotFoundError(
                f"No member with id {member_id!r}.", hint="Check the id; members come from imports (copmatch import)."
            )
        return _decode(row)

    def get_document(self, document_id: str) -> dict[str, Any]:
        row = next(self.db["documents"].rows_where("id = ?", [document_id]), None)
        if row is None:
            raise NotFoundError(
                f"No document with id {document_id!r}.", hint="Check the id; documents come from imports."
            )
        return _decode(row)

    def opted_out(self) -> frozenset[str]:
        """Members who opted out (asked on every query, so cached; see ``_cached``)."""
        return self._cached(
            "opted_out", lambda: frozenset(r[0] for r in self.db.execute("SELECT id FROM members WHERE opt_out = 1"))
        )

    def _cached(self, name: str, load: Callable[[], Any]) -> Any:
        """``load()``'s result, kept until the database changes.

        Every API request reads opt-outs and its key; on one shared connection those reads
        queued behind each other. A write through this store is seen at once (its change
        counter moves); another process's commit within ``CACHE_RECHECK_S`` (``data_version``
        is asked at most that often).
        """
        changes, now = self.db.conn.total_changes, time.monotonic()
        entry = self._cache.get(name)
        if entry is not None and entry.changes == changes and now - entry.checked < CACHE_RECHECK_S:
            return entry.value
        version = self.db.conn.execute("PRAGMA data_version").fetchone()[0]
        unchanged = entry is not None and (entry.version, entry.changes) == (version, changes)
        value = entry.value if unchanged else load()
        self._cache[name] = _Cached(value, version, changes, now)
        return value

    def set_silos(self, silos: dict[str, str], source: str) -> None:
        with self._write_lock, self.db.atomic():
            self.db.conn.executemany(
                "UPDATE members SET silo = ?, silo_source = ? WHERE id = ?",
                [(silo, source, member_id) for member_id, silo in silos.items()],
            )

    # --- passages and builds -------------------------------------------------------------
    def replace_passages(self, rows: Iterable[tuple[str, int, str, str]]) -> None:
        """Replace all passages with (document_id, seq, text, text_hash) rows from a build."""
        with self._write_lock, self.db.atomic():
            self.db.execute("DELETE FROM passages")
            self.db.conn.executemany(
                "INSERT INTO passages (document_id, seq, text, text_hash) VALUES (?, ?, ?, ?)", rows
            )

    def update_passages(self, document_ids: Iterable[str], rows: Iterable[tuple[str, int, str, str]]) -> None:
        """Replace the passages of the given documents only (an incremental build)."""
        with self._write_lock, self.db.atomic():
            self._delete_where_in("passages", "document_id", list(document_ids))
            self.db.conn.executemany(
                "INSERT INTO passages (document_id, seq, text, text_hash) VALUES (?, ?, ?, ?)", rows
            )

    def start_build(self, version: str, model_id: str) -> None:
        with self._write_lock, self.db.atomic():
            self.db["index_builds"].insert(
                {"version": version, "status": "running", "model_id": model_id, "started_at": utc_now()}
            )

    def finish_build(
        self,
        version: str,
        status: str,
        counts: dict | None = None,
        timings: dict | None = None,
        error: str | None = None,
    ) -> None:
        with self._write_lock, self.db.atomic():
            self.db["index_builds"].update(
                version,
                {
                    "status": status,
                    "finished_at": utc_now(),
                    "counts": json.dumps(counts or {}),
                    "timings": json.dumps(timings or {}),
                    "error": error,
                },
            )

    def fail_running_builds(self, error: str) -> list[str]:
        """Mark every build still listed as running failed (their process is gone); their versions."""
        with self._write_lock, self.db.atomic():
            versions = [r[0] for r in self.db.execute("SELECT version FROM index_builds WHERE status = 'running'")]
            self.db.execute(
                "UPDATE index_builds SET status = 'failed', finished_at = ?, error = ? WHERE status = 'running'",
                [utc_now(), error],
            )
        return versions

    def builds(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.db["index_builds"].rows_where(order_by="started_at desc, version desc", limit=limit)
        return [_decode(r) for r in rows]

    # --- API keys --------------------------------------------------------------------------
    def add_api_key(self, key_id: str, key_hash: str, role: str, member_id: str | None, label: str | None) -> None:
        with self._write_lock, self.db.atomic():
            self.db["api_keys"].insert(
                {
                    "id": key_id,
                    "key_hash": key_hash,
                    "role": role,
                    "member_id": member_id,
                    "label": label,
                    "created_at": utc_now(),
                    "revoked_at": None,
                }
            )

    def api_key_by_hash(self, key_hash: str) -> dict[str, Any] | None:
        keys = self._cached("api_keys", lambda: {row["key_hash"]: row for row in self.db["api_keys"].rows})
        return keys.get(key_hash)

    def api_keys(self) -> list[dict[str, Any]]:
        rows = self.db["api_keys"].rows_where(order_by="created_at, id")
        return [{k: v for k, v in row.items() if k != "key_hash"} for row in rows]

    def revoke_api_key(self, key_id: str) -> bool:
        with self._write_lock, self.db.atomic():
            cursor = self.db.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL", [utc_now(), key_id]
            )
            return cursor.rowcount > 0

    # --- web sessions (the pages' sign-in) ----------------------------------------------------
    def add_web_session(self, token_hash: str, key_id: str, csrf_token: str, expires_at: str) -> None:
        now = utc_now()
        with self._write_lock, self.db.atomic():
            self.db.execute("DELETE FROM web_sessions WHERE expires_at <= ?", [now])
            self.db["web_sessions"].insert(
                {"token_hash": token_hash, "key_id": key_id, "csrf_token": csrf_token,
                 "created_at": now, "expires_at": expires_at}
            )  # fmt: skip

    def web_session(self, token_hash: str) -> dict[str, Any] | None:
        """The session with its key's role, member and revocation (None if unknown)."""
        rows = self.db.execute_returning_dicts(
            "SELECT s.key_id, s.csrf_token, s.expires_at, k.role, k.member_id, k.revoked_at"
            " FROM web_sessions s JOIN api_keys k ON k.id = s.key_id WHERE s.token_hash = ?",
            [token_hash],
        )
        return rows[0] if rows else None

    def delete_web_session(self, token_hash: str) -> None:
        with self._write_lock, self.db.atomic():
            self.db.execute("DELETE FROM web_sessions WHERE token_hash = ?", [token_hash])

    def member_contributions(self, member_id: str) -> list[dict[str, Any]]:
        """A member's contributions with their documents' facts (no bodies), newest first."""
        rows = self.db.execute_returning_dicts(
            "SELECT c.role, d.id AS document_id, d.kind, d.title, d.tags, d.parent_id, d.accepted, d.created_at,"
            " coalesce(nullif(d.title, ''), p.title, '') AS display_title"
            " FROM contributions c JOIN documents d ON d.id = c.document_id"
            " LEFT JOIN documents p ON p.id = d.parent_id"
            " WHERE c.member_id = ? ORDER BY d.created_at DESC, d.id",
            [member_id],
        )
        return [_decode(row) for row in rows]

    def document_contributors(self, document_ids: list[str]) -> list[dict[str, Any]]:
        """(document_id, member_id, name, silo, role) of the given documents' contributors."""
        found: list[dict[str, Any]] = []
        for chunk in _chunks(document_ids, 500):
            marks = ",".join("?" * len(chunk))
            found += self.db.execute_returning_dicts(
                "SELECT c.document_id, c.member_id, m.name, m.silo, c.role FROM contributions c"
                f" JOIN members m ON m.id = c.member_id WHERE c.document_id IN ({marks}) ORDER BY c.member_id",
                chunk,
            )
        return found

    def answers_to(self, question_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute_returning_dicts(
            "SELECT id, kind, title, accepted, score, created_at FROM documents WHERE parent_id = ?"
            " ORDER BY accepted DESC, score DESC, id",
            [question_id],
        )
        return [_decode(row) for row in rows]

    # --- brokering: document facts and introductions ------------------------------------------
    def document_facts(self) -> list[dict[str, Any]]:
        """Every document without its body (the graph and topic code need only these)."""
        rows = self.db.execute_returning_dicts(f"SELECT {_FACT_COLUMNS} FROM documents ORDER BY id")
        return [_decode(row) for row in rows]

    def documents_facts(self, document_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """``document_facts()`` of the given documents only, by id (a query reads the few it matched)."""
        out: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(list(dict.fromkeys(document_ids)), 500):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT {_FACT_COLUMNS} FROM documents WHERE id IN ({marks})"
            rows = self.db.execute_returning_dicts(query, chunk)
            out.update((row["id"], _decode(row)) for row in rows)
        return out

    def answers_of(self, question_ids: Sequence[str]) -> list[tuple[str, str]]:
        """(answer id, question id) of every answer to the given questions."""
        out: list[tuple[str, str]] = []
        for chunk in _chunks(list(dict.fromkeys(question_ids)), 500):
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, parent_id FROM documents WHERE kind = 'answer' AND parent_id IN ({marks})"
            out += self.db.execute(query, chunk).fetchall()
        return out

    def add_introductions(self, rows: list[dict[str, Any]], broker: str | None = None) -> list[int]:
        """Insert suggested introductions (member_a < member_b); returns the ids of those stored.

        A pair is stored once: another process suggesting the same pair at the same time
        stores it first and this one skips it (the pair's uniqueness settles the race)."""
        now, ids = utc_now(), []
        with self._write_lock, self.db.atomic():
            for row in rows:
                cursor = self.db.execute(
                    "INSERT INTO introductions (member_a, member_b, score, reasons, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, 'suggested', ?, ?) ON CONFLICT (member_a, member_b) DO NOTHING",
                    [row["member_a"], row["member_b"], row["score"], json.dumps(row["reasons"]), now, now],
                )
                if cursor.rowcount != 1:
                    continue
                ids.append(cursor.lastrowid)
                self.db.execute(
                    "INSERT INTO introduction_events (introduction_id, to_status, broker, at)"
                    " VALUES (?, 'suggested', ?, ?)",
                    [cursor.lastrowid, broker, now],
                )
        return ids

    def introductions(self, status: str | None = None, ids: list[int] | None = None) -> list[dict[str, Any]]:
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if ids is not None:
            where.append(f"id IN ({','.join('?' * len(ids))})")
            params += ids
        rows = self.db["introductions"].rows_where(" AND ".join(where) or None, params, order_by="id")
        return [{**row, "reasons": json.loads(row["reasons"])} for row in rows]

    def get_introduction(self, introduction_id: int) -> dict[str, Any]:
        found = self.introductions(ids=[introduction_id])
        if not found:
            raise NotFoundError(
                f"No introduction with id {introduction_id}.", hint="List them with: copmatch intros list"
            )
        return found[0]

    def change_introduction(
        self, introduction_id: int, from_status: str, changes: dict[str, Any], broker: str | None, note: str | None
    ) -> bool:
        """Apply ``changes`` only if the introduction is still in ``from_status`` (so two
        brokers deciding at once cannot both win), and log the event. False if it moved."""
        now = utc_now()
        values = {**changes, "broker": broker, "updated_at": now, **({"note": note} if note else {})}
        assignments = ", ".join(f"{column} = ?" for column in values)
        with self._write_lock, self.db.atomic():
            cursor = self.db.execute(
                f"UPDATE introductions SET {assignments} WHERE id = ? AND status = ?",
                [*values.values(), introduction_id, from_status],
            )
            if cursor.rowcount == 0:
                return False
            self.db.execute(
                "INSERT INTO introduction_events (introduction_id, from_status, to_status, broker, note, at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [introduction_id, from_status, changes.get("status", from_status), broker, note, now],
            )
        return True

    def introduction_events(self, introduction_id: int) -> list[dict[str, Any]]:
        return list(self.db["introduction_events"].rows_where("introduction_id = ?", [introduction_id], order_by="id"))

    # --- feedback on suggested experts --------------------------------------------------------
    def add_feedback(
        self,
        query: str,
        member_id: str,
        helpful: bool,
        given_by: str | None,
        index_version: str | None = None,
        note: str | None = None,
    ) -> dict[str, Any]:
        row = {
            "query": query,
            "member_id": member_id,
            "helpful": int(helpful),
            "given_by": given_by,
            "index_version": index_version,
            "note": note,
            "at": utc_now(),
        }
        with self._write_lock, self.db.atomic():
            row["id"] = self.db["feedback"].insert(row).last_pk
        return _decode(row)

    def feedback(self, member_id: str | None = None) -> list[dict[str, Any]]:
        """Feedback records, oldest first (all, or one member's)."""
        where, params = ("member_id = ?", [member_id]) if member_id is not None else (None, [])
        return [_decode(row) for row in self.db["feedback"].rows_where(where, params, order_by="id")]

    def set_opt_out(self, member_id: str, opt_out: bool) -> None:
        self.get_member(member_id)  # NotFoundError with a hint
        with self._write_lock, self.db.atomic():
            self.db.execute(
                "UPDATE members SET opt_out = ?, updated_at = ? WHERE id = ?", [int(opt_out), utc_now(), member_id]
            )


_JSON_COLUMNS = ("skills", "roles", "tags", "counts", "timings")
_BOOL_COLUMNS = ("opt_out", "accepted", "helpful")


def _decode(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for key in _JSON_COLUMNS:
        if key in out and isinstance(out[key], str):
            out[key] = json.loads(out[key])
    for key in _BOOL_COLUMNS:
        if key in out:
            out[key] = bool(out[key])
    return out


def _member_row(m: Member, now: str, source: str) -> dict[str, Any]:
    row = asdict(m)
    row["source"] = source
    row["skills"] = json.dumps(list(m.skills))
    row["roles"] = json.dumps(list(m.roles))
    row["opt_out"] = int(m.opt_out)
    row["silo_source"] = "import" if m.silo else None
    row["updated_at"] = now
    return row


def _utf8(text: str) -> bool:
    """Whether ``text`` can be stored (a lone surrogate cannot be encoded as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _document_row(d: Document, now: str, source: str, revision: int) -> dict[str, Any]:
    row = asdict(d)
    row["source"] = source
    row["tags"] = json.dumps(list(d.tags))
    row["accepted"] = int(d.accepted)
    row["updated_at"] = now
    row["revision"] = revision
    return row


#: A document's facts: every column but the body (``document_facts``, ``documents_facts``).
_FACT_COLUMNS = "id, kind, title, tags, parent_id, accepted, created_at"


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
