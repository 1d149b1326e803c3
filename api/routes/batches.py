"""Batches: many files (any of them a ZIP, tar or tar.gz archive) under one id, their progress and
their exports.

POST /v1/batches stores every file content-addressed, records one job per document and hands each
archive to a worker to expand (never in the request: a 2 GiB archive would hold it for minutes).
GET /v1/batches/{id} reads progress (counts, pages, ETA) from the batch's Redis counters and its
first failed members from the failed-state index; /jobs pages the jobs, by state from that state's
index; /export (and /results, its one-row-per-report form) streams or presigns the exports written when
the batch finished (or builds them on first request if that did not happen); /deliveries lists
the calls of its callback_url; /rerun queues failed or needs-review jobs again. Every route loads
the batch through `_load`.
"""

from __future__ import annotations

import asyncio
import time
from functools import partial
from typing import Annotated, Any, Literal, get_args

from fastapi import APIRouter, File, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api import idempotency
from api.auth import TenantDep
from api.callbacks import CallbackUrlForm, checked_callback_url
from api.deps import (
    BatchesDep,
    Enqueue,
    EnqueueArchive,
    EnqueueArchiveDep,
    EnqueueDep,
    FollowupsDep,
    JobsDep,
    ObjectsDep,
    RevokeDep,
    SettingsDep,
)
from api.errors import ApiError, ErrorResponse
from api.routes.documents import ForceForm, ForceQuery, IdempotencyKey
from api.schemas import (
    AcceptedJob,
    BatchAccepted,
    BatchArchive,
    BatchCancelled,
    BatchJob,
    BatchJobsPage,
    BatchPages,
    BatchRerun,
    BatchStatus,
    Deliveries,
    Delivery,
    FailedMember,
)
from api.uploads import StoredUpload, store_uploads
from gongkai.log import get_logger
from gongkai.settings import Settings
from storage import (
    ArchiveEntry,
    Batch,
    BatchNotFound,
    BatchStore,
    Job,
    JobState,
    JobStore,
    ObjectStore,
    Progress,
    Stage,
)
from storage.archives import ArchiveCode
from storage.batches import new_batch_id
from storage.dedup import reuse_earlier
from storage.deliveries import DeliveryLog
from storage.jobs import new_job_id, now
from storage.objects import export_key
from workers.exports import ARTIFACTS, MEDIA_TYPES, artifact, build_exports_once, presigned_export

router = APIRouter(prefix="/v1/batches", tags=["batches"])
log = get_logger("gongkai.api")

RETRY_AFTER_SECONDS = "2"
DEFAULT_PAGE = 100
DEFAULT_FAILED = 20  # failed members shown in a batch's status; the rest page through /jobs?state=failed
# GET /results while another process writes the exports: how long to wait for them, how often to look.
EXPORT_WAIT_SECONDS = 60.0
EXPORT_POLL_SECONDS = 0.1
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}
ExportFormat = Literal["jsonl", "csv", "parquet", "xlsx"]
ExportTable = Literal["long", "wide"]
ResultsFormat = Literal["jsonl", "csv", "parquet"]  # /results: the former, one-row-per-report route


@router.post(
    "",
    status_code=202,
    response_model=BatchAccepted,
    responses={
        400: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
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
    followups: FollowupsDep,
    tenant: TenantDep,
    files: Annotated[
        list[UploadFile] | None, File(description="report files (text, PDF, image) and/or ZIP archives")
    ] = None,
    callback_url: CallbackUrlForm = None,
    force_form: ForceForm = False,
    force_query: ForceQuery = False,
    idempotency_key: IdempotencyKey = None,
) -> BatchAccepted | JSONResponse:
    force = force_form or force_query
    callback = checked_callback_url(callback_url)
    idempotency.check_key(idempotency_key)
    stored = await store_uploads(files, settings, objects, archives=True)

    async def record() -> tuple[BatchAccepted, str]:
        accepted = await _record_batch(
            request, stored, force, tenant, callback, jobs, batches, objects, enqueue, enqueue_archive
        )
        # A batch of nothing but earlier results is finished already: no worker will queue its
        # exports and its webhook.
        await run_in_threadpool(followups.maybe_export, accepted.id)
        return accepted, accepted.location

    options = {"force": force, "callback_url": callback}
    return await idempotency.answer_once(
        jobs.redis,
        idempotency_key,
        idempotency.fingerprint("batches", options, stored),
        settings.idempotency_ttl_seconds,
        tenant,
        response,
        record,
    )


async def _record_batch(
    request: Request,
    stored: list[StoredUpload],
    force: bool,
    tenant: str,
    callback: str | None,
    jobs: JobStore,
    batches: BatchStore,
    objects: ObjectStore,
    enqueue: Enqueue,
    enqueue_archive: EnqueueArchive,
) -> BatchAccepted:
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
    # `force` on the batch reaches the archive members, which the worker makes.
    await run_in_threadpool(
        partial(batches.create, force=force, tenant=tenant, callback_url=callback),
        batch_id,
        files=len(stored),
        archives=archives,
    )
    documents = [
        Job(
            id=new_job_id(),
            created=now(),
            filename=s.upload.filename,
            source_path=s.upload.filename,
            sha256=s.original.sha256,
            size=s.original.size,
            original_key=s.original.key,
            batch_id=batch_id,
            force=force,
            tenant=tenant,
        )
        for s in stored
        if not s.archive
    ]
    # Every job is recorded before any is queued, so the batch cannot look finished half-way.
    for job in documents:
        await run_in_threadpool(jobs.create_new, job)
    earlier: dict[str, Job] = {}
    for job in documents:
        found = None if force else await run_in_threadpool(reuse_earlier, jobs, objects, job)
        if found is None:
            await run_in_threadpool(enqueue, job.id)
        else:
            earlier[job.id] = found
    for entry in archives:
        await run_in_threadpool(enqueue_archive, batch_id, entry.id)
    location = request.url_for("get_batch", batch_id=batch_id).path
    log.info(
        "batch.queued",
        batch_id=batch_id,
        tenant=tenant,
        documents=len(documents),
        duplicates=len(earlier),
        archives=len(archives),
    )
    return BatchAccepted(
        id=batch_id,
        location=location,
        jobs=[
            AcceptedJob(
                id=j.id,
                filename=j.filename,
                sha256=o.sha256,
                size=j.size,
                state=earlier[j.id].state if j.id in earlier else JobState.QUEUED,
                location=request.url_for("get_job", job_id=j.id).path,
                duplicate_of=earlier[j.id].id if j.id in earlier else None,
            )
            for j, o in zip(documents, [s.original for s in stored if not s.archive], strict=True)
        ],
        archives=[BatchArchive.of(a) for a in archives],
    )


async def _load(batches: BatchStore, batch_id: str, tenant: str) -> Batch:
    """The batch, if it is the caller's tenant's; another tenant's batch is as unknown as a missing one."""
    try:
        batch = await run_in_threadpool(batches.get, batch_id)
    except BatchNotFound:
        batch = None
    if batch is None or batch.tenant != tenant:
        raise ApiError(404, "batch_not_found", f"no batch with id {batch_id}")
    return batch


@router.get(
    "/{batch_id}", response_model=BatchStatus, responses=_404, name="get_batch", summary="A batch's progress"
)
async def get_batch(
    batch_id: str,
    request: Request,
    response: Response,
    settings: SettingsDep,
    batches: BatchesDep,
    tenant: TenantDep,
    offset: Annotated[int, Query(ge=0, description="first job of the page")] = 0,
    limit: Annotated[int | None, Query(ge=0, description="jobs per page (default 100)")] = None,
    failed_limit: Annotated[
        int, Query(ge=0, description="failed members listed (the rest: links.failed)")
    ] = DEFAULT_FAILED,
) -> BatchStatus:
    batch = await _load(batches, batch_id, tenant)
    limit = min(DEFAULT_PAGE if limit is None else limit, settings.batch_page_max)
    failed_limit = min(failed_limit, settings.batch_page_max)

    def page() -> tuple[list[ArchiveEntry], list[dict[str, Any]], list[dict[str, Any]]]:
        ids = batches.job_ids(batch_id, offset, limit) if limit else []
        failed = batches.job_ids_in_state(batch_id, JobState.FAILED, 0, failed_limit) if failed_limit else []
        return batches.archives(batch_id), batches.job_rows(ids), batches.job_rows(failed)

    archives, rows, failed_rows = await run_in_threadpool(page)
    if not batch.finished:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    base = request.url_for("get_batch", batch_id=batch_id).path
    links = {"self": base, "jobs": f"{base}/jobs", "failed": f"{base}/jobs?state={JobState.FAILED.value}"}
    links |= {f"results_{fmt}": f"{base}/results?format={fmt}" for fmt in get_args(ResultsFormat)}
    links |= {f"export_{fmt}": f"{base}/export?format={fmt}" for fmt in MEDIA_TYPES}
    links["deliveries"] = f"{base}/deliveries"
    if limit and offset + limit < batch.total:
        links["next"] = f"{base}?offset={offset + limit}&limit={limit}"
    done = batch.done
    return BatchStatus(
        id=batch.id,
        created=batch.created,
        finished=batch.finished,
        total=batch.total,
        counts=batch.counts,
        # below 1 until finished: archives still expanding will add jobs
        progress=1.0 if batch.finished else min(0.9999, round(done / batch.total, 4)) if batch.total else 0.0,
        pages=BatchPages(done=batch.pages_done, total=batch.pages_total),
        eta_seconds=batch.eta_seconds(now()),
        archives_pending=batch.archives_pending,
        archives=[BatchArchive.of(a) for a in archives],
        failed_members=[FailedMember.of(row) for row in failed_rows],
        offset=offset,
        limit=limit,
        jobs=[BatchJob.model_validate(row) for row in rows],
        links=links,
    )


_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = (
    _404
    | {409: {"model": ErrorResponse}, 503: {"model": ErrorResponse}}
    | {200: {"content": {t.split(";")[0]: {} for t in MEDIA_TYPES.values()}}}
    | {307: {"description": "redirect to a presigned S3 URL of the export"}}
)


@router.get(
    "/{batch_id}/export",
    responses=_EXPORT_RESPONSES,
    response_model=None,
    summary="The whole finished batch as one dataset: JSONL, CSV, Parquet or XLSX (long or wide table)",
)
async def get_export(
    batch_id: str,
    settings: SettingsDep,
    batches: BatchesDep,
    objects: ObjectsDep,
    tenant: TenantDep,
    format: Annotated[ExportFormat, Query(description="jsonl | csv | parquet | xlsx")] = "jsonl",
    table: Annotated[
        ExportTable,
        Query(
            description="csv/parquet: `long` (a row per report × table-三 row) or `wide` (a row per "
            "report, a column per field); xlsx has both as sheets"
        ),
    ] = "long",
    redirect: Annotated[bool, Query(description="307 to a presigned S3 URL instead of streaming")] = False,
) -> StreamingResponse | RedirectResponse:
    return await _serve_export(batch_id, format, table, redirect, settings, batches, objects, tenant)


@router.get(
    "/{batch_id}/jobs",
    response_model=BatchJobsPage,
    responses=_404,
    name="get_batch_jobs",
    summary="A page of a batch's jobs, in batch order, optionally only those in one state",
)
async def get_batch_jobs(
    batch_id: str,
    request: Request,
    settings: SettingsDep,
    batches: BatchesDep,
    tenant: TenantDep,
    state: Annotated[JobState | None, Query(description="only the jobs in this state")] = None,
    offset: Annotated[int, Query(ge=0, description="first job of the page")] = 0,
    after: Annotated[
        int | None, Query(ge=0, description="cursor: the jobs after this position (links.next)")
    ] = None,
    limit: Annotated[int | None, Query(ge=0, description="jobs per page (default 100)")] = None,
) -> BatchJobsPage:
    batch = await _load(batches, batch_id, tenant)
    limit = min(DEFAULT_PAGE if limit is None else limit, settings.batch_page_max)

    def page() -> tuple[list[tuple[int, str]], list[dict[str, Any]]]:
        # one more than the page: whether there is a next one, without counting
        found = (
            batches.job_page(batch_id, state, after=after, offset=offset, limit=limit + 1) if limit else []
        )
        return found, batches.job_rows([job_id for _, job_id in found[:limit]])

    found, rows = await run_in_threadpool(page)
    total = batch.total if state is None else batch.counts.get(state.value, 0)
    base = request.url_for("get_batch_jobs", batch_id=batch_id).path
    query = f"state={state.value}&" if state else ""
    start = f"after={after}" if after is not None else f"offset={offset}"
    links = {"self": f"{base}?{query}{start}&limit={limit}", "batch": f"/v1/batches/{batch_id}"}
    if len(found) > limit:
        # a cursor, not an offset: a job changing state meanwhile cannot shift the next page
        links["next"] = f"{base}?{query}after={found[limit - 1][0]}&limit={limit}"
    return BatchJobsPage(
        batch_id=batch_id,
        state=state,
        total=total,
        offset=offset,
        limit=limit,
        jobs=[
            BatchJob.model_validate(row | {"position": pos})
            for (pos, _), row in zip(found, rows, strict=False)
        ],
        links=links,
    )


@router.get(
    "/{batch_id}/results",
    responses=_EXPORT_RESPONSES,
    response_model=None,
    summary="Every result of a finished batch, one line/row per report (the `wide` export)",
)
async def get_results(
    batch_id: str,
    settings: SettingsDep,
    batches: BatchesDep,
    objects: ObjectsDep,
    tenant: TenantDep,
    format: Annotated[ResultsFormat, Query(description="jsonl | csv | parquet")] = "jsonl",
    redirect: Annotated[bool, Query(description="307 to a presigned S3 URL instead of streaming")] = False,
) -> StreamingResponse | RedirectResponse:
    return await _serve_export(batch_id, format, "wide", redirect, settings, batches, objects, tenant)


@router.get(
    "/{batch_id}/deliveries",
    response_model=Deliveries,
    responses=_404,
    summary="Every attempt to call the batch's callback_url (status code, time, error)",
)
async def get_deliveries(batch_id: str, batches: BatchesDep, tenant: TenantDep) -> Deliveries:
    batch = await _load(batches, batch_id, tenant)
    attempts = await run_in_threadpool(DeliveryLog(batches.redis).list, "batch", batch_id)
    return Deliveries(callback_url=batch.callback_url, deliveries=[Delivery(**a) for a in attempts])


async def _serve_export(
    batch_id: str,
    fmt: ExportFormat,
    table: ExportTable,
    redirect: bool,
    settings: Settings,
    batches: BatchStore,
    objects: ObjectStore,
    tenant: str,
) -> StreamingResponse | RedirectResponse:
    batch = await _load(batches, batch_id, tenant)
    if not batch.finished:
        raise ApiError(
            409,
            "batch_not_finished",
            f"batch {batch_id}: {batch.unfinished} jobs and {batch.archives_pending} archives still to do",
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    name = artifact(fmt, table)
    size = await _export_size(batch_id, name, batches, objects, settings)
    if redirect:
        url = await run_in_threadpool(presigned_export, objects, batch_id, name)
        return RedirectResponse(url, status_code=307)
    body = await run_in_threadpool(objects.stream_export, batch_id, name)
    return StreamingResponse(
        body,
        media_type=MEDIA_TYPES[fmt],
        headers={
            "Content-Length": str(size),
            "Content-Disposition": f'attachment; filename="batch-{batch_id}.{name}"',
        },
    )


async def _export_size(
    batch_id: str, name: str, batches: BatchStore, objects: ObjectStore, settings: Settings
) -> int:
    """The size of the stored export, once there is one. Not there: build it now (the worker's
    export task was lost, or has not run yet), unless someone (the worker, another request) is
    building it right now; then wait for theirs instead of building it a second time."""
    deadline = time.monotonic() + EXPORT_WAIT_SECONDS
    while (size := await run_in_threadpool(objects.export_size, batch_id, name)) is None:
        sizes = await run_in_threadpool(
            partial(build_exports_once, lock_seconds=settings.task_time_limit), batch_id, batches, objects
        )
        if sizes is not None:
            return sizes[name]
        if time.monotonic() > deadline:
            raise ApiError(
                503,
                "export_in_progress",
                f"the exports of batch {batch_id} are still being written",
                headers={"Retry-After": RETRY_AFTER_SECONDS},
            )
        await asyncio.sleep(EXPORT_POLL_SECONDS)
    return size


# -- re-running the failed (or flagged) jobs of a batch ------------------------------------------------

RerunWhich = Literal["failed", "needs_review", "both"]
# Failures of the archive itself or of a member refused at expansion: nothing a re-run could change.
_NOT_RERUNNABLE = frozenset(code.value for code in ArchiveCode)


@router.post(
    "/{batch_id}/rerun",
    status_code=202,
    response_model=BatchRerun,
    responses=_404,
    summary="Queue the batch's failed and/or needs-review jobs again (processed anew, never reused)",
)
async def rerun_batch(
    batch_id: str,
    request: Request,
    jobs: JobsDep,
    batches: BatchesDep,
    objects: ObjectsDep,
    enqueue: EnqueueDep,
    followups: FollowupsDep,
    tenant: TenantDep,
    which: Annotated[RerunWhich, Query(description="failed | needs_review | both")] = "failed",
) -> BatchRerun:
    await _load(batches, batch_id, tenant)
    selected = await run_in_threadpool(_rerunnable, batch_id, which, jobs, batches)
    for job_id in selected:
        # queued again (the batch counters follow, so the batch is unfinished); attempts go on
        await run_in_threadpool(
            partial(
                jobs.update,
                state=JobState.QUEUED,
                stage=Stage.QUEUED,
                progress=Progress(),
                finished=None,
                error=None,
                force=True,
                duplicate_of=None,
                needs_review=None,
                lost_attempts=0,
            ),
            job_id,
        )
    if selected:
        # exports of the batch as it was are stale: whoever finishes it again builds them anew
        await run_in_threadpool(batches.reopen, batch_id)
        for name in ARTIFACTS:
            await run_in_threadpool(objects.client.remove_object, objects.results, export_key(batch_id, name))
        # the batch will finish again: announce it again
        await run_in_threadpool(followups.deliveries.release, "batch", batch_id)
    for job_id in selected:
        await run_in_threadpool(enqueue, job_id)
    log.info("batch.rerun", batch_id=batch_id, which=which, jobs=len(selected))
    return BatchRerun(
        id=batch_id,
        which=which,
        requeued=selected,
        location=request.url_for("get_batch", batch_id=batch_id).path,
    )


def _rerunnable(batch_id: str, which: RerunWhich, jobs: JobStore, batches: BatchStore) -> list[str]:
    selected: list[str] = []
    offset = 0
    while ids := batches.job_ids(batch_id, offset, DEFAULT_PAGE):
        offset += len(ids)
        for row in batches.job_rows(ids):
            if row["state"] == JobState.FAILED and which in ("failed", "both"):
                job = jobs.get(row["id"])
                code = job.error.code if job.error else None
                if job.original_key is not None and code not in _NOT_RERUNNABLE:
                    selected.append(job.id)
            elif (
                row["state"] == JobState.SUCCEEDED
                and row["needs_review"]
                and which in ("needs_review", "both")
            ):
                selected.append(row["id"])
    return selected


@router.post(
    "/{batch_id}/cancel",
    response_model=BatchCancelled,
    responses=_404,
    summary="Cancel a batch: its queued jobs at once, running ones at their next page, later archive members",
)
async def cancel_batch(
    batch_id: str,
    jobs: JobsDep,
    batches: BatchesDep,
    revoke: RevokeDep,
    followups: FollowupsDep,
    tenant: TenantDep,
) -> BatchCancelled:
    await _load(batches, batch_id, tenant)
    try:
        done = await run_in_threadpool(batches.cancel, batch_id, jobs)
    except BatchNotFound:
        raise ApiError(404, "batch_not_found", f"no batch with id {batch_id}") from None

    def cancelled_ids() -> list[str]:
        return [
            row["id"] for row in batches.job_rows(batches.job_ids(batch_id)) if row["state"] == "cancelled"
        ]

    await run_in_threadpool(lambda: revoke(cancelled_ids()))
    await run_in_threadpool(followups.maybe_export, batch_id)  # finished by this cancel: its exports
    batch = await _load(batches, batch_id, tenant)
    log.info("batch.cancel", batch_id=batch_id, cancelled=done.cancelled, cancelling=done.cancelling)
    return BatchCancelled(
        id=batch_id,
        cancelled=done.cancelled,
        cancelling=done.cancelling,
        finished=batch.finished,
        counts=batch.counts,
    )
