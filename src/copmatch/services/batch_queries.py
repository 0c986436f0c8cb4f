"""Batch query files for ``experts --batch``: one JSON object per line (see DESIGN.md)."""

from __future__ import annotations

import json
from pathlib import Path

from copmatch.errors import RecordError, SourceNotFoundError
from copmatch.services.experts import ExpertQuery

_FIELDS = {"id", "text", "exclude", "candidates", "limit"}


def read_queries(path: Path, limit: int) -> list[ExpertQuery]:
    """Parse a batch file; a bad line raises RecordError with its line number."""
    if not path.is_file():
        raise SourceNotFoundError(f"{path}: no such file.", hint="Check the path given to --batch.")
    queries = []
    with path.open("rb") as handle:
        for line_no, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise RecordError(str(path), line_no, f"invalid JSON ({exc})") from None
            queries.append(_query(obj, path, line_no, limit))
    return queries


def _query(obj: object, path: Path, line: int, limit: int) -> ExpertQuery:
    def fail(reason: str) -> RecordError:
        return RecordError(
            str(path),
            line,
            reason,
            hint='Fix that line; each line is {"id": "...", "text": "...", "exclude"?: [ids], "candidates"?: [ids]}.',
        )

    if not isinstance(obj, dict):
        raise fail("expected a JSON object")
    unknown = sorted(set(obj) - _FIELDS)
    if unknown:
        raise fail(f"unknown field(s) {unknown}")
    if not isinstance(obj.get("id"), str) or not obj["id"]:
        raise fail("'id' must be a non-empty string")
    if not isinstance(obj.get("text"), str) or not obj["text"].strip():
        raise fail("'text' must be a non-empty string")
    for key in ("exclude", "candidates"):
        value = obj.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise fail(f"'{key}' must be a list of member id strings")
    line_limit = obj.get("limit", limit)
    if isinstance(line_limit, bool) or not isinstance(line_limit, int):
        raise fail("'limit' must be an integer")
    return ExpertQuery(
        text=obj["text"],
        limit=line_limit,
        exclude=tuple(obj.get("exclude") or ()),
        candidates=obj.get("candidates"),
        id=obj["id"],
    )
