"""Security headers for every response, and the Content-Security-Policy of the pages.

Everything a page loads comes from this server (a company intranet may have no internet),
so the policy allows only 'self'; no inline script or style runs, except inline scripts
whose SHA-256 a page declares (the Swagger UI page's start-up script).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",  # Swagger UI draws its icons from data: URLs
    "font-src": "'self'",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cross-origin-opener-policy": "same-origin",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
}
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def content_security_policy(script_hashes: Iterable[str] = ()) -> str:
    directives = dict(CSP_DIRECTIVES)
    hashes = " ".join(f"'sha256-{h}'" for h in script_hashes)
    if hashes:
        directives["script-src"] = f"'self' {hashes}"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def inline_script_hashes(html: str) -> list[str]:
    """Base64 SHA-256 of each inline <script> in ``html``, as CSP expects them."""
    return [
        base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        for body in _INLINE_SCRIPT.findall(html)
    ]


class SecurityHeaders:
    """ASGI middleware adding the headers above to every HTTP response (a route may set
    its own CSP, e.g. with script hashes; it is kept). Plain ASGI rather than
    BaseHTTPMiddleware: it costs nothing measurable per API request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.csp = content_security_policy().encode("latin-1")
        self.headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [(k, v) for k, v in self.headers if k not in present]
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", self.csp))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
