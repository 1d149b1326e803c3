"""Every HTTP client the benchmarks use is built here, so what each request needs (the API key) is
added in one place."""

from __future__ import annotations

from typing import Any

import httpx

from gongkai.settings import Settings


def base_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def headers(settings: Settings) -> dict[str, str]:
    """Headers every request carries: the API key (the stack's dev key, written by `Stack.up()`)."""
    key = settings.client_api_key
    return {"Authorization": f"Bearer {key}"} if key else {}


# Benchmarks measure processing: every upload is processed (`force=true`), else the service would
# answer repeated bytes (the same scan queued ten times, a second pass over the same reports) from
# the first result in a millisecond. Other routes ignore the parameter.
PARAMS = {"force": "true"}


def make_client(settings: Settings, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 300)
    return httpx.Client(base_url=base_url(settings), headers=headers(settings), params=PARAMS, **kwargs)


def make_async_client(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("timeout", 300)
    return httpx.AsyncClient(base_url=base_url(settings), headers=headers(settings), params=PARAMS, **kwargs)
