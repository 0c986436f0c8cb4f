"""Defect 5 of issue 13 as a property: random and hostile JSONL records and Posts.xml rows either
import, or fail with exit 2 naming file:line, leaving the database exactly as it was."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from xml.sax.saxutils import quoteattr

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from copmatch.cli.app import app

runner = CliRunner()
# Lone surrogates included: JSON can carry them as \ud800 escapes.
TEXT = st.text(st.characters(exclude_categories=()), max_size=12)
SCALARS = st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.floats() | TEXT
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
                      max_leaves=6)  # fmt: skip
FIELDS = ["id", "name", "kind", "body", "title", "tags", "authors", "score", "accepted", "created_at", "opt_out"]
RECORDS = st.dictionaries(st.sampled_from(FIELDS) | TEXT, VALUES | st.just("m1") | st.just("practice"), max_size=6)
LINES = st.lists(RECORDS.map(json.dumps) | VALUES.map(json.dumps) | st.just("[" * 5000) | TEXT, min_size=1, max_size=4)
EXAMPLES = settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def digest(data_dir: Path) -> str:
    """Every row of every table records live in, in order."""
    out = hashlib.sha256()
    with sqlite3.connect(data_dir / "copmatch.sqlite") as conn:
        for table in ("members", "documents", "contributions", "sources"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"):
                out.update(repr(row).encode())
    return out.hexdigest()


def seeded(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    members = tmp_path / "seed.jsonl"
    members.write_text('{"id": "m1", "name": "Seed"}\n')
    assert runner.invoke(app, ["--data-dir", str(data), "import", "jsonl", "--members", str(members)]).exit_code == 0
    return data


def check(data: Path, args: list[str], path: Path) -> None:
    before = digest(data)
    result = runner.invoke(app, ["--data-dir", str(data), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code in (0, 2), result.output
    if result.exit_code == 2:
        output = result.output.replace("\n", "")
        assert f"{path}:" in output or "holds no records" in output or "overwrite" in output, output
        assert digest(data) == before


@EXAMPLES
@given(lines=LINES, kind=st.sampled_from(["members", "documents"]))
def test_random_jsonl_imports_or_fails_cleanly(tmp_path_factory, lines, kind):
    tmp = tmp_path_factory.mktemp("jsonl")
    data = seeded(tmp)
    path = tmp / "in.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    check(data, ["import", "jsonl", f"--{kind}", str(path)], path)


ATTRIBUTE = st.sampled_from(["1", "2", "3", "-1", "99999999999999999999", "", "x", "2020-01-01T00:00:00"]) | TEXT
ROW = st.fixed_dictionaries(
    {"Id": ATTRIBUTE, "PostTypeId": st.sampled_from(["1", "2"]) | ATTRIBUTE},
    optional={k: ATTRIBUTE for k in ("ParentId", "Score", "CreationDate", "OwnerUserId", "Title", "Body", "Tags")},
)


@EXAMPLES
@given(rows=st.lists(ROW, min_size=1, max_size=4))
def test_random_posts_rows_import_or_fail_cleanly(tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("dump")
    data = seeded(tmp)
    dump = tmp / "site"
    dump.mkdir()
    xml_rows = "".join("<row " + " ".join(f"{k}={quoteattr(v)}" for k, v in row.items()) + " />\n" for row in rows)
    posts = dump / "Posts.xml"
    posts.write_text(f'<?xml version="1.0" encoding="utf-8"?>\n<posts>\n{xml_rows}</posts>\n', errors="surrogatepass")
    check(data, ["import", "stackexchange", str(dump)], posts)
