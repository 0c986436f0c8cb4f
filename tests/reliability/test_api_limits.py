"""Defects 2, 5 and 8 of issue 13 on a real server on loopback: the body limit holds before
authentication, failed keys and busy keys are throttled (429 + Retry-After), hostile bodies
and loosely typed numbers are 4xx errors, never 500s."""

from __future__ import annotations

import json
import shutil
import time

import httpx
import pytest

from copmatch import Settings
from copmatch.services.keys import create_key
from tests.reliability.live import live_server
from tests.support import open_community

LIMITS = Settings(api_max_body_bytes=1 << 20, api_failed_auth_per_minute=5, api_key_requests_per_minute=40)


@pytest.fixture
def limited(tiny_built, tmp_path, embedder):
    path = tmp_path / "tiny"
    shutil.copytree(tiny_built, path)
    community = open_community(path, embedder, LIMITS)
    keys = {role: create_key(community.store, role)[1] for role in ("member", "admin")}
    with live_server(community) as base, httpx.Client(base_url=base, timeout=60) as http:
        yield http, keys
    community.close()


def test_a_large_body_is_refused_before_it_is_read_or_authenticated(limited):
    http, _ = limited
    started = time.perf_counter()
    declared = http.post("/v1/admin/import", content=b"x" * (8 << 20), headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "api_max_body_bytes" in declared.json()["error"]

    def chunks():  # no Content-Length: counted as it streams
        for _ in range(64):
            yield b" " * (256 << 10)

    streamed = http.post("/v1/admin/import", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413 and streamed.json()["ok"] is False
    assert time.perf_counter() - started < 20


def test_failed_authentication_is_throttled_per_client(limited):
    http, keys = limited
    statuses = [http.get("/v1/silos", headers={"X-API-Key": f"cpm_guess_{i}"}).status_code for i in range(8)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    refused = http.get("/v1/silos", headers={"X-API-Key": keys["member"]})
    assert refused.status_code == 429  # a blocked client is refused before its key is looked up
    assert int(refused.headers["Retry-After"]) >= 1 and refused.json()["details"]["retry_after_s"] >= 1


def test_a_key_has_a_request_rate(limited):
    http, keys = limited
    statuses = [http.get("/v1/silos", headers={"X-API-Key": keys["member"]}).status_code for _ in range(45)]
    assert statuses[:40] == [200] * 40 and statuses[-1] == 429


HOSTILE_BODIES = [
    ("/v1/experts", {"text": "pumps", "limit": "5"}, 422),
    ("/v1/experts", {"text": "pumps", "limit": True}, 422),
    ("/v1/experts", {"text": "pumps \ud800"}, 422),
    ("/v1/admin/import", {"members": [{"id": "x", "name": "\ud800"}]}, 422),
    ("/v1/admin/import", {"documents": [{"id": "d", "kind": "practice", "body": "b", "score": 2**70}]}, 422),
    ("/v1/admin/documents/delete", {"ids": ["a1\ud800"]}, 422),
    ("/v1/admin/documents/delete", {"ids": [1]}, 422),
    ("/v1/admin/documents/delete", {"ids": "a1"}, 422),
]


@pytest.mark.parametrize(
    ("path", "body", "status"), HOSTILE_BODIES, ids=["str", "bool", "surr", "isurr", "int", "dsurr", "dint", "dstr"]
)
def test_hostile_bodies_are_4xx_errors(limited, path, body, status):
    http, keys = limited
    raw = json.dumps(body).encode()  # ensure_ascii: a lone surrogate travels as its \\ud800 escape
    response = http.post(path, content=raw, headers={"X-API-Key": keys["admin"], "content-type": "application/json"})
    assert response.status_code == status, response.text
    assert response.json()["ok"] is False


def test_deleting_more_documents_than_the_limit_is_refused_whole(limited):
    http, keys = limited
    ids = ["a1"] + [f"nope{i}" for i in range(LIMITS.api_max_import_records)]
    response = http.post("/v1/admin/documents/delete", json={"ids": ids}, headers={"X-API-Key": keys["admin"]})
    assert response.status_code == 422 and "api_max_import_records" in response.json()["error"]
    still = http.get("/v1/documents/a1", headers={"X-API-Key": keys["admin"]})
    assert still.status_code == 200  # nothing was deleted


def test_a_deeply_nested_body_is_an_error(limited):
    http, keys = limited
    raw = b'{"members": [{"id": "x", "name": "n", "bio": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    response = http.post(
        "/v1/admin/import", content=raw, headers={"X-API-Key": keys["admin"], "content-type": "application/json"}
    )
    assert 400 <= response.status_code < 500 and response.json()["ok"] is False
