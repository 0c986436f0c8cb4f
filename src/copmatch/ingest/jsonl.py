"""Native JSONL import: members and documents files, validated line by line.

Any bad record raises ``RecordError`` naming the file, line and reason before anything
is written; the caller writes the whole batch in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from copmatch.errors import InvalidArgumentError, RecordError, SourceNotFoundError
from copmatch.progress import Advance
from copmatch.store.records import Contribution, Document, ImportBatch, Member, role_for_kind

_MEMBER_FIELDS = {"id", "name", "silo", "bio", "skills", "roles", "opt_out", "created_at"}
_DOCUMENT_FIELDS = {
    "id",
    "kind",
    "title",
    "body",
    "tags",
    "authors",
    "parent_id",
    "accepted",
    "created_at",
    "score",
    "community",
}


def read_jsonl_import(
    members_path: Path | None,
    documents_path: Path | None,
    known_member_ids: set[str] = frozenset(),
    progress: Advance | None = None,
) -> ImportBatch:
    """Read and validate a members file and/or a documents file into one batch."""
    return _batch(
        ", ".join(str(p) for p in (members_path, documents_path) if p),
        (str(members_path), _file_objects(members_path, progress)) if members_path else None,
        (str(documents_path), _file_objects(documents_path, progress)) if documents_path else None,
        known_member_ids,
    )


def read_import_objects(
    members: list[Any] | None, documents: list[Any] | None, known_member_ids: set[str] = frozenset()
) -> ImportBatch:
    """Validate already-decoded records (e.g. an API request body); errors name ``members[i]`` lines 1-based."""
    return _batch(
        "request",
        ("request.members", enumerate(members, start=1)) if members else None,
        ("request.documents", enumerate(documents, start=1)) if documents else None,
        known_member_ids,
    )


def read_jsonl_uploads(
    members: tuple[str, bytes] | None, documents: tuple[str, bytes] | None, known_member_ids: set[str] = frozenset()
) -> ImportBatch:
    """Validate uploaded JSONL files given as (file name, content); errors name the file and line."""
    return _batch(
        ", ".join(upload[0] for upload in (members, documents) if upload) or "upload",
        (members[0], _line_objects(members[0], members[1].splitlines())) if members else None,
        (documents[0], _line_objects(documents[0], documents[1].splitlines())) if documents else None,
        known_member_ids,
    )


Source = tuple[str, Iterable[tuple[int, Any]]]


#: SQLite stores integers in 64 bits; a larger one would fail mid-write.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _batch(source: str, members: Source | None, documents: Source | None, known_member_ids: set[str]) -> ImportBatch:
    batch = ImportBatch(source=source)
    if members is not None:
        batch.members = [member for member, _ in _parsed(*members, _parse_member)]
        _require_records(members[0], batch.members)
    if documents is not None:
        name, objects = documents
        author_ids = set(known_member_ids) | {m.id for m in batch.members}
        for (document, authors), line in _parsed(name, objects, _parse_document):
            unknown = [a for a in authors if a not in author_ids]
            if unknown:
                raise RecordError(
                    name,
                    line,
                    f"unknown member(s) in 'authors': {unknown}",
                    hint="Add them to the members file (or import members first), then import again; "
                    "nothing was written.",
                )
            batch.documents.append(document)
            role = role_for_kind(document.kind)
            batch.contributions.extend(Contribution(a, document.id, role) for a in dict.fromkeys(authors))
        _require_records(name, batch.documents)
    return batch


def _require_records(name: str, records: list) -> None:
    """A file given to the import must hold something: an empty one is most likely the wrong file."""
    if not records:
        raise InvalidArgumentError(
            f"{name} holds no records; nothing was imported.",
            hint="Check the path: each line of the file is one JSON object.",
        )


def _file_objects(path: Path, progress: Advance | None) -> Iterator[tuple[int, Any]]:
    """(line number, decoded JSON) for each non-blank line of a JSONL file."""
    if not path.is_file():
        raise SourceNotFoundError(f"{path}: no such file.", hint="Check the path passed to the import command.")
    with path.open("rb") as handle:
        yield from _line_objects(str(path), handle, progress)


def _line_objects(name: str, lines: Iterable[bytes], progress: Advance | None = None) -> Iterator[tuple[int, Any]]:
    for line_no, raw in enumerate(lines, start=1):
        if progress:
            progress(len(raw))
        if not raw.strip():
            continue
        yield line_no, decode_json_line(raw, name, line_no)


def decode_json_line(raw: bytes, path: str, line_no: int, hint: str = "") -> Any:
    """One JSON value, or RecordError naming the line (bad JSON, bad UTF-8, or nested too deeply)."""
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecordError(path, line_no, f"invalid JSON ({exc})", hint=hint) from None
    except RecursionError:
        raise RecordError(path, line_no, "JSON nested too deeply", hint=hint) from None


def _parsed(
    name: str, objects: Iterable[tuple[int, Any]], parse: Callable[[dict, str, int], Any]
) -> Iterator[tuple[Any, int]]:
    """Yield (parsed record, line number), rejecting non-objects and duplicate ids."""
    seen: set[str] = set()
    for line_no, obj in objects:
        if not isinstance(obj, dict):
            raise RecordError(name, line_no, f"expected a JSON object, got {type(obj).__name__}")
        parsed = parse(obj, name, line_no)
        record_id = parsed[0].id if isinstance(parsed, tuple) else parsed.id
        if record_id in seen:
            raise RecordError(name, line_no, f"duplicate id {record_id!r} in this file")
        seen.add(record_id)
        yield parsed, line_no


class _Fields:
    """Typed access to one JSON record's fields, raising RecordError with file and line."""

    def __init__(self, obj: dict, source: str, line: int, allowed: set[str]) -> None:
        self.obj, self.source, self.line = obj, source, line
        unknown = sorted(set(obj) - allowed)
        if unknown:
            self.fail(f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")

    def fail(self, reason: str) -> None:
        raise RecordError(self.source, self.line, reason)

    def string(self, key: str, required: bool = False, default: str | None = "") -> str | None:
        value = self.obj.get(key)
        if value is None:
            if required:
                self.fail(f"missing required field {key!r}")
            return default
        if not isinstance(value, str):
            self.fail(f"field {key!r} must be a string, got {type(value).__name__} {_short(value)}")
        self._encodable(key, value)
        if required and not value.strip():
            self.fail(f"field {key!r} must not be empty")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.obj.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"field {key!r} must be a list of strings, got {_short(value)}")
        for item in value:
            self._encodable(key, item)
        return tuple(value)

    def _encodable(self, key: str, value: str) -> None:
        # JSON's "\ud800" escape decodes to a lone surrogate, which no UTF-8 text (nor SQLite) can hold.
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            self.fail(f"field {key!r} holds a lone surrogate (an invalid \\ud800-\\udfff escape)")

    def boolean(self, key: str) -> bool:
        value = self.obj.get(key, False)
        if not isinstance(value, bool):
            self.fail(f"field {key!r} must be true or false, got {_short(value)}")
        return value

    def integer(self, key: str) -> int:
        value = self.obj.get(key, 0)
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"field {key!r} must be an integer, got {_short(value)}")
        if not INT64_MIN <= value <= INT64_MAX:
            self.fail(f"field {key!r} must fit in 64 bits (between {INT64_MIN} and {INT64_MAX})")
        return value

    def timestamp(self, key: str) -> str | None:
        value = self.string(key, default=None)
        if value is None:
            return None
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            self.fail(f"field {key!r} must be an ISO-8601 date-time, got {_short(value)}")
        return value


def _short(value: Any, chars: int = 80) -> str:
    """A value's repr for a message, cut: a hostile record must not flood the terminal."""
    text = repr(value)
    return text if len(text) <= chars else text[: chars - 3] + "..."


def _parse_member(obj: dict, source: str, line: int) -> Member:
    f = _Fields(obj, source, line, _MEMBER_FIELDS)
    return Member(
        id=f.string("id", required=True),
        name=f.string("name", required=True),
        silo=f.string("silo", default=None) or None,
        bio=f.string("bio") or "",
        skills=f.strings("skills"),
        roles=f.strings("roles"),
        opt_out=f.boolean("opt_out"),
        created_at=f.timestamp("created_at"),
    )


def _parse_document(obj: dict, source: str, line: int) -> tuple[Document, tuple[str, ...]]:
    f = _Fields(obj, source, line, _DOCUMENT_FIELDS)
    document = Document(
        id=f.string("id", required=True),
        kind=f.string("kind", required=True),
        body=f.string("body", required=True),
        title=f.string("title") or "",
        tags=f.strings("tags"),
        parent_id=f.string("parent_id", default=None),
        accepted=f.boolean("accepted"),
        score=f.integer("score"),
        created_at=f.timestamp("created_at"),
        community=f.string("community", default=None),
    )
    return document, f.strings("authors")
