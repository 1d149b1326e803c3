"""Batches and archives (ZIP, tar, tar.gz, nested) through the real service: expansion, refusals,
progress, paging and exports."""

from __future__ import annotations

import csv
import io
import json
import tarfile
import time
import uuid
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from gongkai.stack import Stack
from storage import ArchiveEntry, BatchStore, JobStore, ObjectStore
from storage.batches import new_batch_id
from tests.conftest import example_reports, truth_for
from tests.integration.test_examples import TABLES, leaves
from tests.storage.archive_files import make_tar, tar_gz_bomb
from tests.storage.zipfiles import legacy_name, lying_sizes, make_zip, set_flag, with_raw_names, zip_bomb
from workers.archives import ArchiveServices, expand_archive

GBK_NAME = "年报/工业信息和科技局2023年政府信息公开工作年度报告.txt"


def post_batch(client: httpx.Client, *files: tuple[str, bytes]) -> dict[str, Any]:
    # forced: a file another test (sharing this stack) processed first would not be processed again
    response = client.post("/v1/batches", files=[("files", f) for f in files], params={"force": "true"})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    assert response.headers["location"] == body["location"] == f"/v1/batches/{body['id']}"
    return body


def wait_batch(client: httpx.Client, batch_id: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = client.get(f"/v1/batches/{batch_id}", params={"limit": 1000})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["finished"]:
            assert "retry-after" not in response.headers
            return body
        assert response.headers["retry-after"]
        if time.monotonic() > deadline:
            pytest.fail(f"batch not finished after {timeout}s: {body['counts']}")
        time.sleep(0.2)


def by_name(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["filename"]: j for j in batch["jobs"]}


def export(client: httpx.Client, batch_id: str, fmt: str) -> bytes:
    response = client.get(f"/v1/batches/{batch_id}/results", params={"format": fmt})
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    return response.content


def examples_archive() -> tuple[bytes, dict[str, Any]]:
    """The five examples, a GB18030 copy of one under a GBK name (no UTF-8 flag), and OS junk."""
    paths = example_reports()
    truths = {f"reports/{p.name}": truth_for(p) for p in paths}
    gbk_raw = GBK_NAME.encode("gbk")
    placeholder = legacy_name(0, gbk_raw)
    entries = [
        ("reports/", b""),
        ("reports/empty-dir/", b""),
        *((f"reports/{p.name}", p.read_bytes()) for p in paths),
        (placeholder, paths[1].read_text(encoding="utf-8").encode("gb18030")),
        ("__MACOSX/reports/._000.txt", b"\x00\x05\x16\x07junk"),
        ("reports/.DS_Store", b"\x00\x00\x00\x01Bud1"),
    ]
    truths[GBK_NAME] = truth_for(paths[1])
    return with_raw_names(make_zip(entries), {placeholder: gbk_raw}), truths


def test_an_archive_of_examples_becomes_a_batch_with_exports(client: httpx.Client, stack: Stack) -> None:
    data, truths = examples_archive()
    accepted = post_batch(client, ("年报.zip", data))
    assert accepted["jobs"] == [] and [a["state"] for a in accepted["archives"]] == ["expanding"]

    batch = wait_batch(client, accepted["id"])
    [archive] = batch["archives"]
    assert (archive["state"], archive["members"], archive["skipped"]) == ("expanded", 6, 4)
    assert batch["total"] == 6 and batch["progress"] == 1.0
    jobs = by_name(batch)
    assert set(jobs) == set(truths)  # the GBK name decoded, the junk skipped
    expected = {"queued": 0, "running": 0, "succeeded": 6, "failed": 0, "cancelled": 0}
    assert batch["counts"] == expected, batch["jobs"]
    job = client.get(f"/v1/jobs/{jobs[GBK_NAME]['id']}").json()
    assert job["filename"] == GBK_NAME and job["batch_id"] == batch["id"]

    lines = [json.loads(line) for line in export(client, batch["id"], "jsonl").decode().splitlines()]
    rows = list(csv.DictReader(io.StringIO(export(client, batch["id"], "csv").decode("utf-8"))))
    table = pq.read_table(io.BytesIO(export(client, batch["id"], "parquet"))).to_pylist()
    assert len(lines) == len(rows) == len(table) == 6
    assert list(rows[0])[:10] == list(table[0])[:10]  # same columns, same order
    mismatches: list[str] = []
    for line, row, record in zip(lines, rows, table, strict=True):
        name = line["filename"]
        truth = truths[name]
        assert line["state"] == row["state"] == record["state"] == "succeeded"
        assert line["job_id"] == row["job_id"] == record["job_id"] == jobs[name]["id"]
        for key in ("agency", "year", "format"):
            assert line["document"][key] == record[key] == truth[key], (name, key)
            assert row[key] == str(truth[key])
        assert row["needs_review"] in ("true", "false") and int(row["flag_count"]) >= 0
        for section in TABLES:
            for key, expected in leaves(truth[section]).items():
                column = f"{section}.{key}"
                got_csv = float(row[column]) if row[column] else None
                if not (leaves(line["document"][section]).get(key) == record[column] == got_csv == expected):
                    mismatches.append(
                        f"{name}: {column} = {record[column]!r}/{row[column]!r}, truth {expected!r}"
                    )
    assert not mismatches, "\n".join(mismatches[:20])


def test_reposting_an_archive_makes_a_new_batch_from_the_stored_originals(
    client: httpx.Client, stack: Stack
) -> None:
    data = make_zip([(p.name, p.read_bytes()) for p in example_reports()[:2]])
    first = post_batch(client, ("a.zip", data))
    wait_batch(client, first["id"])
    objects = ObjectStore(stack.settings)
    before = sum(1 for _ in objects.client.list_objects(objects.originals, recursive=True))
    second = post_batch(client, ("again.zip", data))
    assert second["id"] != first["id"]
    assert second["archives"][0]["sha256"] == first["archives"][0]["sha256"]
    batch = wait_batch(client, second["id"])
    assert batch["total"] == 2
    after = sum(1 for _ in objects.client.list_objects(objects.originals, recursive=True))
    assert after == before  # the archive and its members were already stored


def test_unsafe_encrypted_and_nested_members_fail_alone(client: httpx.Client, stack: Stack) -> None:
    outside = f"/tmp/gongkai-evil-{uuid.uuid4().hex}.txt"
    report = example_reports()[2]
    data = make_zip(
        [
            ("../evil.txt", b"evil"),
            (outside, b"evil"),
            ("C:\\Windows\\evil.txt", b"evil"),
            ("inner.zip", make_zip([("deeper.zip", make_zip([("a.txt", b"a")]))])),
            ("secret.txt", b"password protected"),
            (report.name, report.read_bytes()),
        ]
    )
    data = set_flag(data, "secret.txt", 0x1)
    batch = wait_batch(
        client, post_batch(client, ("mixed.zip", data), (report.name, report.read_bytes()))["id"]
    )
    jobs = by_name(batch)
    codes = {name: (j["error"] or {}).get("code") for name, j in jobs.items() if j["state"] == "failed"}
    assert codes == {
        "../evil.txt": "unsafe_path",
        outside: "unsafe_path",
        "C:\\Windows\\evil.txt": "unsafe_path",
        "inner.zip/deeper.zip": "nested_archive",
        "secret.txt": "encrypted_archive_member",
    }
    assert batch["total"] == 7  # the report twice: loose and zipped
    assert client.get(f"/v1/jobs/{jobs['../evil.txt']['id']}/original").json()["error"]["code"] == (
        "original_missing"
    )
    assert not (stack.data.parent / "evil.txt").exists() and not (stack.data / "evil.txt").exists()
    assert not __import__("os").path.exists(outside)
    assert jobs[report.name]["state"] == "succeeded" and batch["counts"]["failed"] == 5
    lines = export(client, batch["id"], "jsonl").decode().splitlines()
    assert {json.loads(line)["filename"] for line in lines} == set(jobs)


def test_zip_bombs_are_refused_quickly_and_the_worker_carries_on(client: httpx.Client) -> None:
    bomb = zip_bomb(200 * 1024 * 1024)  # 200 MB of zeros in under 1 MB
    liar = lying_sizes(make_zip([("zeros.txt", bytes(20_000_000))]), "zeros.txt", 1000)
    started = time.monotonic()
    batch = wait_batch(client, post_batch(client, ("bomb.zip", bomb), ("liar.zip", liar))["id"], timeout=30)
    assert time.monotonic() - started < 15
    archives = {a["filename"]: a for a in batch["archives"]}
    assert archives["bomb.zip"]["state"] == "failed"
    assert archives["bomb.zip"]["error"]["code"] == "archive_too_large"
    assert archives["liar.zip"]["state"] == "expanded"  # its header looked harmless…
    codes = {j["filename"]: j["error"]["code"] for j in batch["jobs"]}
    assert codes == {"bomb.zip": "archive_too_large", "zeros.txt": "corrupt_archive"}  # …its data did not

    report = example_reports()[0]
    after = wait_batch(client, post_batch(client, (report.name, report.read_bytes()))["id"])
    assert after["counts"]["queued"] == after["counts"]["running"] == 0 and after["total"] == 1


def test_corrupt_archives(client: httpx.Client) -> None:
    truncated = make_zip([("a.txt", b"a" * 5000)])[:-40]
    batch = wait_batch(
        client, post_batch(client, ("bad.zip", b"PK\x03\x04" + b"\x07" * 500), ("cut.zip", truncated))["id"]
    )
    assert [a["error"]["code"] for a in batch["archives"]] == ["corrupt_archive", "corrupt_archive"]
    assert batch["counts"]["failed"] == 2 and batch["total"] == 2
    rows = list(csv.DictReader(io.StringIO(export(client, batch["id"], "csv").decode())))
    assert [r["error_code"] for r in rows] == ["corrupt_archive", "corrupt_archive"]

    empty = wait_batch(client, post_batch(client, ("empty.zip", make_zip([("junk/", b"")])))["id"])
    assert (empty["total"], empty["archives"][0]["state"], empty["archives"][0]["skipped"]) == (
        0,
        "expanded",
        1,
    )
    assert export(client, empty["id"], "jsonl") == b""


def test_batch_api_errors_and_paging(client: httpx.Client) -> None:
    assert client.get("/v1/batches/nope").json()["error"]["code"] == "batch_not_found"
    assert client.get("/v1/batches/nope/results").status_code == 404
    assert client.post("/v1/batches", data={"x": "1"}).json()["error"]["code"] == "no_files"
    files = [(f"{i}.txt", f"第{i}号".encode()) for i in range(5)]
    accepted = post_batch(client, *files)
    assert [j["filename"] for j in accepted["jobs"]] == [name for name, _ in files]
    page = client.get(f"/v1/batches/{accepted['id']}", params={"offset": 1, "limit": 2}).json()
    assert [j["filename"] for j in page["jobs"]] == ["1.txt", "2.txt"]
    assert page["links"]["next"].endswith("offset=3&limit=2")
    bad = client.get(f"/v1/batches/{accepted['id']}/results", params={"format": "xlsx"})
    assert bad.status_code == 422
    batch = wait_batch(client, accepted["id"])
    assert batch["counts"]["failed"] == 5  # not reports


def test_retried_jobs_and_expansions_are_counted_once(client: httpx.Client, stack: Stack) -> None:
    reports = example_reports()
    stack.stop("worker")  # everything waits in the queue…
    accepted = post_batch(
        client,
        ("two.zip", make_zip([(p.name, p.read_bytes()) for p in reports[3:5]])),
        ("loose.txt", reports[0].read_bytes()),
    )
    stack.stop("s3")  # …and meets an S3 outage: the expansion and the job retry with backoff
    try:
        stack.start("worker")
        deadline = time.monotonic() + 20
        while client.get(f"/v1/jobs/{accepted['jobs'][0]['id']}").json()["stage"] != "retrying":
            assert time.monotonic() < deadline, "the job never retried"
            time.sleep(0.2)
    finally:
        stack.start("s3")
    batch = wait_batch(client, accepted["id"])
    assert batch["total"] == 3 and batch["archives"][0]["members"] == 2
    assert sum(batch["counts"].values()) == 3  # no job counted twice
    loose = client.get(f"/v1/jobs/{accepted['jobs'][0]['id']}").json()
    assert loose["attempts"] >= 2
    assert batch["counts"]["succeeded"] == 3, batch["jobs"]


def by_path(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {j["source_path"]: j for j in batch["jobs"]}


def result(client: httpx.Client, job_id: str) -> dict[str, Any]:
    response = client.get(f"/v1/jobs/{job_id}/result")
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()["document"]
    return document


def test_tar_and_tar_gz_batches_expand_and_their_jobs_succeed(client: httpx.Client) -> None:
    reports = example_reports()
    tar = make_tar([("年报/", b""), *((f"年报/{p.name}", p.read_bytes()) for p in reports[:2])])
    tgz = make_tar([(p.name, p.read_bytes()) for p in reports[2:4]], gz=True)
    # told by their bytes: the names say nothing
    batch = wait_batch(client, post_batch(client, ("reports.tar", tar), ("more.dat", tgz))["id"])
    assert [(a["state"], a["members"], a["skipped"]) for a in batch["archives"]] == [
        ("expanded", 2, 1),
        ("expanded", 2, 0),
    ]
    jobs = by_path(batch)
    assert set(jobs) == {f"reports.tar/年报/{p.name}" for p in reports[:2]} | {
        f"more.dat/{p.name}" for p in reports[2:4]
    }
    assert batch["counts"]["succeeded"] == 4, batch["jobs"]
    for path, report in (
        (f"reports.tar/年报/{reports[0].name}", reports[0]),
        (f"more.dat/{reports[3].name}", reports[3]),
    ):
        document = result(client, jobs[path]["id"])
        truth = truth_for(report)
        assert (document["agency"], document["year"]) == (truth["agency"], truth["year"])
    job = client.get(f"/v1/jobs/{jobs[f'more.dat/{reports[2].name}']['id']}").json()
    assert job["source_path"] == f"more.dat/{reports[2].name}" and job["filename"] == reports[2].name


def test_nested_archives_open_one_level_deep(client: httpx.Client) -> None:
    reports = example_reports()
    third_level = make_zip([("x.txt", reports[0].read_bytes())])
    inner = make_tar(
        [
            (f"dir/{reports[1].name}", reports[1].read_bytes()),
            (f"dir/{reports[2].name}", reports[2].read_bytes()),
            ("deeper/third.zip", third_level),
            ("deeper/third.tar", make_tar([("x.txt", b"x")])),
        ],
        gz=True,
    )
    outer = make_zip([("inner/inner.tar.gz", inner), (reports[3].name, reports[3].read_bytes())])
    batch = wait_batch(
        client, post_batch(client, ("outer.zip", outer), (reports[4].name, reports[4].read_bytes()))["id"]
    )
    jobs = by_path(batch)
    nested = "outer.zip/inner/inner.tar.gz"
    states = {path: (j["state"], (j["error"] or {}).get("code")) for path, j in jobs.items()}
    assert states == {
        f"{nested}/dir/{reports[1].name}": ("succeeded", None),
        f"{nested}/dir/{reports[2].name}": ("succeeded", None),
        f"{nested}/deeper/third.zip": ("failed", "nested_archive"),
        f"{nested}/deeper/third.tar": ("failed", "nested_archive"),
        f"outer.zip/{reports[3].name}": ("succeeded", None),
        reports[4].name: ("succeeded", None),  # a plain upload's source_path is its name
    }
    assert batch["archives"][0]["members"] == 5
    document = result(client, jobs[f"{nested}/dir/{reports[2].name}"]["id"])
    assert document["agency"] == truth_for(reports[2])["agency"]
    assert {f["source_path"]: f["code"] for f in batch["failed_members"]} == {
        f"{nested}/deeper/third.zip": "nested_archive",
        f"{nested}/deeper/third.tar": "nested_archive",
    }


def test_tar_links_devices_and_escapes_fail_alone(client: httpx.Client, stack: Stack) -> None:
    report = example_reports()[1]
    outside = f"/tmp/gongkai-evil-{uuid.uuid4().hex}.txt"
    tar = make_tar(
        [
            (report.name, report.read_bytes()),
            ("../evil.txt", b"evil"),
            (outside, b"evil"),
            ("link.txt", tarfile.SYMTYPE, "/etc/passwd"),
            ("hard.txt", tarfile.LNKTYPE, report.name),
            ("tty", tarfile.CHRTYPE, ""),
            ("pipe", tarfile.FIFOTYPE, ""),
        ],
        gz=True,
    )
    batch = wait_batch(client, post_batch(client, ("mixed.tgz", tar))["id"])
    codes = {j["filename"]: (j["error"] or {}).get("code") for j in batch["jobs"]}
    assert codes == {
        report.name: None,
        "../evil.txt": "unsafe_path",
        outside: "unsafe_path",
        "link.txt": "unsafe_path",
        "hard.txt": "unsafe_path",
        "tty": "unsafe_path",
        "pipe": "unsafe_path",
    }
    assert batch["counts"]["succeeded"] == 1 and batch["counts"]["failed"] == 6
    assert not __import__("os").path.exists(outside)
    assert not (stack.data.parent / "evil.txt").exists() and not (stack.data / "evil.txt").exists()
    messages = {f["source_path"]: f["message"] for f in batch["failed_members"]}
    assert "symbolic link" in messages["mixed.tgz/link.txt"] and "device" in messages["mixed.tgz/tty"]


def test_a_tar_gz_bomb_is_refused_quickly(client: httpx.Client) -> None:
    bomb = tar_gz_bomb(200 * 1024 * 1024)  # 200 MB of zeros in a fifth of a megabyte
    started = time.monotonic()
    batch = wait_batch(client, post_batch(client, ("bomb.tar.gz", bomb))["id"], timeout=30)
    assert time.monotonic() - started < 15
    [archive] = batch["archives"]
    assert (archive["state"], archive["error"]["code"]) == ("failed", "archive_too_large")
    assert "gzip stream expands" in archive["error"]["message"]
    assert [f["code"] for f in batch["failed_members"]] == ["archive_too_large"]


def test_jobs_page_by_state_and_status_counts_pages(client: httpx.Client) -> None:
    reports = example_reports()
    entries = [(f"r/{p.name}", p.read_bytes()) for p in reports]
    entries += [(f"n/{i}.txt", f"第{i}号通知，不是年报。".encode()) for i in range(7)]
    entries.sort()  # n/… before r/…
    batch = wait_batch(client, post_batch(client, ("mixed.tar", make_tar(entries)))["id"])
    assert batch["counts"]["succeeded"] == 5 and batch["counts"]["failed"] == 7, batch["jobs"]
    in_order = [j["id"] for j in batch["jobs"]]
    assert [j["filename"] for j in batch["jobs"]] == [name for name, _ in entries]
    for state, count in (("failed", 7), ("succeeded", 5), (None, 12)):
        seen: list[dict[str, Any]] = []
        params: dict[str, Any] | None = {"limit": 3} | ({"state": state} if state else {})
        url: str | None = f"/v1/batches/{batch['id']}/jobs"
        while url:
            page = client.get(url, params=params).json()
            assert page["total"] == count
            seen += page["jobs"]
            url, params = page["links"].get("next"), None  # the link carries the query
        assert len(seen) == count and [j["id"] for j in seen] == [
            i for i in in_order if i in {j["id"] for j in seen}
        ]
        assert all(j["state"] == (state or j["state"]) for j in seen)
    status = client.get(f"/v1/batches/{batch['id']}", params={"failed_limit": 3}).json()
    assert status["pages"]["done"] == status["pages"]["total"] >= 5
    assert [f["source_path"] for f in status["failed_members"]] == [f"mixed.tar/n/{i}.txt" for i in range(3)]
    assert {f["code"] for f in status["failed_members"]} == {"not_a_report"}
    assert status["eta_seconds"] == 0.0


def test_a_nested_expansion_run_again_makes_each_job_once(services: Stack) -> None:
    """A redelivered expansion (its first run died before recording the archive's outcome) finds the
    jobs of the nested members under the same ids instead of making them twice."""
    reports = example_reports()
    inner = make_tar([(p.name, p.read_bytes()) for p in reports[:2]] + [("x.zip", make_zip([("y", b"y")]))])
    outer = make_zip([("in/inner.tar", inner), (reports[2].name, reports[2].read_bytes())])
    settings = services.settings
    jobs = JobStore.from_settings(settings)
    objects = ObjectStore(settings)
    batches = BatchStore(jobs.redis)
    stored = objects.put_original(io.BytesIO(outer), max_bytes=len(outer))
    entry = ArchiveEntry(
        id="0", filename="up.zip", sha256=stored.sha256, size=stored.size, original_key=stored.key
    )
    batch_id = new_batch_id()
    batches.create(batch_id, files=1, archives=[entry])
    runs: list[list[str]] = []
    for _ in range(2):
        queued: list[str] = []
        done = expand_archive(batch_id, "0", ArchiveServices(jobs, batches, objects), settings, queued.append)
        assert done is not None and done.members == 4
        runs.append(queued)
        # the run "died" before finishing: the archive is still expanding for the next one
        jobs.redis.hset(f"gongkai:batch:{batch_id}:archives", "0", entry.model_dump_json())
        jobs.redis.hincrby(f"gongkai:batch:{batch_id}", "archives_pending", 1)
    assert runs[0] == runs[1] and len(runs[0]) == 3  # the nested x.zip is refused, never queued
    batch = batches.get(batch_id)
    assert batch.total == 4 and batch.counts["queued"] == 3 and batch.counts["failed"] == 1
    paths = [row["source_path"] for row in batches.job_rows(batches.job_ids(batch_id))]
    assert paths == [
        *(f"up.zip/in/inner.tar/{p.name}" for p in reports[:2]),
        "up.zip/in/inner.tar/x.zip",
        f"up.zip/{reports[2].name}",
    ]
    jobs.redis.close()
