"""End-to-end throughput of the running service: API uploads, worker jobs, a ZIP batch, PDFs.

Starts its own stack (redis-server, S3, a Celery worker, the API) on free ports in a temp dir with
`gongkai.stack.Stack`, exactly as the tests do, then measures:

  (a) `POST /v1/documents` latency (p50/p95) and documents/s for N text reports, one file per
      request, the worker stopped (the API alone);
  (b) upload → all `succeeded` jobs/s for N text reports, worker concurrency 1 and 2;
  (c) one ZIP of N reports via `POST /v1/batches` → batch finished → CSV export downloaded;
  (d) examples/huaian_2024.pdf (text layer) × P jobs;
  (e) the same text reports and PDFs handled in this process as `gongkai parse` does
      (gongkai.cli.parse_to_json: parse, write the canonical JSON file; one process), and the
      ratio of in-process reports/s to the service's (upload → succeeded): the service's overhead.
      Each text pass in process runs right after a service round, so the two sides of a ratio
      are measured minutes apart at most on a VM whose speed drifts; a pass of the parse alone
      (workers.pipeline.parse_bytes) is printed beside it.

Completion is read from the global per-state job counts in Redis (one HGETALL every 50 ms), so the
measuring loads neither the API nor the 2 cores it shares with the service. Reports:
examples/*.txt plus reports made with ../shared/tools (make_truth.py --format 2021 --seed S,
render_text_layouts.py --layout pipes), all distinct.

    .venv/bin/python bench/bench_service.py [--n 200] [--pdfs 20] [--rounds 3] [--smoke]
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _common
from _client import make_client

from gongkai.settings import REPO_ROOT, Settings
from gongkai.stack import Stack, free_port
from storage.jobs import KEY_PREFIX, JobState, make_redis
from storage.metrics import Metrics

EXAMPLES = REPO_ROOT / "examples"
TOOLS = REPO_ROOT.parent / "shared" / "tools"


def make_reports(n: int, folder: Path) -> list[tuple[str, bytes]]:
    """n distinct text reports: the examples first, then generated ones."""
    reports = [(p.name, p.read_bytes()) for p in sorted(EXAMPLES.glob("*.txt"))][:n]
    seeds = range(1000, 1000 + n - len(reports))

    def one(seed: int) -> tuple[str, bytes]:
        truth = folder / f"t{seed}.json"
        subprocess.run(
            [sys.executable, str(TOOLS / "make_truth.py"), "--format", "2021", "--seed", str(seed),
             "-o", str(truth)],
            check=True, capture_output=True,
        )  # fmt: skip
        text = subprocess.run(
            [sys.executable, str(TOOLS / "render_text_layouts.py"), str(truth), "--layout", "pipes"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        return f"gen_{seed}.txt", text

    with ThreadPoolExecutor(4) as pool:
        reports += list(pool.map(one, seeds))
    return reports


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Bench:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        s = stack.settings
        self.client = make_client(s, timeout=120)
        self.redis = make_redis(s)
        self.rows: list[tuple[str, str]] = []

    def row(self, what: str, value: str) -> None:
        self.rows.append((what, value))
        print(f"  {what:<58} {value}", flush=True)

    def restart_worker(self, concurrency: int | None) -> None:
        self.stack.stop("worker")
        if concurrency is not None:
            self.stack.settings = self.stack.settings.model_copy(update={"worker_concurrency": concurrency})
            self.stack.start_worker()

    def upload(self, name: str, data: bytes) -> tuple[str, float]:
        started = time.perf_counter()
        response = self.client.post("/v1/documents", files=[("files", (name, data))])
        elapsed = time.perf_counter() - started
        assert response.status_code == 202, response.text
        return response.json()["jobs"][0]["id"], elapsed

    def upload_all(self, reports: list[tuple[str, bytes]], clients: int = 1) -> tuple[list[str], list[float]]:
        if clients == 1:
            pairs = [self.upload(n, d) for n, d in reports]
        else:
            with ThreadPoolExecutor(clients) as pool:
                pairs = list(pool.map(lambda r: self.upload(*r), reports))
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def finished_so_far(self) -> int:
        """Jobs ever finished in this stack: one HGETALL of the global per-state counts, so waiting
        for hundreds of jobs costs the machine it measures next to nothing."""
        counts = Metrics(self.redis).jobs_by_state()
        return sum(n for state, n in counts.items() if JobState(state).finished)

    def wait_jobs(self, ids: list[str], before: int, timeout: float = 1800) -> list[dict[str, Any]]:
        """Wait until `len(ids)` more jobs than `before` have finished; returns the records of `ids`
        (created/started/finished/state/error)."""
        deadline = time.monotonic() + timeout
        while self.finished_so_far() - before < len(ids):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(ids) - self.finished_so_far() + before} jobs not finished")
            time.sleep(0.05)
        pipe = self.redis.pipeline()
        for job_id in ids:
            pipe.hmget(KEY_PREFIX + job_id, ["state", "created", "started", "finished", "error"])
        fields = ("state", "created", "started", "finished", "error")
        return [dict(zip(fields, (json.loads(v) for v in vals), strict=True)) for vals in pipe.execute()]

    def cpu_by_service(self) -> dict[str, float]:
        """CPU seconds used so far by each service of the stack (the worker: main + pool processes)."""
        return {name: _common.tree_cpu(self.stack.pid(name)) for name in ("api", "worker", "redis", "s3")}

    def purge_queue(self) -> None:
        self.redis.delete("celery")


def seconds(a: str, b: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(b) - datetime.fromisoformat(a)).total_seconds()


def job_stats(records: list[dict[str, Any]]) -> tuple[int, float, float]:
    ok = sum(1 for r in records if r["state"] == "succeeded")
    work = [seconds(r["started"], r["finished"]) for r in records if r["started"] and r["finished"]]
    return ok, statistics.median(work) if work else 0.0, pct(work, 0.95) if work else 0.0


def run(args: argparse.Namespace) -> list[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp:
        root = Path(tmp)
        used: set[int] = set()

        def port() -> int:
            p = free_port(used)
            used.add(p)
            return p

        settings = Settings(
            data_dir=root / "var",
            redis_url=f"redis://127.0.0.1:{port()}/0",
            s3_endpoint=f"127.0.0.1:{port()}",
            api_port=port(),
            worker_concurrency=2,
            log_level="WARNING",
        )
        t0 = time.perf_counter()
        reports = make_reports(args.n, root)
        print(f"{len(reports)} text reports made in {time.perf_counter() - t0:.1f}s", flush=True)
        stack = Stack(settings)
        try:
            stack.up()
            bench = Bench(stack)
            run_phases(bench, reports, args)
            return bench.rows
        finally:
            stack.down()


def run_phases(bench: Bench, reports: list[tuple[str, bytes]], args: argparse.Namespace) -> None:
    n = len(reports)
    bench.upload("warmup.txt", reports[0][1])  # first request: imports, connections

    print("(a) uploads, worker stopped", flush=True)
    bench.restart_worker(None)
    # Fresh content for the sequential run (every original is new to S3); the same content again
    # with 4 client threads (S3 already has it: the dedup path).
    t = time.perf_counter()
    _, lat = bench.upload_all(reports)
    wall = time.perf_counter() - t
    bench.row(
        f"(a) upload, 1 client, {n} new files: p50 / p95 ms",
        f"{pct(lat, 0.5) * 1e3:.1f} / {pct(lat, 0.95) * 1e3:.1f}",
    )
    bench.row("(a) upload, 1 client: documents/s", f"{n / wall:.1f}")
    t = time.perf_counter()
    _, lat = bench.upload_all(reports, clients=4)
    wall = time.perf_counter() - t
    bench.row(
        f"(a) upload, 4 clients, {n} known files: p50 / p95 ms",
        f"{pct(lat, 0.5) * 1e3:.1f} / {pct(lat, 0.95) * 1e3:.1f}",
    )
    bench.row("(a) upload, 4 clients: documents/s", f"{n / wall:.1f}")
    bench.purge_queue()

    local = InProcess(reports, bench.stack.settings.data_dir.parent / "parsed")  # in the run's temp dir
    service_rate: dict[str, float] = {}
    service_cpu: dict[str, float] = {}  # the worker's CPU seconds per report (main + pool processes)
    for concurrency in args.concurrencies:
        print(f"(b) end to end, worker concurrency {concurrency}", flush=True)
        bench.restart_worker(concurrency)
        rates: list[float] = []
        cpus: list[dict[str, float]] = []
        for round_ in range(args.rounds):  # the same files again (force=true): new jobs each round
            cpu, before = bench.cpu_by_service(), bench.finished_so_far()
            t = time.perf_counter()
            ids, _ = bench.upload_all(reports)
            uploaded = time.perf_counter() - t
            records = bench.wait_jobs(ids, before)
            wall = time.perf_counter() - t
            cpus.append({name: (used - cpu[name]) / n for name, used in bench.cpu_by_service().items()})
            rates.append(n / wall)
            ok, p50, p95 = job_stats(records)
            bench.row(
                f"(b) c={concurrency} round {round_ + 1}: {n} succeeded / wall s / jobs/s / run p50, p95 ms",
                f"{ok} / {wall:.1f} (uploads {uploaded:.1f}) / {n / wall:.2f} / "
                f"{p50 * 1e3:.0f}, {p95 * 1e3:.0f}",
            )
            local.run_pass(concurrency)  # the same files in this process, right after
        cpu = {name: statistics.median(c[name] for c in cpus) for name in cpus[0]}
        bench.row(
            f"(b) c={concurrency}: CPU ms per report (median of rounds): " + " / ".join(cpu),
            " / ".join(f"{v * 1e3:.1f}" for v in cpu.values()),
        )
        service_cpu[f"text c={concurrency}"] = cpu["worker"]
        bench.row(
            f"(b) c={concurrency}: jobs/s upload → all succeeded (median of {len(rates)})",
            f"{statistics.median(rates):.2f}",
        )
        service_rate[f"text c={concurrency}"] = statistics.median(rates)

    print(f"(c) ZIP batch, worker concurrency {bench.stack.settings.worker_concurrency}", flush=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in reports:
            zf.writestr(f"reports/{name}", data)
    archive = buffer.getvalue()
    t = time.perf_counter()
    response = bench.client.post("/v1/batches", files=[("files", ("reports.zip", archive))])
    assert response.status_code == 202, response.text
    uploaded = time.perf_counter() - t
    batch_id = response.json()["id"]
    while True:
        status = bench.client.get(f"/v1/batches/{batch_id}", params={"limit": 0}).json()
        if status["finished"]:
            break
        time.sleep(0.25)
    finished = time.perf_counter() - t
    csv = bench.client.get(f"/v1/batches/{batch_id}/results", params={"format": "csv"})
    assert csv.status_code == 200, csv.text
    total = time.perf_counter() - t
    lines = csv.text.count("\n") - 1
    bench.row(f"(c) ZIP of {n} ({len(archive) / 1e6:.2f} MB): upload s", f"{uploaded:.2f}")
    bench.row("(c) upload → batch finished s (jobs/s)", f"{finished:.1f} ({n / finished:.2f})")
    bench.row("(c) CSV export download s / rows / succeeded",
              f"{total - finished:.2f} / {lines} / {status['counts']['succeeded']}")  # fmt: skip

    pdf = (EXAMPLES / "huaian_2024.pdf").read_bytes()
    for concurrency in reversed(args.concurrencies):
        print(f"(d) huaian_2024.pdf × {args.pdfs}, worker concurrency {concurrency}", flush=True)
        if concurrency != bench.stack.settings.worker_concurrency:
            bench.restart_worker(concurrency)
        before = bench.finished_so_far()
        t = time.perf_counter()
        ids, lat = bench.upload_all([("huaian_2024.pdf", pdf)] * args.pdfs)
        records = bench.wait_jobs(ids, before)
        wall = time.perf_counter() - t
        ok, p50, p95 = job_stats(records)
        bench.row(f"(d) c={concurrency}: PDF × {args.pdfs}: succeeded / wall s", f"{ok} / {wall:.1f}")
        bench.row(f"(d) c={concurrency}: PDF: jobs/s upload → all succeeded", f"{args.pdfs / wall:.2f}")
        bench.row(
            f"(d) c={concurrency}: PDF: job run time p50 / p95 ms", f"{p50 * 1e3:.0f} / {p95 * 1e3:.0f}"
        )
        service_rate[f"pdf c={concurrency}"] = args.pdfs / wall

    print("(e) in process, as `gongkai parse`", flush=True)
    for what, rates in (("gongkai parse", local.cli_rates), ("parse only", local.parse_rates)):
        every = [r for c in args.concurrencies for r in rates[c]]
        bench.row(
            f"(e) in process, text, {what}: reports/s (median of {len(every)}: "
            + " ".join(f"{r:.1f}" for r in every)
            + ")",
            f"{statistics.median(every):.2f}",
        )
    cpu_each = statistics.median(local.cli_cpu)
    bench.row("(e) in process, text, gongkai parse: CPU ms per report", f"{cpu_each * 1e3:.1f}")
    bench.row("(e) in process, text, parse only: CPU ms per report",
              f"{statistics.median(local.parse_cpu) * 1e3:.1f}")  # fmt: skip
    for c in args.concurrencies:
        bench.row(
            f"(e) text: worker CPU per report / in-process CPU per report (c={c})",
            f"{service_cpu[f'text c={c}'] / cpu_each:.2f}×",
        )
    for c in args.concurrencies:
        processes = _processes(c)
        cli, alone = statistics.median(local.cli_rates[c]), statistics.median(local.parse_rates[c])
        service = service_rate[f"text c={c}"]
        bench.row(
            f"(e) text: in-process reports/s / service reports/s ({processes})", f"{cli / service:.2f}×"
        )
        bench.row(f"(e) text: the same against the parse alone ({processes})", f"{alone / service:.2f}×")
    pdfs = [("huaian_2024.pdf", pdf)] * args.pdfs
    rate, _ = local.timed(pdfs, cli=True)
    bench.row("(e) in process, pdf, gongkai parse: reports/s", f"{rate:.2f}")
    for c in args.concurrencies:
        bench.row(
            f"(e) pdf: in-process reports/s / service reports/s ({_processes(c)})",
            f"{rate / service_rate[f'pdf c={c}']:.2f}×",
        )


def _processes(n: int) -> str:
    return f"{n} worker process{'es' * (n > 1)}"


class InProcess:
    """The text reports handled in this process, a pass after each service round: as `gongkai
    parse` does (parse, write the JSON file) and the parse alone; reports/s and CPU per report."""

    def __init__(self, reports: list[tuple[str, bytes]], out: Path) -> None:
        from gongkai.cli import parse_to_json
        from workers.pipeline import parse_bytes

        self.reports, self.parse_to_json, self.parse_bytes = reports, parse_to_json, parse_bytes
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.cli_rates: dict[int, list[float]] = {}
        self.parse_rates: dict[int, list[float]] = {}
        self.cli_cpu: list[float] = []
        self.parse_cpu: list[float] = []
        self.timed(reports[:1], cli=True)  # imports, caches (the worker's process is warm too)
        self.parse_bytes((EXAMPLES / "huaian_2024.pdf").read_bytes())
        gc.freeze()  # as `gongkai parse` and the worker's pool processes do after loading

    def timed(self, files: list[tuple[str, bytes]], *, cli: bool) -> tuple[float, float]:
        """reports/s and CPU seconds per report of one pass over `files`."""
        t, c = time.perf_counter(), time.process_time()
        for i, (_, data) in enumerate(files):
            if cli:
                self.parse_to_json(data, self.out / f"{i}.json")
            else:
                self.parse_bytes(data)
        return len(files) / (time.perf_counter() - t), (time.process_time() - c) / len(files)

    def run_pass(self, concurrency: int) -> None:
        rate, cpu = self.timed(self.reports, cli=True)
        self.cli_rates.setdefault(concurrency, []).append(rate)
        self.cli_cpu.append(cpu)
        rate, cpu = self.timed(self.reports, cli=False)
        self.parse_rates.setdefault(concurrency, []).append(rate)
        self.parse_cpu.append(cpu)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="text reports per phase")
    parser.add_argument("--pdfs", type=int, default=20, help="PDF jobs in phase (d)")
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="passes of the text reports per worker concurrency and in process",
    )
    parser.add_argument(
        "--smoke", action="store_true", help="4 text reports, 1 PDF, 1 worker process (a quick check)"
    )
    args = parser.parse_args(argv)
    args.concurrencies = (1, 2)
    if args.smoke:  # one worker process only: each restart costs seconds
        args.n, args.pdfs, args.concurrencies, args.rounds = 4, 1, (1,), 1
    _common.machine("before")
    rows = run(args)
    _common.machine("after")
    width = max(len(w) for w, _ in rows)
    print("\n| measure | value |\n|---|---|")
    for what, value in rows:
        print(f"| {what:<{width}} | {value} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
