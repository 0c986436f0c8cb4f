"""Feedback on suggested experts: did this member help with this question?

Members say so after asking (``copmatch feedback``, ``POST /v1/feedback``, the web page's
"helped / didn't help"); the records are kept in the store, with the question's text, so the
ranker can learn from them at the next index build.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from copmatch.errors import InvalidQueryError
from copmatch.store.store import Store

#: Longest question text kept with a feedback record (a pasted abstract fits many times over).
MAX_FEEDBACK_QUERY_CHARS = 50_000


@dataclass(frozen=True)
class Feedback:
    id: int
    query: str
    member_id: str
    helpful: bool
    given_by: str | None
    index_version: str | None
    note: str | None
    at: str

    def to_dict(self) -> dict:
        return asdict(self)


def record_feedback(
    store: Store,
    query: str,
    member_id: str,
    helpful: bool,
    given_by: str | None = None,
    index_version: str | None = None,
    note: str | None = None,
) -> Feedback:
    """Store one verdict on a suggested expert; the member must exist."""
    if not query or not query.strip():
        raise InvalidQueryError(
            "Feedback needs the question the member was suggested for.", hint="Pass the question text."
        )
    if len(query) > MAX_FEEDBACK_QUERY_CHARS:
        raise InvalidQueryError(
            f"The question is {len(query)} characters; feedback keeps at most {MAX_FEEDBACK_QUERY_CHARS}.",
            hint="Give the question itself rather than a whole document.",
        )
    store.get_member(member_id)  # NotFoundError with a hint
    return Feedback(**store.add_feedback(query, member_id, helpful, given_by, index_version, note))


def list_feedback(store: Store, member_id: str | None = None) -> list[Feedback]:
    return [Feedback(**row) for row in store.feedback(member_id)]
