"""Defects 1, 5 and 8 of issue 13 through the real CLI and real SQLite files: a second source
never overwrites the first, hostile records are errors with file:line, messages say the truth."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from copmatch.cli.app import app
from tests.support import dump_dir

runner = CliRunner()


def run(data_dir: Path, *args: str):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def write_dump(folder: Path, title: str, body: str = "b") -> Path:
    """A two-post dump whose ids (post 1, 2; user 7) collide with any other such dump."""
    folder.mkdir(parents=True)
    (folder / "Posts.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<posts>\n'
        f'<row Id="1" PostTypeId="1" Title="{title}" Body="{body}" OwnerUserId="7" AcceptedAnswerId="2"'
        ' CreationDate="2020-01-01T00:00:00" />\n'
        '<row Id="2" PostTypeId="2" ParentId="1" Body="an answer" OwnerUserId="7"'
        ' CreationDate="2020-01-02T00:00:00" />\n'
        "</posts>\n"
    )
    return folder


def rows(data_dir: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(data_dir / "copmatch.sqlite") as conn:
        return conn.execute(sql).fetchall()


def test_a_second_dump_is_namespaced_and_the_first_keeps_its_ids(tmp_path):
    beer, coffee = write_dump(tmp_path / "beer", "citra hops"), write_dump(tmp_path / "coffee", "espresso")
    data = tmp_path / "data"
    assert run(data, "import", "stackexchange", str(beer)).exit_code == 0
    result = run(data, "import", "stackexchange", str(coffee), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[-1])["id_prefix"] == "coffee:"
    # beer keeps the contract (bare post Ids); coffee lives beside it, nothing overwritten.
    titles = dict(rows(data, "SELECT id, title FROM documents WHERE kind = 'question'"))
    assert titles == {"1": "citra hops", "coffee:1": "espresso"}
    assert rows(data, "SELECT parent_id FROM documents WHERE id = 'coffee:2'") == [("coffee:1",)]
    assert {r[0] for r in rows(data, "SELECT member_id FROM contributions")} == {"7", "coffee:7"}
    # Re-importing a source updates its own records in place.
    (coffee / "Posts.xml").write_text((coffee / "Posts.xml").read_text().replace("espresso", "ristretto"))
    assert run(data, "import", "stackexchange", str(coffee)).exit_code == 0
    assert rows(data, "SELECT count(*) FROM documents") == [(4,)]
    assert rows(data, "SELECT title FROM documents WHERE id = 'coffee:1'") == [("ristretto",)]
    assert rows(data, "SELECT title FROM documents WHERE id = '1'") == [("citra hops",)]


def test_native_records_colliding_with_a_dump_are_refused_and_nothing_is_written(tmp_path):
    data = tmp_path / "data"
    assert run(data, "import", "stackexchange", str(write_dump(tmp_path / "beer", "citra"))).exit_code == 0
    members = tmp_path / "m.jsonl"
    members.write_text('{"id": "new", "name": "New"}\n{"id": "7", "name": "Impostor"}\n')
    result = run(data, "import", "jsonl", "--members", str(members))
    assert result.exit_code == 2
    assert "would overwrite 1 record(s) of source(s) beer" in result.output and "hint" in result.output
    assert rows(data, "SELECT id FROM members ORDER BY id") == [("7",)]


def test_a_named_source_and_a_posts_file_instead_of_its_folder(tmp_path):
    dump = write_dump(tmp_path / "dump", "t")
    data = tmp_path / "data"
    assert run(data, "import", "stackexchange", str(dump), "--source", "site-a").exit_code == 0
    assert rows(data, "SELECT DISTINCT source FROM documents") == [("site-a",)]
    result = run(data, "import", "stackexchange", str(dump / "Posts.xml"))
    assert result.exit_code == 2 and "is a file; the import reads the dump's folder" in result.output
    bad = run(data, "import", "stackexchange", str(dump), "--source", "no spaces")
    assert bad.exit_code == 2 and "Invalid source name" in bad.output


HOSTILE_JSONL = [
    ('{"id": "a", "name": "\\ud800"}', "members", "lone surrogate"),
    ('{"id": "d", "kind": "practice", "body": "x", "score": 99999999999999999999}', "documents", "64 bits"),
    ("[" * 200_000 + "]" * 200_000, "members", "nested too deeply"),
    ('{"id": "d", "kind": "practice", "body": "x", "authors": ["[ids]"]}', "documents", "['[ids]']"),
]


@pytest.mark.parametrize(("line", "kind", "reason"), HOSTILE_JSONL, ids=["surrogate", "int64", "deep", "markup"])
def test_hostile_jsonl_is_an_error_naming_file_and_line(tmp_path, line, kind, reason):
    path = tmp_path / "in.jsonl"
    path.write_text(line + "\n")
    result = run(tmp_path / "data", "import", "jsonl", f"--{kind}", str(path))
    assert result.exit_code == 2, result.output
    assert f"{path}:1:" in result.output.replace("\n", "") and reason in result.output
    assert "Traceback" not in result.output


def test_bad_places_and_empty_files_are_errors(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = run(afile, "index", "status")
    assert result.exit_code == 2 and "is a file, not a folder" in result.output
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "copmatch.sqlite").write_text("not a database")
    result = run(tmp_path / "bad", "index", "status")
    assert result.exit_code == 2 and "file is not a database" in result.output
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = run(tmp_path / "data", "import", "jsonl", "--members", str(empty))
    assert result.exit_code == 2 and "holds no records" in result.output
    dump = write_dump(tmp_path / "dump", "t")
    (dump / "Posts.xml").write_text((dump / "Posts.xml").read_text().replace('Body="an answer"', 'Score="1e99999"'))
    result = run(tmp_path / "data", "import", "stackexchange", str(dump))
    assert result.exit_code == 2 and "Posts.xml:4: Score '1e99999' is not an integer" in result.output


def test_batch_file_and_limit_messages(tiny, tmp_path):
    batch = tmp_path / "q.jsonl"
    batch.write_text("{not json\n")
    result = run(tiny.data_dir, "experts", "--batch", str(batch))
    assert result.exit_code == 2 and "run the import again" not in result.output and "each line is" in result.output
    result = run(tiny.data_dir, "experts", "pumps", "--limit", "-5")
    assert result.exit_code == 2 and "smaller" not in result.output and "from 1 to 200" in result.output


def count_posts(dump: Path) -> int:
    text = (dump / "Posts.xml").read_text(encoding="utf-8")
    return text.count('PostTypeId="1"') + text.count('PostTypeId="2"')


@pytest.mark.slow
def test_beer_coffee_and_cardano_in_one_data_dir_keep_every_document(tmp_path):
    data = tmp_path / "data"
    for name in ("beer", "coffee", "cardano"):
        result = run(data, "import", "stackexchange", str(dump_dir(name)))
        assert result.exit_code == 0, result.output
    counts = dict(rows(data, "SELECT source, count(*) FROM documents GROUP BY source"))
    assert counts == {name: count_posts(dump_dir(name)) for name in ("beer", "coffee", "cardano")}
