"""The pipeline's stages without Celery, against the real Redis and S3."""

from __future__ import annotations

import io
import os
from dataclasses import replace

import pytest

from gongkai.settings import Settings
from gongkai.stack import Stack, free_port
from storage import JobState, JobStore, ObjectStore, Stage
from storage.jobs import new_job_id, now
from storage.objects import make_client
from tests.conftest import example_reports, make_job
from workers import pipeline


def submit(jobs: JobStore, objects: ObjectStore, data: bytes, filename: str = "x.txt") -> str:
    stored = objects.put_original(io.BytesIO(data), max_bytes=len(data) + 1)
    job = make_job(id=new_job_id(), created=now(), filename=filename, sha256=stored.sha256, size=stored.size,
                   original_key=stored.key)  # fmt: skip
    return jobs.create(job).id


@pytest.fixture
def services_(jobs: JobStore, objects: ObjectStore) -> pipeline.Services:
    return pipeline.Services(jobs=jobs, objects=objects)


@pytest.mark.parametrize(
    ("data", "code"),
    [(b"", "empty_file"), (b"\x00\x01\x02" * 500, "unsupported_type"), (b"   \n\t\n", "empty_file")],
)
def test_bad_input_fails_the_job_with_the_extractor_code(
    services_: pipeline.Services, data: bytes, code: str
) -> None:
    job_id = submit(services_.jobs, services_.objects, data)
    assert pipeline.run_job(job_id, services_) == JobState.FAILED
    job = services_.jobs.get(job_id)
    assert job.state == JobState.FAILED and job.stage == Stage.DONE
    assert job.error is not None and job.error.code == code and job.error.message


def test_report_is_parsed_and_stored(services_: pipeline.Services) -> None:
    path = example_reports()[0]
    job_id = submit(services_.jobs, services_.objects, path.read_bytes(), path.name)
    state = pipeline.run_job(job_id, services_)
    job = services_.jobs.get(job_id)
    assert job.progress.pages_done == job.progress.pages_total == 1
    assert job.media_type == "text/plain"
    assert state == JobState.SUCCEEDED, job.error
    result = services_.objects.get_result(job_id)
    assert result["job_id"] == job_id and result["source"]["filename"] == path.name
    assert result["document"]["agency"]
    assert [p["method"] for p in result["pages"]] == ["text"]
    # Idempotent: a second run overwrites the same result.
    assert pipeline.run_job(job_id, services_) == JobState.SUCCEEDED
    assert services_.objects.get_result(job_id) == result


def test_a_document_whose_worker_keeps_dying_is_failed_not_run_again(services_: pipeline.Services) -> None:
    path = example_reports()[0]
    job_id = submit(services_.jobs, services_.objects, path.read_bytes(), path.name)
    services_.jobs.start_attempt(job_id)
    services_.jobs.start_attempt(job_id)  # the first attempt's process died (still running)
    assert pipeline.run_job(job_id, replace(services_, max_lost_attempts=2)) == JobState.SUCCEEDED

    services_.jobs.start_attempt(job_id)
    services_.jobs.start_attempt(job_id)  # killed again, twice
    assert services_.jobs.get(job_id).lost_attempts == 2
    assert pipeline.run_job(job_id, replace(services_, max_lost_attempts=2)) == JobState.FAILED
    job = services_.jobs.get(job_id)
    assert job.state == JobState.FAILED and job.stage == Stage.DONE
    assert job.error is not None and job.error.code == "internal_error"
    assert "died 2 times" in job.error.message


def test_missing_job_is_skipped(services_: pipeline.Services) -> None:
    assert pipeline.run_job("no-such-job", services_) is None


def test_transient_storage_errors_propagate_for_retry(services: Stack, jobs: JobStore) -> None:
    objects = ObjectStore(services.settings)
    job_id = submit(jobs, objects, b"some text")
    dead = Settings.model_validate(
        services.settings.model_dump() | {"s3_endpoint": f"127.0.0.1:{free_port()}"}
    )
    unreachable = ObjectStore(dead, client=make_client(dead))
    with pytest.raises(Exception) as caught:
        pipeline.run_job(job_id, pipeline.Services(jobs=jobs, objects=unreachable))
    from storage import TRANSIENT_ERRORS

    assert isinstance(caught.value, TRANSIENT_ERRORS)
    assert jobs.get(job_id).state != JobState.FAILED  # left for the retry, not failed


def test_parse_bytes_maps_extraction_errors() -> None:
    with pytest.raises(pipeline.JobFailure) as caught:
        pipeline.parse_bytes(os.urandom(64).replace(b"%PDF", b"...."), None)
    assert caught.value.code in ("unsupported_type", "empty_file")
