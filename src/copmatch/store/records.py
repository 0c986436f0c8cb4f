"""Validated records: what every ingest source produces and the store accepts.

Ingest modules turn their own formats into these; the store never sees raw input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Document kinds copmatch knows. Others are accepted but carry the default weight.
DOCUMENT_KINDS = ("practice", "question", "answer", "publication", "comment")

#: Contribution roles. The role of a document's ``authors`` follows from its kind.
CONTRIBUTION_ROLES = ("author", "answerer", "asker", "editor", "commenter")

ROLE_FOR_KIND = {
    "question": "asker",
    "answer": "answerer",
    "comment": "commenter",
}


def role_for_kind(kind: str) -> str:
    """The contribution role of an author of a document of this kind."""
    return ROLE_FOR_KIND.get(kind, "author")


@dataclass(frozen=True)
class Member:
    id: str
    name: str
    silo: str | None = None
    bio: str = ""
    skills: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    opt_out: bool = False
    created_at: str | None = None


@dataclass(frozen=True)
class Document:
    id: str
    kind: str
    body: str
    title: str = ""
    tags: tuple[str, ...] = ()
    parent_id: str | None = None
    accepted: bool = False
    score: int = 0
    created_at: str | None = None
    community: str | None = None


@dataclass(frozen=True)
class Contribution:
    member_id: str
    document_id: str
    role: str


@dataclass
class ImportBatch:
    """Everything one import adds: written to the store in one transaction."""

    members: list[Member] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)
    contributions: list[Contribution] = field(default_factory=list)
    source: str = ""  # where it was read from (file or folder), for messages
    #: The source the records belong to (store/sources.py): a dump's site, or a name the admin gives.
    source_name: str = "native"  # store.sources.NATIVE_SOURCE
    #: Whether ids colliding with another source's may be stored under a prefix (a dump's
    #: numeric ids collide; native ids are the admin's own and are never rewritten).
    namespaceable: bool = False
