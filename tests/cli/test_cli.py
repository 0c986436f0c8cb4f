"""The CLI as users meet it: contract commands, exact errors, JSON and batch output."""

from __future__ import annotations

import json

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from copmatch.cli.app import app

runner = CliRunner()


def run(data_dir, *args):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def all_commands(command, path=()):
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from all_commands(sub, (*path, name))


def test_every_command_has_help_text():
    for path, command in all_commands(get_command(app)):
        assert command.help and command.help.strip(), f"copmatch {' '.join(path)} has no help"
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, path


def test_experts_before_build_says_how(tmp_path):
    result = run(tmp_path, "experts", "pumps")
    assert result.exit_code == 2
    assert "No index has been built yet." in result.output
    assert "copmatch index build" in result.output


def test_experts_json(tiny):
    result = run(tiny.data_dir, "experts", "pump vibration", "--limit", "2", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["experts"][0]["member_id"] == "ana"
    assert len(payload["experts"]) == 2


def test_experts_table(tiny):
    result = run(tiny.data_dir, "experts", "pump vibration", "--limit", "2")
    assert result.exit_code == 0
    assert "Ana Pumps" in result.stdout and "Field Operations" in result.stdout


def test_batch_output_follows_the_contract(tiny, tmp_path):
    queries = tmp_path / "q.jsonl"
    queries.write_text(
        json.dumps({"id": "one", "text": "pump vibration"})
        + "\n"
        + json.dumps({"id": "two", "text": "chlorine residual", "exclude": ["lab"]})
        + "\n"
        + json.dumps({"id": "three", "text": "billing dispute", "candidates": ["gen", "ana", "cold"]})
        + "\n"
    )
    result = run(tiny.data_dir, "experts", "--batch", str(queries), "--limit", "3")
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["id"] for line in lines] == ["one", "two", "three"]
    for line in lines:
        for expert in line["experts"]:
            assert isinstance(expert["member_id"], str)
            assert isinstance(expert["score"], float)
            assert isinstance(expert["evidence"], list)
    assert len(lines[0]["experts"]) == 3
    assert "lab" not in [e["member_id"] for e in lines[1]["experts"]]
    assert sorted(e["member_id"] for e in lines[2]["experts"]) == ["ana", "cold", "gen"]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("{bad", "invalid JSON"),
        ('{"id": "x"}', "'text' must be"),
        ('{"id": "x", "text": "t", "candidates": "a"}', "'candidates' must"),
    ],
)
def test_bad_batch_line_names_the_line(tiny, tmp_path, line, reason):
    queries = tmp_path / "q.jsonl"
    queries.write_text(json.dumps({"id": "ok", "text": "pumps"}) + "\n" + line + "\n")
    result = run(tiny.data_dir, "experts", "--batch", str(queries))
    assert result.exit_code == 2
    assert f"{queries}:2:" in result.output and reason in result.output


def test_index_status_json(tiny):
    result = run(tiny.data_dir, "index", "status", "--json", "--check")
    assert result.exit_code == 0
    status = json.loads(result.stdout)
    assert status["current"] and status["damaged_files"] == []


def test_keys_create_list_revoke(tiny):
    created = run(tiny.data_dir, "keys", "create", "--role", "broker", "--member", "ana", "--json")
    assert created.exit_code == 0, created.output
    key = json.loads(created.stdout)
    assert key["role"] == "broker" and key["key"].startswith("cpm_")
    listed = json.loads(run(tiny.data_dir, "keys", "list", "--json").stdout)
    assert [k["id"] for k in listed] == [key["id"]]
    assert key["key"] not in json.dumps(listed)  # never shown again
    assert run(tiny.data_dir, "keys", "revoke", key["id"]).exit_code == 0
    again = run(tiny.data_dir, "keys", "revoke", key["id"])
    assert again.exit_code == 2 and "No active API key" in again.output
    bad = run(tiny.data_dir, "keys", "create", "--role", "root")
    assert bad.exit_code == 2 and "Unknown role 'root'" in bad.output


def test_import_stackexchange_cli_json(tmp_path):
    from tests.support import dump_dir

    result = run(tmp_path, "import", "stackexchange", str(dump_dir("coffee")), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["documents"] == 552 and summary["contributions"] == 552 and summary["new_documents"] == 552


def test_import_stackexchange_missing_dump(tmp_path):
    result = run(tmp_path / "d", "import", "stackexchange", str(tmp_path / "nowhere"))
    assert result.exit_code == 2 and "Posts.xml" in result.output


def test_demo_imports_indexes_and_answers(sample_built, tmp_path):
    """The README's main job, with the embedding cache of the session's sample build reused."""
    import shutil

    (tmp_path / "demo" / "cache").mkdir(parents=True)
    shutil.copy(sample_built.cache_path, tmp_path / "demo" / "cache" / "embeddings.sqlite")
    result = run(tmp_path / "demo", "demo", "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "Imported 62 members and 322 documents" in result.stdout
    assert "(0 encoded" in result.stdout
    assert result.stdout.count("Who knows about:") == 3
