"""The temporal protocol for expert finding on a StackExchange dump (see shared/data/README.md).

Questions are sorted by creation date; the cutoff is the date of the question at
``history_share`` of them. The history is every post created before the cutoff: it is
written as a filtered dump (Posts.xml, and Users.xml for users who joined before the
cutoff) so the system learns it through the normal importer. The test questions are the
later questions with at least one answer; the truth is who answered them (any time).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from copmatch.ingest.html import html_to_text

POSTS, USERS = "Posts.xml", "Users.xml"
QUESTION, ANSWER = "1", "2"


@dataclass
class TestQuestion:
    id: str
    text: str  # title + body, plain text
    asker: str | None
    answerers: set[str] = field(default_factory=set)
    accepted: str | None = None  # the accepted answer's author, when known
    created: str = ""  # the question's CreationDate


@dataclass(frozen=True)
class HistorySplit:
    cutoff: str
    history_dir: Path
    history_posts: int
    questions: list[TestQuestion]  # every later question with at least one attributed answer


def _rows(path: Path) -> list[tuple[str, dict[str, str]]]:
    """(raw line, attributes) of each <row> line; dumps hold one row per line."""
    rows = []
    with path.open(encoding="utf-8-sig") as handle:
        for line in handle:
            stripped = line.strip()
            if stripped.startswith("<row"):
                rows.append((line, dict(ET.fromstring(stripped).attrib)))
    return rows


def _write_filtered(source: Path, target: Path, keep: list[str]) -> None:
    """The source file's header and footer lines around the kept row lines."""
    lines = source.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    head = [line for line in lines if not line.strip().startswith("<row")]
    closing = head.pop()  # "</posts>" / "</users>"
    target.write_text("".join(head) + "".join(keep) + closing, encoding="utf-8")


def _cutoff(posts: list[tuple[str, dict[str, str]]], share: float) -> str:
    question_dates = sorted(a["CreationDate"] for _, a in posts if a.get("PostTypeId") == QUESTION)
    return question_dates[min(int(len(question_dates) * share), len(question_dates) - 1)]


def question_cutoff(dump_dir: Path, share: float) -> str:
    """The creation date of the question at ``share`` of all questions by date."""
    return _cutoff(_rows(dump_dir / POSTS), share)


def split_dump(dump_dir: Path, history_dir: Path, history_share: float = 0.7) -> HistorySplit:
    """Write the history dump into ``history_dir`` and return the test questions."""
    posts = _rows(dump_dir / POSTS)
    cutoff = _cutoff(posts, history_share)
    history_dir.mkdir(parents=True, exist_ok=True)
    kept = [line for line, a in posts if a.get("CreationDate", "") < cutoff]
    _write_filtered(dump_dir / POSTS, history_dir / POSTS, kept)
    if (dump_dir / USERS).is_file():
        users = [line for line, a in _rows(dump_dir / USERS) if a.get("CreationDate", "") < cutoff]
        _write_filtered(dump_dir / USERS, history_dir / USERS, users)
    return HistorySplit(cutoff, history_dir, len(kept), _test_questions(posts, cutoff))


def _test_questions(posts: list[tuple[str, dict[str, str]]], cutoff: str) -> list[TestQuestion]:
    answer_owner = {a["Id"]: a.get("OwnerUserId") for _, a in posts if a.get("PostTypeId") == ANSWER}
    answerers: dict[str, set[str]] = defaultdict(set)
    for _, a in posts:
        if a.get("PostTypeId") == ANSWER and a.get("OwnerUserId"):
            answerers[a["ParentId"]].add(a["OwnerUserId"])
    out = []
    for _, a in posts:
        if a.get("PostTypeId") != QUESTION or a["CreationDate"] < cutoff or not answerers.get(a["Id"]):
            continue
        title = " ".join(a.get("Title", "").split())
        out.append(
            TestQuestion(
                id=a["Id"],
                text=f"{title}\n{html_to_text(a.get('Body', ''))}".strip(),
                asker=a.get("OwnerUserId"),
                answerers=answerers[a["Id"]],
                accepted=answer_owner.get(a.get("AcceptedAnswerId", "")),
                created=a["CreationDate"],
            )
        )
    return out
