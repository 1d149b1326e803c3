"""Test documents built at test time with the ../shared tools, cached by content for the session."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pypdfium2 as pdfium
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED = REPO_ROOT.parent / "shared"
TOOLS = SHARED / "tools"
SAMPLES = SHARED / "samples"
HUAIAN_TRUTH = SAMPLES / "huaian_2024.truth.json"

Build = Callable[..., Path]


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="session")
def build(tmp_path_factory: pytest.TempPathFactory, shared: Path) -> Build:
    """build(tool, input_paths, *args, suffix=".pdf") → output path; runs
    `python tools/<tool> <inputs…> <args…> -o OUT` once per distinct content."""
    cache = tmp_path_factory.mktemp("extract-fixtures")

    def run(tool: str, inputs: list[Path], *args: str, suffix: str = ".pdf") -> Path:
        h = hashlib.sha256((TOOLS / tool).read_bytes())
        for p in inputs:
            h.update(p.read_bytes())
        h.update("\0".join(args).encode())
        out = cache / f"{Path(tool).stem}-{h.hexdigest()[:16]}{suffix}"
        if not out.exists():
            cmd = [sys.executable, str(TOOLS / tool), *map(str, inputs), *args, "-o", str(out)]
            subprocess.run(cmd, check=True, capture_output=True, timeout=300)
        return out

    return run


@pytest.fixture(scope="session")
def rendered(build: Build) -> Callable[[Path, int], Path]:
    def make(truth: Path, seed: int) -> Path:
        return build("render_pdf.py", [truth], "--seed", str(seed))

    return make


def subset_pdf(src: Path, pages: list[int], out: Path) -> Path:
    """A PDF of some pages (1-based) of `src`."""
    doc = pdfium.PdfDocument(str(src))
    new = pdfium.PdfDocument.new()
    new.import_pages(doc, [p - 1 for p in pages])
    new.save(str(out))
    return out


def merge_pdfs(parts: list[tuple[Path, list[int]]], out: Path) -> Path:
    """One PDF from pages (1-based) of several PDFs, in order."""
    new = pdfium.PdfDocument.new()
    for src, pages in parts:
        new.import_pages(pdfium.PdfDocument(str(src)), [p - 1 for p in pages])
    new.save(str(out))
    return out
