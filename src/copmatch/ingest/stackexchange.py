"""StackExchange data-dump import: ``Posts.xml`` (and ``Users.xml`` if present) → records.

The mapping is a contract (see DESIGN.md): member id = user ``Id``, document id = post
``Id``, questions/answers become ``question``/``answer`` documents, owners become
``asker``/``answerer`` contributors, and ``AcceptedAnswerId`` marks the accepted answer.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from copmatch.errors import RecordError, SourceNotFoundError
from copmatch.ingest.html import html_to_text
from copmatch.store.records import Contribution, Document, ImportBatch, Member, role_for_kind
from copmatch.store.sources import check_source_name

log = logging.getLogger(__name__)

POSTS_FILE = "Posts.xml"
USERS_FILE = "Users.xml"

_KIND_FOR_POST_TYPE = {"1": "question", "2": "answer"}

# The site's housekeeping bot. It owns wiki/excerpt posts on every site, which we skip,
# so it is only a member when it owns a question or answer we import.
_COMMUNITY_USER_ID = "-1"

# Dumps hold one row per line, so reading line by line bounds memory, gives each row
# its line number for error messages, and costs no more than a chunked read. The cap
# keeps a dump without newlines from being read into memory whole.
_MAX_READ = 1 << 20
_PROGRESS_EVERY = 1 << 20

_DUMP_HINT = (
    "Point at an unpacked StackExchange dump folder: the one holding Posts.xml (and Users.xml, if you have it)."
)


_ANGLE_TAG = re.compile(r"<([^<>]*)>")


def parse_tags(raw: str) -> tuple[str, ...]:
    """Tags from a StackExchange ``Tags`` field: ``<a><b>`` (older dumps) or ``|a|b|`` (newer).

    Order is kept and duplicates and blanks dropped.
    """
    raw = (raw or "").strip()
    parts = _ANGLE_TAG.findall(raw) if raw.startswith("<") else raw.split("|")
    tags = (part.strip() for part in parts)
    return tuple(dict.fromkeys(tag for tag in tags if tag))


def dump_size(dump_dir: Path) -> int:
    """Bytes ``read_dump`` will report through ``progress`` at the end: a progress-bar total."""
    return sum(
        path.stat().st_size for path in (Path(dump_dir) / POSTS_FILE, Path(dump_dir) / USERS_FILE) if path.is_file()
    )


def read_dump(dump_dir: Path, progress: Callable[[int], None] | None = None, source: str | None = None) -> ImportBatch:
    """Read a StackExchange dump folder into one ``ImportBatch``.

    ``source`` names the records' source (default: the folder's name, i.e. the site); a
    second dump whose ids collide with the first's is stored under that name as a prefix
    (store/sources.py).

    ``progress``, if given, is called now and then with the bytes read so far, counted
    across Posts.xml then Users.xml (``dump_size`` gives the total).
    Raises ``SourceNotFoundError`` without Posts.xml and ``RecordError`` (file, line,
    reason) on malformed XML or a post that cannot be mapped.
    """
    dump_dir = Path(dump_dir)
    posts_path = dump_dir / POSTS_FILE
    if dump_dir.is_file():
        raise SourceNotFoundError(
            f"{dump_dir} is a file; the import reads the dump's folder.",
            hint=f"Pass the folder that holds it: copmatch import stackexchange {dump_dir.resolve().parent}",
        )
    if not posts_path.is_file():
        where = "does not exist" if not dump_dir.exists() else f"has no {POSTS_FILE}"
        raise SourceNotFoundError(f"StackExchange dump folder {dump_dir} {where}", hint=_DUMP_HINT)
    source_name = check_source_name(source if source is not None else dump_dir.resolve().name)

    meter = _Meter(progress)
    users_path = dump_dir / USERS_FILE
    try:
        posts = _read_posts(posts_path, community=dump_dir.resolve().name, meter=meter)
        users = _read_users(users_path, meter) if users_path.is_file() else {}
    except OSError as exc:
        raise SourceNotFoundError(
            f"Cannot read {exc.filename or dump_dir}: {exc.strerror}",
            hint="Check the file's permissions, then import again.",
        ) from exc
    meter.finish()

    members = [member for member in users.values() if member.id != _COMMUNITY_USER_ID or member.id in posts.owner_names]
    # Owners Users.xml does not know (or every owner, without Users.xml) still need a
    # member row, or their contributions would point at nothing.
    members += [
        Member(id=owner, name=name or f"user {owner}")
        for owner, name in posts.owner_names.items()
        if owner not in users
    ]
    return ImportBatch(
        members=members,
        documents=posts.documents,
        contributions=posts.contributions,
        source=str(dump_dir),
        source_name=source_name,
        namespaceable=True,
    )


class _Meter:
    """Cumulative, throttled byte progress over several files."""

    def __init__(self, callback: Callable[[int], None] | None) -> None:
        self._callback = callback
        self._done = 0  # bytes of files already finished
        self._last = -1

    def at(self, position: int, force: bool = False) -> None:
        total = self._done + position
        if self._callback and (force or total - self._last >= _PROGRESS_EVERY):
            self._callback(total)
            self._last = total

    def file_done(self, size: int) -> None:
        self._done += size

    def finish(self) -> None:
        self.at(0, force=True)


def _rows(path: Path, meter: _Meter) -> Iterator[tuple[int, dict[str, str]]]:
    """Stream ``(line, attributes)`` for each ``<row>``, holding one line in memory.

    XMLPullParser is the engine behind ``ET.iterparse``; feeding it ourselves is what
    lets us know the line of each row, not just of syntax errors.
    """
    parser = ET.XMLPullParser(events=("start", "end"))
    root: ET.Element | None = None
    line = 1
    with path.open("rb") as f:
        while True:
            chunk = f.readline(_MAX_READ)
            try:
                if chunk:
                    parser.feed(chunk)
                else:
                    parser.close()  # raises on a truncated document
                events = list(parser.read_events())
            except ET.ParseError as exc:
                raise _xml_error(path, exc) from None
            for event, elem in events:
                if event == "start":
                    root = elem if root is None else root
                elif elem.tag == "row":
                    yield line, dict(elem.attrib)
            # Drop finished rows from the tree: a 100 GB dump must not pile up in memory.
            if root is not None:
                root.clear()
            if not chunk:
                break
            line += chunk.count(b"\n")
            meter.at(f.tell())
    meter.file_done(path.stat().st_size)


def _xml_error(path: Path, exc: ET.ParseError) -> RecordError:
    line, _column = exc.position
    # ParseError's text ends with "line X, column Y", which RecordError already shows.
    reason = str(exc).split(": line ")[0]
    return RecordError(
        str(path),
        line,
        f"malformed XML: {reason}",
        hint="The dump file is damaged or truncated; unpack it again from the archive.",
    )


class _Posts:
    def __init__(self) -> None:
        self.documents: list[Document] = []
        self.contributions: list[Contribution] = []
        # Owner id → OwnerDisplayName (first seen), in first-seen order.
        self.owner_names: dict[str, str] = {}


def _read_posts(path: Path, community: str, meter: _Meter) -> _Posts:
    posts = _Posts()
    first_line: dict[str, int] = {}  # post id → line, to name both rows of a duplicate
    accepted_ids: set[str] = set()
    skipped: Counter[str] = Counter()

    for line, row in _rows(path, meter):
        post_id = _required(row, "Id", path, line)
        post_type = _required(row, "PostTypeId", path, line)
        kind = _KIND_FOR_POST_TYPE.get(post_type)
        if kind is None:
            skipped[post_type] += 1
            continue
        if post_id in first_line:
            raise RecordError(
                str(path),
                line,
                f"duplicate post Id {post_id} (first on line {first_line[post_id]})",
            )
        first_line[post_id] = line

        parent_id = None
        if kind == "answer":
            parent_id = _required(row, "ParentId", path, line)
        elif row.get("AcceptedAnswerId"):
            accepted_ids.add(row["AcceptedAnswerId"])

        posts.documents.append(
            Document(
                id=post_id,
                kind=kind,
                title=" ".join(row.get("Title", "").split()),
                body=html_to_text(row.get("Body", "")),
                tags=parse_tags(row.get("Tags", "")),
                parent_id=parent_id,
                score=_int(row, "Score", path, line),
                created_at=_iso_date(row, "CreationDate", path, line),
                community=community,
            )
        )
        owner = row.get("OwnerUserId", "").strip()
        if owner:  # absent for deleted users: the post stays, unattributed
            posts.contributions.append(Contribution(owner, post_id, role_for_kind(kind)))
            posts.owner_names.setdefault(owner, row.get("OwnerDisplayName", "").strip())

    # An answer can precede its question in the file, so acceptance is settled only
    # once every question has been seen.
    posts.documents = [
        replace(doc, accepted=True) if doc.kind == "answer" and doc.id in accepted_ids else doc
        for doc in posts.documents
    ]
    if skipped:
        log.info(
            "%s: skipped %d posts that are neither questions nor answers (by PostTypeId: %s)",
            path,
            sum(skipped.values()),
            dict(sorted(skipped.items())),
        )
    return posts


def _read_users(path: Path, meter: _Meter) -> dict[str, Member]:
    users: dict[str, Member] = {}
    for line, row in _rows(path, meter):
        user_id = _required(row, "Id", path, line)
        if user_id in users:
            raise RecordError(str(path), line, f"duplicate user Id {user_id}")
        users[user_id] = Member(
            id=user_id,
            name=row.get("DisplayName", "").strip() or f"user {user_id}",
            bio=html_to_text(row.get("AboutMe", "")),
            created_at=_iso_date(row, "CreationDate", path, line),
        )
    return users


def _required(row: dict[str, str], name: str, path: Path, line: int) -> str:
    value = row.get(name, "").strip()
    if not value:
        raise RecordError(str(path), line, f"row has no {name}")
    return value


def _int(row: dict[str, str], name: str, path: Path, line: int) -> int:
    value = row.get(name, "").strip()
    if not value:
        return 0
    try:
        number = int(value)
    except ValueError:
        raise RecordError(str(path), line, f"{name} {value[:40]!r} is not an integer") from None
    if not -(2**63) <= number < 2**63:  # SQLite's integers are 64-bit
        raise RecordError(str(path), line, f"{name} {value[:40]!r} does not fit in 64 bits")
    return number


def _iso_date(row: dict[str, str], name: str, path: Path, line: int) -> str | None:
    """The dump's date as ISO-8601 UTC. Dumps write UTC without a zone; say so with "Z"."""
    value = row.get(name, "").strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RecordError(str(path), line, f"{name} {value!r} is not an ISO-8601 date") from None
    return value if parsed.tzinfo is not None else value + "Z"
