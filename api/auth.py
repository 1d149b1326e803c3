"""Who is calling (an API key → its tenant), and how every endpoint is scoped to that tenant.

One mechanism, in two parts; a new endpoint gets the first without doing anything and cannot type
check without the second:

1. Authentication, default-deny for the whole app. `ApiKeyAuth` (an ASGI middleware installed by
   `api.main.create_api`) refuses every request that does not carry a valid key — as
   `Authorization: Bearer <key>` or `X-API-Key: <key>` — with 401 `unauthorized` and a
   `WWW-Authenticate` header, before the route runs and before the body is read (an anonymous
   2 GiB upload is never spooled). Only `OPEN_PATHS` (liveness, readiness, docs, OpenAPI, metrics)
   answer without a key. Keys are looked up by their SHA-256 (`storage.apikeys`).

2. Scoping to the caller's tenant. An endpoint takes `tenant: TenantDep` and
   - records it on whatever it creates (`Job(tenant=...)`, `BatchStore.create(..., tenant=...)`;
     a batch's jobs, archive members included, take the batch's tenant in `JobStore`);
   - loads a job or batch by id only through its route module's `_load(store, id, tenant)`, which
     answers 404 exactly as for an unknown id when the record is another tenant's (never 403: that
     would tell the caller the id exists);
   - filters anything it lists by the tenant (`Job.tenant`, `Batch.tenant`).
   Objects in S3 are reached only through a job or batch loaded this way (presigned URLs name one
   object and expire after `presign_seconds`).

tests/integration/test_tenants.py enumerates `app.routes` and calls every route with a path
parameter, every method, with another tenant's real ids: an endpoint that loads a record without
`_load(..., tenant)` fails it; tests/api/test_auth.py checks every non-open route answers 401
without a key.
"""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from api.errors import ApiError, error_response
from gongkai.log import get_logger
from storage.apikeys import ApiKey, ApiKeyStore
from storage.errors import TRANSIENT_ERRORS

log = get_logger("gongkai.api")

OPEN_PATHS = frozenset(
    {"/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
API_KEY_HEADER = "X-API-Key"
REALM = 'Bearer realm="gongkai"'
_MISSING = f"send an API key as 'Authorization: Bearer <key>' or '{API_KEY_HEADER}: <key>'"


def presented_key(headers: Headers) -> str | None:
    """The key the request carries: the bearer token, else the X-API-Key header."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = headers.get(API_KEY_HEADER, "").strip()
    return key or None


def unauthorized(key_given: bool) -> ApiError:
    if key_given:
        return ApiError(
            401, "unauthorized", "the API key is not valid (unknown or revoked)",
            {"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )  # fmt: skip
    return ApiError(401, "unauthorized", _MISSING, {"WWW-Authenticate": REALM})


class ApiKeyAuth:
    """Authenticate every request but those to `OPEN_PATHS`; the caller's key record goes into
    `request.state.caller` for `TenantDep`. The key store is `app.state.apikeys` (made in the lifespan)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        key = presented_key(Headers(scope=scope))
        store: ApiKeyStore = scope["app"].state.apikeys
        try:
            caller = await run_in_threadpool(store.authenticate, key) if key else None
        except TRANSIENT_ERRORS as exc:
            message = f"redis unavailable ({type(exc).__name__}): API keys cannot be checked now"
            unavailable = error_response(503, "storage_unavailable", message, {"Retry-After": "5"})
            await unavailable(scope, receive, send)
            return
        if caller is None:
            refused = unauthorized(key is not None)
            log.info("api.unauthorized", path=scope["path"], key_given=key is not None)
            await error_response(refused.status, refused.code, refused.message, refused.headers)(
                scope, receive, send
            )
            return
        scope.setdefault("state", {})["caller"] = caller
        with structlog.contextvars.bound_contextvars(tenant=caller.tenant, key_id=caller.key_id):
            await self.app(scope, receive, send)


# Declared for OpenAPI (the "Authorize" button of /docs); the middleware has already checked the key.
_bearer = HTTPBearer(auto_error=False, description="an API key (`gongkai keys create TENANT`)")
_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="the same key, another header")


def _caller(
    request: Request,
    _b: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    _k: Annotated[str | None, Depends(_api_key)],
) -> ApiKey:
    caller = getattr(request.state, "caller", None)
    if not isinstance(caller, ApiKey):  # an app built without ApiKeyAuth: refuse rather than serve all
        raise unauthorized(False)
    return caller


def _tenant(caller: Annotated[ApiKey, Depends(_caller)]) -> str:
    return caller.tenant


CallerDep = Annotated[ApiKey, Depends(_caller)]
TenantDep = Annotated[str, Depends(_tenant)]
