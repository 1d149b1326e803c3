"""`gongkai submit --batch` and `gongkai batch ID --wait --export` as separate processes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
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
    gongkai("batch", batch_id, "--export", "xlsx", "--out", str(tmp_path / "r.xlsx"))
    book = openpyxl.load_workbook(tmp_path / "r.xlsx", read_only=True)
    wide = [row for row in book["wide"].iter_rows(values_only=True)]
    header = list(wide[0])
    assert len(wide) == 4 and sorted(r[header.index("filename")] for r in wide[1:]) == sorted(
        p.name for p in reports[:3]
    )
    status = gongkai("batch", batch_id).stdout
    assert '"finished": true' in status


@pytest.mark.integration
def test_submit_a_folder_wait_export_and_status(services: Stack, tmp_path: Path) -> None:
    services.up()
    env = {**os.environ, **services.settings.env(), "COLUMNS": "200"}

    def gongkai(*args: str, **extra_env: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "gongkai", *args],
            env=env | extra_env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    folder = tmp_path / "年报"
    (folder / "2023").mkdir(parents=True)
    reports = example_reports()[:3]
    for path in reports:
        (folder / "2023" / path.name).write_bytes(path.read_bytes())
    (folder / "notes.bin").write_bytes(b"\x00\x01\x02" * 400)  # not a report: fails
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")  # OS junk: not sent
    names = {f"年报/2023/{p.name}" for p in reports} | {"年报/notes.bin"}

    out = gongkai("submit", str(folder), "--wait")
    lines = out.splitlines()
    assert lines[0].startswith("batch ")
    batch_id = lines[0].split()[1]
    jobs = {line.split()[1]: line.split()[0] for line in lines[1:5]}
    assert set(jobs) == names
    assert f"batch {batch_id}: finished, 4 jobs" in out and "succeeded 3 · failed 1" in out
    assert "年报/notes.bin" in out and "unsupported_type" in out  # the failed member and why

    csv_file = tmp_path / "out.csv"
    gongkai("export", batch_id, "--format", "csv", "-o", str(csv_file))
    rows = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8"))))
    assert {r["filename"] for r in rows} == names
    assert {r["agency"] for r in rows if r["state"] == "succeeded"} == {
        truth_for(p)["agency"] for p in reports
    }

    assert f"batch {batch_id}: finished" in gongkai("status", batch_id)
    job_id = jobs[f"年报/2023/{reports[0].name}"]
    assert '"state": "succeeded"' in gongkai("status", job_id)

    # More files than one request may carry: packed into one archive on disk, expanded by the service;
    # every member was processed above, so every one is a duplicate.
    packed = gongkai("submit", str(folder), "--wait", GONGKAI_MAX_FILES_PER_REQUEST="2")
    assert "archive files.zip" in packed and "finished, 4 jobs" in packed and "duplicates 4" in packed
    forced = gongkai("submit", str(folder / "2023"), "--wait", "--force")
    assert "succeeded 3" in forced and "duplicates 0" in forced
