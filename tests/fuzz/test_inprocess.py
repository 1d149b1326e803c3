"""Fuzz, in process: broken inputs raise only the documented errors — `ExtractionError` from the
extractors, `ReportError` from the parser — never anything else."""

from __future__ import annotations

from hypothesis import event, given, settings
from hypothesis import strategies as st

from extract import ExtractionError, extract_document
from report import parse_document, parse_text
from report.errors import ReportError
from tests.conftest import example_reports
from tests.fuzz.seeds import FUZZ, mutated

# What a report's text is made of: the cells, labels and punctuation a mutation should stir in.
REPORT_CHARS = (
    "0123456789０１２３４５６７８９一二三四五六七八九十（）()、.．，。:：|｜-—　 \t\n合计总计申请件万元"
)


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(example_reports())).read_text(encoding="utf-8")
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["delete", "insert", "duplicate", "truncate", "swap_lines"]))
        if op == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 400)) :]
        elif op == "insert":
            alphabet = st.sampled_from(REPORT_CHARS) | st.characters(codec="utf-8")
            text = text[:at] + draw(st.text(alphabet, min_size=1, max_size=40)) + text[at:]
        elif op == "duplicate":
            text = text[:at] + text[at : at + draw(st.integers(1, 400))] + text[at:]
        elif op == "truncate":
            text = text[:at]
        else:
            lines = text.split("\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
    return text


@settings(FUZZ, max_examples=300)
@given(mutated_text())
def test_parse_text_of_a_broken_report_raises_only_report_errors(text: str) -> None:
    try:
        report = parse_text(text)
    except ReportError as exc:
        assert exc.code in ("not_a_report", "parse_error")
        event(f"refused: {exc.code}")
        return
    event("parsed")
    report.to_canonical()  # a parsed report always serialises


@settings(FUZZ, max_examples=150)
@given(mutated())
def test_extract_and_parse_of_broken_bytes_raise_only_documented_errors(data: bytes) -> None:
    try:
        document = extract_document(data)
    except ExtractionError as exc:
        assert exc.code and exc.message
        event(f"extract refused: {exc.code}")
        return
    try:
        parse_document(document).to_canonical()
    except ReportError as exc:
        event(f"parse refused: {exc.code}")
    else:
        event(f"parsed: {document.media_type}")
