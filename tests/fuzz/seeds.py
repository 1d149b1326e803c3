"""Real samples of every input kind the service takes, and a hypothesis strategy that breaks them:
flipped, deleted, duplicated and inserted bytes, truncation, and splices of one sample into another.

Profiles are deterministic (derandomize, no example database) and bounded by `max_examples`, so a run
is reproducible and its length known."""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import Path

import pypdfium2 as pdfium
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from extract.errors import ExtractionErrorCode
from tests.conftest import example_reports
from tests.extract import bad_inputs
from tests.extract.markup_docs import report_docx, report_html
from tests.storage.zipfiles import make_zip

# What a job made of bad bytes may fail with: the extractor's codes and the parser's, never internal_error.
STABLE_CODES = {str(code) for code in ExtractionErrorCode} | {"not_a_report", "parse_error"}

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,  # OCR of a mutated image takes what it takes; the bound is max_examples
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    print_blob=True,
    # Shrinking a 100 kB byte string takes many minutes: report the failing example as found.
    phases=(Phase.explicit, Phase.generate),
)


def _first_pages_pdf(path: Path, pages: int) -> bytes:
    new = pdfium.PdfDocument.new()
    new.import_pages(pdfium.PdfDocument(str(path)), list(range(pages)))
    out = io.BytesIO()
    new.save(out)
    return out.getvalue()


@cache
def samples() -> dict[str, bytes]:
    text = example_reports()[0]
    truth = json.loads(text.with_suffix(".truth.json").read_text())
    return {
        "text": text.read_bytes(),
        "gb18030": bad_inputs.gb18030_report(example_reports()[1]),
        "html": report_html(truth),
        "docx": report_docx(truth),
        "pdf": _first_pages_pdf(bad_inputs.TEXT_PDF, 2),
        "png": bad_inputs.png(160, 48),
        "zip": make_zip([(text.name, text.read_bytes())]),
    }


@st.composite
def mutated(
    draw: st.DrawFn, kinds: tuple[str, ...] | None = None, pool: dict[str, bytes] | None = None
) -> bytes:
    """One sample (of `pool`, default `samples()`), broken by one to four mutations."""
    pool = pool or samples()
    names = sorted(kinds or pool)
    data = bytearray(pool[draw(st.sampled_from(names))])
    for _ in range(draw(st.integers(1, 4))):
        size = len(data)
        op = draw(st.sampled_from(["flip", "truncate", "delete", "duplicate", "insert", "splice", "head"]))
        # Past the magic bytes, mostly: a broken signature only ever meets the sniffer.
        at = draw(st.integers(min(8, size), size))
        if op == "head" and size:
            data[draw(st.integers(0, min(8, size) - 1))] = draw(st.integers(0, 255))
        elif op == "flip" and size:
            for _ in range(draw(st.integers(1, 16))):
                i = draw(st.integers(0, size - 1))
                data[i] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 4096))]
        elif op == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 4096))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif op == "splice":
            other = pool[draw(st.sampled_from(names))]
            start = draw(st.integers(0, len(other)))
            data[at:at] = other[start : start + draw(st.integers(1, 8192))]
    return bytes(data)
