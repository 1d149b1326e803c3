"""Storage: objects (originals, results) in S3 via the minio SDK, job and batch records in Redis."""

from storage.batches import ArchiveEntry, ArchiveState, Batch, BatchNotFound, BatchStore, Counts
from storage.errors import TRANSIENT_ERRORS, ObjectNotFound
from storage.jobs import ErrorCode, Job, JobError, JobNotFound, JobState, JobStore, Progress, Stage
from storage.objects import ObjectStore, StoredOriginal, UploadTooLarge

__all__ = [
    "TRANSIENT_ERRORS",
    "ArchiveEntry",
    "ArchiveState",
    "Batch",
    "BatchNotFound",
    "BatchStore",
    "Counts",
    "ErrorCode",
    "Job",
    "JobError",
    "JobNotFound",
    "JobState",
    "JobStore",
    "ObjectNotFound",
    "ObjectStore",
    "Progress",
    "Stage",
    "StoredOriginal",
    "UploadTooLarge",
]
