"""Cost growth: time and memory for batches of 10, 100 and 1,000 documents, per document, so a
quadratic step anywhere shows as a per-document cost that grows with the batch.

Starts its own stack (redis-server, S3, a Celery worker with 2 processes, the API) with
`gongkai.stack.Stack`; the batches go to the same stack one after the other (the store grows as it
would). Per batch size N: one ZIP of N distinct text reports through `POST /v1/batches` (upload,
then expansion + processing until the batch is finished), `GET /v1/jobs/{id}` for every job,
`GET /v1/batches/{id}` paged 100 at a time, the CSV and JSONL exports, 20 single uploads
(`POST /v1/documents`) after it, and the API's RSS. Routes other builds add are probed and
measured when present, else printed "n/a on this build":
`GET /v1/batches/{id}/jobs?state=succeeded`, `GET /v1/results?since=<cursor>` (followed to the
end), `GET /v1/batches/{id}/export?format=csv`.

    .venv/bin/python bench/bench_growth.py [--sizes 10,100,1000] [--smoke]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import _common
import httpx
from _client import make_client

MB = 1024 * 1024


def route_missing(response: httpx.Response) -> bool:
    """FastAPI's own 404/405 for a path no route matches (the service's 404s carry {"error": …})."""
    if response.status_code not in (404, 405):
        return False
    try:
        body = response.json()
    except ValueError:
        return True
    return "error" not in body


class Timer:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __enter__(self) -> Timer:
        self._t = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._t


def follow(client: httpx.Client, path: str, params: dict[str, Any]) -> tuple[int, int] | None:
    """GET a paged route to its end (following `next` links or cursors); (requests, items) or None."""
    response = client.get(path, params=params)
    if route_missing(response):
        return None
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    requests, items = 1, 0
    while True:
        body = response.json()
        page: list[Any] = next(
            (body[k] for k in ("jobs", "results", "items", "data") if isinstance(body.get(k), list)), []
        )
        items += len(page)
        link = (body.get("links") or {}).get("next")
        cursor = body.get("next") if "results" in body else None  # the feed's opaque cursor
        if isinstance(link, str) and page:
            response = client.get(link)
        elif isinstance(cursor, str) and page:
            params = {**params, "since": cursor}
            response = client.get(path, params=params)
        else:
            return requests, items
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        requests += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--smoke", action="store_true", help="batches of 3 and 6")
    args = ap.parse_args(argv)
    sizes = [3, 6] if args.smoke else [int(s) for s in args.sizes.split(",")]
    _common.machine("before")
    table: dict[str, dict[int, str]] = {}

    def record(n: int, what: str, seconds: float, count: int, note: str = "") -> None:
        table.setdefault(what, {})[n] = f"{seconds * 1e3 / count:.2f}"
        print(f"  N={n}: {what + note:<52} {seconds:8.2f} s, {seconds * 1e3 / count:8.2f} ms/doc", flush=True)

    with tempfile.TemporaryDirectory(prefix="gongkai-growbench-") as tmp:
        folder = Path(tmp)
        reports = _common.text_reports(
            sum(sizes) + 20 * len(sizes), folder, distinct_bases=1 if args.smoke else 8
        )
        with _common.running_stack(worker_concurrency=2) as (stack, _):
            client = make_client(stack.settings)
            api_pid = stack.pid("api")
            assert api_pid is not None
            for n in sizes:
                batch_reports, reports = reports[:n], reports[n:]
                singles, reports = reports[:20], reports[20:]
                rss_before = _common.tree_rss(api_pid)
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
                    for name, data in batch_reports:
                        zf.writestr(name, data)
                with _common.RssSampler(stack, services=("api",)) as rss:
                    with Timer() as t:
                        response = client.post(
                            "/v1/batches", files=[("files", ("batch.zip", buffer.getvalue()))]
                        )
                    assert response.status_code == 202, response.text
                    batch_id = response.json()["id"]
                    record(n, "upload (one ZIP)", t.seconds, n)
                    with Timer() as t:
                        while not (s := client.get(f"/v1/batches/{batch_id}", params={"limit": 0}).json())[
                            "finished"
                        ]:
                            time.sleep(0.2)
                    record(n, "expansion + processing to finished", t.seconds, n)
                    assert s["counts"]["succeeded"] == n, s["counts"]
                    with Timer() as t:
                        paged = follow(client, f"/v1/batches/{batch_id}", {"offset": 0, "limit": 100})
                    assert paged is not None and paged[1] == n, paged
                    record(n, "batch status, paged by 100", t.seconds, n, f" ({paged[0]} requests)")
                    ids = [
                        j["id"]
                        for j in client.get(f"/v1/batches/{batch_id}", params={"limit": min(n, 1000)}).json()[
                            "jobs"
                        ]
                    ]
                    with Timer() as t:
                        for job_id in ids:
                            assert client.get(f"/v1/jobs/{job_id}").status_code == 200
                    record(n, "GET /v1/jobs/{id} for every job", t.seconds, len(ids))
                    for fmt in ("csv", "jsonl"):
                        with Timer() as t:
                            r = client.get(f"/v1/batches/{batch_id}/results", params={"format": fmt})
                        assert r.status_code == 200, r.text[:300]
                        record(n, f"export {fmt}", t.seconds, n, f" ({len(r.content) / MB:.1f} MB)")
                    probes: dict[str, tuple[str, dict[str, Any]]] = {
                        "batch jobs ?state=succeeded": (
                            f"/v1/batches/{batch_id}/jobs",
                            {"state": "succeeded"},
                        ),
                        "change feed /v1/results?since=": ("/v1/results", {"limit": 500}),
                    }
                    for what, (path, params) in probes.items():
                        with Timer() as t:
                            got = follow(client, path, params)
                        if got is None:
                            table.setdefault(what, {})[n] = "n/a on this build"
                            print(f"  N={n}: {what:<52} n/a on this build", flush=True)
                        else:
                            record(n, what, t.seconds, n, f" ({got[0]} requests, {got[1]} items)")
                    with Timer() as t:
                        r = client.get(f"/v1/batches/{batch_id}/export", params={"format": "csv"})
                    if route_missing(r):
                        table.setdefault("export /export?format=csv", {})[n] = "n/a on this build"
                        print(f"  N={n}: {'export /export?format=csv':<52} n/a on this build", flush=True)
                    else:
                        assert r.status_code == 200, r.text[:300]
                        record(n, "export /export?format=csv", t.seconds, n)
                    with Timer() as t:
                        for name, data in singles:
                            r = client.post("/v1/documents", files=[("files", (name, data))])
                            assert r.status_code == 202, r.text
                    record(n, "POST /v1/documents, 20 single uploads after it", t.seconds, len(singles))
                rss_after = _common.tree_rss(api_pid)
                print(f"  N={n}: API RSS {rss_before / MB:.0f} → peak {rss.peak['api'] / MB:.0f} → "
                      f"{rss_after / MB:.0f} MB", flush=True)  # fmt: skip
                table.setdefault("API RSS MB: before → peak (not per doc)", {})[n] = (
                    f"{rss_before / MB:.0f} → {rss.peak['api'] / MB:.0f}"
                )
    _common.machine("after")
    print("\nms per document, by batch size N:\n")
    print("| measure | " + " | ".join(f"N={n}" for n in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for what, by_n in table.items():
        print(f"| {what} | " + " | ".join(by_n.get(n, "") for n in sizes) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
