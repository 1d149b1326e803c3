"""`gongkai up` / `ps` / `submit` / `status` / `down` as a user runs them: separate processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gongkai.settings import Settings
from gongkai.stack import Stack, free_port
from tests.conftest import example_reports


@pytest.mark.integration
def test_up_submit_status_down(tmp_path: Path) -> None:
    redis_port = free_port()
    s3_port = free_port({redis_port})
    api_port = free_port({redis_port, s3_port})
    settings = Settings(
        data_dir=tmp_path / "var",
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        s3_endpoint=f"127.0.0.1:{s3_port}",
        api_port=api_port,
        worker_concurrency=1,
    )
    env = {**os.environ, **settings.env()}

    def gongkai(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gongkai", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    stack = Stack(settings)
    try:
        gongkai("up")
        assert all(stack.status().values())
        submitted = gongkai("submit", str(example_reports()[0])).split()
        assert submitted[0] == "batch"
        batch_id, job_id = submitted[1], submitted[2]
        status = gongkai("status", job_id, "--wait")
        assert '"state": "succeeded"' in status, status
        assert f"batch {batch_id}: finished, 1 jobs" in gongkai("status", batch_id, "--wait")
    finally:
        out = gongkai("down")
    assert "api" in out and not any(stack.status().values())
    for name in ("redis", "s3", "worker", "api"):
        assert (tmp_path / "var" / "logs" / f"{name}.log").exists()
    assert (tmp_path / "var" / "redis" / "appendonlydir").is_dir()  # AOF on
