"""API errors: one JSON shape for every 4xx/5xx, `{"error": {"code", "message"}}`."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from storage.errors import TRANSIENT_ERRORS


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

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        # Redis or S3 is down: say so (and when to come back) rather than a bare 500.
        message = f"storage unavailable ({type(exc).__name__}); try again shortly"
        return error_response(503, "service_unavailable", message, {"Retry-After": "5"})

    @app.exception_handler(BodyTooLarge)
    async def _too_large(_: Request, exc: BodyTooLarge) -> JSONResponse:
        return error_response(413, "request_too_large", exc.detail, {"Connection": "close"})

    for transient in TRANSIENT_ERRORS:
        app.add_exception_handler(transient, _unavailable)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return error_response(422, "invalid_request", f"{where}: {first.get('msg', 'invalid request')}")


def not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job with id {job_id}")
