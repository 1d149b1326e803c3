"""A batch's results as files downstream systems pull: JSONL, CSV and Parquet.

Built once the batch has finished (by the worker that finished it, or by the API on first request
if that was lost), written to the results bucket, then only streamed. Jobs are read a page at a
time and each page's result objects are fetched concurrently; rows go straight to temp files, so a
batch of thousands never sits in memory.

JSONL: one line per job, the stored result (job_id, source, document = canonical report, pages)
plus filename, state and error. CSV/Parquet: one row per job with the fixed columns below and every
numeric template field under its dotted key — the 2021 keys in template order, then the 2019-trial
keys the 2021 template lacks — so the columns are the same for every batch.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from functools import cache
from typing import Any, BinaryIO, cast

import pyarrow as pa
import pyarrow.parquet as pq

from gongkai.log import get_logger
from report.template import TEMPLATES, all_keys
from storage import BatchStore, JobState, ObjectNotFound, ObjectStore

log = get_logger("gongkai.exports")

FORMATS = ("jsonl", "csv", "parquet")
MEDIA_TYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}
PAGE = 200
FETCHERS = 8  # concurrent result GETs: latency-bound, not CPU-bound

BASE_COLUMNS: tuple[tuple[str, pa.DataType], ...] = (
    ("job_id", pa.string()),
    ("filename", pa.string()),
    ("state", pa.string()),
    ("error_code", pa.string()),
    ("error_message", pa.string()),
    ("agency", pa.string()),
    ("year", pa.int64()),
    ("format", pa.string()),
    ("needs_review", pa.bool_()),
    ("flag_count", pa.int64()),
)


@cache
def numeric_columns() -> tuple[str, ...]:
    keys: dict[str, None] = {}
    for fmt in TEMPLATES:
        keys |= dict.fromkeys(all_keys(fmt))
    return tuple(keys)


@cache
def schema() -> pa.Schema:
    decimal = {k for t in TEMPLATES.values() for k in t.decimal_keys}
    numeric = [(k, pa.float64() if k in decimal else pa.int64()) for k in numeric_columns()]
    return pa.schema([*BASE_COLUMNS, *numeric])


def columns() -> list[str]:
    return [f.name for f in schema()]


def build_exports(batch_id: str, batches: BatchStore, objects: ObjectStore) -> dict[str, int]:
    """Write all three exports of a batch to the results bucket; returns their sizes."""
    sizes: dict[str, int] = {}
    rows = 0
    with ExitStack() as stack:
        files = {fmt: cast(BinaryIO, stack.enter_context(tempfile.TemporaryFile())) for fmt in FORMATS}
        text = {
            fmt: stack.enter_context(io.TextIOWrapper(files[fmt], encoding="utf-8", newline=""))
            for fmt in ("jsonl", "csv")
        }
        writer = csv.writer(text["csv"])
        writer.writerow(columns())
        parquet = stack.enter_context(pq.ParquetWriter(files["parquet"], schema(), compression="zstd"))
        for page in _pages(batch_id, batches, objects):
            table_rows = []
            for record in page:
                text["jsonl"].write(json.dumps(record, ensure_ascii=False) + "\n")
                row = table_row(record)
                writer.writerow(_csv_cell(row[c]) for c in columns())
                table_rows.append(row)
            parquet.write_table(pa.Table.from_pylist(table_rows, schema=schema()))
            rows += len(page)
        parquet.close()
        for fmt in FORMATS:
            if fmt in text:
                text[fmt].flush()
            handle = files[fmt]
            sizes[fmt] = handle.seek(0, io.SEEK_END)
            handle.seek(0)
            objects.put_export(batch_id, fmt, handle, sizes[fmt], MEDIA_TYPES[fmt])
    log.info("batch.exported", batch_id=batch_id, rows=rows, sizes=sizes)
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


def _pages(batch_id: str, batches: BatchStore, objects: ObjectStore) -> Iterator[list[dict[str, Any]]]:
    offset = 0
    with ThreadPoolExecutor(FETCHERS) as pool:
        while ids := batches.job_ids(batch_id, offset, PAGE):
            offset += len(ids)
            yield list(pool.map(lambda row: _record(row, objects), batches.job_rows(ids)))


def _record(row: dict[str, Any], objects: ObjectStore) -> dict[str, Any]:
    """One JSONL line: the job's stored result (if it succeeded) with its filename, state and error."""
    base = {"job_id": row["id"], "filename": row["filename"], "state": row["state"], "error": row["error"]}
    if row["state"] != JobState.SUCCEEDED:
        return base | {"document": None}
    try:
        result = objects.get_result(row["id"])
    except ObjectNotFound:
        error = {"code": "result_missing", "message": "the job succeeded but its result object is gone"}
        return base | {"error": error, "document": None}
    return base | result


def table_row(record: dict[str, Any]) -> dict[str, Any]:
    """The CSV/Parquet row of a JSONL record."""
    document: dict[str, Any] = record.get("document") or {}
    error: dict[str, Any] = record.get("error") or {}
    flags = document.get("flags")
    row: dict[str, Any] = {
        "job_id": record["job_id"],
        "filename": record.get("filename"),
        "state": record.get("state"),
        "error_code": error.get("code"),
        "error_message": error.get("message"),
        "agency": document.get("agency"),
        "year": document.get("year"),
        "format": document.get("format"),
        "needs_review": document.get("needs_review") if document else None,
        "flag_count": len(flags) if isinstance(flags, list) else None,
    }
    for key in numeric_columns():
        row[key] = _dig(document, key)
    return row


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
