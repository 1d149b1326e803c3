"""Latency under load: GET /v1/jobs/{id} polled by 50 concurrent clients (an asyncio httpx loop)
while the workers are saturated with queued OCR jobs — first clients that wait the `Retry-After`
the API answers (what a poller is asked to do), then a closed loop (no pause: a throughput test) —
then 100 concurrent small uploads.

Starts its own stack (redis-server, S3, a Celery worker with 2 processes, the API) with
`gongkai.stack.Stack`. The OCR load is the scanned huaian_2024 report (`render_pdf.py --seed 3`,
`make_scan.py --dpi 300`) queued `--ocr-jobs` times; the small uploads are generated text reports.

    .venv/bin/python bench/bench_latency.py [--clients 50] [--seconds 20] [--uploads 100] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import _common
import httpx
import psutil
from _client import make_async_client, make_client

from gongkai.settings import Settings


async def poll(
    settings: Settings, ids: list[str], clients: int, seconds: float, *, honour_retry_after: bool
) -> tuple[list[float], int]:
    """`clients` tasks, each GETting job statuses round-robin until time is up; (latencies, errors).

    `honour_retry_after`: each client waits what the answer's `Retry-After` says (as the API asks a
    poller to; the clients start spread over the first second), else polls again at once (a closed
    loop: a throughput test, whose latency is clients / throughput by Little's law)."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with make_async_client(settings, limits=limits) as client:

        async def one(k: int) -> None:
            nonlocal errors
            i = k
            if honour_retry_after:
                await asyncio.sleep(k / clients)
            while time.perf_counter() < stop:
                t = time.perf_counter()
                response = await client.get(f"/v1/jobs/{ids[i % len(ids)]}")
                latencies.append(time.perf_counter() - t)
                errors += response.status_code != 200
                i += clients
                if honour_retry_after:
                    await asyncio.sleep(float(response.headers.get("retry-after", "1")))

        await asyncio.gather(*(one(k) for k in range(clients)))
    return latencies, errors


async def uploads(settings: Settings, reports: list[tuple[str, bytes]]) -> tuple[list[float], float, int]:
    """All uploads at once, one file per request; (latencies, wall, errors)."""
    limits = httpx.Limits(max_connections=len(reports), max_keepalive_connections=len(reports))
    async with make_async_client(settings, limits=limits) as client:

        async def one(name: str, data: bytes) -> tuple[float, int]:
            t = time.perf_counter()
            response = await client.post("/v1/documents", files=[("files", (name, data))])
            return time.perf_counter() - t, response.status_code

        t = time.perf_counter()
        results = await asyncio.gather(*(one(n, d) for n, d in reports))
        wall = time.perf_counter() - t
    return [r[0] for r in results], wall, sum(1 for r in results if r[1] != 202)


def ms(values: list[float]) -> str:
    return " / ".join(f"{_common.pct(values, q) * 1e3:.1f}" for q in (0.5, 0.95, 0.99))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=20.0, help="how long the 50 clients poll")
    ap.add_argument("--uploads", type=int, default=100)
    ap.add_argument("--ocr-jobs", type=int, default=10, help="scanned reports queued to saturate the workers")
    ap.add_argument(
        "--nice", type=int, default=0, help="renice the worker processes by this much (what priority buys)"
    )
    ap.add_argument("--smoke", action="store_true", help="a quick check: 2 s, 10 uploads, 2 OCR jobs")
    args = ap.parse_args(argv)
    if args.smoke:
        args.seconds, args.uploads, args.ocr_jobs = 2.0, 10, 2
    _common.machine("before")
    rows: list[tuple[str, str]] = []

    def row(what: str, value: str) -> None:
        rows.append((what, value))
        print(f"  {what:<64} {value}", flush=True)

    with tempfile.TemporaryDirectory(prefix="gongkai-latbench-") as tmp:
        folder = Path(tmp)
        scan = _common.scanned_pdf(folder).read_bytes()
        reports = _common.text_reports(args.uploads, folder, distinct_bases=1 if args.smoke else 2)
        with _common.running_stack(worker_concurrency=2) as (stack, _):
            client = make_client(stack.settings)
            if args.nice:
                worker = stack.pid("worker")
                assert worker is not None
                root = psutil.Process(worker)
                for proc in [root, *root.children(recursive=True)]:
                    proc.nice(args.nice)
                row("worker processes reniced by", str(args.nice))
            response = client.post(
                "/v1/documents", files=[("files", (f"scan{i}.pdf", scan)) for i in range(args.ocr_jobs)]
            )
            assert response.status_code == 202, response.text
            ocr_ids = [j["id"] for j in response.json()["jobs"]]
            # Wait until both worker processes have an OCR job.
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                states = [client.get(f"/v1/jobs/{j}").json()["state"] for j in ocr_ids]
                if states.count("running") >= min(2, len(ocr_ids)):
                    break
                time.sleep(0.2)
            for honour, how in ((True, "honouring Retry-After"), (False, "closed loop")):
                lat, errors = asyncio.run(
                    poll(stack.settings, ocr_ids, args.clients, args.seconds, honour_retry_after=honour)
                )
                running = [client.get(f"/v1/jobs/{j}").json()["state"] for j in ocr_ids].count("running")
                row(f"GET /v1/jobs/{{id}}, {args.clients} clients {how}, {args.seconds:g} s, workers busy: "
                    "p50 / p95 / p99 ms", ms(lat))  # fmt: skip
                row("  same: requests, requests/s, errors",
                    f"{len(lat)}, {len(lat) / args.seconds:.0f}, {errors}")  # fmt: skip
                row("  OCR jobs still running when polling ended", str(running))
            lat, wall, errors = asyncio.run(uploads(stack.settings, reports))
            running = [client.get(f"/v1/jobs/{j}").json()["state"] for j in ocr_ids].count("running")
            row(f"POST /v1/documents, {len(reports)} concurrent small uploads: p50 / p95 / p99 ms", ms(lat))
            row("  same: wall s, uploads/s, errors", f"{wall:.2f}, {len(reports) / wall:.0f}, {errors}")
            row("  OCR jobs still running after the uploads", str(running))
    _common.machine("after")
    print("\n| measure | value |\n|---|---|")
    for what, value in rows:
        print(f"| {what} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
