"""Feedback on suggested experts: recorded through the CLI and the API, kept in the store."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from copmatch.api import create_app
from copmatch.cli.app import app
from copmatch.errors import InvalidQueryError, NotFoundError

runner = CliRunner()


def test_feedback_is_kept_with_question_member_verdict_and_who(tiny):
    recorded = tiny.record_feedback("laser shaft alignment", "ana", True, given_by="bob", note="fixed it")
    assert (recorded.query, recorded.member_id, recorded.helpful, recorded.given_by) == (
        "laser shaft alignment",
        "ana",
        True,
        "bob",
    )
    assert recorded.index_version == tiny.index_version() and recorded.at.endswith("Z")
    tiny.record_feedback("chlorine residual", "ana", False)
    assert [(f.query, f.helpful) for f in tiny.list_feedback("ana")] == [
        ("laser shaft alignment", True),
        ("chlorine residual", False),
    ]


def test_feedback_on_an_unknown_member_or_without_a_question_is_refused(tiny):
    with pytest.raises(NotFoundError):
        tiny.record_feedback("pumps", "nobody", True)
    with pytest.raises(InvalidQueryError):
        tiny.record_feedback("  ", "ana", True)
    assert tiny.list_feedback() == []


def test_feedback_cli(tiny):
    args = ["--data-dir", str(tiny.data_dir), "feedback", "ana", "not-helpful", "--query", "pump seals", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["helpful"] is False
    result = runner.invoke(app, ["--data-dir", str(tiny.data_dir), "feedback", "ana", "maybe", "--query", "x"])
    assert result.exit_code == 2 and "Use helpful or not-helpful." in result.output


def test_feedback_api_records_who_gave_it(tiny):
    _, secret = tiny.create_key("member", member_id="lab")
    with TestClient(create_app(tiny.data_dir, community=tiny)) as client:
        response = client.post(
            "/v1/feedback",
            json={"text": "laser alignment", "member_id": "ana", "helpful": True},
            headers={"X-API-Key": secret},
        )
        assert response.status_code == 201, response.text
        assert response.json()["feedback"]["given_by"] == "lab"
        missing = client.post(
            "/v1/feedback", json={"text": "x", "member_id": "nobody", "helpful": True}, headers={"X-API-Key": secret}
        )
        assert missing.status_code == 404 and missing.json()["ok"] is False
