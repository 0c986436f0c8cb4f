"""Batch query files for ``experts --batch``: one JSON object per line (see DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from copmatch.errors import InvalidQueryError, RecordError, SourceNotFoundError
from copmatch.ingest.jsonl import decode_json_line
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
            obj = decode_json_line(raw, str(path), line_no, hint=_LINE_HINT)
            queries.append(_query(obj, path, line_no, limit))
    if not queries:
        raise InvalidQueryError(f"{path} holds no queries.", hint=_LINE_HINT)
    return queries


_LINE_HINT = 'Fix that line; each line is {"id": "...", "text": "...", "exclude"?: [ids], "candidates"?: [ids]}.'


def _query(obj: object, path: Path, line: int, limit: int) -> ExpertQuery:
    def fail(reason: str) -> RecordError:
        return RecordError(
            str(path),
            line,
            reason,
            hint=_LINE_HINT,
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
    if not all(
        _encodable(v) for v in [obj["id"], obj["text"], *(obj.get("exclude") or ()), *(obj.get("candidates") or ())]
    ):
        raise fail("a string holds a lone surrogate (an invalid \\ud800-\\udfff escape)")
    return ExpertQuery(
        text=obj["text"],
        limit=line_limit,
        exclude=tuple(obj.get("exclude") or ()),
        candidates=obj.get("candidates"),
        id=obj["id"],
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
