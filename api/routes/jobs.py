"""GET /v1/jobs/{id} and what a finished job produced: result, text, original."""

from __future__ import annotations

import itertools
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi.responses import PlainTextResponse, RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.auth import TenantDep
from api.deps import FollowupsDep, JobsDep, ObjectsDep, RevokeDep
from api.errors import ApiError, ErrorResponse, not_found
from api.schemas import JobStatus, Result
from extract.text import extract_text
from gongkai.log import get_logger
from storage import Job, JobNotFound, JobState, JobStore, ObjectNotFound, ObjectStore
from storage.jobs import CancelOutcome
from storage.objects import text_is_stored

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
log = get_logger("gongkai.api")

RETRY_AFTER_SECONDS = "1"
_404: dict[int | str, dict[str, Any]] = {404: {"model": ErrorResponse}}
_409: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse}}
_ORIGINAL: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {}}},
    307: {"description": "redirect to a presigned S3 URL"},
}


async def _load(jobs: JobStore, job_id: str, tenant: str) -> Job:
    """The job, if it is the caller's tenant's; another tenant's job is as unknown as a missing one."""
    try:
        job = await run_in_threadpool(jobs.get, job_id)
    except JobNotFound:
        raise not_found(job_id) from None
    if job.tenant != tenant:
        raise not_found(job_id)
    return job


def _require_success(job: Job) -> None:
    if job.state == JobState.SUCCEEDED:
        return
    if job.state == JobState.FAILED:
        error = job.error.code if job.error else "failed"
        raise ApiError(409, "job_failed", f"job {job.id} failed ({error}); it has no result")
    raise ApiError(
        409,
        "job_not_finished",
        f"job {job.id} is {job.state.value}",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@router.get("/{job_id}", response_model=JobStatus, responses=_404, name="get_job", summary="A job's state")
async def get_job(job_id: str, jobs: JobsDep, response: Response, tenant: TenantDep) -> JobStatus:
    job = await _load(jobs, job_id, tenant)
    if not job.state.finished:
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return JobStatus.of(job)


@router.get("/{job_id}/result", response_model=Result, responses=_404 | _409, summary="The parsed report")
async def get_result(job_id: str, jobs: JobsDep, objects: ObjectsDep, tenant: TenantDep) -> Result:
    job = await _load(jobs, job_id, tenant)
    _require_success(job)
    try:
        return Result.model_validate(await run_in_threadpool(objects.get_result, job_id))
    except ObjectNotFound:
        raise ApiError(
            404, "result_missing", f"job {job_id} succeeded but its result object is gone"
        ) from None


@router.get(
    "/{job_id}/text",
    response_class=PlainTextResponse,
    responses=_404 | _409,
    summary="The extracted text (pages separated by form feeds)",
)
async def get_text(job_id: str, jobs: JobsDep, objects: ObjectsDep, tenant: TenantDep) -> PlainTextResponse:
    job = await _load(jobs, job_id, tenant)
    _require_success(job)
    try:
        return PlainTextResponse(await run_in_threadpool(_text_of, objects, job))
    except ObjectNotFound:
        raise ApiError(404, "result_missing", f"job {job_id} succeeded but its text object is gone") from None


def _text_of(objects: ObjectStore, job: Job) -> str:
    if text_is_stored(job.media_type) or job.original_key is None:
        return objects.get_text(job.id)
    # what the worker's extraction read (a plain-text upload): its original, decoded the same way
    return extract_text(objects.get_original(job.original_key)).text


@router.get(
    "/{job_id}/original",
    responses=_404
    | {200: {"content": {"application/octet-stream": {}}}, 307: {"description": "presigned URL"}},
    summary="The uploaded file as it was received (or a redirect to a presigned S3 URL)",
    response_model=None,
)
async def get_original(
    job_id: str,
    jobs: JobsDep,
    objects: ObjectsDep,
    tenant: TenantDep,
    redirect: Annotated[
        bool, Query(description="redirect to a presigned S3 GET instead of streaming")
    ] = False,
) -> StreamingResponse | RedirectResponse:
    job = await _load(jobs, job_id, tenant)
    if job.original_key is None or job.sha256 is None:
        raise ApiError(404, "original_missing", f"job {job_id} has no stored original (it was refused)")
    if redirect:
        url = await run_in_threadpool(objects.presigned_original, job.original_key, job.filename)
        return RedirectResponse(url, status_code=307)
    filename = job.filename or job.sha256
    chunks = objects.stream_original(job.original_key)
    # Opened (first chunk read) before the status line goes out: S3 being down is a 503, not a
    # 200 whose body breaks off.
    try:
        first = await run_in_threadpool(next, chunks, b"")
    except ObjectNotFound:
        raise ApiError(404, "original_missing", f"job {job_id}: the stored original is gone") from None
    return StreamingResponse(
        itertools.chain((first,), chunks),
        media_type=job.media_type or "application/octet-stream",
        headers={
            "Content-Length": str(job.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{_quote(filename)}",
        },
    )


def _quote(name: str) -> str:
    return quote(name, safe="")


@router.post(
    "/{job_id}/cancel",
    response_model=JobStatus,
    responses=_404 | _409 | {202: {"model": JobStatus, "description": "running: it stops at its next page"}},
    summary="Cancel a job: a queued one at once, a running one at its next page or stage",
)
async def cancel_job(
    job_id: str,
    jobs: JobsDep,
    revoke: RevokeDep,
    followups: FollowupsDep,
    response: Response,
    tenant: TenantDep,
) -> JobStatus:
    await _load(jobs, job_id, tenant)
    try:
        outcome = await run_in_threadpool(jobs.cancel, job_id)
    except JobNotFound:
        raise not_found(job_id) from None
    if outcome == CancelOutcome.FINISHED:
        job = await _load(jobs, job_id, tenant)
        raise ApiError(409, "job_finished", f"job {job_id} already {job.state.value}; nothing to cancel")
    await run_in_threadpool(revoke, [job_id])
    if outcome == CancelOutcome.CANCELLED:  # no worker will see it: its webhook, its batch's exports
        await run_in_threadpool(followups.after_job, job_id)
    job = await _load(jobs, job_id, tenant)
    log.info("job.cancel", job_id=job_id, outcome=outcome.value)
    if outcome == CancelOutcome.CANCELLING and not job.state.finished:
        response.status_code = 202
        response.headers["Retry-After"] = RETRY_AFTER_SECONDS
    return JobStatus.of(job)
