"""Request limits that are settings, checked against the serving process's own ``Settings``.

Pydantic field constraints are fixed when the schema classes are defined; these are not,
so a server started with other limits enforces those. A request over a limit is a 422
naming the field, the limit and the setting, in the shape of every other validation error.
"""

from __future__ import annotations

from typing import Any

from copmatch.errors import InvalidQueryError, QueryTooLargeError
from copmatch.settings import Settings


def at_most(field: str, value: int, maximum: int, setting: str) -> None:
    """``value`` (a count, a length or a number) of body field ``field`` is at most ``maximum``."""
    if value > maximum:
        reason = f"{value} is over the limit of {maximum} (setting {setting})"
        raise InvalidQueryError(
            f"Invalid request: body.{field}: {reason}",
            hint=f"Send at most {maximum}; the limits are in the OpenAPI schema at /docs.",
            details={"errors": [{"field": f"body.{field}", "reason": reason}], "limit": maximum, "setting": setting},
        )


def text_at_most(length: int, maximum: int, query_id: str | None = None) -> None:
    """A query text over the API's size limit is a 413 (the CLI and the library read any length)."""
    if length > maximum:
        where = f"Query {query_id!r} is" if query_id else "The query is"
        raise QueryTooLargeError(
            f"{where} {length:,} characters; this API reads up to {maximum:,} (setting api_max_query_chars).",
            hint="Send the question or abstract itself; the CLI (copmatch experts) reads any length.",
            details={"limit": maximum, "setting": "api_max_query_chars"},
        )


def check_query(query: Any, settings: Settings, prefix: str = "") -> None:
    """A query's text length, ``limit`` and ``exclude``/``candidates`` lists within the settings."""
    text_at_most(len(query.text), settings.api_max_query_chars, getattr(query, "id", None))
    if getattr(query, "limit", None) is not None:
        at_most(prefix + "limit", query.limit, settings.max_limit, "max_limit")
    for field in ("exclude", "candidates"):
        at_most(prefix + field, len(getattr(query, field) or ()), settings.api_max_ids, "api_max_ids")
