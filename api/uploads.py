"""Storing the files of one upload request, shared by POST /v1/documents and POST /v1/batches.

Every file is stored before the caller records anything, so a refused file refuses the whole
request instead of leaving the files before it queued behind a 4xx.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import UploadFile
from starlette.concurrency import run_in_threadpool

from api.errors import ApiError
from gongkai.settings import Settings
from storage import ObjectStore, StoredOriginal, UploadTooLarge
from storage.archives import ArchiveKind, archive_kind


@dataclass(frozen=True)
class StoredUpload:
    upload: UploadFile
    original: StoredOriginal
    archive: ArchiveKind | None  # an archive (by its bytes), to be expanded into one job per member


async def store_uploads(
    files: list[UploadFile] | None, settings: Settings, objects: ObjectStore, *, archives: bool = False
) -> list[StoredUpload]:
    """Store each file content-addressed; with `archives`, archives (ZIP, tar, tar.gz) are recognised
    and get their own limit."""
    if not files:
        raise ApiError(400, "no_files", "send one or more files in the multipart field 'files'")
    if len(files) > settings.max_files_per_request:
        raise ApiError(
            400,
            "too_many_files",
            f"at most {settings.max_files_per_request} files per request, got {len(files)}",
        )
    stored: list[StoredUpload] = []
    for upload in files:
        # by its bytes, not its name
        archive = await run_in_threadpool(archive_kind, upload.file) if archives else None
        limit = settings.max_archive_bytes if archive else settings.max_upload_bytes
        content_type = archive.media_type if archive else upload.content_type or "application/octet-stream"
        # The multipart parser has already spooled the file; hash it and put it to S3 in a thread
        # (minio is blocking).
        try:
            original = await run_in_threadpool(
                objects.put_original, upload.file, max_bytes=limit, content_type=content_type
            )
        except UploadTooLarge as exc:
            raise ApiError(413, "file_too_large", f"{upload.filename}: {exc}") from exc
        stored.append(StoredUpload(upload, original, archive))
    return stored
