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


def force(request: httpx.Request) -> None:
    """Benchmarks measure processing: every upload is processed (`force=true`), else the service
    would answer repeated bytes (the same scan queued ten times, a second pass over the same
    reports) from the first result in a millisecond. Added to POSTs only, and merged into the URL's
    own query: a client-wide `params=` would replace the query of every URL it is given (a `next`
    link's offset included)."""
    if request.method == "POST":
        request.url = request.url.copy_merge_params({"force": "true"})


async def _force_async(request: httpx.Request) -> None:
    force(request)


def make_client(settings: Settings, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 300)
    hooks = {"request": [force]}
    return httpx.Client(base_url=base_url(settings), headers=headers(settings), event_hooks=hooks, **kwargs)


def make_async_client(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("timeout", 300)
    hooks = {"request": [_force_async]}
    return httpx.AsyncClient(
        base_url=base_url(settings), headers=headers(settings), event_hooks=hooks, **kwargs
    )
