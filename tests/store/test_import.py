"""Store and import: transactional, idempotent, and clear about bad records."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from copmatch.errors import RecordError, SourceNotFoundError
from copmatch.store.schema import SCHEMA_VERSION
from copmatch.store.store import Store
from tests.support import DATA, dump_dir


def snapshot_db(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    tables = ("members", "documents", "contributions")
    out = {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables}
    conn.close()
    # updated_at changes on every upsert by design; compare content only.
    return out


def counts(store: Store) -> dict[str, int]:
    return {k: v for k, v in store.counts().items() if k != "passages"}


def test_schema_version_and_wal(tmp_path):
    store = Store(tmp_path / "db.sqlite")
    assert store.schema_version == SCHEMA_VERSION
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()
    # Reopening runs no migration twice.
    assert Store(tmp_path / "db.sqlite").schema_version == SCHEMA_VERSION


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "db.sqlite"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(Exception, match="schema version"):
        Store(path)


def test_jsonl_reimport_updates_never_duplicates(tmp_path, embedder):
    from tests.support import open_community

    community = open_community(tmp_path, embedder)
    first = community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    assert (first.new_members, first.new_documents) == (6, 15)
    before = counts(community.store)
    second = community.import_jsonl(DATA / "members.jsonl", DATA / "documents.jsonl")
    assert (second.new_members, second.new_documents) == (0, 0)
    assert counts(community.store) == before == {"members": 6, "documents": 15, "contributions": 16}


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


GOOD_MEMBER = '{"id": "m1", "name": "One"}'
GOOD_DOC = '{"id": "d1", "kind": "practice", "body": "text", "authors": ["m1"]}'


@pytest.mark.parametrize(
    ("members", "documents", "bad_file", "line", "reason"),
    [
        ([GOOD_MEMBER, "{not json"], [GOOD_DOC], "members", 2, "invalid JSON"),
        ([GOOD_MEMBER, '{"name": "No Id"}'], [GOOD_DOC], "members", 2, "missing required field 'id'"),
        (
            [GOOD_MEMBER],
            [GOOD_DOC, '{"id": "d2", "kind": "answer", "body": "x", "authors": ["ghost"]}'],
            "documents",
            2,
            "unknown member(s) in 'authors': ['ghost']",
        ),
        ([GOOD_MEMBER, '{"id": 7, "name": "Seven"}'], [GOOD_DOC], "members", 2, "field 'id' must be a string"),
        (
            [GOOD_MEMBER],
            [GOOD_DOC, '{"id": "d3", "kind": "question", "body": "x", "tags": "pumps"}'],
            "documents",
            2,
            "field 'tags' must be a list of strings",
        ),
        (
            [GOOD_MEMBER],
            [GOOD_DOC, '{"id": "d4", "kind": "answer", "body": "x", "accepted": "yes"}'],
            "documents",
            2,
            "field 'accepted' must be true or false",
        ),
        (
            [GOOD_MEMBER],
            [GOOD_DOC, '{"id": "d5", "kind": "answer", "body": "x", "created_at": "last week"}'],
            "documents",
            2,
            "ISO-8601",
        ),
        ([GOOD_MEMBER, GOOD_MEMBER], [GOOD_DOC], "members", 2, "duplicate id 'm1'"),
    ],
)
def test_bad_record_names_file_line_reason_and_writes_nothing(tmp_path, members, documents, bad_file, line, reason):
    store = Store(tmp_path / "db.sqlite")
    from copmatch.ingest.jsonl import read_jsonl_import

    # An existing import must survive untouched.
    seed = read_jsonl_import(DATA / "members.jsonl", DATA / "documents.jsonl")
    store.import_batch(seed)
    before = snapshot_db(store.path)
    paths = {
        "members": _write(tmp_path / "members.jsonl", members),
        "documents": _write(tmp_path / "documents.jsonl", documents),
    }
    with pytest.raises(RecordError) as info:
        store.import_batch(read_jsonl_import(paths["members"], paths["documents"], store.member_ids()))
    assert info.value.path == str(paths[bad_file])
    assert info.value.line == line
    assert reason in info.value.reason
    assert f"{paths[bad_file]}:{line}:" in str(info.value)
    assert snapshot_db(store.path) == before


def test_failure_inside_the_write_rolls_back(tmp_path):
    """A constraint failure midway through the write leaves nothing behind."""
    from copmatch.store.records import Contribution, Document, ImportBatch, Member

    store = Store(tmp_path / "db.sqlite")
    batch = ImportBatch(
        members=[Member("m1", "One")],
        documents=[Document("d1", "practice", "body")],
        contributions=[Contribution("m1", "d1", "author"), Contribution("m1", "missing-doc", "author")],
        source="test",
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.import_batch(batch)
    assert counts(store) == {"members": 0, "documents": 0, "contributions": 0}


def test_missing_file_is_a_clear_error(tmp_path):
    from copmatch.ingest.jsonl import read_jsonl_import

    with pytest.raises(SourceNotFoundError, match="no such file"):
        read_jsonl_import(tmp_path / "nope.jsonl", None)


def _xml_counts(posts: Path, users: Path) -> dict[str, int]:
    text = posts.read_text(encoding="utf-8")
    rows = re.findall(r"<row [^>]*>", text)
    kept = [r for r in rows if re.search(r'PostTypeId="[12]"', r)]
    owners = {m.group(1) for r in kept if (m := re.search(r'OwnerUserId="(-?\d+)"', r))}
    members = set(owners)
    if users.is_file():
        members |= set(re.findall(r'<row [^>]*?\bId="(-?\d+)"', users.read_text(encoding="utf-8")))
    return {"documents": len(kept), "contributions": sum('OwnerUserId="' in r for r in kept), "members": len(members)}


@pytest.mark.parametrize("name", ["beer", "coffee", "history-meta"])
def test_stackexchange_import_counts_match_the_xml_and_reimport_is_idempotent(tmp_path, name):
    from copmatch.ingest.stackexchange import read_dump

    dump = dump_dir(name)
    expected = _xml_counts(dump / "Posts.xml", dump / "Users.xml")
    store = Store(tmp_path / "db.sqlite")
    batch = read_dump(dump)
    store.import_batch(batch)
    assert counts(store) == expected
    store.import_batch(batch)  # the same records again: nothing added, nothing lost
    assert counts(store) == expected
    # The contract's mapping: ids are the dump's ids, roles follow the post type.
    roles = dict(store.db.execute("SELECT role, count(*) FROM contributions GROUP BY role").fetchall())
    assert set(roles) <= {"asker", "answerer"}
    accepted = store.db.execute("SELECT count(*) FROM documents WHERE accepted = 1 AND kind = 'answer'").fetchone()[0]
    assert accepted > 0


def test_cli_bad_import_exits_2_with_file_and_line(tmp_path):
    from typer.testing import CliRunner

    from copmatch.cli.app import app

    bad = _write(tmp_path / "members.jsonl", [GOOD_MEMBER, '{"id": "m2"}'])
    result = CliRunner().invoke(app, ["--data-dir", str(tmp_path / "d"), "import", "jsonl", "--members", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:2: missing required field 'name'" in result.output
    assert "nothing was written" in result.output
    assert "Traceback" not in result.output


def test_sample_community_is_valid_and_sized():
    from copmatch.ingest.jsonl import read_jsonl_import
    from copmatch.sample import documents_path, members_path, questions

    batch = read_jsonl_import(members_path(), documents_path())
    assert 40 <= len(batch.members) <= 80
    assert len(batch.documents) >= 200
    assert len({m.silo for m in batch.members}) >= 4
    member_ids = {m.id for m in batch.members}
    for q in questions():
        assert set(q["expected"]) <= member_ids, q


def test_cached_reads_see_this_store_at_once_and_other_processes_soon(tmp_path, monkeypatch):
    """Opt-outs and API keys are read on every request, so they are cached; a change must
    still show: at once when made through this store, within CACHE_RECHECK_S otherwise."""
    from copmatch.ingest.jsonl import read_import_objects
    from copmatch.store import store as store_module

    server, admin = Store(tmp_path / "db.sqlite"), Store(tmp_path / "db.sqlite")  # two connections

    def member(opt_out: bool) -> dict:
        return {"id": "olga", "name": "Olga Pumps", "opt_out": opt_out}

    server.import_batch(read_import_objects([member(False)], [], set()))
    assert server.opted_out() == frozenset()
    server.import_batch(read_import_objects([member(True)], [], {"olga"}))
    assert server.opted_out() == {"olga"}  # its own write: seen at once

    admin.add_api_key("k1", "hash-1", "member", None, None)
    monkeypatch.setattr(store_module, "CACHE_RECHECK_S", 60.0)
    assert server.api_key_by_hash("hash-1")["id"] == "k1"
    admin.import_batch(read_import_objects([member(False)], [], {"olga"}))
    admin.revoke_api_key("k1")
    assert server.opted_out() == {"olga"}  # another connection's commit: not yet rechecked
    monkeypatch.setattr(store_module, "CACHE_RECHECK_S", 0.0)
    assert server.opted_out() == frozenset()
    assert server.api_key_by_hash("hash-1")["revoked_at"]
    server.close()
    admin.close()
