"""Request limits that are settings, checked against the serving process's own ``Settings``.

Pydantic field constraints are fixed when the schema classes are defined; these are not,
so a server started with other limits enforces those. A request over a limit is a 422
naming the field, the limit and the setting, in the shape of every other validation error.
"""

from __future__ import annotations

from typing import Any

from copmatch.errors import InvalidQueryError
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


def check_query(query: Any, settings: Settings, prefix: str = "") -> None:
    """A query's text length, ``limit`` and ``exclude``/``candidates`` lists within the settings."""
    at_most(prefix + "text", len(query.text), settings.max_query_chars, "max_query_chars")
    if getattr(query, "limit", None) is not None:
        at_most(prefix + "limit", query.limit, settings.max_limit, "max_limit")
    for field in ("exclude", "candidates"):
        at_most(prefix + field, len(getattr(query, field) or ()), settings.api_max_ids, "api_max_ids")
