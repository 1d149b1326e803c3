"""Orchestration: text or Document → checked `Report`.

normalise → sections → format → metadata → tables (report.tables) → resolve what the reader left
ambiguous with the prose of section 一 → hard and soft checks → flags. Nothing wrong may be silent:
every cell that was not found, is ambiguous, has low OCR confidence or sits in a failing identity
is covered by a flag.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from report import template as tpl
from report.cells import is_number, parse_number
from report.checks import ProseFact, check_flags, prose_facts, run_checks, soft_checks
from report.confidence import LOW_CONFIDENCE, POOR_PAGE_CONFIDENCE
from report.document import Document, Grid, PageMethod
from report.errors import NotAReportError
from report.metadata import detect_format, extract_metadata
from report.model import TABLE_SECTIONS, CheckResult, Flag, FlagReason, Report
from report.normalize import PAGE_FOOTER, normalize_chars, normalize_text
from report.readings import (
    Ambiguity,
    CellReading,
    CellSource,
    LabelMatch,
    Number,
    ReportFormat,
    TableReadings,
)
from report.sections import find_sections
from report.tables import read_tables

log = logging.getLogger(__name__)

_REPORT_PHRASE = ("政府信息公开工作年度报告", "政府信息公开年度报告", "政府信息公开工作报告", "信息公开年报")


def parse_text(text: str) -> Report:
    return parse_document(Document.from_text(text))


def parse_document(doc: Document) -> Report:
    norm = normalize_text(doc.text)
    text = norm.text
    sections = find_sections(text)
    guess = detect_format(text)
    flat_head = "".join(text[:3000].split())
    has_title = "政府信息公开" in flat_head and any(p in flat_head for p in _REPORT_PHRASE)
    if not text.strip():
        raise NotAReportError(
            "The document has no text to read (an unreadable scan or an empty file), "
            "so no 政府信息公开工作年度报告 could be found in it."
        )
    if not has_title and len(sections.headings) < 3 and guess.format is None:
        raise NotAReportError(
            "This text does not look like a 政府信息公开工作年度报告: no title phrase, "
            "no section headings (一、总体情况 …) and no table labels were found."
        )
    overview = sections.plain(1)
    meta = extract_metadata(text, sections.preamble, overview, norm.removed)
    flags: list[Flag] = []
    evidence = {
        "agency": meta.agency_source,
        "year": meta.year_source,
        "format": "labels: " + ", ".join(guess.evidence[:6]),
    }
    fmt = guess.format
    if fmt is None:
        fmt = _format_from_year(meta.year)
        evidence["format"] = f"no template labels in the text; assumed from the year {meta.year}"
        flags.append(
            Flag(
                fields=["format"],
                reason=FlagReason.AMBIGUOUS,
                detail=evidence["format"] + " (alternatives: 2021, 2019-trial, pre-2019)",
            )
        )
    for name, value in (("agency", meta.agency), ("year", meta.year)):
        if value is None:
            flags.append(
                Flag(fields=[name], reason=FlagReason.MISSING, detail=f"no {name} found in the text")
            )

    report = Report(
        agency=meta.agency,
        year=meta.year,
        format=fmt,
        sections=sections.canonical(),
        evidence=evidence,
    )
    if fmt == ReportFormat.PRE_2019:
        # no national table to read: the report is recognised, its tables are flagged missing
        report.sections = find_sections(text, any_numeral=True).canonical()
        flags.append(
            Flag(
                fields=list(TABLE_SECTIONS),
                reason=FlagReason.MISSING,
                detail="pre-2019 report: no national-template tables (指标名称/计量单位 list)",
            )
        )
        report.flags = flags
        return report

    grids: list[Grid] = [g for p in doc.pages for g in p.tables]
    readings = _read(text, fmt, grids or None)
    keys = tpl.all_keys(fmt)
    cells = {k: readings.cells.get(k) or CellReading(value=None, raw=None) for k in keys}
    facts = prose_facts(overview)
    flags += _resolve_ambiguities(readings.ambiguities, cells, facts)
    found = {k for k in keys if _found(readings, k)}
    flags += _missing_flags(keys, found, readings.missing)
    flags += _confidence_flags(cells, doc)
    flags += _label_match_flags(readings.label_matches, found)
    if readings.label_matches:
        report.evidence["fuzzy_labels"] = "; ".join(
            f"{m.prefix}: {m.printed!r} read as {m.label!r} ({m.ratio:.2f})" for m in readings.label_matches
        )
    flags += _page_end_flags(doc.text, cells, keys)
    values = {k: c.value for k, c in cells.items()}
    report.cells = cells
    report.checks = run_checks(values, fmt, found)
    flags += check_flags(report.checks)
    flags += _unconfirmed_split_flags(cells, report.checks, flags)
    report.warnings = soft_checks(values, fmt, facts, found)
    report.flags = flags
    return report


def _format_from_year(year: int | None) -> ReportFormat:
    if year is not None and year < 2019:
        return ReportFormat.PRE_2019
    if year is not None and year < 2021:
        return ReportFormat.TRIAL_2019
    return ReportFormat.V2021


def _read(text: str, fmt: ReportFormat, grids: list[Grid] | None) -> TableReadings:
    try:
        return read_tables(text, fmt, grids)
    except Exception:  # a reader bug must not lose the whole report: every table is flagged missing
        log.exception("table reader failed")
        return TableReadings(missing=list(TABLE_SECTIONS))


def _found(readings: TableReadings, key: str) -> bool:
    cell = readings.cells.get(key)
    if cell is None or (cell.raw is None and cell.value is None):
        return False
    return not any(key == m or key.startswith(m + ".") for m in readings.missing)


def _missing_flags(keys: list[str], found: set[str], reported: Iterable[str]) -> list[Flag]:
    """`missing` flags, compressed to a table or row prefix where a whole one is absent."""
    absent = [k for k in keys if k not in found]
    if not absent:
        return []
    fields: list[str] = []
    covered: set[str] = set()
    for depth in (1, 2):  # table, then row
        prefixes = dict.fromkeys(".".join(k.split(".")[:depth]) for k in absent)
        for p in prefixes:
            members = [k for k in keys if k.startswith(p + ".")]
            if all(k not in found for k in members) and not all(k in covered for k in members):
                fields.append(p)
                covered.update(members)
    fields += [k for k in absent if k not in covered]
    detail = "not found in the text"
    extra = [m for m in reported if m not in fields]
    if extra:
        detail += " (reader: " + ", ".join(extra[:10]) + ")"
    return [Flag(fields=fields, reason=FlagReason.MISSING, detail=detail)]


def _unconfirmed_split_flags(
    cells: dict[str, CellReading], checks: list[CheckResult], flags: list[Flag]
) -> list[Flag]:
    """Cells cut out of a glued run are only as good as the identities that chose the cut: when one
    of those could not be evaluated (a cell it needs is missing), another cut may be the true one.
    Blank cells vanish from glued runs, so this happens and must not stay silent."""
    unchecked = {k for c in checks if c.passed is None for k in c.cells}
    flagged = {k for f in flags for k in f.fields}
    keys = [
        k
        for k, c in cells.items()
        if c.source == CellSource.SPLIT
        and k in unchecked
        and k not in flagged
        and ".".join(k.split(".")[:2]) not in flagged
    ]
    if not keys:
        return []
    return [
        Flag(
            fields=keys,
            reason=FlagReason.AMBIGUOUS,
            detail="cut out of a glued digit run, but the identities that would confirm the cut could "
            "not be evaluated (cells missing); another cut may be the printed one",
        )
    ]


def _confidence_flags(cells: dict[str, CellReading], doc: Document) -> list[Flag]:
    flags: list[Flag] = []
    low = [k for k, c in cells.items() if c.confidence is not None and c.confidence < LOW_CONFIDENCE]
    if low:
        flags.append(
            Flag(
                fields=low, reason=FlagReason.LOW_CONFIDENCE, detail=f"OCR confidence below {LOW_CONFIDENCE}"
            )
        )
    # cells read from the running text carry no confidence of their own; when that text comes from
    # poorly recognised OCR pages, they are as doubtful as the pages
    poor = [
        p
        for p in doc.pages
        if p.method == PageMethod.OCR and (p.confidence is None or p.confidence < POOR_PAGE_CONFIDENCE)
    ]
    if poor:
        textual = [
            k
            for k, c in cells.items()
            if c.confidence is None
            and c.source != CellSource.GRID
            and (c.raw is not None or c.value is not None)
        ]
        if textual:
            pages = ", ".join(
                f"{p.number} ({'?' if p.confidence is None else f'{p.confidence:.2f}'})" for p in poor
            )
            flags.append(
                Flag(
                    fields=textual,
                    reason=FlagReason.LOW_CONFIDENCE,
                    detail=f"read from the text of OCR pages with low mean confidence: {pages}",
                )
            )
    return flags


def _label_match_flags(matches: Iterable[LabelMatch], found: set[str]) -> list[Flag]:
    """Rows placed by a garbled OCR label (report.fuzzy) that are not sure of it: flagged
    `ambiguous`, since a row read for another would otherwise be silent (table 二 has no identity)."""
    doubtful = [m for m in matches if not m.sure and any(k.startswith(m.prefix + ".") for k in found)]
    if not doubtful:
        return []
    return [
        Flag(
            fields=[m.prefix for m in doubtful],
            reason=FlagReason.AMBIGUOUS,
            detail="row label garbled by OCR, placed by similarity: "
            + "; ".join(f"{m.printed!r} read as {m.label!r} ({m.ratio:.2f})" for m in doubtful),
        )
    ]


def _page_end_flags(raw_text: str, cells: dict[str, CellReading], keys: list[str]) -> list[Flag]:
    """A table row printed one cell a line next to a page footer ("95 / 605 / 1 / - 1 -"): in
    text without column positions (plain `pdftotext`) the reading order of the cells around a
    footer is the extractor's guess, not the table's (pdftotext groups a cell with the footer below
    it and moves it), and table 二 has no identity that would notice two swapped cells. Every row
    whose printed values are exactly consecutive cells reaching the footer (from either side) is
    flagged `ambiguous`."""
    windows: list[tuple[list[Number], int]] = []  # the cells around a footer, where the footer is
    lines = [ln.strip() for ln in normalize_chars(raw_text).split("\n")]
    for i, line in enumerate(lines):
        if PAGE_FOOTER.match(line):
            before = _number_lines(reversed(lines[:i]))[::-1]
            after = _number_lines(lines[i + 1 :])
            if len(before) + len(after) >= 2:
                windows.append((before + after, len(before)))
    if not windows:
        return []
    rows: dict[str, list[str]] = {}
    for k in keys:
        rows.setdefault(k.rsplit(".", 1)[0], []).append(k)
    fields: list[str] = []
    for row, members in rows.items():
        printed = sorted(
            c.value
            for k in members
            if (c := cells.get(k)) is not None and c.source == CellSource.LAYOUT and c.value is not None
        )
        n = len(printed)
        if len(set(printed)) < 2:  # one value, or all equal: no order to get wrong
            continue
        if any(
            sorted(window[a : a + n]) == printed
            for window, at in windows
            for a in range(max(0, at - n), min(at, len(window) - n) + 1)
        ):
            fields.append(row)
    if not fields:
        return []
    return [
        Flag(
            fields=fields,
            reason=FlagReason.AMBIGUOUS,
            detail="the row's cells are printed one a line next to a page footer, in text without "
            "column positions: their order there is the text extractor's, and may not be the table's",
        )
    ]


def _number_lines(lines: Iterable[str]) -> list[Number]:
    """The values of the one-number lines at the start of `lines` (blank lines skipped)."""
    out: list[Number] = []
    for line in lines:
        if not line:
            continue
        if not is_number(line):
            break
        v = parse_number(line)
        if v is not None:
            out.append(v)
    return out


def _resolve_ambiguities(
    ambiguities: list[Ambiguity], cells: dict[str, CellReading], facts: list[ProseFact]
) -> list[Flag]:
    """Pick, among the splits the identities left open, the one the prose of section 一 supports
    (e.g. "诉讼…结果维持25件" = 13 + 12). The cells stay flagged `ambiguous` either way: prose is
    a soft source, and a reviewer should see the alternatives."""
    flags: list[Flag] = []
    for amb in ambiguities:
        if not amb.candidates:
            continue
        n = len(amb.candidates)
        chosen, how = amb.chosen, "the table reader's most plausible reading"
        # the readings still in question: all of them, or those the prose supports best
        open_ = list(range(n))
        relevant = [f for f in facts if set(f.keys) & set(_varying(amb, open_))]
        if relevant:
            scores = [_prose_score(amb, i, cells, relevant) for i in range(n)]
            best = max(scores)
            top = [i for i in range(n) if scores[i] == best]
            rest = max((s for s in scores if s < best), default=None)
            if rest is None or best - rest >= 2:  # prose is soft: narrow only on a clear margin
                open_ = top
            if len(top) == 1 and best > 0:
                chosen = top[0]
                how = "the totals restated in section 一: " + "; ".join(
                    f.text for f in relevant if f.holds(_with(cells, amb, chosen))
                )
            elif len(top) < n:
                how += f" (section 一 leaves {len(top)} of {n} readings)"
        if chosen not in open_:  # never keep a reading the prose has ruled out
            chosen = open_[0]
        decided_by_prose = how.startswith("the totals")
        differing = set(_varying(amb, list(range(n))))
        for field, v in zip(amb.fields, amb.candidates[chosen], strict=False):
            old = cells.get(field) or CellReading(value=None)
            if chosen != amb.chosen:
                old = old.model_copy(update={"value": v, "raw": _raw(v)})
            if decided_by_prose and field in differing:
                old = old.model_copy(update={"source": CellSource.PROSE})
            cells[field] = old
        # every field any reading disagrees on: prose is a soft source, so the narrowed set
        # must not shrink what a reviewer is asked to look at
        varying = [f for f in amb.fields if f in differing] or list(amb.fields)
        alternatives = " | ".join(_fmt(cand) for cand in amb.candidates)
        flags.append(
            Flag(
                fields=varying,
                reason=FlagReason.AMBIGUOUS,
                detail=(
                    f"glued run '{amb.run}' splits {n} ways over {', '.join(amb.fields)}: "
                    f"{alternatives}; kept {_fmt(amb.candidates[chosen])} by {how}"
                ),
            )
        )
    return flags


def _fmt(values: list[Number | None]) -> str:
    return ",".join("" if x is None else str(x) for x in values)


def _varying(amb: Ambiguity, among: list[int]) -> list[str]:
    """Fields whose value differs between the readings `among`."""
    return [f for j, f in enumerate(amb.fields) if len({amb.candidates[i][j] for i in among}) > 1]


def _raw(v: Number | None) -> str | None:
    return None if v is None else str(v)


def _with(cells: dict[str, CellReading], amb: Ambiguity, i: int) -> dict[str, Number | None]:
    values = {k: c.value for k, c in cells.items()}
    values.update(zip(amb.fields, amb.candidates[i], strict=False))
    return values


def _prose_score(amb: Ambiguity, i: int, cells: dict[str, CellReading], facts: list[ProseFact]) -> int:
    values = _with(cells, amb, i)
    return sum(1 if f.holds(values) else -1 for f in facts)
