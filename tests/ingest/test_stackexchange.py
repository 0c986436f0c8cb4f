"""StackExchange import and the text helpers it relies on.

Counts on the real dumps are recomputed here with line regexes, a method independent
of the XML parsing under test: dumps hold one ``<row>`` per line.
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest

from copmatch.errors import RecordError, SourceNotFoundError
from copmatch.ingest.html import html_to_text
from copmatch.ingest.stackexchange import dump_size, parse_tags, read_dump
from copmatch.ranking.snippets import snippet
from copmatch.store.records import ImportBatch
from tests.support import SHARED_DATA

# One pytest-xdist worker runs this module (its module fixture reads each dump once).
pytestmark = pytest.mark.xdist_group("ingest.test_stackexchange")

DATA = SHARED_DATA
DUMPS = ("beer", "coffee", "history-meta")


def _attr(line: str, name: str) -> str | None:
    found = re.search(rf' {name}="([^"]*)"', line)
    return found.group(1) if found else None


def _expected(dump: Path) -> dict[str, int]:
    """Counts straight from the lines of Posts.xml, without an XML parser."""
    rows = [
        line
        for line in (dump / "Posts.xml").read_text(encoding="utf-8-sig").splitlines()
        if line.lstrip().startswith("<row ")
    ]
    questions = [row for row in rows if 'PostTypeId="1"' in row]
    answers = [row for row in rows if 'PostTypeId="2"' in row]
    answer_ids = {_attr(row, "Id") for row in answers}
    accepted = {_attr(q, "AcceptedAnswerId") for q in questions} - {None}
    return {
        "questions": len(questions),
        "answers": len(answers),
        "accepted": len(accepted & answer_ids),
        "contributions": sum("OwnerUserId=" in row for row in questions + answers),
    }


@pytest.fixture(scope="module", params=DUMPS)
def dump(request: pytest.FixtureRequest) -> tuple[Path, ImportBatch]:
    path = DATA / request.param
    if not (path / "Posts.xml").is_file():
        pytest.skip(f"development data not found at {path} (expects ../shared beside the repo)")
    return path, read_dump(path)


def test_counts_match_an_independent_line_count(dump: tuple[Path, ImportBatch]) -> None:
    path, batch = dump
    expected = _expected(path)
    kinds = [doc.kind for doc in batch.documents]
    assert kinds.count("question") == expected["questions"]
    assert kinds.count("answer") == expected["answers"]
    assert len(batch.documents) == expected["questions"] + expected["answers"]
    assert sum(doc.accepted for doc in batch.documents) == expected["accepted"]
    assert len(batch.contributions) == expected["contributions"]


def test_records_are_consistent(dump: tuple[Path, ImportBatch]) -> None:
    path, batch = dump
    docs = {doc.id: doc for doc in batch.documents}
    assert len(docs) == len(batch.documents)
    assert batch.source == str(path)
    assert {doc.community for doc in batch.documents} == {path.name}

    member_ids = [member.id for member in batch.members]
    assert all(isinstance(member_id, str) and member_id for member_id in member_ids)
    assert len(set(member_ids)) == len(member_ids)
    # Every contribution points at an imported member and document, with the role of its kind.
    assert {c.member_id for c in batch.contributions} <= set(member_ids)
    for contribution in batch.contributions:
        kind = docs[contribution.document_id].kind
        assert contribution.role == {"question": "asker", "answer": "answerer"}[kind]

    for doc in batch.documents:
        assert (doc.parent_id is not None) == (doc.kind == "answer")
        assert not doc.accepted or doc.kind == "answer"
        assert "<p>" not in doc.body and "&lt;" not in doc.body
        assert doc.created_at and doc.created_at.endswith("Z")
        datetime.fromisoformat(doc.created_at)
    for member in batch.members:
        if member.created_at:
            datetime.fromisoformat(member.created_at)


def test_questions_keep_title_and_tags(dump: tuple[Path, ImportBatch]) -> None:
    _, batch = dump
    questions = [doc for doc in batch.documents if doc.kind == "question"]
    assert all(doc.title for doc in questions)
    assert all(doc.tags and all("<" not in tag for tag in doc.tags) for doc in questions)


def test_users_xml_gives_names_bios_and_keeps_community_bot_that_posts() -> None:
    path = DATA / "history-meta"
    if not (path / "Users.xml").is_file():
        pytest.skip(f"development data not found at {path}")
    members = {member.id: member for member in read_dump(path).members}
    user_lines = [
        line
        for line in (path / "Users.xml").read_text(encoding="utf-8-sig").splitlines()
        if line.lstrip().startswith("<row ")
    ]
    # history-meta's Community bot owns questions and answers, so every user is kept.
    assert len(members) >= len(user_lines)
    geoff = members["1"]
    assert geoff.name == "Geoff Dalgas"
    assert geoff.bio.startswith("Developer on the Stack Overflow team. Find me on")
    assert "Twitter" in geoff.bio and "<" not in geoff.bio and "href" not in geoff.bio
    assert members["-1"].name == "Community"

    # Any AboutMe with words outside its tags and entities becomes a bio (image-only
    # or empty-paragraph ones may give none).
    def words(about: str) -> str:
        return re.sub(r"&(amp;)?[#\w]+;", " ", re.sub(r"&lt;.*?&gt;", " ", about))

    worded = [_attr(line, "Id") for line in user_lines if re.search(r"[A-Za-z]", words(_attr(line, "AboutMe") or ""))]
    assert len(worded) > 100
    assert all(members[user_id].bio for user_id in worded)


def test_without_users_xml_members_come_from_post_owners() -> None:
    path = DATA / "coffee"
    if not (path / "Posts.xml").is_file():
        pytest.skip(f"development data not found at {path}")
    batch = read_dump(path)
    owners = {c.member_id for c in batch.contributions}
    assert {member.id for member in batch.members} == owners
    # The bot owns only tag-wiki posts here, which are skipped, so it is not a member.
    assert "-1" not in owners


# --- small hand-written dumps: the edge cases of the mapping ---------------------------

POSTS_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'


def _write_dump(tmp_path: Path, posts: str, users: str | None = None) -> Path:
    dump = tmp_path / "tiny"
    dump.mkdir()
    (dump / "Posts.xml").write_text(POSTS_HEADER + posts + "</posts>\n", encoding="utf-8")
    if users is not None:
        (dump / "Users.xml").write_text(
            '<?xml version="1.0" encoding="utf-8"?>\n<users>\n' + users + "</users>\n",
            encoding="utf-8",
        )
    return dump


TINY_POSTS = (
    # The accepted answer comes before its question.
    '  <row Id="11" PostTypeId="2" ParentId="10" CreationDate="2020-01-02T00:00:00.000"'
    ' Score="3" Body="&lt;p&gt;Use &lt;code&gt;x &amp;amp; y&lt;/code&gt;&lt;/p&gt;" OwnerUserId="7" />\n'
    '  <row Id="10" PostTypeId="1" AcceptedAnswerId="11" CreationDate="2020-01-01T00:00:00Z"'
    ' Score="-1" Title="How &amp; why?" Body="&lt;p&gt;Q&lt;/p&gt;" Tags="|a|b-c|"'
    ' OwnerUserId="5" OwnerDisplayName="Ann" />\n'
    # A deleted user's answer, and one whose question is not in the dump.
    '  <row Id="12" PostTypeId="2" ParentId="10" CreationDate="2020-01-03T00:00:00.000"'
    ' Body="&lt;p&gt;gone&lt;/p&gt;" OwnerDisplayName="ghost" />\n'
    '  <row Id="13" PostTypeId="2" ParentId="999" CreationDate="2020-01-03T00:00:00.000"'
    ' Body="orphan" OwnerUserId="-1" />\n'
    '  <row Id="14" PostTypeId="4" Body="tag wiki" OwnerUserId="5" />\n'
)


def test_tiny_dump_without_users(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="copmatch.ingest.stackexchange")
    batch = read_dump(_write_dump(tmp_path, TINY_POSTS))
    docs = {doc.id: doc for doc in batch.documents}
    assert sorted(docs) == ["10", "11", "12", "13"]
    assert "skipped 1 posts" in caplog.text

    question = docs["10"]
    assert (question.kind, question.title, question.body) == (
        "question",
        "How & why?",
        "Q",
    )
    assert question.tags == ("a", "b-c")
    assert (question.score, question.created_at) == (-1, "2020-01-01T00:00:00Z")
    assert question.community == "tiny"

    assert docs["11"].accepted and docs["11"].body == "Use x & y"
    assert docs["11"].created_at == "2020-01-02T00:00:00.000Z"
    assert not docs["12"].accepted and docs["12"].score == 0
    assert docs["13"].parent_id == "999"

    roles = {(c.member_id, c.document_id, c.role) for c in batch.contributions}
    assert roles == {
        ("7", "11", "answerer"),
        ("5", "10", "asker"),
        ("-1", "13", "answerer"),
    }
    names = {member.id: member.name for member in batch.members}
    assert names == {"7": "user 7", "5": "Ann", "-1": "user -1"}


def test_tiny_dump_with_users(tmp_path: Path) -> None:
    users = (
        '  <row Id="-1" DisplayName="Community" CreationDate="2019-01-01T00:00:00.000" />\n'
        '  <row Id="5" DisplayName="Ann B" AboutMe="&lt;p&gt;Brewer&lt;br&gt;since 1999&lt;/p&gt;"'
        ' CreationDate="2019-05-01T10:00:00.000" />\n'
        '  <row Id="8" DisplayName="Lurker" />\n'
    )
    posts = TINY_POSTS.replace('OwnerUserId="-1"', 'OwnerUserId="9"')
    dump = _write_dump(tmp_path, posts, users)
    calls: list[int] = []
    members = {m.id: m for m in read_dump(dump, progress=calls.append).members}
    # The bot owns no post here, so it is dropped; a user with no posts is kept;
    # owners missing from Users.xml are still members.
    assert sorted(members) == ["5", "7", "8", "9"]
    assert members["5"].name == "Ann B"
    assert members["5"].bio == "Brewer\nsince 1999"
    assert members["5"].created_at == "2019-05-01T10:00:00.000Z"
    assert members["7"].name == "user 7"
    assert calls and calls[-1] == dump_size(dump)
    assert calls == sorted(calls)


def test_missing_posts_xml(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError) as caught:
        read_dump(tmp_path)
    assert "Posts.xml" in str(caught.value) and caught.value.hint
    with pytest.raises(SourceNotFoundError):
        read_dump(tmp_path / "nowhere")


def test_malformed_xml_names_the_line(tmp_path: Path) -> None:
    broken = (
        '  <row Id="1" PostTypeId="1" Title="ok" Body="fine" />\n'  # line 3
        '  <row Id="2" PostTypeId="2" ParentId="1" Body="a < b" />\n'  # line 4
    )
    dump = _write_dump(tmp_path, broken)
    with pytest.raises(RecordError) as caught:
        read_dump(dump)
    assert caught.value.line == 4
    assert caught.value.path == str(dump / "Posts.xml")
    assert "malformed XML" in caught.value.reason


def test_truncated_xml(tmp_path: Path) -> None:
    dump = tmp_path / "cut"
    dump.mkdir()
    (dump / "Posts.xml").write_text(POSTS_HEADER + '  <row Id="1" PostTypeId="1" />\n')
    with pytest.raises(RecordError) as caught:
        read_dump(dump)
    assert caught.value.line >= 3


def test_row_errors_name_the_line(tmp_path: Path) -> None:
    rows = (
        '  <row Id="1" PostTypeId="1" Body="q" />\n'
        '  <row Id="1" PostTypeId="1" Body="again" />\n'  # line 4
    )
    with pytest.raises(RecordError, match="duplicate post Id 1") as caught:
        read_dump(_write_dump(tmp_path, rows))
    assert caught.value.line == 4


# --- text helpers --------------------------------------------------------------------


def test_html_to_text_paragraphs_code_and_entities() -> None:
    html = (
        "<p>Hello &amp; <b>wel</b>come,\n  friend&#39;s   home.</p>\n\n"
        "<ul><li><p>one</p></li><li>two</li></ul>"
        "<pre><code>if a &lt; b:\n    return 1\n</code></pre>"
        "<p>line<br>break<br/>again &nbsp;x</p><script>alert(1)</script>"
    )
    assert html_to_text(html) == (
        "Hello & welcome, friend's home.\none\ntwo\nif a < b:\nreturn 1\nline\nbreak\nagain x"
    )


def test_html_to_text_edge_cases() -> None:
    assert html_to_text("") == ""
    assert html_to_text("plain   text") == "plain text"
    assert html_to_text("<p>unclosed <i>tags") == "unclosed tags"
    assert html_to_text("<p>  </p><p></p>") == ""


def test_snippet() -> None:
    assert snippet("short   text\nhere") == "short text here"
    text = "alpha beta gamma delta epsilon"
    cut = snippet(text, 14)
    assert cut == "alpha beta…" and len(cut) <= 14
    assert snippet("x" * 50, 10) == "x" * 9 + "…"
    assert snippet(text, len(text)) == text
    with pytest.raises(ValueError):
        snippet(text, 0)


def test_parse_tags() -> None:
    assert parse_tags("<python><c++><python>") == ("python", "c++")
    assert parse_tags("|python|c#|") == ("python", "c#")
    assert parse_tags("") == ()
    assert parse_tags("||") == ()
