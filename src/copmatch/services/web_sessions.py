"""Signed-in browser sessions for the web pages.

Signing in checks an API key once and opens a session: the browser keeps a random token in
an HttpOnly cookie (never the key), the store keeps only the token's SHA-256 with the key's
id, so revoking the key ends every session opened with it. Each session carries its own
CSRF token (a synchronizer token): a form is accepted only with the token of the session
that posts it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from copmatch.errors import AuthenticationError, PermissionDeniedError
from copmatch.services.keys import ApiKey, authenticate
from copmatch.store.store import Store

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class WebSession:
    key: ApiKey
    csrf_token: str
    expires_at: str

    def check_csrf(self, submitted: str | None) -> None:
        """A state-changing form must carry this session's CSRF token."""
        if not submitted or not hmac.compare_digest(submitted, self.csrf_token):
            raise CsrfError(
                "This form was not sent from a page of this session (missing or wrong CSRF token).",
                hint="Reload the page and send the form again.",
            )


class CsrfError(PermissionDeniedError):
    """A form arrived without its session's CSRF token."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def open_session(store: Store, secret: str | None, hours: float) -> tuple[str, WebSession]:
    """Check the key and open a session; returns the cookie token (shown to nobody else)."""
    key = authenticate(store, secret.strip() if secret else secret)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires = (datetime.now(UTC) + timedelta(hours=hours)).strftime(_TIME_FORMAT)
    store.add_web_session(_hash(token), key.id, csrf, expires)
    return token, WebSession(key, csrf, expires)


def session_for(store: Store, token: str | None) -> WebSession:
    """The live session of a cookie token: unknown, expired and revoked-key sessions raise."""
    row = store.web_session(_hash(token)) if token else None
    now = datetime.now(UTC).strftime(_TIME_FORMAT)
    if row is None or row["expires_at"] <= now or row["revoked_at"]:
        raise AuthenticationError("You are not signed in (or your session ended).", hint="Sign in with your API key.")
    return WebSession(ApiKey(row["key_id"], row["role"], row["member_id"]), row["csrf_token"], row["expires_at"])


def close_session(store: Store, token: str | None) -> None:
    if token:
        store.delete_web_session(_hash(token))
