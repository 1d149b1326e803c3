"""POST /v1/documents: store each uploaded file, record a job, and enqueue it unless the same bytes
were processed before (then the job takes that outcome at once: `duplicate_of`, nothing is queued)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api import idempotency
from api.auth import TenantDep
from api.callbacks import CallbackUrlForm, checked_callback_url
from api.deps import EnqueueDep, FollowupsDep, JobsDep, ObjectsDep, SettingsDep
from api.errors import ErrorResponse
from api.schemas import Accepted, AcceptedJob
from api.uploads import store_uploads
from gongkai.log import get_logger
from storage import Job, JobState
from storage.dedup import reuse_earlier
from storage.jobs import new_job_id, now

router = APIRouter(prefix="/v1/documents", tags=["documents"])
log = get_logger("gongkai.api")

ForceForm = Annotated[
    bool, Form(alias="force", description="process again even if the same bytes were processed before")
]
ForceQuery = Annotated[bool, Query(alias="force", description="same as the form field `force`")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        description="a retried request with the same key gets the first answer instead of new jobs",
    ),
]


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    responses={
        400: {"model": ErrorResponse},
        409: {"model": ErrorResponse},
        413: {"model": ErrorResponse},
        422: {"model": ErrorResponse},
        503: {"model": ErrorResponse},
    },
    summary="Upload one or more reports (multipart field `files`); one job per file",
)
async def upload(
    request: Request,
    response: Response,
    settings: SettingsDep,
    jobs: JobsDep,
    objects: ObjectsDep,
    enqueue: EnqueueDep,
    followups: FollowupsDep,
    tenant: TenantDep,
    files: Annotated[list[UploadFile] | None, File(description="the report files (text, PDF, image)")] = None,
    callback_url: CallbackUrlForm = None,
    force_form: ForceForm = False,
    force_query: ForceQuery = False,
    idempotency_key: IdempotencyKey = None,
) -> Accepted | JSONResponse:
    force = force_form or force_query
    callback = checked_callback_url(callback_url)
    idempotency.check_key(idempotency_key)
    stored = await store_uploads(files, settings, objects)

    def record_one(job: Job) -> Job | None:
        """Record and enqueue the job, or give it the earlier outcome of its bytes (then returned).
        Blocking calls in one go: one trip to the thread pool per file."""
        jobs.create(job)
        earlier = None if force else reuse_earlier(jobs, objects, job)
        if earlier is None:
            enqueue(job.id)
        else:
            followups.after_job(job.id)  # its webhook, if it has one
        return earlier

    async def record() -> tuple[Accepted, str]:
        accepted: list[AcceptedJob] = []
        for item in stored:
            upload, original = item.upload, item.original
            job = Job(
                id=new_job_id(),
                created=now(),
                filename=upload.filename,
                sha256=original.sha256,
                size=original.size,
                original_key=original.key,
                force=force,
                tenant=tenant,
                callback_url=callback,
            )
            earlier = await run_in_threadpool(record_one, job)
            if earlier is None:
                log.info("job.queued", job_id=job.id, filename=job.filename, size=job.size, sha256=job.sha256)
            else:
                log.info("job.duplicate", job_id=job.id, duplicate_of=earlier.id, sha256=job.sha256)
            location = request.url_for("get_job", job_id=job.id).path
            accepted.append(
                AcceptedJob(
                    id=job.id, filename=job.filename, sha256=original.sha256, size=job.size,
                    state=JobState.QUEUED if earlier is None else earlier.state,
                    location=location,
                    duplicate_of=earlier.id if earlier else None,
                )
            )  # fmt: skip
        return Accepted(jobs=accepted), accepted[0].location

    options = {"force": force, "callback_url": callback}
    return await idempotency.answer_once(
        jobs.redis,
        idempotency_key,
        idempotency.fingerprint("documents", options, stored),
        settings.idempotency_ttl_seconds,
        tenant,
        response,
        record,
    )
