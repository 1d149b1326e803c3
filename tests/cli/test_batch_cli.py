"""`gongkai submit --batch` and `gongkai batch ID --wait --export` as separate processes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from gongkai.stack import Stack
from tests.conftest import example_reports, truth_for
from tests.storage.zipfiles import make_zip


@pytest.mark.integration
def test_submit_a_batch_wait_and_export(services: Stack, tmp_path: Path) -> None:
    services.up()  # the session's worker and API (already up if integration tests ran)
    env = {**os.environ, **services.settings.env()}

    def gongkai(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "gongkai", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    reports = example_reports()
    archive = tmp_path / "reports.zip"
    archive.write_bytes(make_zip([(p.name, p.read_bytes()) for p in reports[:2]]))
    submitted = gongkai("submit", "--batch", str(archive), str(reports[2])).stdout.split()
    assert submitted[0] == "batch"
    batch_id = submitted[1]

    out = tmp_path / "results.csv"
    done = gongkai("batch", batch_id, "--wait", "--export", "csv", "--out", str(out))
    assert "finished" in done.stderr and "archive reports.zip: expanded" in done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert sorted(r["filename"] for r in rows) == sorted(p.name for p in reports[:3])
    assert {r["agency"] for r in rows} == {truth_for(p)["agency"] for p in reports[:3]}

    gongkai("batch", batch_id, "--export", "parquet", "--out", str(tmp_path / "r.parquet"))
    assert pq.read_table(tmp_path / "r.parquet").num_rows == 3
    status = gongkai("batch", batch_id).stdout
    assert '"finished": true' in status
