"""What a member has contributed and on which topics; a document with its people.

Read from the store, so a member's or document's page is right before the next index build.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from copmatch.errors import NotFoundError
from copmatch.store.store import Store


@dataclass(frozen=True)
class MemberProfile:
    member: dict[str, Any]
    contributions: list[dict[str, Any]]  # newest first: document_id, title, kind, role, accepted, created_at
    contribution_count: int
    roles: dict[str, int]  # contributions per role
    topics: list[tuple[str, int]]  # tags of their documents (answers count their question's), most used first

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DocumentView:
    document: dict[str, Any]
    contributors: list[dict[str, Any]]  # member_id, name, silo, role
    parent: dict[str, Any] | None = None  # an answer's question
    answers: list[dict[str, Any]] = field(default_factory=list)  # a question's answers, with their authors

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def member_profile(store: Store, member_id: str, limit: int = 50, topics: int = 12) -> MemberProfile:
    member = store.get_member(member_id)  # NotFoundError with a hint
    rows = store.member_contributions(member_id)
    # An answer carries no tags of its own: it is on its question's topics.
    parents = {r["parent_id"] for r in rows if r["parent_id"] and not r["tags"]}
    parent_tags = {d["id"]: d["tags"] for d in store.document_facts() if d["id"] in parents} if parents else {}
    tag_counts: Counter[str] = Counter()
    for row in rows:
        tag_counts.update(row["tags"] or parent_tags.get(row["parent_id"], []))
    contributions = [
        {
            "document_id": r["document_id"],
            "title": r["display_title"] or r["document_id"],
            "kind": r["kind"],
            "role": r["role"],
            "accepted": bool(r["accepted"]),
            "created_at": r["created_at"],
        }
        for r in rows[:limit]
    ]
    return MemberProfile(
        member=member,
        contributions=contributions,
        contribution_count=len(rows),
        roles=dict(Counter(r["role"] for r in rows).most_common()),
        topics=tag_counts.most_common(topics),
    )


def document_view(store: Store, document_id: str) -> DocumentView:
    document = store.get_document(document_id)  # NotFoundError with a hint
    parent = None
    if document.get("parent_id"):
        try:
            parent = store.get_document(document["parent_id"])
        except NotFoundError:  # an answer imported without its question: show the answer alone
            parent = None
    answers = store.answers_to(document_id) if document["kind"] == "question" else []
    people = store.document_contributors([document_id, *(a["id"] for a in answers)])
    by_document: dict[str, list[dict[str, Any]]] = {}
    for person in people:
        by_document.setdefault(person.pop("document_id"), []).append(person)
    answers = [{**a, "contributors": by_document.get(a["id"], [])} for a in answers]
    return DocumentView(document, by_document.get(document_id, []), parent, answers)
