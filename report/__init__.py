"""The domain package: a 政府信息公开工作年度报告 in, checked canonical data out (no service imports).

Public API: `parse_document(doc) -> Report`, `parse_text(text) -> Report`, `Report.to_canonical()`,
`NotAReportError`. Imported lazily so that `report.document` (used by the extractors) does not pull
in the whole parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from report.errors import NotAReportError, ReportError
    from report.model import Report
    from report.parse import parse_document, parse_text

__all__ = ["NotAReportError", "Report", "ReportError", "parse_document", "parse_text"]

_WHERE = {
    "NotAReportError": "report.errors",
    "ReportError": "report.errors",
    "Report": "report.model",
    "parse_document": "report.parse",
    "parse_text": "report.parse",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        import importlib

        return getattr(importlib.import_module(_WHERE[name]), name)
    raise AttributeError(f"module 'report' has no attribute {name!r}")
