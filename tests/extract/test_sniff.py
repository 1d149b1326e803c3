"""Media types from the bytes of an upload, never its name: web pages (GBK ones too), Word files
new and legacy (Microsoft and Kingsoft WPS), and what each refusal says."""

from __future__ import annotations

import json
from typing import Any

import pytest

from extract import sniff
from extract.dispatch import extract_document
from extract.errors import ExtractionError, ExtractionErrorCode

from .conftest import HUAIAN_TRUTH
from .markup_docs import report_html

REPORT = "淮安市人民政府2024年政府信息公开工作年度报告"


@pytest.fixture(scope="module")
def truth() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(HUAIAN_TRUTH.read_text("utf-8"))
    return loaded


@pytest.mark.parametrize(
    "head",
    [
        b"<!DOCTYPE html><html>",
        b"<!doctype HTML PUBLIC>",
        b"\xef\xbb\xbf\r\n  <HTML lang=zh>",
        b'<meta charset="gbk"><title>',
        b"<head><title>\xd5\xfe\xb8\xae</title>",  # GBK bytes
        b'<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0//EN">\n<html>',
        b"<!-- saved from url=(0040)http://www.huaian.gov.cn/ -->\n<html>",
        b'<div class="TRS_Editor"><p>',
    ],
)
def test_sniff_html(head: bytes) -> None:
    assert sniff.sniff_media_type(head) == sniff.TEXT_HTML


@pytest.mark.parametrize("meta", ["gb2312", "gbk", None])
def test_a_whole_gbk_page_is_html_by_its_first_bytes(truth: dict[str, Any], meta: str | None) -> None:
    """A whole GB2312/GBK page (declared or not): its first 4 KiB, as the pipeline sniffs, say HTML,
    and the page decodes as GB18030 with the report's Chinese intact."""
    data = report_html(truth, encoding="gbk", meta=meta)
    assert sniff.sniff_media_type(data[:4096]) == sniff.TEXT_HTML
    assert sniff.sniff_container(data, sniff.TEXT_HTML) == sniff.TEXT_HTML
    doc = extract_document(data)
    assert doc.media_type == sniff.TEXT_HTML and doc.encoding == "gb18030"
    assert f"{truth['agency']}{truth['year']}年政府信息公开工作年度报告" in doc.text


def test_sniff_plain_text_report_is_not_html() -> None:
    assert sniff.sniff_media_type(f"{REPORT}\n一、总体情况 <注>".encode("gbk")) == sniff.TEXT_PLAIN
    assert sniff.sniff_media_type("<注：本表数据截至12月31日>".encode()) == sniff.TEXT_PLAIN


# ----------------------------------------------------------------------------- legacy binaries


def ole2(*streams: str, tail: bytes = b"") -> bytes:
    """The start of a compound file: the magic, a header sector and a directory naming the streams
    (then `tail`, e.g. a property set's bytes)."""
    head = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504
    return head + b"".join(s.encode("utf-16-le").ljust(128, b"\0") for s in ("Root Entry", *streams)) + tail


WORD_DOC = ole2("WordDocument", "1Table", "\x05SummaryInformation")
WPS_FILE = ole2("WordDocument", "1Table", "WpsCustomData", "\x05DocumentSummaryInformation")
# a .doc saved by WPS: no WpsCustomData stream, its build number in the document summary properties
KSO_PROPERTY = b"\x13\0\0\0KSOProductBuildVer\0"
WPS_DOC = ole2("WordDocument", "0Table", "\x05DocumentSummaryInformation", tail=KSO_PROPERTY)
EXCEL = ole2("Workbook", "\x05SummaryInformation")


@pytest.mark.parametrize(
    ("data", "media_type"),
    [(WORD_DOC, sniff.MSWORD), (WPS_FILE, sniff.WPS), (WPS_DOC, sniff.WPS), (EXCEL, sniff.OLE2)],
)
def test_ole2_files_are_told_apart_by_their_streams(data: bytes, media_type: str) -> None:
    assert sniff.sniff_media_type(data[:4096]) == sniff.OLE2
    assert sniff.sniff_container(data, sniff.OLE2) == media_type


@pytest.mark.parametrize(
    ("data", "media_type", "names"),
    [
        (WORD_DOC, sniff.MSWORD, "legacy Word .doc"),
        (WPS_FILE, sniff.WPS, "Kingsoft WPS Writer file (.wps"),
        (WPS_DOC, sniff.WPS, "Kingsoft WPS Writer file (.wps"),
        (EXCEL, sniff.OLE2, "legacy Office file"),
        (b"{\\rtf1\\ansi\\ansicpg936 \\f0 report}", sniff.RTF, "an RTF file"),
    ],
)
def test_legacy_files_are_unsupported_naming_the_format(data: bytes, media_type: str, names: str) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_document(data)
    assert info.value.code == ExtractionErrorCode.UNSUPPORTED_TYPE
    message = info.value.message
    assert f"({media_type})" in message and names in message and "save it as .docx or PDF" in message
