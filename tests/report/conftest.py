"""Shared helpers for the report tests: where the shared samples and tools live, and truth access.

CI has ../shared beside the clone; GONGKAI_SHARED overrides. Tests only read those files or run
the tools as subprocesses; nothing is imported from there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

SHARED = Path(os.environ.get("GONGKAI_SHARED", Path(__file__).resolve().parents[3] / "shared"))
SAMPLES = SHARED / "samples"
EXCERPTS = SAMPLES / "excerpts"
TOOLS = SHARED / "tools"
FIXTURES = Path(__file__).parent / "fixtures"
TABLES = ("active_disclosure", "applications", "review_litigation")


def sample_documents() -> list[Path]:
    """Every sample with a truth file beside it (text and PDF)."""
    out = []
    for truth in sorted(SAMPLES.glob("*.truth.json")):
        stem = truth.name[: -len(".truth.json")]
        out += [p for p in sorted(SAMPLES.glob(stem + ".*")) if p.suffix in (".txt", ".pdf")]
    return out


def truth_for(doc: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((doc.parent / (doc.stem + ".truth.json")).read_text("utf-8"))
    return data


def flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """Nested canonical dicts → dotted keys."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.update(flatten(v, key))
        else:
            out[key] = v
    return out


def numeric_truth(truth: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for t in TABLES:
        out.update(flatten(truth.get(t) or {}, t))
    return out


def covered(key: str, flags: list[dict[str, Any]]) -> bool:
    return any(key == f or key.startswith(f + ".") for fl in flags for f in fl["fields"])


def pdf_text(path: Path) -> str:
    """A PDF's text layer: the product extractor when it handles PDFs, else pdftotext -layout
    (the samples README: byte-identical to huaian_2024_layout.txt)."""
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True)
    return out.stdout.decode("utf-8")


def run_tool(name: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOLS / name), *map(str, args)], capture_output=True, text=True, check=True
    )
