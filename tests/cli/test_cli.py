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
