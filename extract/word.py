"""Word uploads: .docx (OOXML) → one `markup` page; legacy .doc is refused with a way out.

The main document part is read straight from the ZIP with lxml (entities off, size capped), so a
damaged or hostile file fails here as `corrupt_file` and never deep inside a library. Paragraphs and
tables keep their body order; tables become grids with gridSpan/vMerge expanded the same way as
HTML spans (extract.markup.expand), and pipe lines in the text.
"""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from collections.abc import Iterator

import lxml.etree

from extract.errors import ExtractionError, ExtractionErrorCode
from extract.markup import join_lines, pipe_line
from extract.sniff import DOCX
from report.document import Document, Grid, Page, PageMethod

_W = frozenset(
    {
        "http://schemas.openxmlformats.org/wordprocessingml/2006/main",
        "http://purl.oclc.org/ooxml/wordprocessingml/main",  # Strict OOXML
    }
)
_MC = "http://schemas.openxmlformats.org/markup-compatibility/2006"
_OFFICE_DOCUMENT = ("/officeDocument",)  # relationship type suffix (transitional and strict)
# Real reports' document.xml is a few MB; far more is a decompression bomb, not a report.
_MAX_PART_BYTES = 200 * 1024 * 1024
# Wrappers whose content belongs to the enclosing body/row/cell (content controls, custom XML, revisions).
_WRAPPERS = frozenset(
    {"sdt", "sdtContent", "customXml", "smartTag", "ins", "moveTo", "hyperlink", "fldSimple"}
)


def _corrupt(detail: str) -> ExtractionError:
    return ExtractionError(
        ExtractionErrorCode.CORRUPT_FILE, f"the Word (.docx) file cannot be read: {detail}"
    )


def _w(el: lxml.etree._Element) -> str | None:
    """The WordprocessingML local name of an element, None for anything else."""
    if not isinstance(el.tag, str):
        return None
    q = lxml.etree.QName(el)
    return q.localname if q.namespace in _W else None


def _attr(el: lxml.etree._Element | None, name: str) -> str | None:
    if el is None:
        return None
    for key, value in el.attrib.items():
        if lxml.etree.QName(key).localname == name:
            return str(value)
    return None


def _child(el: lxml.etree._Element | None, name: str) -> lxml.etree._Element | None:
    if el is None:
        return None
    return next((c for c in el if _w(c) == name), None)


def _int(value: str | None, default: int) -> int:
    try:
        return min(max(int(value or ""), 0), 1000)
    except ValueError:
        return default


# ----------------------------------------------------------------------------- reading the package


def _main_part_name(zf: zipfile.ZipFile) -> str:
    """The main document part named by the package relationships (usually word/document.xml)."""
    names = set(zf.namelist())
    if "_rels/.rels" in names:
        rels = _parse(zf, "_rels/.rels")
        for rel in rels:
            if str(rel.get("Type") or "").endswith(_OFFICE_DOCUMENT) and rel.get("TargetMode") != "External":
                target = posixpath.normpath(str(rel.get("Target") or "").lstrip("/"))
                if target in names:
                    return target
    if "word/document.xml" in names:
        return "word/document.xml"
    raise _corrupt("it has no main document part (word/document.xml)")


def _parse(zf: zipfile.ZipFile, name: str) -> lxml.etree._Element:
    info = zf.getinfo(name)
    if info.file_size > _MAX_PART_BYTES:
        raise _corrupt(f"{name} expands to {info.file_size // 2**20} MB; real reports are a few MB")
    parser = lxml.etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        with zf.open(info) as f:
            data = f.read(_MAX_PART_BYTES + 1)
        return lxml.etree.fromstring(data, parser=parser)
    # ValueError: a damaged central directory can put a member before the start of the file
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        OSError,
        NotImplementedError,
        RuntimeError,
        ValueError,
    ) as exc:
        raise _corrupt(f"{name} cannot be decompressed ({exc})") from exc
    except lxml.etree.XMLSyntaxError as exc:
        raise _corrupt(f"{name} is not well-formed XML ({exc})") from exc


def _open(data: bytes) -> tuple[zipfile.ZipFile, lxml.etree._Element]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    # NotImplementedError: a directory entry claims a ZIP version zipfile does not know
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise _corrupt(f"the ZIP container is damaged or truncated ({exc})") from exc
    root = _parse(zf, _main_part_name(zf))
    body = _child(root, "body")
    if _w(root) != "document" or body is None:
        raise _corrupt("the main part is not a WordprocessingML document")
    return zf, body


# ----------------------------------------------------------------------------- text and tables


def _unwrap(el: lxml.etree._Element) -> Iterator[lxml.etree._Element]:
    """Children, with content controls and similar wrappers opened in place."""
    for child in el:
        name = _w(child)
        if name in _WRAPPERS:
            yield from _unwrap(child)
        elif isinstance(child.tag, str) and child.tag == f"{{{_MC}}}AlternateContent":
            # Choice and Fallback hold the same content twice: take the first choice only
            choice = next(iter(child), None)
            if choice is not None:
                yield from _unwrap(choice)
        else:
            yield child


def _runs_text(el: lxml.etree._Element, out: list[str]) -> None:
    for child in _unwrap(el):
        name = _w(child)
        if name == "t":
            out.append(child.text or "")
        elif name in ("tab", "ptab"):
            out.append(" ")  # a tab in a paragraph is alignment; "\t" would read as a cell separator
        elif name in ("br", "cr"):
            out.append("\n")
        elif name == "noBreakHyphen":
            out.append("-")
        elif name == "p":  # a paragraph inside a text box
            out.append("\n")
            _runs_text(child, out)
            out.append("\n")
        elif name in ("delText", "instrText", "pPr", "rPr", "del", "moveFrom"):
            continue
        else:
            _runs_text(child, out)


def _paragraph_text(p: lxml.etree._Element) -> str:
    out: list[str] = []
    _runs_text(p, out)
    return "".join(out)


def _continues(tc_pr: lxml.etree._Element | None, merge: str) -> bool:
    el = _child(tc_pr, merge)
    return el is not None and _attr(el, "val") in (None, "continue")


class _Body:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.tables: list[Grid] = []

    def walk(self, container: lxml.etree._Element) -> None:
        for el in _unwrap(container):
            name = _w(el)
            if name == "p":
                self.lines += [line for line in _paragraph_text(el).split("\n") if line.strip()]
            elif name == "tbl":
                self.table(el)

    def table(self, tbl: lxml.etree._Element) -> None:
        rows = [[c for c in _unwrap(tr) if _w(c) == "tc"] for tr in _unwrap(tbl) if _w(tr) == "tr"]
        if all(len(r) <= 1 for r in rows) or any(_w(d) == "tbl" for d in tbl.iterdescendants()):
            # page layout, not data (a frame around the text, or tables inside a table): its cells
            # are read as body, so the report's text stays lines rather than one table row
            for tc in (c for r in rows for c in r):
                self.walk(tc)
            return
        self.lines.append("")
        texts: list[list[str]] = []  # expanded, merged text repeated (as extract.markup.expand)
        for tr in (r for r in _unwrap(tbl) if _w(r) == "tr"):
            pr = _child(tr, "trPr")
            col = _int(_attr(_child(pr, "gridBefore"), "val"), 0)
            row: list[str] = [""] * col
            printed: list[str] = []
            above = texts[-1] if texts else []
            for tc in (c for c in _unwrap(tr) if _w(c) == "tc"):
                tc_pr = _child(tc, "tcPr")
                span = max(_int(_attr(_child(tc_pr, "gridSpan"), "val"), 1), 1)
                text = self.cell_text(tc)
                # <w:vMerge/> without a value continues the cell above, "restart" begins one;
                # hMerge is the same sideways (files from old Word versions)
                if _continues(tc_pr, "vMerge") and len(above) > len(row):
                    text = above[len(row)]
                elif _continues(tc_pr, "hMerge") and row:
                    text = row[-1]
                else:
                    printed.append(text)
                row += [text] * span
            if any(row):  # empty spacer rows say nothing
                texts.append(row)
            if any(printed):
                self.lines.append(pipe_line([t.replace("\n", " ") for t in printed]))
        self.lines.append("")
        if texts:
            width = max(len(r) for r in texts)
            self.tables.append(Grid.from_texts([[*r, *[""] * (width - len(r))] for r in texts]))

    def cell_text(self, tc: lxml.etree._Element) -> str:
        """A cell's paragraphs, one a line (a data table has no tables inside: see `table`)."""
        inner = _Body()
        inner.walk(tc)
        return "\n".join(line.strip() for line in inner.lines if line.strip())


def extract_docx(data: bytes) -> Document:
    zf, body = _open(data)
    with zf:
        b = _Body()
        b.walk(body)
    return Document(
        media_type=DOCX,
        pages=[
            Page(
                number=1,
                text=join_lines(b.lines),
                method=PageMethod.MARKUP,
                reason=f"Word document: {len(b.tables)} table(s)",
                tables=b.tables,
            )
        ],
    )
