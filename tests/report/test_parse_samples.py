"""Every sample with a truth file parses to exactly its truth; evaluate.py finds no silent error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from extract.dispatch import extract_document
from extract.errors import ExtractionError, ExtractionErrorCode
from report import Report, parse_document, parse_text
from report.document import Document
from tests.report.conftest import (
    TOOLS,
    covered,
    numeric_truth,
    pdf_text,
    sample_documents,
    truth_for,
)

DOCS = sample_documents()


def parse_sample(path: Path) -> Report:
    if path.suffix == ".pdf":
        try:
            doc = extract_document(path.read_bytes())
        except ExtractionError as e:
            if e.code != ExtractionErrorCode.UNSUPPORTED_TYPE:
                raise
            doc = Document.from_text(pdf_text(path), media_type="application/pdf")
        return parse_document(doc)
    return parse_text(path.read_text("utf-8"))


@pytest.fixture(scope="module")
def parsed() -> dict[str, dict[str, Any]]:
    return {p.name: parse_sample(p).to_canonical() for p in DOCS}


def test_there_are_samples() -> None:
    assert len(DOCS) >= 14


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_sample_equals_truth(path: Path, parsed: dict[str, dict[str, Any]]) -> None:
    truth, got = truth_for(path), parsed[path.name]
    assert (got["agency"], got["year"], got["format"]) == (truth["agency"], truth["year"], truth["format"])
    want = numeric_truth(truth)
    have = numeric_truth(got)
    uncertain = set(truth.get("uncertain") or [])
    wrong = {
        k: (v, have.get(k, "<missing>"))
        for k, v in want.items()
        if k not in uncertain and (k not in have or have[k] != v or type(have[k]) is bool)
    }
    assert wrong == {}
    assert set(have) == set(want)  # no key invented or lost
    unflagged = sorted(k for k in uncertain if not covered(k, got["flags"]))
    assert unflagged == []
    assert got["needs_review"] == bool(got["flags"])
    # every hard identity evaluated, and (the truths have no known violations) all pass
    assert [c for c in got["checks"] if c["passed"] is not True] == []


@pytest.mark.parametrize("path", DOCS, ids=[p.name for p in DOCS])
def test_sections_match_truth(path: Path, parsed: dict[str, dict[str, Any]]) -> None:
    import re
    import unicodedata

    def flat(s: str | None) -> str:
        return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s or ""))

    truth = truth_for(path)["sections"]
    got = parsed[path.name]["sections"]
    assert {k: flat(got[k]) for k in truth} == {k: flat(v) for k, v in truth.items()}


def test_evaluate_finds_no_silent_error(tmp_path: Path, parsed: dict[str, dict[str, Any]]) -> None:
    truth_dir, pred_dir = tmp_path / "truth", tmp_path / "pred"
    truth_dir.mkdir()
    pred_dir.mkdir()
    for path in DOCS:
        slug = path.name.replace(".", "_")
        (truth_dir / f"{slug}.json").write_text(json.dumps(truth_for(path), ensure_ascii=False), "utf-8")
        (pred_dir / f"{slug}.json").write_text(json.dumps(parsed[path.name], ensure_ascii=False), "utf-8")
    out = subprocess.run(
        [sys.executable, str(TOOLS / "evaluate.py"), str(truth_dir), str(pred_dir), "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    result = json.loads(out[: out.rindex("}") + 1])
    overall = result["overall"]
    assert overall["documents"] == len(DOCS)
    assert overall["silent_errors"] == 0, [(d["slug"], d["silent_errors"]) for d in result["documents"]]
    assert overall["missing"] == 0
    assert overall["meta_correct"]["format"] == len(DOCS)
    assert overall["meta_correct"]["year"] == len(DOCS)
    assert overall["meta_correct"]["agency"] == len(DOCS)


def test_corrupted_cell_fails_its_checks_and_is_kept_as_printed() -> None:
    from tests.report.conftest import SAMPLES

    text = (SAMPLES / "synthetic_001_pipes.txt").read_text("utf-8")
    row = "| 4.保护第三方合法权益 | 0 | 0 |"
    assert text.count(row) == 1
    report = parse_text(text.replace(row, "| 4.保护第三方合法权益 | 0 | 3 |"))
    key = "applications.denied_third_party_rights.commercial_enterprise"
    assert report.value(key) == 3  # never corrected
    failed = {(c.name, c.scope, c.difference) for c in report.checks if c.passed is False}
    assert failed == {
        ("applications.outcomes", "commercial_enterprise", 3),
        ("applications.row_total", "denied_third_party_rights", 3),
    }
    assert {f.reason for f in report.flagged(key)} == {"check_failed"}
    assert report.needs_review


@pytest.mark.parametrize("conversion", ["s2t", "s2twp", "s2hk"])
@pytest.mark.parametrize("stem", ["000_6cd8fdb8270bcb50", "huaian_2024_layout", "synthetic_001_flattened"])
def test_traditional_mirror_parses_like_the_original(stem: str, conversion: str) -> None:
    """Mirror sites republish reports in Traditional characters (s2twp also turns 信息 into 資訊)."""
    from opencc import OpenCC

    from tests.report.conftest import SAMPLES

    source = SAMPLES / f"{stem}.txt"
    report = parse_text(OpenCC(conversion).convert(source.read_text("utf-8")))
    got, truth = report.to_canonical(), truth_for(source)
    assert (got["agency"], got["year"], got["format"]) == (truth["agency"], truth["year"], truth["format"])
    assert numeric_truth(got) == numeric_truth(truth)


def test_web_chrome_and_page_footers_inside_tables_change_nothing() -> None:
    from tests.report.conftest import SAMPLES

    source = SAMPLES / "synthetic_huaian_2024_pipes.txt"
    lines = source.read_text("utf-8").split("\n")
    row = next(n for n, line in enumerate(lines) if "4.保护第三方" in line)
    lines[row:row] = ["", "- 4 -"]  # a page break inside table 三
    row = next(n for n, line in enumerate(lines) if "行政强制" in line)
    lines[row:row] = ["                -3-"]
    chrome = [
        "当前位置：首页 > 政务公开 > 政府信息公开年报",
        "字号：大 中 小",
        "索引号：014079893/2025-00012",
        "发布机构：淮安市人民政府办公室",
        "发布日期：2025-01-20",
    ]
    text = "\n".join([*chrome, *lines, "打印本页 关闭窗口", "扫一扫在手机打开当前页"])
    got, truth = parse_text(text).to_canonical(), truth_for(source)
    assert (got["agency"], got["year"]) == (truth["agency"], truth["year"])
    assert numeric_truth(got) == numeric_truth(truth)
    assert got["flags"] == []
    assert got["sections"]["other_matters"] == parse_text(source.read_text("utf-8")).sections["other_matters"]


def test_canonical_schema(parsed: dict[str, dict[str, Any]]) -> None:
    got = parsed["synthetic_huaian_2024_flattened.txt"]
    assert set(got) == {
        "agency",
        "year",
        "format",
        "active_disclosure",
        "applications",
        "review_litigation",
        "sections",
        "raw_cells",
        "flags",
        "needs_review",
        "checks",
        "warnings",
        "provenance",
        "evidence",
    }
    assert set(got["sections"]) == {"overview", "problems_and_improvements", "other_matters"}
    assert got["raw_cells"]["active_disclosure.fees.amount_10k_yuan"] == "96171.6"
    assert set(got["provenance"]) == set(numeric_truth(got))
    assert got["provenance"]["review_litigation.litigation_after_review.upheld"] == "prose"
    check = got["checks"][0]
    assert set(check) == {
        "name",
        "scope",
        "lhs",
        "rhs",
        "cells",
        "expected",
        "actual",
        "difference",
        "passed",
        "detail",
    }
    for flag in got["flags"]:
        assert set(flag) == {"fields", "reason", "detail"}
        assert flag["reason"] in {"check_failed", "ambiguous", "low_confidence", "missing"}
    json.dumps(got, ensure_ascii=False, allow_nan=False)
