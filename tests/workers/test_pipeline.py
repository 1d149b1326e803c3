"""The pipeline's stages without Celery, against the real Redis and S3."""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import replace
from typing import Any

import pytest

from gongkai.settings import Settings
from gongkai.stack import Stack, free_port
from storage import JobState, JobStore, ObjectStore, Stage, dedup
from storage.dedup import DedupIndex, dedup_key, extractions
from storage.jobs import new_job_id, now
from storage.objects import make_client, text_key
from tests.conftest import SHARED, example_reports, make_job
from tests.extract import bad_inputs
from workers import pipeline


def submit(
    jobs: JobStore, objects: ObjectStore, data: bytes, filename: str = "x.txt", *, force: bool = True
) -> str:
    """A recorded job of these bytes; forced unless a test is about dedup (other tests may have
    processed the same bytes in this session)."""
    stored = objects.put_original(io.BytesIO(data), max_bytes=len(data) + 1)
    job = make_job(id=new_job_id(), created=now(), filename=filename, sha256=stored.sha256, size=stored.size,
                   original_key=stored.key, force=force)  # fmt: skip
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


def test_a_pdf_without_text_fails_with_its_pages_counted(services_: pipeline.Services) -> None:
    # the last page's progress goes out with the next write: here the failure
    job_id = submit(services_.jobs, services_.objects, bad_inputs.blank_pdf(2))
    assert pipeline.run_job(job_id, services_) == JobState.FAILED
    job = services_.jobs.get(job_id)
    assert job.error is not None and job.error.code == "no_text"
    assert job.progress.pages_done == job.progress.pages_total == 2


class CountingJobStore(JobStore):
    """The real store, counting the worker's writes between a job's start and its outcome."""

    def __init__(self, store: JobStore) -> None:
        super().__init__(store.redis, ttl_seconds=store.ttl)
        self.running_writes: list[dict[str, object]] = []

    def record_running(self, job_id: str, **fields: Any) -> bool:
        self.running_writes.append(fields)
        return super().record_running(job_id, **fields)


@pytest.mark.parametrize(
    ("interval", "stages"), [(60.0, ["extracting"]), (0.0, ["extracting", "parsing", "storing"])]
)
def test_short_steps_soon_after_a_write_wait_for_the_outcome(
    services_: pipeline.Services, monkeypatch: pytest.MonkeyPatch, interval: float, stages: list[str]
) -> None:
    monkeypatch.setattr(pipeline, "WRITE_INTERVAL_S", interval)
    counting = CountingJobStore(services_.jobs)
    job_id = submit(counting, services_.objects, unique(example_reports()[0].read_bytes()))
    job = counting.start(job_id)
    assert pipeline.run_job(job_id, replace(services_, jobs=counting), job=job) == JobState.SUCCEEDED
    assert [str(w["stage"]) for w in counting.running_writes] == stages
    done = counting.get(job_id)  # what waited is written with the outcome
    assert done.stage == Stage.DONE and done.progress.pages_done == done.progress.pages_total == 1


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


# -- dedup: the same bytes take the earlier outcome -------------------------------------------------


def unique(data: bytes) -> bytes:
    """Bytes no other test has uploaded (a report with a line of its own)."""
    return data + f"\n{uuid.uuid4()}\n".encode()


def test_the_same_bytes_take_the_earlier_result_without_extraction(services_: pipeline.Services) -> None:
    data = unique(example_reports()[1].read_bytes())
    first = submit(services_.jobs, services_.objects, data, "first.txt", force=False)
    assert pipeline.run_job(first, services_) == JobState.SUCCEEDED
    second = submit(services_.jobs, services_.objects, data, "again.txt", force=False)
    before = extractions(services_.jobs.redis)
    assert pipeline.run_job(second, services_) == JobState.SUCCEEDED
    assert extractions(services_.jobs.redis) == before  # nothing extracted
    job = services_.jobs.get(second)
    assert job.duplicate_of == first and job.stage == Stage.DONE and job.needs_review is False
    earlier, reused = services_.objects.get_result(first), services_.objects.get_result(second)
    assert reused["document"] == earlier["document"] and reused["pages"] == earlier["pages"]
    assert reused["job_id"] == second and reused["source"]["filename"] == "again.txt"
    # a plain-text report's text is its original: neither job stored a copy
    assert job.media_type == "text/plain" and job.original_key == services_.jobs.get(first).original_key
    assert not any(services_.objects.exists(services_.objects.results, text_key(j)) for j in (first, second))


def test_an_html_report_keeps_its_text_and_a_duplicate_gets_a_copy(services_: pipeline.Services) -> None:
    report = example_reports()[1].read_text(encoding="utf-8")
    page = f"<html><body><pre>{report}</pre><p>{uuid.uuid4()}</p></body></html>".encode()
    first = submit(services_.jobs, services_.objects, page, "first.html", force=False)
    assert pipeline.run_job(first, services_) == JobState.SUCCEEDED
    assert services_.jobs.get(first).media_type == "text/html"
    text = services_.objects.get_text(first)
    assert "政府信息公开" in text
    second = submit(services_.jobs, services_.objects, page, "again.html", force=False)
    assert pipeline.run_job(second, services_) == JobState.SUCCEEDED
    assert services_.jobs.get(second).duplicate_of == first
    assert services_.objects.get_text(second) == text


def test_force_processes_the_same_bytes_again(services_: pipeline.Services) -> None:
    data = unique(example_reports()[2].read_bytes())
    first = submit(services_.jobs, services_.objects, data, force=False)
    assert pipeline.run_job(first, services_) == JobState.SUCCEEDED
    forced = submit(services_.jobs, services_.objects, data, force=True)
    before = extractions(services_.jobs.redis)
    assert pipeline.run_job(forced, services_) == JobState.SUCCEEDED
    assert extractions(services_.jobs.redis) == before + 1
    assert services_.jobs.get(forced).duplicate_of is None
    # the forced run is now the outcome later uploads reuse
    third = submit(services_.jobs, services_.objects, data, force=False)
    assert pipeline.run_job(third, services_) == JobState.SUCCEEDED
    assert services_.jobs.get(third).duplicate_of == forced


def test_a_failure_of_the_bytes_is_reused_a_transient_one_is_not(services_: pipeline.Services) -> None:
    data = b"\x00\x01\x02" * 700 + os.urandom(16)  # unique bytes, not a document
    first = submit(services_.jobs, services_.objects, data, force=False)
    assert pipeline.run_job(first, services_) == JobState.FAILED
    second = submit(services_.jobs, services_.objects, data, force=False)
    before = extractions(services_.jobs.redis)
    assert pipeline.run_job(second, services_) == JobState.FAILED
    assert extractions(services_.jobs.redis) == before
    job = services_.jobs.get(second)
    assert job.duplicate_of == first and job.error == services_.jobs.get(first).error

    timed_out = submit(services_.jobs, services_.objects, data + b"!", force=False)
    services_.jobs.fail(timed_out, "timeout", "processing took longer than the time limit")
    DedupIndex(services_.jobs.redis).record(services_.jobs.get(timed_out))
    retry = submit(services_.jobs, services_.objects, data + b"!", force=False)
    assert pipeline.run_job(retry, services_) == JobState.FAILED
    processed = services_.jobs.get(retry)  # not reused: processed, and failed for its own reason
    assert processed.duplicate_of is None
    assert processed.error is not None and processed.error.code == "unsupported_type"


def test_a_new_pipeline_version_or_another_tenant_does_not_reuse() -> None:
    sha = "b" * 64
    assert dedup_key(sha) != dedup_key(sha, "tenant-a") != dedup_key(sha, "tenant-b")
    assert dedup.PIPELINE_VERSION in dedup_key(sha)


def test_needs_review_is_set_from_flags_and_checks(services_: pipeline.Services) -> None:
    path = SHARED / "samples" / "huaian_2024_raw.txt"  # a report the parser flags
    job_id = submit(services_.jobs, services_.objects, path.read_bytes(), path.name)
    assert pipeline.run_job(job_id, services_) == JobState.SUCCEEDED
    assert services_.jobs.get(job_id).needs_review is True
    assert pipeline.needs_review({"flags": [], "checks": [{"passed": False}]})
    assert not pipeline.needs_review({"flags": [], "checks": [{"passed": True}], "needs_review": False})
