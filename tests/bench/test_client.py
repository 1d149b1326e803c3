"""The benchmarks' HTTP client: uploads are forced, and a URL's own query (a `next` link's offset)
reaches the server whole."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from _client import make_client

from gongkai.settings import Settings


def test_posts_are_forced_and_links_keep_their_query() -> None:
    sent: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, json={})

    client = make_client(Settings(api_key=SecretStr("gk_test")), transport=httpx.MockTransport(record))
    client.get("/v1/batches/b?offset=100&limit=100")
    client.post("/v1/documents?callback_url=x", files=[("files", ("a.txt", b"a"))])
    get, post = sent
    assert dict(get.url.params) == {"offset": "100", "limit": "100"}
    assert dict(post.url.params) == {"callback_url": "x", "force": "true"}
    assert get.headers["Authorization"] == post.headers["Authorization"] == "Bearer gk_test"
