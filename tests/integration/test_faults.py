"""The fault-injection suite on the real stack: bad inputs, oversized uploads, hostile archives, a
poison document that kills its worker every time, a pool process killed mid-OCR, Redis / S3
restarts in the middle of a batch, fuzzed documents and archives through the real worker, and (on a
second stack with small limits) the archive limits and the task time limit.

For every job it checks the end state, the error code, and the result objects in S3 (a succeeded job
has exactly its result and its text, a failed one none): nothing lost, nothing stored twice.
"""

from __future__ import annotations

import hashlib
import io
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pypdfium2 as pdfium
import pytest
from hypothesis import event, given, settings

from gongkai.settings import Settings
from gongkai.stack import Stack, free_port
from storage import JobStore, ObjectStore
from storage.objects import original_key, text_is_stored
from tests.conftest import example_reports, truth_for
from tests.extract import bad_inputs
from tests.fuzz.seeds import FUZZ, STABLE_CODES, mutated
from tests.fuzz.test_archives import reports_zip
from tests.integration.conftest import Upload, WaitFor
from tests.integration.test_batches import by_name, post_batch, wait_batch
from tests.integration.test_restarts import _children
from tests.integration.test_scan_upload import _scanned_tables_pdf
from tests.storage.zipfiles import make_zip, zip_bomb


def result_files_of(media_type: str | None) -> list[str]:
    """What a succeeded job stores: its result, and its text unless that is the original's."""
    return ["result.json", "text.txt"] if text_is_stored(media_type) else ["result.json"]


def result_files(objects: ObjectStore, job_id: str) -> list[str]:
    prefix = f"jobs/{job_id}/"
    listed = objects.client.list_objects(objects.results, prefix=prefix, recursive=True)
    return sorted(str(o.object_name).removeprefix(prefix) for o in listed)


def originals(objects: ObjectStore) -> set[str]:
    return {str(o.object_name) for o in objects.client.list_objects(objects.originals, recursive=True)}


def assert_outcomes(
    client: httpx.Client, objects: ObjectStore, records: list[dict[str, Any]], expected: list[str | None]
) -> None:
    """Each record ended as expected (None: succeeded, else failed with that code), with its result
    objects present exactly once when it succeeded and absent when it failed."""
    got = [(r["state"], (r["error"] or {}).get("code")) for r in records]
    want = [("succeeded", None) if code is None else ("failed", code) for code in expected]
    assert got == want, [(r["filename"], r["error"]) for r in records]
    for record in records:
        files = result_files(objects, record["id"])
        if record["state"] == "succeeded":
            assert files == result_files_of(record["media_type"]), record["filename"]
            assert client.get(f"/v1/jobs/{record['id']}/result").json()["job_id"] == record["id"]
        else:
            assert files == [], record["filename"]
            assert record["error"]["message"]
            assert client.get(f"/v1/jobs/{record['id']}/result").status_code == 409


def test_bad_inputs_each_fail_with_their_code_and_the_worker_carries_on(
    stack: Stack, upload: Upload, wait_for: WaitFor, client: httpx.Client, objects: ObjectStore
) -> None:
    report = example_reports()[1]
    cases: list[tuple[str, bytes, str | None]] = [
        ("empty.pdf", b"", "empty_file"),
        ("corrupt.pdf", bad_inputs.corrupt_pdf(), "corrupt_file"),
        ("encrypted.pdf", bad_inputs.encrypted_pdf(), "encrypted_pdf"),
        ("half.pdf", bad_inputs.truncated_pdf(), "corrupt_file"),
        ("half.png", bad_inputs.truncated_png(), "corrupt_file"),
        ("page.pdf", bad_inputs.html_as_pdf(), "not_a_report"),  # HTML: sniffed, read, not a report
        ("setup.pdf", bad_inputs.elf_executable(), "unsupported_type"),
        ("setup.exe.pdf", bad_inputs.pe_executable(), "unsupported_type"),
        ("huge.png", bad_inputs.huge_png(), "image_too_large"),  # 50,000 × 50,000 in its header
        ("long.pdf", bad_inputs.blank_pdf(301), "too_many_pages"),
        ("年报-gb18030.txt", bad_inputs.gb18030_report(report), None),
    ]
    worker = stack.pid("worker")
    jobs = upload(*((name, data) for name, data, _ in cases))
    records = wait_for([j["id"] for j in jobs], timeout=120)
    assert_outcomes(client, objects, records, [code for _, _, code in cases])
    assert all(r["attempts"] == 1 for r in records), [(r["filename"], r["attempts"]) for r in records]
    messages = {r["error"]["code"]: r["error"]["message"] for r in records if r["error"]}
    assert "password" in messages["encrypted_pdf"] and "301 pages" in messages["too_many_pages"]
    gb = client.get(f"/v1/jobs/{records[-1]['id']}/result").json()["document"]
    truth = truth_for(report)
    assert (gb["agency"], gb["year"]) == (truth["agency"], truth["year"])

    [good] = wait_for([upload(example_reports()[0])[0]["id"]])
    assert good["state"] == "succeeded", good["error"]
    assert stack.pid("worker") == worker  # no bad input took the worker down


def test_an_oversized_upload_is_refused_before_anything_is_stored(
    stack: Stack, client: httpx.Client, objects: ObjectStore
) -> None:
    limit = stack.settings.max_upload_bytes
    data = b"\xe5\xb9\xb4" * (limit // 3 + 1)  # text ("年…"), one byte over the limit at most 3
    assert limit < len(data) <= limit + 3
    before = originals(objects)
    response = client.post("/v1/documents", files=[("files", ("big.txt", data))], timeout=120)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "file_too_large"
    assert originals(objects) == before
    assert not objects.exists(objects.originals, original_key(hashlib.sha256(data).hexdigest()))

    # A declared body over the request limit is refused from its headers alone.
    host, port = stack.settings.api_host, stack.settings.api_port
    declared = limit * stack.settings.max_files_per_request * 2
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(
            f"POST /v1/documents HTTP/1.1\r\nHost: {host}\r\nContent-Length: {declared}\r\n"
            f"Authorization: {client.headers['Authorization']}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n\r\n--x\r\n".encode()
        )
        answer = b""
        while b"request_too_large" not in answer and (chunk := sock.recv(65536)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413") and b"request_too_large" in answer
    assert originals(objects) == before


def nested_zip(depth: int, inner: tuple[str, bytes]) -> bytes:
    data = make_zip([inner])
    for level in range(depth - 1, 0, -1):
        data = make_zip([(f"level{level + 1}.zip", data)])
    return data


def test_hostile_archives_fail_member_by_member(
    stack: Stack, client: httpx.Client, objects: ObjectStore
) -> None:
    report = example_reports()[2]
    slip = make_zip([("../../evil.txt", report.read_bytes()), ("ok/" + report.name, report.read_bytes())])
    deep = nested_zip(10, (report.name, report.read_bytes()))
    # the end record points 1 MB past the central directory: every member "starts" before the file
    shifted = bad_inputs.zip_with_offsets_before_the_start(
        make_zip([(f"shifted/{p.name}", p.read_bytes()) for p in example_reports()[:2]])
    )
    worker = stack.pid("worker")
    archives_sent = [
        ("bomb.zip", zip_bomb(200 * 1024 * 1024)),
        ("slip.zip", slip),
        ("deep.zip", deep),
        ("shifted.zip", shifted),
    ]
    batch = wait_batch(client, post_batch(client, *archives_sent)["id"], timeout=60)
    archives = {a["filename"]: (a["state"], (a["error"] or {}).get("code")) for a in batch["archives"]}
    assert archives == {
        "bomb.zip": ("failed", "archive_too_large"),
        "slip.zip": ("expanded", None),
        "deep.zip": ("expanded", None),
        "shifted.zip": ("expanded", None),
    }
    jobs = by_name(batch)
    expected = {
        "bomb.zip": "archive_too_large",
        "../../evil.txt": "unsafe_path",
        "ok/" + report.name: None,
        "level2.zip/level3.zip": "nested_archive",  # one level is expanded, never ten
        **{f"shifted/{p.name}": "corrupt_archive" for p in example_reports()[:2]},  # one by one
    }
    assert set(jobs) == set(expected)
    assert batch["counts"] == {"queued": 0, "running": 0, "succeeded": 1, "failed": 5, "cancelled": 0}
    records = [client.get(f"/v1/jobs/{jobs[name]['id']}").json() for name in expected]
    assert_outcomes(client, objects, records, list(expected.values()))
    assert not (stack.data.parent / "evil.txt").exists() and not (stack.data / "evil.txt").exists()
    assert stack.pid("worker") == worker


@pytest.mark.ocr
def test_a_document_that_kills_its_worker_every_time_fails_after_the_lost_attempts(
    stack: Stack,
    upload: Upload,
    wait_for: WaitFor,
    client: httpx.Client,
    jobs: JobStore,
    objects: ObjectStore,
    tmp_path: Path,
) -> None:
    worker = stack.pid("worker")
    assert worker is not None
    [job] = upload(_scanned_tables_pdf(tmp_path))  # OCR: seconds per page, time to catch it running
    lost = stack.settings.task_max_lost_attempts
    for attempt in range(1, lost + 1):
        deadline = time.monotonic() + 120
        while not ((current := jobs.get(job["id"])).attempts == attempt and current.state == "running"):
            assert time.monotonic() < deadline, f"attempt {attempt} never started: {current}"
            time.sleep(0.05)
        for child in _children(worker):  # the job's pool process dies, as an OOM kill would do it
            os.kill(child, signal.SIGKILL)

    [record] = wait_for([job["id"]], timeout=120)
    assert record["state"] == "failed" and record["error"]["code"] == "internal_error"
    assert f"died {lost} times" in record["error"]["message"]
    assert record["attempts"] == lost + 1 and jobs.get(job["id"]).lost_attempts == lost
    assert result_files(objects, job["id"]) == []
    assert stack.pid("worker") == worker  # the pool replaced its children; the worker lived on

    [good] = wait_for([upload(example_reports()[0])[0]["id"]])
    assert good["state"] == "succeeded", good["error"]


@pytest.mark.ocr
def test_a_job_killed_once_mid_ocr_finishes_once(
    stack: Stack,
    upload: Upload,
    wait_for: WaitFor,
    client: httpx.Client,
    jobs: JobStore,
    objects: ObjectStore,
    tmp_path: Path,
) -> None:
    worker = stack.pid("worker")
    assert worker is not None
    [job] = upload(_scanned_tables_pdf(tmp_path))
    deadline = time.monotonic() + 180
    while client.get(f"/v1/jobs/{job['id']}").json()["progress"]["pages_done"] < 1:  # mid-job
        assert time.monotonic() < deadline, "the job never got past its first page"
        time.sleep(0.05)
    for child in _children(worker):
        os.kill(child, signal.SIGKILL)
    [record] = wait_for([job["id"]], timeout=300)
    assert_outcomes(client, objects, [record], [None])  # one result, stored once
    assert record["attempts"] == 2 and jobs.get(job["id"]).lost_attempts == 1
    assert record["progress"]["pages_done"] == record["progress"]["pages_total"] == 3


def _distinct_reports(copies: int) -> list[tuple[str, bytes]]:
    """Copies of the example reports, each with different bytes (a trailing comment line), so each
    is its own original and its own job."""
    out = []
    for i in range(copies):
        for path in example_reports():
            out.append((f"{i:02d}/{path.name}", path.read_bytes() + f"\n（副本 {i}）\n".encode()))
    return out


def _wait_some_finished(client: httpx.Client, batch_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/v1/batches/{batch_id}", params={"limit": 1}).json()
        if body["counts"]["succeeded"] >= 1:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def _assert_all_done_once(
    client: httpx.Client, objects: ObjectStore, batch: dict[str, Any], members: list[tuple[str, bytes]]
) -> None:
    jobs = by_name(batch)
    assert set(jobs) == {name for name, _ in members}  # no member lost, none twice
    failed = [(j["filename"], j["error"]) for j in batch["jobs"] if j["state"] != "succeeded"]
    assert batch["total"] == len(members) and not failed, failed
    records = [client.get(f"/v1/jobs/{jobs[name]['id']}").json() for name, _ in members]
    assert_outcomes(client, objects, records, [None] * len(members))


def test_redis_restart_during_a_batch_loses_no_job(
    stack: Stack, client: httpx.Client, objects: ObjectStore
) -> None:
    members = _distinct_reports(6)
    accepted = post_batch(client, ("many.zip", make_zip(members)))
    running = _wait_some_finished(client, accepted["id"])
    assert running["counts"]["succeeded"] < len(members), "the batch finished before the fault"
    stack.stop("redis")  # SIGTERM: AOF flushed; queue, job records and batch come back from it
    time.sleep(2)
    stack.start("redis")
    batch = wait_batch(client, accepted["id"], timeout=180)
    _assert_all_done_once(client, objects, batch, members)


def test_s3_restart_during_a_batch_loses_no_job(
    stack: Stack, client: httpx.Client, objects: ObjectStore
) -> None:
    members = _distinct_reports(6)
    accepted = post_batch(client, ("many.zip", make_zip(members)))
    running = _wait_some_finished(client, accepted["id"])
    assert running["counts"]["succeeded"] < len(members), "the batch finished before the fault"
    stack.stop("s3")
    try:
        time.sleep(3)  # jobs meet the outage and retry with backoff
    finally:
        stack.start("s3")
    batch = wait_batch(client, accepted["id"], timeout=240)
    _assert_all_done_once(client, objects, batch, members)
    retried = [j for j in batch["jobs"] if client.get(f"/v1/jobs/{j['id']}").json()["attempts"] > 1]
    assert retried, "no job met the outage"


@settings(FUZZ, max_examples=30)
@given(data=mutated())
def test_broken_uploads_through_the_real_worker_end_final_without_internal_errors(
    stack: Stack, upload: Upload, wait_for: WaitFor, client: httpx.Client, objects: ObjectStore, data: bytes
) -> None:
    worker = stack.pid("worker")
    [job] = upload(("fuzz.bin", data))
    [record] = wait_for([job["id"]], timeout=120)
    assert record["attempts"] == 1
    if record["state"] == "failed":
        assert record["error"]["code"] in STABLE_CODES, record["error"]
    assert_outcomes(client, objects, [record], [(record["error"] or {}).get("code")])
    assert stack.pid("worker") == worker
    event(f"{record['state']}: {(record['error'] or {}).get('code') or record['media_type']}")


# -- limits on a dedicated stack: small enough to reach with small files --------------------------

KiB = 1024


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    used: set[int] = set()

    def port() -> int:
        used.add(p := free_port(used))
        return p

    settings = Settings(
        data_dir=tmp_path_factory.mktemp("gongkai-small"),
        redis_url=f"redis://127.0.0.1:{port()}/0",
        s3_endpoint=f"127.0.0.1:{port()}",
        api_host="127.0.0.1",
        api_port=port(),
        worker_concurrency=1,
        max_upload_bytes=8 * 1024 * KiB,  # room for a scanned PDF
        max_archive_bytes=256 * KiB,
        archive_max_members=8,
        archive_max_member_bytes=32 * KiB,
        archive_max_total_bytes=96 * KiB,
        # Far below what OCR of a dozen scanned pages takes; a text report needs well under a second.
        task_soft_time_limit=5,
        task_time_limit=10,
        log_level="INFO",
    )
    small = Stack(settings)
    try:
        small.up()
        yield small
    finally:
        small.down()


def _noise(size: int, seed: int) -> bytes:
    """Text that does not compress (the archive ratio check stays out of the way)."""
    return hashlib.shake_256(f"{seed}".encode()).hexdigest(size // 2).encode()


def test_archive_limits_on_the_real_service(small_stack: Stack) -> None:
    report = example_reports()[0]
    objects = ObjectStore(small_stack.settings)
    with httpx.Client(
        base_url=f"http://127.0.0.1:{small_stack.settings.api_port}",
        timeout=60,
        headers={"Authorization": f"Bearer {small_stack.dev_key()}"},
    ) as client:
        before = originals(objects)
        too_big = make_zip([("noise.txt", _noise(300 * KiB, 1))], method=0)
        refused = client.post("/v1/batches", files=[("files", ("big.zip", too_big))])
        assert refused.status_code == 413 and refused.json()["error"]["code"] == "file_too_large"
        assert originals(objects) == before  # refused before it was stored

        many = make_zip([(f"{i}.txt", report.read_bytes()) for i in range(9)])
        total = make_zip([(f"{i}.txt", _noise(30 * KiB, i)) for i in range(4)])  # 120 KiB > 96 KiB
        mixed = make_zip([("big.txt", _noise(40 * KiB, 9)), (report.name, report.read_bytes())])
        batch = wait_batch(
            client,
            post_batch(client, ("many.zip", many), ("total.zip", total), ("mixed.zip", mixed))["id"],
            timeout=120,
        )
        archives = {a["filename"]: (a["state"], (a["error"] or {}).get("code")) for a in batch["archives"]}
        assert archives == {
            "many.zip": ("failed", "archive_too_large"),
            "total.zip": ("failed", "archive_too_large"),
            "mixed.zip": ("expanded", None),
        }
        names = ["many.zip", "total.zip", "big.txt", report.name]
        jobs = by_name(batch)
        assert set(jobs) == set(names)
        records = [client.get(f"/v1/jobs/{jobs[name]['id']}").json() for name in names]
        expected = ["archive_too_large", "archive_too_large", "file_too_large", None]
        assert_outcomes(client, objects, records, expected)


@pytest.mark.ocr
def test_a_document_over_the_time_limit_fails_as_timeout_and_the_worker_goes_on(
    small_stack: Stack, tmp_path: Path
) -> None:
    scan = pdfium.PdfDocument(str(_scanned_tables_pdf(tmp_path)))
    long_scan = pdfium.PdfDocument.new()
    for _ in range(4):
        long_scan.import_pages(scan)  # 12 OCR pages: about a minute of work against a 5 s limit
    out = io.BytesIO()
    long_scan.save(out)
    objects = ObjectStore(small_stack.settings)
    worker = small_stack.pid("worker")
    report = example_reports()[0]
    with httpx.Client(
        base_url=f"http://127.0.0.1:{small_stack.settings.api_port}",
        timeout=60,
        headers={"Authorization": f"Bearer {small_stack.dev_key()}"},
    ) as client:
        accepted = post_batch(client, ("long-scan.pdf", out.getvalue()), (report.name, report.read_bytes()))
        batch = wait_batch(client, accepted["id"], timeout=120)
        records = [client.get(f"/v1/jobs/{j['id']}").json() for j in accepted["jobs"]]
        assert_outcomes(client, objects, records, ["timeout", None])
        assert records[0]["attempts"] == 1 and "time limit" in records[0]["error"]["message"]
        assert batch["counts"] == {"queued": 0, "running": 0, "succeeded": 1, "failed": 1, "cancelled": 0}
    assert small_stack.pid("worker") == worker


ARCHIVE_CODES = {"corrupt_archive", "archive_too_large", "unsafe_path", "encrypted_archive_member",
                 "nested_archive", "unsupported_compression", "file_too_large"}  # fmt: skip


@settings(FUZZ, max_examples=15)
@given(data=mutated(pool={"zip": reports_zip()}))
def test_broken_archives_through_the_real_worker_finish_their_batch(
    stack: Stack, client: httpx.Client, objects: ObjectStore, data: bytes
) -> None:
    worker = stack.pid("worker")
    batch = wait_batch(client, post_batch(client, ("fuzz.zip", data))["id"], timeout=120)
    for archive in batch["archives"]:  # none when the damage hid the ZIP signature: a document job
        assert archive["state"] in ("expanded", "failed")
        if archive["state"] == "failed":
            assert archive["error"]["code"] in ARCHIVE_CODES, archive["error"]
        event(f"archive {archive['state']}")
    assert batch["counts"]["queued"] == batch["counts"]["running"] == 0
    records = [client.get(f"/v1/jobs/{j['id']}").json() for j in batch["jobs"]]
    for record in records:
        code = (record["error"] or {}).get("code")
        assert code is None or code in ARCHIVE_CODES | STABLE_CODES, record
        assert_outcomes(client, objects, [record], [code])
        event(f"member {code or 'succeeded'}")
    assert stack.pid("worker") == worker
