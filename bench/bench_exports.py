"""Peak memory and time of building a batch's exports, for growing batch sizes.

Starts redis-server and S3 with `gongkai.stack.Stack` on free ports in a temp dir, records batches of
N succeeded jobs whose stored results are real parsed reports (examples/*.txt, cycled) plus a failed
job every 50, then builds every export (JSONL, long/wide CSV and Parquet, XLSX) in a fresh child
process per batch and prints its peak RSS, time and export sizes. Flat memory across N is the point.

    .venv/bin/python bench/bench_exports.py [--sizes 200 800 3200] [--smoke]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo (no PYTHONPATH needed)

from gongkai.settings import REPO_ROOT, Settings
from gongkai.stack import Stack, free_port
from storage import BatchStore, JobStore, ObjectStore
from storage.batches import new_batch_id
from storage.jobs import Job, new_job_id, now
from workers import exports, pipeline


def fill(settings: Settings, n: int) -> str:
    jobs = JobStore.from_settings(settings)
    objects = ObjectStore(settings)
    objects.ensure_buckets()
    parsed = [pipeline.parse_bytes(p.read_bytes()) for p in sorted((REPO_ROOT / "examples").glob("*.txt"))]
    batch_id = new_batch_id()
    BatchStore(jobs.redis).create(batch_id, files=n, archives=[])

    def one(i: int) -> None:
        job = Job(id=new_job_id(), created=now(), filename=f"{i}.txt", sha256="a" * 64, size=1,
                  original_key="k", batch_id=batch_id)  # fmt: skip
        jobs.create_new(job)
        if i % 50 == 49:
            jobs.fail(job.id, "corrupt_file", "bench")
            return
        result = pipeline.build_result(job, parsed[i % len(parsed)])
        objects.put_result(job.id, result, "")
        jobs.succeed(job.id, result_key="k", media_type="text/plain")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    return batch_id


Measured = tuple[float, int, dict[str, int]]  # seconds, peak RSS in KiB, export sizes


def build(settings: Settings, batch_id: str, out: multiprocessing.SimpleQueue[Measured]) -> None:
    start = time.perf_counter()
    sizes = exports.build_exports(
        batch_id, BatchStore(JobStore.from_settings(settings).redis), ObjectStore(settings)
    )
    elapsed = time.perf_counter() - start
    out.put((elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, sizes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200, 800, 3200])
    parser.add_argument("--smoke", action="store_true", help="batches of 5 and 10 (a quick check)")
    args = parser.parse_args()
    if args.smoke:
        args.sizes = [5, 10]
    with tempfile.TemporaryDirectory() as tmp:
        used: set[int] = set()
        ports = []
        for _ in range(2):
            ports.append(free_port(used))
            used.add(ports[-1])
        settings = Settings(data_dir=Path(tmp), redis_url=f"redis://127.0.0.1:{ports[0]}/0",
                            s3_endpoint=f"127.0.0.1:{ports[1]}", log_level="WARNING")  # fmt: skip
        stack = Stack(settings)
        try:
            stack.up(("redis", "s3"))
            print(f"{'jobs':>6} {'build s':>8} {'peak RSS MiB':>13}  sizes (KiB)")
            context = multiprocessing.get_context("spawn")
            for n in args.sizes:
                batch_id = fill(settings, n)
                queue: multiprocessing.SimpleQueue[Measured] = context.SimpleQueue()
                child = context.Process(target=build, args=(settings, batch_id, queue))
                child.start()
                elapsed, peak_kib, sizes = queue.get()
                child.join()
                kib = " ".join(f"{k}={v // 1024}" for k, v in sizes.items())
                print(f"{n:>6} {elapsed:>8.1f} {peak_kib / 1024:>13.0f}  {kib}", flush=True)
        finally:
            stack.down()


if __name__ == "__main__":
    main()
