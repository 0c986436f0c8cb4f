"""The HTTP API: a real server process on loopback for the key path, TestClient for the rest."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from copmatch import Settings
from copmatch.api import create_app
from copmatch.services.keys import KEY_ROLES, create_key


@pytest.fixture
def api(tiny):
    """A TestClient over the tiny community, with one key per role."""
    keys = {role: create_key(tiny.store, role)[1] for role in KEY_ROLES}
    with TestClient(create_app(tiny.data_dir, community=tiny)) as client:
        client.keys = keys
        yield client


def headers(key: str | None) -> dict[str, str]:
    return {"X-API-Key": key} if key else {}


# (method, path, body, least role that may call it, status when allowed)
ENDPOINTS = [
    ("POST", "/v1/experts", {"text": "pump vibration"}, "member", 200),
    ("POST", "/v1/experts/batch", {"queries": [{"id": "a", "text": "chlorine"}]}, "member", 200),
    ("POST", "/v1/feedback", {"text": "laser alignment", "member_id": "ana", "helpful": True}, "member", 201),
    ("GET", "/v1/members/ana", None, "member", 200),
    ("GET", "/v1/me", None, "member", 404),  # these keys are bound to no member
    ("PUT", "/v1/members/ana/opt-out", {"opt_out": False}, "admin", 200),  # unbound: only an admin's
    ("GET", "/v1/documents/a1", None, "member", 200),
    ("POST", "/v1/practices", {"text": "laser alignment"}, "member", 200),
    ("GET", "/v1/silos", None, "member", 200),
    ("GET", "/v1/health", None, "member", 200),
    ("GET", "/v1/introductions", None, "broker", 200),
    ("POST", "/v1/introductions/suggest", {"limit": 3}, "broker", 200),
    ("GET", "/v1/introductions/999", None, "broker", 404),
    ("POST", "/v1/introductions/999/decision", {"decision": "approved"}, "broker", 404),
    ("POST", "/v1/introductions/999/outcome", {"outcome": "helpful"}, "broker", 404),
    ("GET", "/v1/admin/index", None, "admin", 200),
    ("GET", "/v1/admin/jobs/nojob", None, "admin", 404),
    ("POST", "/v1/admin/import", {"members": [{"id": "new", "name": "New"}]}, "admin", 200),
    ("POST", "/v1/admin/documents/delete", {"ids": ["nope"]}, "admin", 404),
]


@pytest.mark.parametrize(("method", "path", "body", "least", "allowed_status"), ENDPOINTS)
def test_role_matrix(api, method, path, body, least, allowed_status):
    response = api.request(method, path, json=body)
    assert response.status_code == 401
    assert response.json()["ok"] is False and "API key" in response.json()["error"]
    for role in KEY_ROLES:
        response = api.request(method, path, json=body, headers=headers(api.keys[role]))
        allowed = KEY_ROLES.index(role) >= KEY_ROLES.index(least)
        assert response.status_code == (allowed_status if allowed else 403), (role, response.text)
        if not allowed:
            assert response.json()["hint"].startswith("Ask an admin")


def test_every_route_is_in_the_role_matrix(api):
    paths = api.app.openapi()["paths"]
    routes = {(m.upper(), p) for p, ops in paths.items() for m in ops if p.startswith("/v1")}
    covered = {
        (
            m,
            p.replace("999", "{introduction_id}")
            .replace("nojob", "{job_id}")
            .replace("/ana", "/{member_id}")
            .replace("/a1", "/{document_id}"),
        )
        for m, p, *_ in ENDPOINTS
    }
    covered.add(("POST", "/v1/admin/index/rebuild"))  # its own test below
    assert routes == covered


def test_introduction_review_over_http(sample_built, tmp_path, embedder):
    """A broker suggests, approves, marks introduced and records the outcome; invalid moves are 409."""
    import shutil

    from tests.support import open_community

    shutil.copytree(sample_built.data_dir, tmp_path / "sample")
    community = open_community(tmp_path / "sample", embedder)
    broker_key = headers(create_key(community.store, "broker", member_id="m001")[1])
    with TestClient(create_app(community.data_dir, community=community)) as api:
        _review_one(api, broker_key)
    community.close()


def _review_one(api, broker_key):
    suggested = api.post("/v1/introductions/suggest", json={"limit": 5}, headers=broker_key).json()
    assert suggested["ok"] is True and suggested["introductions"]
    intro = suggested["introductions"][0]
    assert intro["silo_a"] != intro["silo_b"] and intro["reasons"]
    path = f"/v1/introductions/{intro['id']}"
    assert api.post(f"{path}/outcome", json={"outcome": "helpful"}, headers=broker_key).status_code == 409
    for decision in ("approved", "introduced"):
        moved = api.post(f"{path}/decision", json={"decision": decision, "note": "ok"}, headers=broker_key)
        assert moved.status_code == 200 and moved.json()["introduction"]["status"] == decision
    closed = api.post(f"{path}/outcome", json={"outcome": "helpful"}, headers=broker_key).json()["introduction"]
    assert closed["status"] == "closed" and closed["outcome"] == "helpful" and closed["broker"] == "m001"
    again = api.post(f"{path}/decision", json={"decision": "approved"}, headers=broker_key)
    assert again.status_code == 409 and again.json()["hint"]


def test_rebuild_role_matrix_and_conflict(api):
    assert api.post("/v1/admin/index/rebuild").status_code == 401
    for role in ("member", "broker"):
        assert api.post("/v1/admin/index/rebuild", headers=headers(api.keys[role])).status_code == 403
    first = api.post("/v1/admin/index/rebuild", headers=headers(api.keys["admin"]))
    assert first.status_code == 202
    second = api.post("/v1/admin/index/rebuild", headers=headers(api.keys["admin"]))
    if second.status_code == 409:  # the first may already have finished on a fast machine
        assert second.json()["details"]["job_id"] == first.json()["id"]
    api.app.state.jobs.wait(60)
    job = api.get(f"/v1/admin/jobs/{first.json()['id']}", headers=headers(api.keys["admin"])).json()
    assert job["status"] == "succeeded", job
    assert job["result"]["encoded"] == 0  # nothing changed, everything cached


def test_bearer_token_and_revoked_key(api, tiny):
    from copmatch.services.keys import revoke_key

    key, secret = create_key(tiny.store, "member")
    ok = api.get("/v1/members/ana", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200 and ok.json()["member"]["name"] == "Ana Pumps"
    revoke_key(tiny.store, key.id)
    assert api.get("/v1/members/ana", headers={"Authorization": f"Bearer {secret}"}).status_code == 401


def test_experts_response(api):
    body = api.post(
        "/v1/experts",
        json={"text": "pump vibration", "limit": 2, "exclude": ["gen"]},
        headers=headers(api.keys["member"]),
    ).json()
    assert body["ok"] is True and body["index_version"]
    assert [e["member_id"] for e in body["experts"]][0] == "ana"
    assert len(body["experts"]) == 2 and "gen" not in [e["member_id"] for e in body["experts"]]
    assert body["experts"][0]["evidence"][0]["snippet"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "body.text"),
        ({"text": ""}, "body.text"),
        ({"text": "pumps", "limit": 0}, "body.limit"),
        ({"text": "pumps", "limit": 10_000}, "body.limit"),
        ({"text": "pumps", "exclude": "ana"}, "body.exclude"),
        ({"text": "pumps", "surprise": 1}, "body.surprise"),
    ],
)
def test_validation_errors_name_the_field(api, body, field):
    response = api.post("/v1/experts", json=body, headers=headers(api.keys["member"]))
    assert response.status_code == 422
    payload = response.json()
    assert payload["ok"] is False and payload["error"].startswith(f"Invalid request: {field}")
    assert payload["details"]["errors"][0]["field"] == field


def test_bad_import_record_is_422_and_writes_nothing(api, tiny):
    before = tiny.store.counts()
    response = api.post(
        "/v1/admin/import",
        headers=headers(api.keys["admin"]),
        json={
            "members": [{"id": "x1", "name": "X"}],
            "documents": [{"id": "dx", "kind": "answer", "body": "b", "authors": ["ghost"]}],
        },
    )
    assert response.status_code == 422
    assert response.json()["error"].startswith("request.documents:1: unknown member(s) in 'authors'")
    assert tiny.store.counts() == before


def test_unknown_ids_are_404_with_the_error_shape(api):
    for path in ("/v1/members/nobody", "/v1/documents/nothing", "/v1/admin/jobs/nojob", "/v1/nowhere"):
        response = api.get(path, headers=headers(api.keys["admin"]))
        assert response.status_code == 404, path
        assert set(response.json()) == {"ok", "error", "hint", "details"}


def test_unknown_candidate_is_422(api):
    response = api.post(
        "/v1/experts", json={"text": "pumps", "candidates": ["ghost"]}, headers=headers(api.keys["member"])
    )
    assert response.status_code == 422 and "ghost" in response.json()["error"]


def test_health_endpoints(api):
    assert api.get("/health/live").json() == {"ok": True}
    ready = api.get("/health/ready")
    assert ready.status_code == 200 and ready.json()["index_version"]


def test_openapi_schema_fuzzing_finds_no_server_error(api):
    """Property-based requests from the OpenAPI schema, bounded; no input may cause a 500,
    and every error has the one error shape."""
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    # A rebuild per example would only repeat the rebuild tests at great cost.
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path != "/v1/admin/index/rebuild"]
    assert len(operations) >= 8
    checked = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call(headers={"X-API-Key": api.keys["admin"]})
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)
            if response.status_code >= 400:
                assert set(response.json()) == {"ok", "error", "hint", "details"}, response.text

        check()
        checked.append(operation.path)
    assert "/v1/experts" in checked


# --- a real server process on loopback -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tiny):
    keys = {role: create_key(tiny.store, role)[1] for role in KEY_ROLES}
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = [sys.executable, "-c", "from copmatch.cli import main; main()"]
    process = subprocess.Popen(
        [*cli, "--data-dir", str(tiny.data_dir), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health/live", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError(process.stdout.read().decode())
    yield base, keys
    process.terminate()
    process.wait(timeout=20)


def test_real_server_auth_query_rebuild_and_swap(server, tmp_path: Path):
    base, keys = server
    with httpx.Client(base_url=base, timeout=60) as http:
        assert http.post("/v1/experts", json={"text": "pumps"}).status_code == 401
        assert http.post("/v1/admin/index/rebuild", headers=headers(keys["member"])).status_code == 403
        before = http.post(
            "/v1/experts", json={"text": "pipe corrosion coupons", "limit": 1}, headers=headers(keys["member"])
        ).json()
        # New knowledge arrives, then a rebuild runs while queries keep coming.
        imported = http.post(
            "/v1/admin/import",
            headers=headers(keys["admin"]),
            json={
                "members": [{"id": "rust", "name": "Rusty Coupon", "silo": "Asset Engineering"}],
                "documents": [
                    {
                        "id": "c1",
                        "kind": "practice",
                        "title": "Corrosion coupons in pipes",
                        "body": "Install corrosion coupons in pipe spools, weigh them every 90 days and "
                        "report the corrosion rate in mils per year.",
                        "authors": ["rust"],
                    }
                ],
            },
        )
        assert imported.status_code == 200 and imported.json()["new_documents"] == 1
        job = http.post("/v1/admin/index/rebuild", headers=headers(keys["admin"])).json()
        failures, answered = 0, 0
        while True:
            response = http.post(
                "/v1/experts", json={"text": "pump vibration", "limit": 3}, headers=headers(keys["member"])
            )
            failures += response.status_code != 200
            answered += 1
            status = http.get(f"/v1/admin/jobs/{job['id']}", headers=headers(keys["admin"])).json()
            if status["status"] != "running":
                break
        assert status["status"] == "succeeded", status
        assert failures == 0 and answered >= 1
        after = http.post(
            "/v1/experts", json={"text": "pipe corrosion coupons", "limit": 1}, headers=headers(keys["member"])
        ).json()
        assert after["index_version"] == status["result"]["version"] != before["index_version"]
        assert after["experts"][0]["member_id"] == "rust"  # visible without a restart
        assert json.loads(json.dumps(after))  # the body is plain JSON


def test_limits_are_the_servers_own_settings(tiny):
    """A server started with other limits enforces those, not the defaults."""
    settings = Settings(max_limit=3, api_max_batch_queries=2, api_max_ids=1, api_max_query_chars=50)
    _, secret = create_key(tiny.store, "admin")
    key = headers(secret)
    with TestClient(create_app(tiny.data_dir, settings)) as client:
        cases = [
            ("/v1/experts", {"text": "pumps", "limit": 4}, "body.limit"),
            ("/v1/experts", {"text": "pumps", "limit": 3, "exclude": ["ana", "gen"]}, "body.exclude"),
            ("/v1/experts/batch", {"queries": [{"id": str(i), "text": "pumps"} for i in range(3)]}, "body.queries"),
            ("/v1/experts/batch", {"queries": [{"id": "a", "text": "pumps"}], "limit": 4}, "body.limit"),
            ("/v1/practices", {"text": "pumps", "limit": 4}, None),
            ("/v1/introductions/suggest", {"limit": 4}, "body.limit"),
        ]
        for path, body, field in cases:
            response = client.post(path, json=body, headers=key)
            assert response.status_code == 422, (path, response.text)
            if field:
                assert response.json()["details"]["errors"][0]["field"] == field
        # The text limit is its own status: 413, with the setting named.
        too_long = client.post("/v1/experts", json={"text": "p" * 51, "limit": 3}, headers=key)
        assert too_long.status_code == 413 and too_long.json()["details"]["setting"] == "api_max_query_chars"
        assert client.post("/v1/experts", json={"text": "pumps", "limit": 3}, headers=key).status_code == 200
