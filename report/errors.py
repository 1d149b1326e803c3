"""Errors the parser raises on purpose; the service maps them to job failure codes."""

from __future__ import annotations


class ReportError(Exception):
    """Base class: the input could not be turned into a report. `code` is the job failure code."""

    code = "parse_error"


class NotAReportError(ReportError):
    """The text shows no sign of being a 政府信息公开工作年度报告: no title phrase, headings or labels."""

    code = "not_a_report"
