"""Defects 3, 4 and 5 of issue 13: an opted-out member is named by no route or command another
member or broker can reach; keys bound to a member act as that member; suggestion races are
settled by the pair's uniqueness in the database."""

from __future__ import annotations

import shutil

import httpx
import pytest
from typer.testing import CliRunner

from copmatch.cli.app import app
from copmatch.services.keys import create_key
from copmatch.store.store import Store
from tests.reliability.live import live_server
from tests.support import DATA, open_community

# One pytest-xdist worker runs this module (its module fixture builds the brokering community once).
pytestmark = pytest.mark.xdist_group("reliability.test_opt_out")

runner = CliRunner()
WHO, NAME = "olga", "Olga Pumps"


@pytest.fixture(scope="module")
def brokering_built(tmp_path_factory, embedder):
    path = tmp_path_factory.mktemp("brokering")
    community = open_community(path, embedder)
    community.import_jsonl(DATA / "brokering_members.jsonl", DATA / "brokering_documents.jsonl")
    community.build_index()
    community.close()
    return path


@pytest.fixture
def brokering(brokering_built, tmp_path, embedder):
    path = tmp_path / "brokering"
    shutil.copytree(brokering_built, path)
    community = open_community(path, embedder)
    yield community
    community.close()


def assert_absent(text: str, where: str, not_found: bool = False) -> None:
    # A "not found" may echo the id the caller asked for; it must reveal nothing more.
    named = NAME in text or (WHO in text and not not_found)
    assert not named, f"{where} names the opted-out member: {text[:300]}"


def test_an_opted_out_member_is_found_by_no_route_and_no_command(brokering):
    intros = brokering.suggest_introductions(limit=20)
    theirs = [i.id for i in intros if WHO in (i.member_a, i.member_b)]
    assert theirs, "the fixture should suggest an introduction of olga"
    keys = {
        "own": create_key(brokering.store, "member", WHO)[1],
        "member": create_key(brokering.store, "member")[1],
        "broker": create_key(brokering.store, "broker")[1],
    }
    with live_server(brokering) as base, httpx.Client(base_url=base, timeout=60) as http:
        other = http.put(f"/v1/members/{WHO}/opt-out", json={"opt_out": True}, headers={"X-API-Key": keys["member"]})
        assert other.status_code == 403  # nobody else's profile
        own = http.put(f"/v1/members/{WHO}/opt-out", json={"opt_out": True}, headers={"X-API-Key": keys["own"]})
        assert own.status_code == 200 and own.json()["member"]["opt_out"] is True
        assert http.get("/v1/me", headers={"X-API-Key": keys["own"]}).json()["member"]["id"] == WHO
        walk = [
            ("GET", f"/v1/members/{WHO}", None),
            ("POST", "/v1/experts", {"text": "booster pump vibration after a bearing change", "limit": 20}),
            ("POST", "/v1/experts", {"text": "pump vibration", "candidates": [WHO, "emil"]}),
            ("POST", "/v1/experts/batch", {"queries": [{"id": "q", "text": "pump vibration spectra"}], "limit": 20}),
            ("POST", "/v1/practices", {"text": "pump vibration", "limit": 20}),
            ("GET", "/v1/silos", None),
            ("GET", "/v1/health", None),
            ("GET", "/v1/introductions", None),
            ("GET", "/v1/introductions?status=withdrawn", None),
            ("POST", "/v1/introductions/suggest", {"limit": 50}),
            *[("GET", f"/v1/introductions/{i}", None) for i in theirs],
        ]
        for role in ("member", "broker"):
            for method, path, body in walk:
                response = http.request(method, path, json=body, headers={"X-API-Key": keys[role]})
                assert response.status_code in (200, 403, 404), (path, response.text)
                assert_absent(response.text, f"{role} {method} {path}", response.status_code == 404)
    assert {brokering.store.get_introduction(i)["status"] for i in theirs} == {"withdrawn"}
    data = str(brokering.data_dir)
    commands = [
        ["experts", "booster pump vibration after a bearing change", "--limit", "20", "--json"],
        ["practices", "pump vibration", "--json"],
        ["health", "--json"],
        ["health"],
        ["silos", "list", "--json"],
        ["intros", "list", "--json"],
        ["intros", "suggest", "--limit", "50", "--json"],
        *[["intros", "show", str(i)] for i in theirs],
    ]
    for command in commands:
        result = runner.invoke(app, ["--data-dir", data, *command])
        assert result.exit_code in (0, 2), (command, result.output)
        assert_absent(result.output, " ".join(command))


def test_bound_keys_act_as_their_member(brokering):
    found = brokering.find_experts("booster pump vibration after a bearing change", limit=3)
    best = found[0].member_id
    intro = brokering.suggest_introductions(limit=20)[0]
    keys = {
        "best": create_key(brokering.store, "member", best)[1],
        "broker_in_pair": create_key(brokering.store, "broker", intro.member_a)[1],
        "broker": create_key(brokering.store, "broker")[1],
    }
    with live_server(brokering) as base, httpx.Client(base_url=base, timeout=60) as http:
        mine = http.post(
            "/v1/experts",
            json={"text": "booster pump vibration after a bearing change", "candidates": [best, found[1].member_id]},
            headers={"X-API-Key": keys["best"]},
        )
        assert mine.status_code == 200 and best not in {e["member_id"] for e in mine.json()["experts"]}
        batch = http.post(
            "/v1/experts/batch",
            json={"queries": [{"id": "q", "text": "booster pump vibration after a bearing change"}]},
            headers={"X-API-Key": keys["best"]},
        )
        assert best not in {e["member_id"] for e in batch.json()["results"][0]["experts"]}
        own = http.post(
            f"/v1/introductions/{intro.id}/decision",
            json={"decision": "approved"},
            headers={"X-API-Key": keys["broker_in_pair"]},
        )
        assert own.status_code == 403 and "cannot decide their own" in own.json()["error"]
        assert brokering.store.get_introduction(intro.id)["status"] == "suggested"
        other = http.post(
            f"/v1/introductions/{intro.id}/decision",
            json={"decision": "approved"},
            headers={"X-API-Key": keys["broker"]},
        )
        assert other.status_code == 200
        someone = http.put("/v1/members/emil/opt-out", json={"opt_out": True}, headers={"X-API-Key": keys["best"]})
        assert someone.status_code == 403 or best == "emil"


def test_two_processes_suggesting_the_same_pair_store_it_once(brokering):
    # Two Store objects are two connections with two in-process locks: what two processes are.
    other = Store(brokering.store.path)
    row = {"member_a": "emil", "member_b": "olga", "score": 0.5, "reasons": {}}
    try:
        first = brokering.store.add_introductions([row])
        assert other.add_introductions([row]) == [] and len(first) == 1
        assert len(brokering.store.introductions()) == 1
    finally:
        other.close()
