"""A batch's results as one dataset downstream systems pull: JSONL, CSV, Parquet and XLSX.

Built once the batch has finished (by the worker that finished it, or by the API on first request
if that was lost), written to the results bucket, then only streamed or handed out presigned. Jobs
are read a page at a time and each page's result objects are fetched concurrently; rows go straight
to temp files (a Parquet row group per page, a write-only workbook), so memory stays flat however
many reports the batch holds.

- JSONL: one line per job, the stored canonical result (job_id, source, document, pages) plus
  filename, source_path, state and error.
- `long` table (CSV/Parquet, and the `long` sheet of the XLSX): one row per report × table-三 row,
  the seven applicant columns as columns; a report without table 三 (a failed job, a pre-2019
  report) is one row with `row` empty, so no job is ever left out.
  (An XLSX sheet holds 1 048 576 rows: the rows past that go on to a sheet `long 2`, and so on.)
- `wide` table (CSV/Parquet, the `wide` sheet): one row per report, one column per numeric field
  of tables 二, 三 and 四 under its dotted key — the 2021 keys in template order, then the 2019-trial
  keys the 2021 template lacks — so the columns are the same for every batch.

Both tables start with the same report columns: job id, filename, source path, state, error code
and message, agency, year, format, check status (`ok`, `flagged`, `check_failed`, `error` for a
failed job) and the failing checks.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import timedelta
from functools import cache
from typing import IO, Any, BinaryIO, Literal, cast

import pyarrow as pa
import pyarrow.parquet as pq
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from gongkai.log import get_logger
from report.template import APPLICANT_COLUMNS, TEMPLATES, all_keys, template
from storage import BatchStore, JobState, ObjectNotFound, ObjectStore
from storage.jobs import KEY_PREFIX
from storage.objects import export_key

log = get_logger("gongkai.exports")

Format = Literal["jsonl", "csv", "parquet", "xlsx"]
Table = Literal["long", "wide"]
FORMATS: tuple[Format, ...] = ("jsonl", "csv", "parquet", "xlsx")
TABLES: tuple[Table, ...] = ("long", "wide")
MEDIA_TYPES: dict[str, str] = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
# The stored objects: JSONL and XLSX (both tables as sheets) once, CSV and Parquet per table.
ARTIFACTS: tuple[str, ...] = ("jsonl", "long.csv", "wide.csv", "long.parquet", "wide.parquet", "xlsx")
PAGE = 200
XLSX_MAX_ROWS = 1_048_576  # rows of one worksheet, its header included; more go on to "long 2", …
FETCHERS = 8  # concurrent result GETs: latency-bound, not CPU-bound

REPORT_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("job_id", pa.string()),
    ("filename", pa.string()),
    ("source_path", pa.string()),
    ("state", pa.string()),
    ("error_code", pa.string()),
    ("error_message", pa.string()),
    ("agency", pa.string()),
    ("year", pa.int64()),
    ("format", pa.string()),
    ("check_status", pa.string()),
    ("failed_checks", pa.string()),  # "name[scope]; …"
    ("needs_review", pa.bool_()),
    ("flag_count", pa.int64()),
)
APPLICANT_KEYS = tuple(c.key for c in APPLICANT_COLUMNS)


def artifact(fmt: Format, table: Table = "wide") -> str:
    """The stored object of a format (and, for CSV and Parquet, a table)."""
    return fmt if fmt in ("jsonl", "xlsx") else f"{table}.{fmt}"


def filename(batch_id: str, fmt: Format, table: Table = "wide") -> str:
    return f"batch-{batch_id}.{artifact(fmt, table)}"


@cache
def numeric_columns() -> tuple[str, ...]:
    keys: dict[str, None] = {}
    for fmt in TEMPLATES:
        keys |= dict.fromkeys(all_keys(fmt))
    return tuple(keys)


@cache
def schema(table: Table = "wide") -> pa.Schema:
    if table == "long":
        rows = [("row", pa.string()), *((k, pa.int64()) for k in APPLICANT_KEYS)]
        return pa.schema([*REPORT_COLUMNS, *rows])
    decimal = {k for t in TEMPLATES.values() for k in t.decimal_keys}
    numeric = [(k, pa.float64() if k in decimal else pa.int64()) for k in numeric_columns()]
    return pa.schema([*REPORT_COLUMNS, *numeric])


@cache
def columns(table: Table = "wide") -> tuple[str, ...]:
    return tuple(f.name for f in schema(table))


class _TableWriters:
    """The CSV, Parquet and XLSX-sheet writers of one table."""

    def __init__(self, table: Table, csv_file: IO[str], parquet_file: BinaryIO, workbook: Workbook) -> None:
        self.table = table
        self.csv = csv.writer(csv_file)
        self.csv.writerow(columns(table))
        self.parquet = pq.ParquetWriter(parquet_file, schema(table), compression="zstd")
        self.workbook = workbook
        self.sheets = 0
        self._new_sheet()

    def _new_sheet(self) -> None:
        self.sheets += 1
        name = self.table if self.sheets == 1 else f"{self.table} {self.sheets}"
        self.sheet = self.workbook.create_sheet(name)
        self.sheet.append(list(columns(self.table)))
        self.sheet_rows = 1

    def write(self, rows: list[dict[str, Any]]) -> None:
        names = columns(self.table)
        for row in rows:
            self.csv.writerow(_csv_cell(row[c]) for c in names)
            if self.sheet_rows >= XLSX_MAX_ROWS:  # a long table of ~40 000 reports fills a sheet
                self._new_sheet()
            self.sheet.append([_xlsx_cell(row[c]) for c in names])
            self.sheet_rows += 1
        self.parquet.write_table(pa.Table.from_pylist(rows, schema=schema(self.table)))


def build_exports(batch_id: str, batches: BatchStore, objects: ObjectStore) -> dict[str, int]:
    """Write every export of a batch to the results bucket; returns their sizes by artifact."""
    sizes: dict[str, int] = {}
    reports = 0
    with ExitStack() as stack:
        files = {a: cast(BinaryIO, stack.enter_context(tempfile.TemporaryFile())) for a in ARTIFACTS}
        text = {
            a: stack.enter_context(io.TextIOWrapper(files[a], encoding="utf-8", newline=""))
            for a in ("jsonl", "long.csv", "wide.csv")
        }
        workbook = Workbook(write_only=True)  # rows go to temp files; inline strings, no string table
        writers = {t: _TableWriters(t, text[f"{t}.csv"], files[f"{t}.parquet"], workbook) for t in TABLES}
        for page in _pages(batch_id, batches, objects):
            for record in page:
                text["jsonl"].write(json.dumps(record, ensure_ascii=False) + "\n")
            writers["wide"].write([wide_row(r) for r in page])
            writers["long"].write([row for r in page for row in long_rows(r)])
            reports += len(page)
        for w in writers.values():
            w.parquet.close()
        workbook.save(files["xlsx"])
        for a in ARTIFACTS:
            if a in text:
                text[a].flush()
            handle = files[a]
            sizes[a] = handle.seek(0, io.SEEK_END)
            handle.seek(0)
            objects.put_export(batch_id, a, handle, sizes[a], MEDIA_TYPES[a.rsplit(".", 1)[-1]])
    log.info("batch.exported", batch_id=batch_id, reports=reports, sizes=sizes)
    return sizes


def build_exports_once(
    batch_id: str, batches: BatchStore, objects: ObjectStore, *, lock_seconds: int
) -> dict[str, int] | None:
    """`build_exports` unless another process is building them right now (then None: wait for
    theirs). `lock_seconds` must outlast a build; a builder that died frees the lock after it."""
    token = batches.lock_export(batch_id, lock_seconds)
    if token is None:
        log.info("batch.export_in_progress", batch_id=batch_id)
        return None
    try:
        return build_exports(batch_id, batches, objects)
    finally:
        batches.unlock_export(batch_id, token)


def presigned_export(objects: ObjectStore, batch_id: str, name: str) -> str:
    """A presigned GET of a stored export (`name` an artifact), downloaded under a useful name."""
    headers: dict[str, str | list[str] | tuple[str]] = {
        "response-content-disposition": f'attachment; filename="batch-{batch_id}.{name}"'
    }
    return objects.client.presigned_get_object(
        objects.results,
        export_key(batch_id, name),
        expires=timedelta(seconds=objects.presign_seconds),
        response_headers=headers,
    )


def _pages(batch_id: str, batches: BatchStore, objects: ObjectStore) -> Iterator[list[dict[str, Any]]]:
    offset = 0
    with ThreadPoolExecutor(FETCHERS) as pool:
        while ids := batches.job_ids(batch_id, offset, PAGE):
            offset += len(ids)
            yield list(pool.map(lambda row: _record(row, objects), _job_rows(batches, ids)))


_ROW_FIELDS = ("filename", "source_path", "state", "error")


def _job_rows(batches: BatchStore, job_ids: list[str]) -> list[dict[str, Any]]:
    """The fields an export needs of each job, in one round trip (None for an expired job)."""
    pipe = batches.redis.pipeline()
    for job_id in job_ids:
        pipe.hmget(KEY_PREFIX + job_id, list(_ROW_FIELDS))
    rows = []
    for job_id, values in zip(job_ids, pipe.execute(), strict=True):
        decoded = (json.loads(v) if v is not None else None for v in values)
        rows.append({"id": job_id, **dict(zip(_ROW_FIELDS, decoded, strict=True))})
    return rows


def _record(row: dict[str, Any], objects: ObjectStore) -> dict[str, Any]:
    """One JSONL line: the job's stored result (if it succeeded) with its filename, state and error."""
    base = {
        "job_id": row["id"],
        "filename": row["filename"],
        # the path inside its archive, once jobs record it; until then the filename is that path
        "source_path": row["source_path"] or row["filename"],
        "state": row["state"],
        "error": row["error"],
    }
    if row["state"] is None:
        error = {"code": "job_expired", "message": "the job record has expired"}
        return base | {"error": error, "document": None}
    if row["state"] != JobState.SUCCEEDED:
        return base | {"document": None}
    try:
        result = objects.get_result(row["id"])
    except ObjectNotFound:
        error = {"code": "result_missing", "message": "the job succeeded but its result object is gone"}
        return base | {"error": error, "document": None}
    return base | result


def report_columns(record: dict[str, Any]) -> dict[str, Any]:
    """The columns both tables start with."""
    document: dict[str, Any] = record.get("document") or {}
    error: dict[str, Any] = record.get("error") or {}
    flags = document.get("flags")
    failed = [
        f"{c.get('name')}[{c.get('scope')}]"
        for c in document.get("checks") or []
        if isinstance(c, dict) and c.get("passed") is False
    ]
    if not document:
        status = "error" if error else None
    elif failed:
        status = "check_failed"
    else:
        status = "flagged" if document.get("needs_review") else "ok"
    return {
        "job_id": record["job_id"],
        "filename": record.get("filename"),
        "source_path": record.get("source_path") or record.get("filename"),
        "state": record.get("state"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
        "agency": document.get("agency"),
        "year": document.get("year"),
        "format": document.get("format"),
        "check_status": status,
        "failed_checks": "; ".join(failed) if failed else None,
        "needs_review": document.get("needs_review") if document else None,
        "flag_count": len(flags) if isinstance(flags, list) else None,
    }


def wide_row(record: dict[str, Any]) -> dict[str, Any]:
    """The one `wide` row of a JSONL record."""
    document: dict[str, Any] = record.get("document") or {}
    row = report_columns(record)
    for key in numeric_columns():
        row[key] = _dig(document, key)
    return row


# Kept for callers of the one-row-per-report table by its former name.
table_row = wide_row


def long_rows(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The `long` rows of a JSONL record: one per table-三 row of the report's template."""
    document: dict[str, Any] = record.get("document") or {}
    base = report_columns(record)
    applications = document.get("applications")
    fmt = document.get("format")
    if not isinstance(applications, dict) or fmt not in TEMPLATES:
        return [base | {"row": None} | dict.fromkeys(APPLICANT_KEYS)]
    return [
        base | {"row": key} | {col: _dig(applications, f"{key}.{col}") for col in APPLICANT_KEYS}
        for key in template(fmt).application_keys
    ]


def _dig(node: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    # a cell may also come as {"value", "raw"}
    return node.get("value") if isinstance(node, dict) else node


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _xlsx_cell(value: Any) -> Any:
    # control characters (from a broken upload's error message) would make openpyxl refuse the row
    return ILLEGAL_CHARACTERS_RE.sub("", value) if isinstance(value, str) else value
