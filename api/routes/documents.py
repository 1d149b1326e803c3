"""POST /v1/documents: store each uploaded file, record a job, enqueue it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Request, Response, UploadFile
from starlette.concurrency import run_in_threadpool

from api.deps import EnqueueDep, JobsDep, ObjectsDep, SettingsDep
from api.errors import ApiError, ErrorResponse
from api.schemas import Accepted, AcceptedJob
from gongkai.log import get_logger
from storage import Job, JobState, StoredOriginal, UploadTooLarge
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
) -> Accepted:
    if not files:
        raise ApiError(400, "no_files", "send one or more files in the multipart field 'files'")
    if len(files) > settings.max_files_per_request:
        raise ApiError(
            400,
            "too_many_files",
            f"at most {settings.max_files_per_request} files per request, got {len(files)}",
        )
    # All files are stored before any job is recorded, so a refused file refuses the whole request
    # instead of leaving the files before it queued behind a 4xx.
    stored: list[tuple[UploadFile, StoredOriginal]] = []
    for upload in files:
        # The multipart parser has already spooled the file; hash it and put it to S3 in a thread
        # (minio is blocking).
        try:
            original = await run_in_threadpool(
                objects.put_original,
                upload.file,
                max_bytes=settings.max_upload_bytes,
                content_type=upload.content_type or "application/octet-stream",
            )
        except UploadTooLarge as exc:
            raise ApiError(413, "file_too_large", f"{upload.filename}: {exc}") from exc
        stored.append((upload, original))

    accepted: list[AcceptedJob] = []
    for upload, original in stored:
        job = Job(
            id=new_job_id(),
            created=now(),
            filename=upload.filename,
            sha256=original.sha256,
            size=original.size,
            original_key=original.key,
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
