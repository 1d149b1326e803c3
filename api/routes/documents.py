"""POST /v1/documents: store each uploaded file, record a job, enqueue it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from api.callbacks import CallbackUrlForm, checked_callback_url
from api.deps import EnqueueDep, JobsDep, ObjectsDep, SettingsDep
from api.errors import ErrorResponse
from api.schemas import Accepted, AcceptedJob
from api.uploads import store_uploads
from gongkai.log import get_logger
from storage import Job, JobState
from storage.jobs import new_job_id, now

router = APIRouter(prefix="/v1/documents", tags=["documents"])
log = get_logger("gongkai.api")


@router.post(
    "",
    status_code=202,
    response_model=Accepted,
    responses={400: {"model": ErrorResponse}, 413: {"model": ErrorResponse}, 503: {"model": ErrorResponse}},
    summary="Upload one or more reports (multipart field `files`); one job per file",
)
async def upload(
    request: Request,
    response: Response,
    settings: SettingsDep,
    jobs: JobsDep,
    objects: ObjectsDep,
    enqueue: EnqueueDep,
    files: Annotated[list[UploadFile] | None, File(description="the report files (text, PDF, image)")] = None,
    callback_url: CallbackUrlForm = None,
) -> Accepted:
    callback = checked_callback_url(callback_url)
    stored = await store_uploads(files, settings, objects)

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
            callback_url=callback,
        )
        await run_in_threadpool(jobs.create, job)
        await run_in_threadpool(enqueue, job.id)
        log.info("job.queued", job_id=job.id, filename=job.filename, size=job.size, sha256=job.sha256)
        location = request.url_for("get_job", job_id=job.id).path
        accepted.append(
            AcceptedJob(
                id=job.id, filename=job.filename, sha256=original.sha256, size=job.size,
                state=JobState.QUEUED,
                location=location,
            )
        )  # fmt: skip
    response.headers["Location"] = accepted[0].location
    return Accepted(jobs=accepted)
