"""`gongkai parse` runs the pipeline in-process and writes canonical JSON."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gongkai.cli import app
from tests.conftest import example_reports, truth_for

runner = CliRunner()


def test_parse_writes_one_json_per_report(tmp_path: Path) -> None:
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"\x00\xff" * 100)
    reports = example_reports()
    assert len(reports) == 5  # the five seed reports
    result = runner.invoke(app, ["parse", *map(str, [*reports, blob]), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / "blob.json").exists()  # a bad file is reported, not fatal
    for path in reports:
        canonical = json.loads((tmp_path / "out" / f"{path.stem}.json").read_text())
        truth = truth_for(path)
        assert (canonical["agency"], canonical["year"], canonical["format"]) == (
            truth["agency"], truth["year"], truth["format"],
        )  # fmt: skip
        for table in ("active_disclosure", "applications", "review_litigation"):
            for row, cells in truth[table].items():
                for column, expected in cells.items():
                    got = canonical[table][row][column]
                    got = got.get("value") if isinstance(got, dict) else got
                    assert got == expected, f"{path.name}: {table}.{row}.{column}"


def test_parse_fails_only_when_it_cannot_run(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    result = runner.invoke(app, ["parse", str(example_reports()[0]), "--out", str(not_a_dir / "sub")])
    assert result.exit_code != 0
    missing = runner.invoke(app, ["parse", str(tmp_path / "missing.txt"), "--out", str(tmp_path / "o")])
    assert missing.exit_code == 0


def test_parse_reads_web_pages_and_word_files_of_every_sample(tmp_path: Path) -> None:
    """Every shared sample with a truth file, as a GBK web page with portal chrome, as Word's own
    web-page export and as a .docx with merged cells: each parses to exactly its truth."""
    from tests.extract.conftest import SAMPLES
    from tests.extract.markup_docs import report_docx, report_html, report_word_html
    from tests.report.conftest import numeric_truth

    truths = {
        p.name.removesuffix(".truth.json"): json.loads(p.read_text("utf-8"))
        for p in SAMPLES.glob("*.truth.json")
    }
    assert len(truths) >= 14
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, truth in truths.items():
        (inputs / f"{name}-page.htm").write_bytes(
            report_html(truth, chrome=True, encoding="gbk", meta="gb2312")
        )
        (inputs / f"{name}-word.htm").write_bytes(report_word_html(truth))
        (inputs / f"{name}-docx.docx").write_bytes(report_docx(truth))
    files = sorted(inputs.iterdir())
    result = runner.invoke(app, ["parse", *map(str, files), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert f"{len(files)} parsed, 0 failed" in result.output
    for path in files:
        truth = truths[path.stem.rsplit("-", 1)[0]]
        got = json.loads((tmp_path / "out" / f"{path.stem}.json").read_text("utf-8"))
        assert (got["agency"], got["year"], got["format"]) == (
            truth["agency"],
            truth["year"],
            truth["format"],
        )
        want, have = numeric_truth(truth), numeric_truth(got)
        assert {
            k: (v, have.get(k, "<missing>")) for k, v in want.items() if have.get(k, "<missing>") != v
        } == {}, path.name
        assert set(have) == set(want) and got["flags"] == [], path.name
