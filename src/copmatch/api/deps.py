"""FastAPI dependencies: the shared Community and API-key roles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from copmatch.api.jobs import RebuildJobs
from copmatch.api.throttle import Throttle
from copmatch.community import Community
from copmatch.errors import AuthenticationError
from copmatch.services.keys import ApiKey

_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An API key from `copmatch keys create`."
)
_bearer = HTTPBearer(auto_error=False, description="The same API key as a bearer token.")


def get_community(request: Request) -> Community:
    return request.app.state.community


def get_jobs(request: Request) -> RebuildJobs:
    return request.app.state.jobs


CommunityDep = Annotated[Community, Depends(get_community)]
JobsDep = Annotated[RebuildJobs, Depends(get_jobs)]


def requires(role: str) -> Callable[..., ApiKey]:
    """A dependency that authenticates the request's key and checks it has ``role``."""

    def dependency(
        request: Request,
        community: CommunityDep,
        header_key: Annotated[str | None, Depends(_api_key_header)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        throttle: Throttle = request.app.state.throttle
        client = request.client.host if request.client else "unknown"
        throttle.check_client(client)  # 429 for a client that keeps failing, before its key is looked up
        try:
            key = community.authenticate(header_key or (bearer.credentials if bearer else None))
        except AuthenticationError:
            throttle.failed_authentication(client)
            raise
        throttle.request_by_key(key.id)
        key.require(role)
        return key

    return dependency


member = requires("member")
broker = requires("broker")
admin = requires("admin")
