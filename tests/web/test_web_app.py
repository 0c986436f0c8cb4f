"""The pages' plumbing without a browser: sessions, CSRF, headers, errors, uploads, views
(FastAPI's TestClient over a real copy of the tiny community)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from fastapi.testclient import TestClient

from copmatch import Settings
from copmatch.api import create_app
from copmatch.errors import RecordError
from copmatch.ingest.jsonl import read_jsonl_uploads
from copmatch.services.experts import Evidence, Expert
from copmatch.web import views
from tests.support import open_community


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: TestClient, key: str, next_path: str = "/"):
    form = client.get("/sign-in").text
    token = re.search(r'name="sign_in_token" value="([^"]+)"', form).group(1)
    return client.post("/sign-in", data={"key": key, "sign_in_token": token, "next": next_path}, follow_redirects=False)


@pytest.fixture
def web(tiny):
    keys = {role: tiny.create_key(role, member_id="ana" if role == "member" else None) for role in ("member", "admin")}
    with TestClient(create_app(tiny.data_dir, community=tiny)) as client:
        client.community = tiny
        client.keys = keys
        yield client


def test_sign_in_keeps_a_server_side_session_in_a_strict_httponly_cookie(web):
    key, secret = web.keys["member"]
    response = sign_in(web, secret)
    assert response.status_code == 303 and response.headers["location"] == "/"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("copmatch_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and secret not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    stored = web.community.store.db.execute("SELECT token_hash, key_id FROM web_sessions").fetchall()
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), key.id)]  # only the token's hash
    assert web.get("/").status_code == 200


def test_revoking_the_key_ends_its_sessions_and_sign_out_ends_one(web):
    key, secret = web.keys["member"]
    sign_in(web, secret)
    web.community.revoke_key(key.id)
    gone = web.get("/members/ana", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/sign-in?next=/members/ana"

    admin_key, admin_secret = web.keys["admin"]
    sign_in(web, admin_secret)
    csrf = csrf_of(web.get("/").text)
    assert web.post("/sign-out", data={"csrf_token": csrf}, follow_redirects=False).status_code == 303
    assert web.get("/admin", follow_redirects=False).status_code == 303
    assert web.community.store.db.execute("SELECT count(*) FROM web_sessions").fetchone()[0] == 1  # the revoked one


def test_an_expired_session_is_signed_out(tiny_built, tmp_path, embedder):
    from tests.conftest import private_copy

    community = open_community(private_copy(tiny_built, tmp_path / "t"), embedder, Settings(web_session_hours=-1))
    _, secret = community.create_key("member")
    with TestClient(create_app(community.data_dir, community=community)) as client:
        assert sign_in(client, secret).status_code == 303
        assert client.get("/", follow_redirects=False).headers["location"].startswith("/sign-in")
    community.close()


def test_sign_in_form_needs_its_token_and_a_wrong_key_says_so(web):
    _, secret = web.keys["member"]
    refused = web.post("/sign-in", data={"key": secret, "sign_in_token": "forged"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    wrong = sign_in(web, "cpm_nope_nope")
    assert wrong.status_code == 401 and "unknown or revoked" in wrong.text


def test_sign_in_never_redirects_off_the_site(web):
    _, secret = web.keys["member"]
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        assert sign_in(web, secret, target).headers["location"] == "/"
    assert sign_in(web, secret, "/practices?q=x").headers["location"] == "/practices?q=x"


def test_security_headers_on_pages_and_api(web):
    for path in ("/sign-in", "/health/live", "/v1/experts"):
        headers = web.get(path).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "same-origin"
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp


def test_docs_allow_only_their_own_inline_script_by_hash(web):
    response = web.get("/docs")
    assert "/static/swagger-ui/swagger-ui-bundle.js" in response.text and "cdn" not in response.text.lower()
    inline = re.findall(r"<script>(.*?)</script>", response.text, re.S)
    assert len(inline) == 1
    digest = base64.b64encode(hashlib.sha256(inline[0].encode()).digest()).decode()
    assert f"'sha256-{digest}'" in response.headers["content-security-policy"]
    assert web.get("/static/swagger-ui/swagger-ui-bundle.js").status_code == 200
    assert web.get("/redoc").status_code == 404  # ReDoc would load from a CDN


def test_errors_are_pages_for_browsers_and_json_for_the_api(web):
    _, secret = web.keys["member"]
    sign_in(web, secret)
    html = {"accept": "text/html"}
    missing = web.get("/members/nobody", headers=html)
    assert missing.status_code == 404 and "No member with id" in missing.text and "<h1>" in missing.text
    nowhere = web.get("/no-such-page", headers=html)
    assert nowhere.status_code == 404 and nowhere.headers["content-type"].startswith("text/html")
    api = web.get("/v1/no-such-route", headers=html)
    assert api.status_code == 404 and api.json()["ok"] is False


def test_ask_page_validates_and_answers(web):
    _, secret = web.community.create_key("member")  # not bound to a member: anyone may be suggested
    sign_in(web, secret)
    csrf = csrf_of(web.get("/").text)
    empty = web.post("/ask", data={"csrf_token": csrf, "question": "   "})
    assert empty.status_code == 422 and "The query text is empty" in empty.text
    # A long question is read whole, never refused for its length (issue #12).
    long = web.post("/ask", data={"csrf_token": csrf, "question": "pump vibration after a bearing change. " * 160})
    assert long.status_code == 200 and 'data-member-id="ana"' in long.text
    fragment = web.post("/ask", data={"csrf_token": csrf, "question": "pump vibration", "fragment": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert re.findall(r'data-member-id="([^"]+)"', fragment.text)[0] == "ana"


def test_ask_page_never_suggests_the_asker(web):
    _, secret = web.keys["member"]  # bound to ana, the pump expert
    sign_in(web, secret)
    csrf = csrf_of(web.get("/").text)
    fragment = web.post("/ask", data={"csrf_token": csrf, "question": "pump vibration", "fragment": "true"})
    shown = re.findall(r'data-member-id="([^"]+)"', fragment.text)
    assert fragment.status_code == 200 and shown and "ana" not in shown


def test_uploads_name_the_uploaded_file_and_line():
    good = b'{"id": "m1", "name": "One"}\n\n{"id": "m2", "name": "Two"}\n'
    batch = read_jsonl_uploads(("people.jsonl", good), None)
    assert [m.id for m in batch.members] == ["m1", "m2"] and batch.source == "people.jsonl"
    with pytest.raises(RecordError) as bad:
        read_jsonl_uploads(("people.jsonl", good), ("docs.jsonl", b'{"id": "d1", "kind": "practice"}\n'))
    assert str(bad.value).startswith("docs.jsonl:1: missing required field 'body'")
    with pytest.raises(RecordError, match=r"^people.jsonl:2: invalid JSON"):
        read_jsonl_uploads(("people.jsonl", b'{"id": "m1", "name": "One"}\n{oops\n'), None)


def test_expert_view_splits_knows_and_active_and_says_when_nobody_knows():
    evidence = [Evidence("d1", "Pump alignment", "practice", "author", 0.5, "laser alignment ...")]
    knows = Expert(
        "ana", "Ana", "Field", score=0.3, knows=0.5, active=0.6, has_evidence=True,
        content=1.2, profile=0.1, prior=0.6, evidence=evidence,
    )  # fmt: skip
    view = views.expert_view(knows)
    assert view.knows == pytest.approx(0.5) and view.active == pytest.approx(0.6)
    assert views.ask_answer("q", [knows], "v1").nobody_knows is False
    nobody = Expert(
        "gen", "Gene", None, score=0.05, knows=0.1, active=0.5, has_evidence=False,
        content=0.0, profile=0.0, prior=0.5,
    )  # fmt: skip
    assert views.ask_answer("q", [nobody], "v1").nobody_knows is True
    assert views.ask_answer("q", [], "v1").nobody_knows is True
