"""What one sweep costs with many jobs running and a few stuck: the deadline index vs scanning.

    .venv/bin/python bench/bench_sweep.py [--running 50000] [--stuck 20] [--smoke]

Starts its own redis-server (gongkai.stack, a temp dir), records `--running` running jobs whose
deadline is far and `--stuck` whose deadline has passed, then times one sweep through the index
(`JobStore.overdue` + one Lua `sweep` per stuck job; what workers/sweeper.py does) against finding
the same jobs by scanning every job record (SCAN + HGET state/started), which is what a sweep
without the index would have to do.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gongkai.settings import Settings  # noqa: E402
from gongkai.stack import Stack, free_port  # noqa: E402
from storage.jobs import KEY_PREFIX, JobStore, now  # noqa: E402
from tests.conftest import make_job  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--running", type=int, default=50_000)
    parser.add_argument("--stuck", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="200 running, 5 stuck (a quick check)")
    args = parser.parse_args()
    if args.smoke:
        args.running, args.stuck = 200, 5
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), redis_url=f"redis://127.0.0.1:{free_port()}/0")
        stack = Stack(settings)
        stack.up(("redis",))
        try:
            run(settings, args.running, args.stuck)
        finally:
            stack.down()


def run(settings: Settings, running: int, stuck: int) -> None:
    fresh = JobStore.from_settings(settings)  # deadline: task_time_limit + margin from now
    dead = JobStore(fresh.redis, running_deadline_seconds=-1)  # started "long ago"
    started = time.perf_counter()
    ids = []
    long_ago = now() - timedelta(days=1)
    for i in range(running + stuck):
        job = fresh.create(make_job())
        if i < stuck:
            dead.start_attempt(job.id)
            fresh.update(job.id, started=long_ago)  # what a scan would go by
        else:
            fresh.start_attempt(job.id)
        ids.append(job.id)
    print(f"recorded {running} running + {stuck} stuck jobs in {time.perf_counter() - started:.1f}s")

    started = time.perf_counter()
    horizon = now() - timedelta(seconds=settings.running_deadline_seconds)
    scanned = []
    for key in fresh.redis.scan_iter(match=KEY_PREFIX + "*", count=1000):
        state, start = fresh.redis.hmget(key, ["state", "started"])
        if state == '"running"' and start and start.strip('"') < horizon.isoformat():
            scanned.append(key[len(KEY_PREFIX) :])
    scan_seconds = time.perf_counter() - started

    started = time.perf_counter()
    overdue = fresh.overdue()
    swept = [job_id for job_id in overdue if fresh.sweep(job_id, max_lost_attempts=5)]
    index_seconds = time.perf_counter() - started

    assert sorted(swept) == sorted(ids[:stuck]), "the index found other jobs than the stuck ones"
    assert len(scanned) == stuck, f"the scan found {len(scanned)} jobs"
    print(f"sweep through the deadline index (find + settle {len(swept)}): {index_seconds * 1000:.1f} ms")
    print(f"finding them by scanning {running + stuck} job records:       {scan_seconds * 1000:.1f} ms")
    fresh.redis.close()


if __name__ == "__main__":
    main()
