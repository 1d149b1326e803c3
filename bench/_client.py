"""Every HTTP client the benchmarks use is built here, so what each request needs (an API key once
the service has them) is added in one place."""

from __future__ import annotations

from typing import Any

import httpx

from gongkai.settings import Settings


def base_url(settings: Settings) -> str:
    return f"http://{settings.api_host}:{settings.api_port}"


def headers(settings: Settings) -> dict[str, str]:
    """Headers every request carries (none yet; the API key goes here)."""
    return {}


def make_client(settings: Settings, **kwargs: Any) -> httpx.Client:
    kwargs.setdefault("timeout", 300)
    return httpx.Client(base_url=base_url(settings), headers=headers(settings), **kwargs)


def make_async_client(settings: Settings, **kwargs: Any) -> httpx.AsyncClient:
    kwargs.setdefault("timeout", 300)
    return httpx.AsyncClient(base_url=base_url(settings), headers=headers(settings), **kwargs)
