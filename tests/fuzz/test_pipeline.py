"""Fuzz the service's path: broken uploads stored in the real S3, recorded in the real Redis and run by
`workers.pipeline.run_job` (the Celery task's body). Every job ends in a final state, with its result
objects when it succeeded and a stable error code (never `internal_error`) when it failed."""

from __future__ import annotations

import io

from hypothesis import event, given, settings

from storage import JobState, JobStore, ObjectStore, Stage
from storage.jobs import new_job_id, now
from storage.objects import text_is_stored
from tests.conftest import make_job
from tests.fuzz.seeds import FUZZ, STABLE_CODES, mutated
from workers import pipeline


@settings(FUZZ, max_examples=150)
@given(data=mutated())
def test_every_broken_upload_ends_final_with_a_result_or_a_stable_code(
    jobs: JobStore, objects: ObjectStore, data: bytes
) -> None:
    stored = objects.put_original(io.BytesIO(data), max_bytes=len(data) + 1)
    job = make_job(id=new_job_id(), created=now(), filename="fuzz.bin", sha256=stored.sha256,
                   size=stored.size, original_key=stored.key)  # fmt: skip
    jobs.create(job)
    state = pipeline.run_job(job.id, pipeline.Services(jobs=jobs, objects=objects))

    record = jobs.get(job.id)
    assert state in (JobState.SUCCEEDED, JobState.FAILED)
    assert (record.state, record.stage) == (state, Stage.DONE) and record.finished is not None
    prefix = f"jobs/{job.id}/"
    files = sorted(o.object_name or "" for o in objects.client.list_objects(objects.results, prefix=prefix))
    if state == JobState.SUCCEEDED:
        assert record.error is None and record.result_key == f"{prefix}result.json"
        text = [f"{prefix}text.txt"] if text_is_stored(record.media_type) else []  # plain text: the original
        assert files == [f"{prefix}result.json", *text]
        assert objects.get_result(job.id)["job_id"] == job.id
        event(f"succeeded: {record.media_type}")
    else:
        assert record.error is not None and record.error.message
        assert record.error.code in STABLE_CODES, record.error
        assert files == []
        event(f"failed: {record.error.code}")
