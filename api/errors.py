"""API errors: one JSON shape for every 4xx/5xx, `{"error": {"code", "message"}}`."""

from __future__ import annotations

import kombu.exceptions
import minio.error
import redis.exceptions
import urllib3.exceptions
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from gongkai.log import get_logger
from storage.errors import TRANSIENT_ERRORS

log = get_logger("gongkai.api")

OUTAGE_RETRY_AFTER = "5"  # seconds; a restarted Redis or S3 is usually back within this
# A dependency outage, whichever route meets it: 503 with the code for what is down, never a 500.
# Enqueueing (kombu) is the broker; the job store (redis-py) and the objects (minio over urllib3)
# are storage. Plain ConnectionError/TimeoutError come from either.
_OUTAGES: tuple[tuple[tuple[type[Exception], ...], str, str], ...] = (
    ((kombu.exceptions.OperationalError,), "broker_unavailable", "the broker (redis)"),
    ((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError), "storage_unavailable", "redis"),
    ((urllib3.exceptions.HTTPError, minio.error.ServerError), "storage_unavailable", "S3"),
)
OUTAGE_ERRORS: tuple[type[Exception], ...] = (
    *(error for errors, _, _ in _OUTAGES for error in errors),
    *TRANSIENT_ERRORS,
)


def outage(exc: BaseException) -> tuple[str, str]:
    """(error code, what is down) for a dependency's connection-level failure."""
    for errors, code, what in _OUTAGES:
        if isinstance(exc, errors):
            return code, what
    return "storage_unavailable", "a storage service"


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers


class BodyTooLarge(HTTPException):
    """Raised while the body is being received, once it passes the limit (`api.main.BodyLimit`).

    An HTTPException so that FastAPI's body parsing lets it through instead of making it a 400."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds {limit} bytes")
        self.limit = limit


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message))
    return JSONResponse(body.model_dump(), status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Redis or S3 is down: say so (and when to come back) rather than a bare 500.
        code, what = outage(exc)
        log.warning("api.dependency_down", code=code, dependency=what, path=request.url.path,
                    error=f"{type(exc).__name__}: {exc}"[:200])  # fmt: skip
        message = f"{what} is unavailable ({type(exc).__name__}); try again shortly"
        return error_response(503, code, message, {"Retry-After": OUTAGE_RETRY_AFTER})

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(413, "request_too_large", exc.detail, {"Connection": "close"})

    for error in OUTAGE_ERRORS:
        app.add_exception_handler(error, _unavailable)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")


def not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job with id {job_id}")
