"""Every example report through the real service, compared cell by cell with its truth file."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import example_reports, truth_for
from tests.integration.conftest import Upload, WaitFor

TABLES = ("active_disclosure", "applications", "review_litigation")


def value(cell: Any) -> Any:
    """A canonical cell is a number/null or an object with its `value` (and raw text)."""
    return cell.get("value") if isinstance(cell, dict) and "value" in cell else cell


def leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and not ("value" in node and "raw" in node):
        out: dict[str, Any] = {}
        for key, child in node.items():
            out |= leaves(child, f"{prefix}.{key}" if prefix else key)
        return out
    return {prefix: value(node)}


def test_examples_are_parsed_like_their_truth(
    upload: Upload, wait_for: WaitFor, client: httpx.Client
) -> None:
    paths = example_reports()
    assert len(paths) == 5
    accepted = upload(*paths)
    assert [j["filename"] for j in accepted] == [p.name for p in paths]
    assert all(j["state"] == "queued" and j["location"] == f"/v1/jobs/{j['id']}" for j in accepted)

    records = wait_for([j["id"] for j in accepted])
    for record in records:
        assert record["attempts"] >= 1 and record["started"] and record["finished"]
        assert record["media_type"] == "text/plain"
    mismatches: list[str] = []
    for path, record in zip(paths, records, strict=True):
        assert record["state"] == "succeeded", (path.name, record["error"])
        assert record["progress"] == {"pages_done": 1, "pages_total": 1}
        result = client.get(f"/v1/jobs/{record['id']}/result")
        assert result.status_code == 200
        body = result.json()
        assert body["source"]["sha256"] == record["sha256"]
        assert body["pages"] == [{"number": 1, "method": "text", "reason": "", "confidence": None}] or all(
            p["method"] == "text" for p in body["pages"]
        )
        document, truth = body["document"], truth_for(path)
        for key in ("agency", "year", "format"):
            if document.get(key) != truth[key]:
                mismatches.append(f"{path.name}: {key} = {document.get(key)!r}, truth {truth[key]!r}")
        for table in TABLES:
            got, want = leaves(document.get(table) or {}), leaves(truth[table])
            for key, expected in want.items():
                if key not in got:
                    mismatches.append(f"{path.name}: {table}.{key} missing")
                elif got[key] != expected:
                    mismatches.append(f"{path.name}: {table}.{key} = {got[key]!r}, truth {expected!r}")
    assert not mismatches, "\n".join(mismatches[:40])


def test_text_and_original_are_served(upload: Upload, wait_for: WaitFor, client: httpx.Client) -> None:
    path = example_reports()[1]
    [job] = upload(path)
    [record] = wait_for([job["id"]])
    original = client.get(f"/v1/jobs/{job['id']}/original")
    assert original.status_code == 200
    assert original.content == path.read_bytes()
    assert "attachment" in original.headers["content-disposition"]
    redirect = client.get(f"/v1/jobs/{job['id']}/original", params={"redirect": "true"})
    assert redirect.status_code == 307
    assert httpx.get(redirect.headers["location"]).content == path.read_bytes()
    if record["state"] == "succeeded":
        text = client.get(f"/v1/jobs/{job['id']}/text")
        assert text.status_code == 200
        assert text.text.replace("\r\n", "\n").strip() == path.read_text(encoding="utf-8").strip()


def test_the_text_of_a_gb18030_report_is_served_decoded(
    upload: Upload, wait_for: WaitFor, client: httpx.Client
) -> None:
    # A plain-text upload's text is not stored twice: the API decodes the original as the worker did.
    path = example_reports()[2]
    text = path.read_text(encoding="utf-8").replace("\r\n", "\n")
    [job] = upload((path.stem + ".gbk.txt", text.encode("gb18030")))
    [record] = wait_for([job["id"]])
    assert record["state"] == "succeeded", record
    served = client.get(f"/v1/jobs/{job['id']}/text")
    assert served.status_code == 200
    assert served.headers["content-type"].startswith("text/plain")
    assert served.text == text
