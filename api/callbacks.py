"""The `callback_url` form field of POST /v1/documents and /v1/batches: checked before anything is
stored, refused with 400 `invalid_callback_url` unless it is an absolute http(s) URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form

from api.errors import ApiError
from workers.webhooks import InvalidCallbackUrl, validate_callback_url

CallbackUrlForm = Annotated[
    str | None,
    Form(description="http(s) URL POSTed (signed, X-Gongkai-Signature) when the work has finished"),
]


def checked_callback_url(url: str | None) -> str | None:
    if url is None or not url.strip():
        return None
    try:
        return validate_callback_url(url)
    except InvalidCallbackUrl as exc:
        raise ApiError(400, "invalid_callback_url", str(exc)) from None
