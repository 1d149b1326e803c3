"""Batch exports built against the real Redis and S3, read back in every format and table."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from report.template import APPLICANT_COLUMNS, template
from storage import BatchStore, JobStore, ObjectStore
from storage.batches import new_batch_id
from tests.conftest import example_reports, make_job, truth_for
from workers import exports, pipeline

COLUMNS = [c.key for c in APPLICANT_COLUMNS]


@pytest.fixture
def batch(jobs: JobStore, objects: ObjectStore) -> tuple[str, dict[str, Any]]:
    """A finished batch: two examples parsed for real, a failed job (corrupt PDF), in that order."""
    objects.ensure_buckets()
    batch_id = new_batch_id()
    BatchStore(jobs.redis).create(batch_id, files=3, archives=[])
    truths: dict[str, Any] = {}
    for path in example_reports()[:2]:
        job = make_job(batch_id=batch_id, filename=path.name)
        jobs.create_new(job)
        jobs.start_attempt(job.id)
        parsed = pipeline.parse_bytes(path.read_bytes())
        key = objects.put_result(job.id, pipeline.build_result(job, parsed), parsed.document.text)
        jobs.succeed(job.id, result_key=key, media_type="text/plain")
        truths[job.id] = truth_for(path)
    bad = make_job(batch_id=batch_id, filename="bad.pdf")
    jobs.create_new(bad)
    jobs.fail(bad.id, "corrupt_file", "the PDF \x00is broken")  # a control character too
    truths[bad.id] = None
    return batch_id, truths


def sheet_rows(values: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    header = values[0]
    # a row read back ends at its last non-empty cell
    return [dict(zip(header, row + (None,) * (len(header) - len(row)), strict=True)) for row in values[1:]]


def stored(objects: ObjectStore, batch_id: str, name: str) -> bytes:
    return b"".join(objects.stream_export(batch_id, name))


def test_every_format_and_table_holds_every_job(
    batch: tuple[str, dict[str, Any]], jobs: JobStore, objects: ObjectStore
) -> None:
    batch_id, truths = batch
    sizes = exports.build_exports(batch_id, BatchStore(jobs.redis), objects)
    assert set(sizes) == set(exports.ARTIFACTS) and all(sizes.values())
    good = [j for j, t in truths.items() if t is not None]
    [bad] = [j for j, t in truths.items() if t is None]

    lines = [json.loads(x) for x in stored(objects, batch_id, "jsonl").decode().splitlines()]
    assert [x["job_id"] for x in lines] == list(truths)
    assert lines[2]["error"]["code"] == "corrupt_file" and lines[2]["document"] is None

    long_csv = list(csv.DictReader(io.StringIO(stored(objects, batch_id, "long.csv").decode())))
    long_pq = pq.read_table(io.BytesIO(stored(objects, batch_id, "long.parquet"))).to_pylist()
    wide_csv = list(csv.DictReader(io.StringIO(stored(objects, batch_id, "wide.csv").decode())))
    wide_pq = pq.read_table(io.BytesIO(stored(objects, batch_id, "wide.parquet"))).to_pylist()
    book = load_workbook(io.BytesIO(stored(objects, batch_id, "xlsx")), read_only=True)
    sheets = {name: list(book[name].values) for name in book.sheetnames}
    assert list(sheets) == ["long", "wide"]
    long_xl, wide_xl = (sheet_rows(sheets[name]) for name in ("long", "wide"))

    rows = {j: template(truths[j]["format"]).application_keys for j in good}
    for table in (long_csv, long_pq, long_xl):
        expected = [j for j in good for _ in rows[j]] + [bad]
        assert [r["job_id"] for r in table] == expected
        assert [r["row"] for r in table[:-1]] == [key for j in good for key in rows[j]]
        failed = table[-1]
        assert (failed["error_code"], failed["check_status"], failed["row"] or None) == (
            "corrupt_file", "error", None
        )  # fmt: skip
        for row in table[:-1]:
            truth = truths[row["job_id"]]
            assert row["source_path"] == row["filename"]
            for col in COLUMNS:
                got = row[col]
                got = int(got) if got not in (None, "") else None
                assert got == truth["applications"][row["row"]][col], (row["job_id"], row["row"], col)
            assert str(row["year"]) == str(truth["year"]) and row["agency"] == truth["agency"]

    for table in (wide_csv, wide_pq, wide_xl):
        assert [r["job_id"] for r in table] == list(truths)
        for row in table[:2]:
            truth = truths[row["job_id"]]
            for section in ("active_disclosure", "review_litigation"):
                for group, fields in truth[section].items():
                    for field, expected in fields.items():
                        got = row[f"{section}.{group}.{field}"]
                        got = float(got) if got not in (None, "") else None
                        assert got == expected, (row["job_id"], section, group, field)
        assert table[2]["error_code"] == "corrupt_file"
    assert wide_xl[2]["error_message"] == "the PDF is broken"  # the control character dropped
    assert list(wide_csv[0]) == list(exports.columns("wide")) == list(wide_pq[0])


def test_check_status_names_the_failing_checks() -> None:
    document = {
        "format": "2021",
        "needs_review": True,
        "flags": [{"fields": ["x"], "reason": "check_failed"}],
        "checks": [
            {"name": "applications.balance", "scope": "total", "passed": False},
            {"name": "applications.row_total", "scope": "granted", "passed": True},
        ],
    }
    row = exports.report_columns({"job_id": "j", "state": "succeeded", "document": document})
    assert (row["check_status"], row["failed_checks"]) == ("check_failed", "applications.balance[total]")
    flagged = document | {"checks": []}
    assert exports.report_columns({"job_id": "j", "document": flagged})["check_status"] == "flagged"
    clean = document | {"checks": [], "flags": [], "needs_review": False}
    assert exports.report_columns({"job_id": "j", "document": clean})["check_status"] == "ok"
    assert exports.long_rows({"job_id": "j", "document": {"format": "pre-2019"}})[0]["row"] is None


def test_a_presigned_url_serves_the_stored_export(
    batch: tuple[str, dict[str, Any]], jobs: JobStore, objects: ObjectStore
) -> None:
    batch_id, _ = batch
    exports.build_exports(batch_id, BatchStore(jobs.redis), objects)
    url = exports.presigned_export(objects, batch_id, "long.csv")
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == stored(objects, batch_id, "long.csv")
    assert f"batch-{batch_id}.long.csv" in response.headers["content-disposition"]


def test_a_full_worksheet_continues_on_the_next(
    batch: tuple[str, dict[str, Any]], jobs: JobStore, objects: ObjectStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch_id, _ = batch
    monkeypatch.setattr(exports, "XLSX_MAX_ROWS", 21)  # 20 rows and the header per sheet
    exports.build_exports(batch_id, BatchStore(jobs.redis), objects)
    book = load_workbook(io.BytesIO(stored(objects, batch_id, "xlsx")), read_only=True)
    long_rows = len(list(csv.reader(io.StringIO(stored(objects, batch_id, "long.csv").decode())))) - 1
    sheets = [n for n in book.sheetnames if n.startswith("long")]
    assert sheets == ["long"] + [f"long {i}" for i in range(2, len(sheets) + 1)]
    counts = [len(list(book[n].values)) - 1 for n in sheets]
    assert sum(counts) == long_rows and max(counts) == 20 and len(sheets) == -(-long_rows // 20)
    assert all(next(iter(book[n].values)) == exports.columns("long") for n in sheets)
    assert "wide" in book.sheetnames
