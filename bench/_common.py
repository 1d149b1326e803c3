"""What the service benchmarks share: a private stack on free ports in a temp dir, the machine's
load, percentiles, RSS sampling of the stack's processes, test documents."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

import psutil  # noqa: E402

from gongkai.settings import Settings  # noqa: E402
from gongkai.stack import Stack, free_port  # noqa: E402

SHARED = REPO.parent / "shared"
TOOLS = SHARED / "tools"
EXAMPLES = REPO / "examples"


def machine(when: str) -> str:
    """nproc and load average, for the record (the box is shared)."""
    one, five, fifteen = os.getloadavg()
    line = f"machine {when}: nproc {os.cpu_count()}, load average {one:.2f} {five:.2f} {fifteen:.2f}"
    print(line, flush=True)
    return line


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def make_settings(root: Path, **overrides: object) -> Settings:
    used: set[int] = set()

    def port() -> int:
        p = free_port(used)
        used.add(p)
        return p

    values: dict[str, object] = {
        "data_dir": root / "var",
        "redis_url": f"redis://127.0.0.1:{port()}/0",
        "s3_endpoint": f"127.0.0.1:{port()}",
        "api_port": port(),
        "worker_concurrency": 2,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@contextlib.contextmanager
def running_stack(**overrides: object) -> Iterator[tuple[Stack, Path]]:
    """A whole stack (redis, S3, worker, API) of our own; stopped and deleted on the way out."""
    with tempfile.TemporaryDirectory(prefix="gongkai-bench-") as tmp:
        root = Path(tmp)
        stack = Stack(make_settings(root, **overrides))
        try:
            stack.up()
            yield stack, root
        finally:
            stack.down()


def restart_worker(stack: Stack, concurrency: int | None) -> None:
    """Stop the worker; start it again with `concurrency` processes (None: leave it stopped)."""
    stack.stop("worker")
    if concurrency is not None:
        stack.settings = stack.settings.model_copy(update={"worker_concurrency": concurrency})
        stack.start_worker()


def _tree(pid: int | None) -> list[psutil.Process]:
    """A process and all its descendants; empty for None or a process that is gone."""
    if pid is None:
        return []
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss(pid: int) -> int:
    """RSS of a process and all its descendants, bytes (0 if gone)."""
    total = 0
    for p in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += p.memory_info().rss
    return total


def tree_cpu(pid: int | None) -> float:
    """CPU seconds used so far by a process tree (a service and its children, and what those waited
    for: tesseract programs when the pipeline runs them); 0 for a process that is gone."""
    total = 0.0
    for proc in _tree(pid):
        with contextlib.suppress(psutil.NoSuchProcess):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def max_child_rss(pid: int) -> int:
    """The largest RSS of one descendant (one Celery pool process), bytes."""
    try:
        children = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return 0
    best = 0
    for p in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            best = max(best, p.memory_info().rss)
    return best


class RssSampler:
    """Samples, every `interval` s on a thread, the RSS of services of a stack: the peak of each
    service's whole process tree, and of its largest single child."""

    def __init__(self, stack: Stack, services: tuple[str, ...] = ("api", "worker"), interval: float = 0.1):
        self.stack, self.services, self.interval = stack, services, interval
        self.peak: dict[str, int] = dict.fromkeys(services, 0)
        self.peak_child: dict[str, int] = dict.fromkeys(services, 0)
        self.first: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> None:
        for name in self.services:
            pid = self.stack.pid(name)
            if pid is None:
                continue
            rss = tree_rss(pid)
            self.first.setdefault(name, rss)
            self.peak[name] = max(self.peak[name], rss)
            self.peak_child[name] = max(self.peak_child[name], max_child_rss(pid))

    def __enter__(self) -> RssSampler:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


def tool(name: str, *args: str) -> bytes:
    return subprocess.run([sys.executable, str(TOOLS / name), *args], check=True, capture_output=True).stdout


def text_reports(n: int, folder: Path, distinct_bases: int = 8) -> list[tuple[str, bytes]]:
    """n distinct text reports: `distinct_bases` generated ones (make_truth + pipes layout), each
    repeated with a unique last line so every upload is a new original (the store dedups by hash)."""
    bases = []
    for seed in range(1000, 1000 + min(n, distinct_bases)):
        truth = folder / f"t{seed}.json"
        tool("make_truth.py", "--format", "2021", "--seed", str(seed), "-o", str(truth))
        bases.append(tool("render_text_layouts.py", str(truth), "--layout", "pipes"))
    return [(f"r{i}.txt", bases[i % len(bases)] + f"\n（报告编号 {i}）\n".encode()) for i in range(n)]


def scanned_pdf(folder: Path, dpi: int = 300, seed: int = 3) -> Path:
    """The huaian_2024 truth rendered (`render_pdf.py --seed`), scanned at `dpi` (make_scan.py)."""
    pdf = folder / f"huaian-{seed}.pdf"
    scan = folder / f"huaian-{seed}-scan{dpi}.pdf"
    if not scan.exists():
        tool("render_pdf.py", str(SHARED / "samples" / "huaian_2024.truth.json"), "--seed", str(seed),
             "-o", str(pdf))  # fmt: skip
        tool("make_scan.py", str(pdf), "-o", str(scan), "--dpi", str(dpi))
    return scan


def wait_jobs(
    client: object, ids: list[str], timeout: float = 3600, interval: float = 0.2
) -> list[dict[str, object]]:
    """Poll GET /v1/jobs/{id} until every job is finished; returns the last statuses."""
    import httpx

    assert isinstance(client, httpx.Client)
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, object]] = {}
    while len(done) < len(ids):
        for job_id in ids:
            if job_id in done:
                continue
            status = client.get(f"/v1/jobs/{job_id}").json()
            if status["state"] in ("succeeded", "failed"):
                done[job_id] = status
            else:
                break  # jobs finish roughly in order: come back to this one later
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - len(done)} jobs not finished")
        if len(done) < len(ids):
            time.sleep(interval)
    return [done[j] for j in ids]
