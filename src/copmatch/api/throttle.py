"""Request rates: failed authentication per client, and requests per API key (429 + Retry-After).

Counted with the ``limits`` library (a moving window in memory): one server process is one
window, which is what a single-process copmatch server needs. A client that keeps sending
wrong keys is refused before its key is even looked up, so guessing costs it a minute per
``api_failed_auth_per_minute`` tries.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from copmatch.errors import TooManyRequestsError
from copmatch.settings import Settings


class Throttle:
    def __init__(self, settings: Settings) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        failed, per_key = settings.api_failed_auth_per_minute, settings.api_key_requests_per_minute
        self._failed_auth = RateLimitItemPerMinute(failed) if failed > 0 else None
        self._per_key = RateLimitItemPerMinute(per_key) if per_key > 0 else None

    def check_client(self, client: str) -> None:
        """Refuse a client that failed authentication too often in the last minute."""
        if self._failed_auth is not None and not self._limiter.test(self._failed_auth, "auth", client):
            raise TooManyRequestsError(
                f"Too many failed authentications from {client}.",
                hint="Check the API key you send; wait before trying again.",
                retry_after_s=self._retry_after(self._failed_auth, "auth", client),
            )

    def failed_authentication(self, client: str) -> None:
        if self._failed_auth is not None:
            self._limiter.hit(self._failed_auth, "auth", client)

    def request_by_key(self, key_id: str) -> None:
        """Count one request by a key; refuse it past the key's rate."""
        if self._per_key is not None and not self._limiter.hit(self._per_key, "key", key_id):
            raise TooManyRequestsError(
                f"API key {key_id} sent more than {self._per_key.amount} requests in a minute.",
                hint="Slow down, or send many queries in one POST /v1/experts/batch.",
                retry_after_s=self._retry_after(self._per_key, "key", key_id),
            )

    def _retry_after(self, item: RateLimitItemPerMinute, *identifiers: str) -> int:
        reset_at, _remaining = self._limiter.get_window_stats(item, *identifiers)
        return max(1, math.ceil(reset_at - time.time()))
