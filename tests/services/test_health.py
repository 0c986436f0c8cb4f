"""Community health on the sample community: its silos and its planted weak spots."""

from __future__ import annotations

import numpy as np
import pytest

from copmatch.services.health_plot import plot_health, silo_matrix_for_plot

# One pytest-xdist worker runs this module (its module fixture computes the sample's health report once).
pytestmark = pytest.mark.xdist_group("services.test_health")

SILOS = {
    "Field Operations", "Asset Engineering", "Data & Digital", "Customer Services", "Health & Safety",
    "Water Quality Laboratory",
}  # fmt: skip
DRONE_QUESTIONS = {"d0244", "d0285", "d0299", "d0321"}
PLC_QUESTIONS = {"d0060", "d0125", "d0194", "d0252", "d0286"}


@pytest.fixture(scope="module")
def report(sample_built):
    return sample_built.health()


def test_names_the_silos(report):
    assert {s["silo"] for s in report.silos} == SILOS
    assert report.silo_source == "import"
    assert sum(s["members"] for s in report.silos) == report.members == 62


def test_isolated_silo_is_the_laboratory(report):
    isolated = [s for s in report.silos if s["isolated"]]
    assert [s["silo"] for s in isolated] == ["Water Quality Laboratory"]
    assert isolated[0]["external_ties"] == 0 and isolated[0]["internal_ties"] > 0
    assert any("Isolated silo: Water Quality Laboratory" in f for f in report.findings)


def test_unanswered_topic_is_the_drone_questions(report):
    unanswered = report.unanswered
    assert unanswered["unanswered"] == 4 and unanswered["questions"] == 85
    assert {q["document_id"] for q in unanswered["oldest"]} == DRONE_QUESTIONS
    assert unanswered["oldest"][0]["document_id"] == "d0244"  # oldest first
    drone = [t for t in report.thin_topics if DRONE_QUESTIONS & set(t.questions)]
    assert len(drone) == 1 and set(drone[0].questions) == DRONE_QUESTIONS
    assert drone[0].answerers == [] and drone[0].unanswered == 4
    assert "drones" in drone[0].label


def test_single_expert_topic_is_plc_firmware_with_m024(report):
    plc = [t for t in report.thin_topics if PLC_QUESTIONS & set(t.questions)]
    assert len(plc) == 1 and set(plc[0].questions) == PLC_QUESTIONS
    assert [(a["member_id"], a["answers"]) for a in plc[0].answerers] == [("m024", 5)]
    assert any("single answerer, Kwame Asante (m024)" in f for f in report.findings)
    # Every other topic with demand has several answerers: only the planted ones are thin.
    assert len(report.thin_topics) == 2


def test_core_group_weak_ties_and_bridges_are_consistent(report):
    core = {m["member_id"] for m in report.core["members"]}
    assert {"m007", "m003", "m011", "m045"} <= core  # the most connected answerers
    assert not core & {f"m0{n}" for n in range(49, 57)}  # the isolated laboratory is outside it
    degrees = np.array(report.degree_counts)
    assert degrees.sum() == report.members
    assert report.weak_ties["at_most_one_tie"] == degrees[:2].sum()
    assert report.weak_ties["share"] == pytest.approx(degrees[:2].sum() / report.members, abs=1e-4)
    betweenness = [b["betweenness"] for b in report.bridges]
    assert betweenness == sorted(betweenness, reverse=True) and len(betweenness) == 5
    assert all(b["silo"] != "Water Quality Laboratory" for b in report.bridges)


def test_tie_matrix_is_symmetric_and_adds_up(report):
    counts = np.array(report.tie_matrix["counts"])
    assert (counts == counts.T).all()
    assert np.triu(counts).sum() == report.ties
    cross = np.triu(counts, 1).sum()
    assert report.cross_silo_share == pytest.approx(cross / report.ties, abs=1e-4)


def test_plot_is_a_png(report, tmp_path):
    path = plot_health(report, tmp_path / "health.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


def test_plot_groups_small_silos_without_losing_ties(report):
    names, merged = silo_matrix_for_plot(report, max_silos=3)
    assert names[-1] == "4 other silos" and merged.shape == (3, 3)
    assert np.triu(merged).sum() == report.ties
