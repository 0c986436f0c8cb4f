"""Deleting documents and incremental builds from the command line and the API."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from copmatch.cli.app import app, fill_optional_values
from tests.api.test_api import api, headers  # noqa: F401  (the api fixture)

runner = CliRunner()


def run(data_dir, *args):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def test_delete_then_incremental_then_full_build(tiny, tmp_path):
    ids = tmp_path / "ids.txt"
    ids.write_text("a6\n\np2\n")
    result = run(tiny.data_dir, "documents", "delete", "--from", str(ids), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"deleted": 2}

    result = run(tiny.data_dir, "index", "build", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["mode"], report["changed_documents"], report["encoded"]) == ("incremental", 2, 0)
    assert report["documents"] == 13

    result = run(tiny.data_dir, "index", "build", "--full", "--json")
    assert json.loads(result.stdout)["mode"] == "full"


def test_delete_unknown_document_names_it_and_deletes_nothing(tiny):
    result = run(tiny.data_dir, "documents", "delete", "a1", "nope")
    assert result.exit_code == 2
    assert "nope" in result.output and "nothing was deleted" in result.output
    assert tiny.store.get_document("a1")["id"] == "a1"
    result = run(tiny.data_dir, "documents", "delete")
    assert result.exit_code == 2 and "No document ids given" in result.output


def test_ray_option_value_is_optional():
    assert fill_optional_values(["index", "build", "--ray"]) == ["index", "build", "--ray", "auto"]
    assert fill_optional_values(["index", "build", "--ray", "--full"]) == ["index", "build", "--ray", "auto", "--full"]
    assert fill_optional_values(["index", "build", "--ray", "head:6379"]) == ["index", "build", "--ray", "head:6379"]


def test_api_deletes_documents(api):  # noqa: F811
    response = api.post("/v1/admin/documents/delete", json={"ids": ["a6"]}, headers=headers(api.keys["admin"]))
    assert response.status_code == 200 and response.json() == {"ok": True, "deleted": 1}
    response = api.get("/v1/documents/a6", headers=headers(api.keys["admin"]))
    assert response.status_code == 404
    response = api.post("/v1/admin/documents/delete", json={"ids": []}, headers=headers(api.keys["admin"]))
    assert response.status_code == 422
