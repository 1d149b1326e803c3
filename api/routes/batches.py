"""Batches: many files (any of them a ZIP archive) under one id, their progress and their exports.

POST /v1/batches stores every file content-addressed, records one job per document and hands each
archive to a worker to expand (never in the request: a 2 GiB archive would hold it for minutes).
GET /v1/batches/{id} reads progress from the batch's Redis counters; /results streams the exports
written when the batch finished (or builds them on first request if that did not happen).
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.deps import BatchesDep, EnqueueArchiveDep, EnqueueDep, JobsDep, ObjectsDep, RevokeDep, SettingsDep
from api.errors import ApiError, ErrorResponse
from api.schemas import AcceptedJob, BatchAccepted, BatchArchive, BatchCancelled, BatchJob, BatchStatus
from api.uploads import store_uploads
from gongkai.log import get_logger
from gongkai.settings import Settings
from storage import (
    ArchiveEntry,
    Batch,
    BatchNotFound,
    BatchStore,
    Job,
    JobState,
    ObjectStore,
)
from storage.batches import new_batch_id
from storage.jobs import new_job_id, now
from workers.exports import MEDIA_TYPES, build_exports_once

router = APIRouter(prefix="/v1/batches", tags=["batches"])
log = get_logger("gongkai.api")

RETRY_AFTER_SECONDS = "2"
DEFAULT_PAGE = 100
# GET /results while another process writes the exports: how long to wait for them, how often to look.
EXPORT_WAIT_SECONDS = 60.0
EXPORT_POLL_SECONDS = 0.1
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}
ExportFormat = Literal["jsonl", "csv", "parquet"]


@router.post(
    "",
    status_code=202,
    response_model=BatchAccepted,
    responses={400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Upload files as one batch (multipart field `files`); a ZIP archive gives one job per member",
)
async def create_batch(
    request: Request,
    response: Response,
    settings: SettingsDep,
    jobs: JobsDep,
    batches: BatchesDep,
    objects: ObjectsDep,
    enqueue: EnqueueDep,
    enqueue_archive: EnqueueArchiveDep,
    files: Annotated[
        list[UploadFile] | None, File(description="report files (text, PDF, image) and/or ZIP archives")
    ] = None,
) -> BatchAccepted:
    stored = await store_uploads(files, settings, objects, archives=True)

    batch_id = new_batch_id()
    archives = [
        ArchiveEntry(
            id=str(i),
            filename=s.upload.filename,
            sha256=s.original.sha256,
            size=s.original.size,
            original_key=s.original.key,
        )
        for i, s in enumerate(stored)
        if s.archive
    ]
    await run_in_threadpool(batches.create, batch_id, files=len(stored), archives=archives)
    documents = [
        Job(
            id=new_job_id(),
            created=now(),
            filename=s.upload.filename,
            sha256=s.original.sha256,
            size=s.original.size,
            original_key=s.original.key,
            batch_id=batch_id,
        )
        for s in stored
        if not s.archive
    ]
    # Every job is recorded before any is queued, so the batch cannot look finished half-way.
    for job in documents:
        await run_in_threadpool(jobs.create_new, job)
    for job in documents:
        await run_in_threadpool(enqueue, job.id)
    for entry in archives:
        await run_in_threadpool(enqueue_archive, batch_id, entry.id)
    location = request.url_for("get_batch", batch_id=batch_id).path
    log.info("batch.queued", batch_id=batch_id, documents=len(documents), archives=len(archives))
    response.headers["Location"] = location
    return BatchAccepted(
        id=batch_id,
        location=location,
        jobs=[
            AcceptedJob(
                id=j.id,
                filename=j.filename,
                sha256=o.sha256,
                size=j.size,
                state=JobState.QUEUED,
                location=request.url_for("get_job", job_id=j.id).path,
            )
            for j, o in zip(documents, [s.original for s in stored if not s.archive], strict=True)
        ],
        archives=[BatchArchive.of(a) for a in archives],
    )


async def _load(batches: BatchStore, batch_id: str) -> Batch:
    try:
        return await run_in_threadpool(batches.get, batch_id)
    except BatchNotFound:
        raise ApiError(404, "batch_not_found", f"no batch with id {batch_id}") from None


@router.get(
    "/{batch_id}", response_model=BatchStatus, responses=_404, name="get_batch", summary="A batch's progress"
)
async def get_batch(
    batch_id: str,
    request: Request,
    response: Response,
    settings: SettingsDep,
    batches: BatchesDep,
    offset: Annotated[int, Query(ge=0, description="first job of the page")] = 0,
    limit: Annotated[int | None, Query(ge=0, description="jobs per page (default 100)")] = None,
) -> BatchStatus:
    batch = await _load(batches, batch_id)
    limit = min(DEFAULT_PAGE if limit is None else limit, settings.batch_page_max)

    def page() -> tuple[list[ArchiveEntry], list[dict[str, Any]]]:
        ids = batches.job_ids(batch_id, offset, limit) if limit else []
        return batches.archives(batch_id), batches.job_rows(ids)

    archives, rows = await run_in_threadpool(page)
    if not batch.finished:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    done = batch.counts.succeeded + batch.counts.failed + batch.counts.cancelled
    base = request.url_for("get_batch", batch_id=batch_id).path
    links = {"self": base} | {f"results_{fmt}": f"{base}/results?format={fmt}" for fmt in MEDIA_TYPES}
    if limit and offset + limit < batch.total:
        links["next"] = f"{base}?offset={offset + limit}&limit={limit}"
    return BatchStatus(
        id=batch.id,
        created=batch.created,
        finished=batch.finished,
        total=batch.total,
        counts=batch.counts,
        # below 1 until finished: archives still expanding will add jobs
        progress=1.0 if batch.finished else min(0.9999, round(done / batch.total, 4)) if batch.total else 0.0,
        archives_pending=batch.archives_pending,
        archives=[BatchArchive.of(a) for a in archives],
        offset=offset,
        limit=limit,
        jobs=[BatchJob.model_validate(row) for row in rows],
        links=links,
    )


@router.get(
    "/{batch_id}/results",
    responses=_404
    | {409: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}
    | {200: {"content": {t.split(";")[0]: {} for t in MEDIA_TYPES.values()}}},
    response_class=StreamingResponse,
    summary="Every result of a finished batch as JSONL, CSV or Parquet",
)
async def get_results(
    batch_id: str,
    settings: SettingsDep,
    batches: BatchesDep,
    objects: ObjectsDep,
    format: Annotated[ExportFormat, Query(description="jsonl | csv | parquet")] = "jsonl",
) -> StreamingResponse:
    batch = await _load(batches, batch_id)
    if not batch.finished:
        raise ApiError(
            409,
            "batch_not_finished",
            f"batch {batch_id}: {batch.counts.queued + batch.counts.running} jobs and "
            f"{batch.archives_pending} archives still to do",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    size = await _export_size(batch_id, format, batches, objects, settings)
    body = await run_in_threadpool(objects.stream_export, batch_id, format)
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="batch-{batch_id}.{format}"',
        },
    )


async def _export_size(
    batch_id: str, fmt: str, batches: BatchStore, objects: ObjectStore, settings: Settings
) -> int:
    """The size of the stored export, once there is one. Not there: build it now (the worker's
    export task was lost, or has not run yet), unless someone (the worker, another request) is
    building it right now; then wait for theirs instead of building it a second time."""
    deadline = time.monotonic() + EXPORT_WAIT_SECONDS
    while (size := await run_in_threadpool(objects.export_size, batch_id, fmt)) is None:
        sizes = await run_in_threadpool(
            partial(build_exports_once, lock_seconds=settings.task_time_limit), batch_id, batches, objects
        )
        if sizes is not None:
            return sizes[fmt]
        if time.monotonic() > deadline:
            raise ApiError(
                503,
                "export_in_progress",
                f"the exports of batch {batch_id} are still being written",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        await asyncio.sleep(EXPORT_POLL_SECONDS)
    return size


@router.post(
    "/{batch_id}/cancel",
    response_model=BatchCancelled,
    responses=_404,
    summary="Cancel a batch: its queued jobs at once, running ones at their next page, later archive members",
)
async def cancel_batch(
    batch_id: str, jobs: JobsDep, batches: BatchesDep, revoke: RevokeDep
) -> BatchCancelled:
    await _load(batches, batch_id)
    try:
        done = await run_in_threadpool(batches.cancel, batch_id, jobs)
    except BatchNotFound:
        raise ApiError(404, "batch_not_found", f"no batch with id {batch_id}") from None

    def cancelled_ids() -> list[str]:
        return [
            row["id"] for row in batches.job_rows(batches.job_ids(batch_id)) if row["state"] == "cancelled"
        ]

    await run_in_threadpool(lambda: revoke(cancelled_ids()))
    batch = await _load(batches, batch_id)
    log.info("batch.cancel", batch_id=batch_id, cancelled=done.cancelled, cancelling=done.cancelling)
    return BatchCancelled(
        id=batch_id,
        cancelled=done.cancelled,
        cancelling=done.cancelling,
        finished=batch.finished,
        counts=batch.counts,
    )
