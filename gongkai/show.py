"""Rich rendering of a job result for the terminal (`gongkai demo`, `gongkai status --result`)."""

from __future__ import annotations

from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table

APPLICANT_COLUMNS = [
    ("natural_person", "自然人"),
    ("commercial_enterprise", "商业企业"),
    ("research_institution", "科研机构"),
    ("social_welfare_organization", "社会公益"),
    ("legal_service_institution", "法律服务"),
    ("other_organization", "其他"),
    ("total", "总计"),
]
REVIEW_COLUMNS = [
    ("upheld", "维持"),
    ("corrected", "纠正"),
    ("other", "其他"),
    ("pending", "未审结"),
    ("total", "总计"),
]


def cell_value(cell: Any) -> Any:
    """A canonical cell is a number/null, or an object carrying its `value` (and raw text)."""
    return cell.get("value") if isinstance(cell, dict) else cell


def _fmt(cell: Any) -> str:
    value = cell_value(cell)
    return "—" if value is None else str(value)


def _leaves(prefix: str, node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict) and not ("value" in node and "raw" in node):
        out: list[tuple[str, Any]] = []
        for key, child in node.items():
            out += _leaves(f"{prefix}.{key}" if prefix else key, child)
        return out
    return [(prefix, node)]


def show_result(console: Console, result: dict[str, Any]) -> None:
    doc: dict[str, Any] = result.get("document", {})
    source = result.get("source", {})
    parts: list[Any] = []

    active = doc.get("active_disclosure") or {}
    if active:
        t = Table("表二 主动公开", "value", title="二、主动公开政府信息情况", title_justify="left")
        for key, cell in _leaves("", active):
            t.add_row(key, _fmt(cell))
        parts.append(t)

    parts.append(
        _grid(doc.get("applications"), "三、收到和处理政府信息公开申请情况", "表三", APPLICANT_COLUMNS)
    )
    parts.append(_grid(doc.get("review_litigation"), "四、行政复议、行政诉讼", "表四", REVIEW_COLUMNS))

    checks = doc.get("checks") or []
    if checks:
        summary: dict[str, list[bool]] = {}
        for check in checks:
            summary.setdefault(str(check.get("name")), []).append(bool(check.get("passed")))
        parts.append(
            "checks: "
            + " · ".join(
                f"{name} {sum(results)}/{len(results)} " + ("[green]✓[/]" if all(results) else "[red]✗[/]")
                for name, results in summary.items()
            )
        )
    for warning in doc.get("warnings") or []:
        parts.append(f"[yellow]warning:[/] {_short(str(warning))}")

    flags = doc.get("flags") or []
    if flags:
        t = Table("reason", "fields", "detail", title="flags (needs review)", title_justify="left")
        for flag in flags:
            t.add_row(
                str(flag.get("reason")),
                ", ".join(flag.get("fields", [])),
                _short(str(flag.get("detail", ""))),
            )
        parts.append(t)
    else:
        parts.append("[green]all cross-checks hold; no flags[/]")

    pages = result.get("pages") or []
    methods = ", ".join(f"p{p['number']}: {p['method']}" for p in pages)
    title = (
        f"{source.get('filename')} — {doc.get('agency')} · {doc.get('year')} · format {doc.get('format')} · "
        f"needs_review={doc.get('needs_review')} · {methods}"
    )
    console.print(Panel(Group(*parts), title=title, title_align="left"))


def _grid(table: Any, title: str, name: str, columns: list[tuple[str, str]]) -> Table | str:
    """Rows × columns; rows that are all zero or blank are left out (they are most of table 三)."""
    rows = {k: r for k, r in (table or {}).items() if isinstance(r, dict)}
    shown = {k: r for k, r in rows.items() if any(cell_value(c) not in (0, None) for c in r.values())}
    if not shown:
        return f"{title}: [dim]all {len(rows)} rows zero or blank[/]"
    t = Table(name, *(label for _, label in columns), title=title, title_justify="left")
    for row_key, row in shown.items():
        t.add_row(row_key, *(_fmt(row.get(col)) for col, _ in columns))
    if len(shown) < len(rows):
        t.caption = f"{len(rows) - len(shown)} more rows all zero or blank"
    return t


def show_failure(console: Console, record: dict[str, Any]) -> None:
    error = record.get("error") or {}
    console.print(
        Panel(
            f"[red]{error.get('code')}[/]: {error.get('message')}",
            title=f"{record.get('filename')} — {record.get('state')}",
            title_align="left",
        )
    )


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_batch(
    console: Console,
    batch: dict[str, Any],
    failed: list[dict[str, Any]],
    *,
    duplicates: int,
    needs_review: int,
) -> None:
    """A batch's outcome: counts, archives, the failed members and why (`gongkai submit --wait`, `status`)."""
    counts = batch.get("counts") or {}
    state = "finished" if batch.get("finished") else f"{batch.get('progress', 0):.0%} done"
    console.print(
        f"batch {batch.get('id')}: {state}, {batch.get('total')} jobs — "
        + " · ".join(f"{name} {n}" for name, n in counts.items())
        + f" · duplicates {duplicates} · needs review {needs_review}"
    )
    for archive in batch.get("archives") or []:
        error = archive.get("error")
        why = f" — {error['code']}: {_short(error['message'])}" if error else ""
        members = archive.get("members")
        console.print(f"  archive {archive.get('filename')}: {archive.get('state')}, {members} members{why}")
    if failed:
        t = Table("failed", "code", "message", title_justify="left")
        for job in failed:
            error = job.get("error") or {}
            t.add_row(str(job.get("filename")), str(error.get("code")), _short(str(error.get("message", ""))))
        console.print(t)
