"""API keys: created once, shown once, stored only as a SHA-256 hash.

Keys are 32 random bytes, so a fast hash is enough: nobody can guess one to test against
the hash, and a slow password hash would cost every request.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from copmatch.errors import AuthenticationError, InvalidArgumentError, NotFoundError, PermissionDeniedError
from copmatch.store.store import Store

#: Each role includes the rights of the roles before it.
KEY_ROLES = ("member", "broker", "admin")
KEY_PREFIX = "cpm"


@dataclass(frozen=True)
class ApiKey:
    id: str
    role: str
    member_id: str | None = None

    def may_manage(self, member_id: str) -> bool:
        """Whether this key may see and change that member's own settings: it is bound to
        them, or it is an admin's."""
        return self.member_id == member_id or self.role == "admin"

    def require(self, role: str) -> None:
        if KEY_ROLES.index(self.role) < KEY_ROLES.index(role):
            raise PermissionDeniedError(
                f"This needs the {role!r} role; your key ({self.id}) has {self.role!r}.",
                hint=f"Ask an admin for a key with: copmatch keys create --role {role}",
            )


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: Store, role: str, member_id: str | None = None, label: str | None = None) -> tuple[ApiKey, str]:
    """A new key; returns its record and the secret, which is never stored or shown again."""
    if role not in KEY_ROLES:
        raise InvalidArgumentError(f"Unknown role {role!r}.", hint=f"Use one of: {', '.join(KEY_ROLES)}.")
    if member_id is not None:
        store.get_member(member_id)  # raises NotFoundError with a hint
    key_id = secrets.token_hex(4)
    secret = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    store.add_api_key(key_id, _hash(secret), role, member_id, label)
    return ApiKey(key_id, role, member_id), secret


def authenticate(store: Store, secret: str | None) -> ApiKey:
    if not secret:
        raise AuthenticationError(
            "No API key was sent.", hint="Send it as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
        )
    row = store.api_key_by_hash(_hash(secret))
    if row is None or row["revoked_at"]:
        raise AuthenticationError(
            "The API key is unknown or revoked.", hint="Ask an admin for a new key (copmatch keys create)."
        )
    return ApiKey(row["id"], row["role"], row["member_id"])


def revoke_key(store: Store, key_id: str) -> None:
    if not store.revoke_api_key(key_id):
        raise NotFoundError(f"No active API key with id {key_id!r}.", hint="List keys with: copmatch keys list")
