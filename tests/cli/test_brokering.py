"""The brokering commands as users meet them: sample community and an imported dump."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from copmatch.cli.app import app
from tests.conftest import private_copy

runner = CliRunner()


def run(data_dir, *args):
    return runner.invoke(app, ["--data-dir", str(data_dir), *args])


def run_json(data_dir, *args):
    result = run(data_dir, *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def sample_dir(sample_built, tmp_path):
    """A writable copy of the built sample community (the session one stays untouched)."""
    path = tmp_path / "sample"
    shutil.copytree(sample_built.data_dir, path)
    return path


def test_intros_review_workflow(sample_dir):
    suggested = run_json(sample_dir, "intros", "suggest", "--limit", "10", "--broker", "rita")["introductions"]
    assert len(suggested) == 10
    assert all(i["silo_a"] != i["silo_b"] and i["reasons"]["evidence"] for i in suggested)
    lab = {f"m0{n}" for n in range(49, 57)}
    # The isolated laboratory gets connected to the field on its own topic.
    assert any({i["member_a"], i["member_b"]} & lab and "chlorine-residual" in i["reasons"]["shared_topics"]
               for i in suggested)  # fmt: skip
    first, second, third = (i["id"] for i in suggested[:3])

    assert (
        run(sample_dir, "intros", "approve", str(first), "--note", "both on alarms", "--broker", "rita").exit_code == 0
    )
    assert run(sample_dir, "intros", "introduced", str(first), "--broker", "rita").exit_code == 0
    closed = run_json(sample_dir, "intros", "outcome", str(first), "helpful", "--broker", "rita")["introductions"][0]
    assert (closed["status"], closed["outcome"], closed["broker"]) == ("closed", "helpful", "rita")
    assert run(sample_dir, "intros", "reject", str(second), "--broker", "rita").exit_code == 0
    assert run(sample_dir, "intros", "snooze", str(third), "--broker", "rita").exit_code == 0

    statuses = {i["id"]: i["status"] for i in run_json(sample_dir, "intros", "list")["introductions"]}
    assert (statuses[first], statuses[second], statuses[third]) == ("closed", "rejected", "snoozed")
    assert [i["id"] for i in run_json(sample_dir, "intros", "list", "--status", "snoozed")["introductions"]] == [third]
    shown = run_json(sample_dir, "intros", "show", str(first))
    assert [e["to_status"] for e in shown["history"]] == ["suggested", "approved", "introduced", "closed"]
    assert shown["history"][1]["note"] == "both on alarms"

    refused = run(sample_dir, "intros", "approve", str(second))
    assert refused.exit_code == 2
    assert f"Introduction {second} is rejected; cannot mark it approved." in refused.output
    assert "it is final" in refused.output
    missing = run(sample_dir, "intros", "outcome", "999", "helpful")
    assert missing.exit_code == 2 and "No introduction with id 999." in missing.output

    again = run_json(sample_dir, "intros", "suggest", "--limit", "50")["introductions"]
    old_pairs = {(i["member_a"], i["member_b"]) for i in suggested}
    assert not old_pairs & {(i["member_a"], i["member_b"]) for i in again}


def test_health_json_plot_and_table(sample_dir, tmp_path):
    plot = tmp_path / "health.png"
    report = run_json(sample_dir, "health", "--plot", str(plot))
    assert plot.is_file() and report["plot"] == str(plot)
    assert [s["silo"] for s in report["silos"] if s["isolated"]] == ["Water Quality Laboratory"]
    table = run(sample_dir, "health")
    assert table.exit_code == 0
    for expected in ("Water Quality Laboratory", "Kwame Asante (m024)", "drones", "core group"):
        assert expected in table.stdout


def test_practices_like_and_silos(sample_dir):
    found = run_json(sample_dir, "practices", "--like", "d0310", "--limit", "3")["practices"]
    assert len(found) == 3 and "d0310" not in {p["document_id"] for p in found}
    assert run(sample_dir, "practices", "--like", "d0310", "--kind", "practice").exit_code == 0
    assert run_json(sample_dir, "silos", "list")["source"] == "import"
    refused = run(sample_dir, "silos", "infer")
    assert refused.exit_code == 2 and "were imported" in refused.output


def test_every_command_on_an_imported_dump(coffee_built, tmp_path):
    data = private_copy(coffee_built, tmp_path / "data")

    silos = run_json(data, "silos", "infer")
    assert silos["source"].startswith("inferred:louvain") and silos["silos"]
    suggested = run_json(data, "intros", "suggest", "--limit", "5")["introductions"]
    assert suggested and all(i["reasons"]["shared_topics"] for i in suggested)
    assert run(data, "intros", "approve", str(suggested[0]["id"])).exit_code == 0
    report = run_json(data, "health")
    assert report["silo_source"].startswith("inferred:louvain") and report["ties"] > 0
    assert report["unanswered"]["questions"] == 40
    question = report["unanswered"]["oldest"][0]["document_id"] if report["unanswered"]["oldest"] else "1"
    assert run_json(data, "practices", "--like", question)["practices"]
