"""HTML uploads (saved web pages, where most reports are published) → one `markup` page.

The page's `text` is the reading order with block elements as line breaks and every table row as a
pipe-separated line of the cells it prints (merged cells once, like the pipe layouts the text path
reads); every data table is also a `Grid` with its spans expanded (see `expand`). Scripts, styles
and navigation widgets are dropped; the remaining chrome (breadcrumbs, 字号 大 中 小, the 索引号
metadata table) is left to the parser's normaliser, which knows those lines.

`expand` and `pipe_line` are shared with the Word extractor (extract.word).
"""

from __future__ import annotations

import codecs
import email
import email.policy
import re
from collections.abc import Sequence
from dataclasses import dataclass

import lxml.etree
import lxml.html

from extract.errors import ExtractionError, ExtractionErrorCode
from extract.sniff import MHTML, TEXT_HTML
from report.document import Document, Grid, Page, PageMethod

# Elements whose content is never report text.
_DROP = frozenset(
    {
        "head", "script", "style", "noscript", "template", "iframe", "object", "embed", "svg", "canvas",
        "nav", "aside", "form", "select", "button", "input", "textarea", "map", "audio", "video",
    }
)  # fmt: skip
# Elements that start and end a line.
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "footer", "h1", "h2", "h3", "h4", "h5", "h6",
        "ul", "ol", "li", "dl", "dt", "dd", "blockquote", "pre", "address", "center", "hr", "figure",
        "figcaption", "caption", "body", "html", "tr", "td", "th", "table", "thead", "tbody", "tfoot",
        "fieldset", "legend", "details", "summary",
    }
)  # fmt: skip
# the site footer under its usual names (class/id), never part of the report
_FOOTER_NAME = re.compile(r"(?:^|[\s_-])(?:footer|copyright|banquan)(?:$|[\s_-])", re.I)
_TITLE_SEP = re.compile(r"\s*(?:[_|｜]|\s-\s|——)\s*")
_LINK_LIST_TAGS = frozenset({"ul", "ol", "dl", "div", "p", "section", "header", "footer"})
_MIN_LINKS = 3
_LINKED_SHARE = 0.8
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.I)
_CJK = "\u3000-\u303f\u3400-\u9fff\uff00-\uffef"
# A line break in the HTML source between two CJK characters is source formatting, not a space.
_CJK_WRAP = re.compile(rf"(?<=[{_CJK}])[ \t\r\f\xa0]*\n\s*(?=[{_CJK}])")
_SPACE = re.compile(r"[ \t\r\n\f\v\xa0]+")
# <meta charset="gb2312"> or <meta http-equiv="Content-Type" content="text/html; charset=gbk">
_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{2,40})""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
# GB2312 and GBK pages routinely use characters beyond their declared set: GB18030 decodes them all.
_GB = frozenset({"gb2312", "gbk", "gb18030", "hz", "x-gbk", "gb_2312-80", "cp936", "euc-cn", "csgb2312"})


# ----------------------------------------------------------------------------- shared with Word


@dataclass(frozen=True)
class SourceCell:
    """A cell as the source writes it, before its spans are expanded."""

    text: str
    rowspan: int = 1
    colspan: int = 1


def expand(rows: Sequence[Sequence[SourceCell]]) -> Grid:
    """Rows of source cells → a rectangular grid, each merged cell's text repeated into every
    position it covers. Repeating (rather than leaving covered positions empty) is what the table
    reader reads best: a rowspan label stays on every row it labels, and a value spanning to the
    right edge is recognised as one value repeated (report.tables `_fit`)."""
    taken: dict[tuple[int, int], str] = {}
    for r, row in enumerate(rows):
        c = 0
        for cell in row:
            while (r, c) in taken:
                c += 1
            for dr in range(max(cell.rowspan, 1)):
                for dc in range(max(cell.colspan, 1)):
                    taken.setdefault((r + dr, c + dc), cell.text)
            c += max(cell.colspan, 1)
    # a rowspan running past the last row is clamped (browsers do the same)
    width = 1 + max((c for (r, c) in taken if r < len(rows)), default=-1)
    return Grid.from_texts([[taken.get((r, c), "") for c in range(width)] for r in range(len(rows))])


def pipe_line(cells: Sequence[str]) -> str:
    """One table row for the text path: the printed cells, merged ones once ("| a | b |")."""
    return "| " + " | ".join(" ".join(t.split()) for t in cells) + " |"


def join_lines(lines: Sequence[str]) -> str:
    """Lines with runs of blank lines collapsed to one, and no blank lines at the ends."""
    out: list[str] = []
    for line in lines:
        line = line.strip()
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)


# ----------------------------------------------------------------------------- decoding


def _codec(name: str) -> str | None:
    name = name.strip().lower()
    if name in _GB:
        return "gb18030"
    try:
        found = codecs.lookup(name).name
    except LookupError:
        return None
    return "gb18030" if found in _GB else found


def decode_html(data: bytes) -> tuple[str, str]:
    """(text, encoding): a BOM first, then the page's own <meta> declaration, then detection
    (UTF-8 or GB18030). A declaration that does not fit the bytes is ignored (sites copy templates);
    a few stray bytes do not lose the page: the encoding with the fewest replacements wins."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):  # fmt: skip
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace"), encoding
    candidates: list[str] = []
    declared = _META_CHARSET.search(data[:8192])
    if declared:
        codec = _codec(declared.group(1).decode("ascii"))
        if codec:
            candidates.append(codec)
    candidates += [c for c in ("utf-8", "gb18030") if c not in candidates]
    for encoding in candidates:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    decoded = [(data.decode(e, errors="replace"), e) for e in candidates]
    return min(decoded, key=lambda d: d[0].count("\ufffd"))


# ----------------------------------------------------------------------------- the walk


def _tag(el: lxml.etree._Element) -> str | None:
    return el.tag.lower() if isinstance(el.tag, str) else None  # comments and PIs have no name


def _dropped(el: lxml.etree._Element, tag: str) -> bool:
    if tag in _DROP or el.get("hidden") is not None or _HIDDEN.search(el.get("style") or ""):
        return True
    if (el.get("role") or "").lower() in ("navigation", "contentinfo") or _FOOTER_NAME.search(
        f"{el.get('class') or ''} {el.get('id') or ''}"
    ):
        return True
    if tag == "footer" and not any(_tag(a) == "article" for a in el.iterancestors()):
        return True  # the site's footer (主办单位, 备案号); an article's own <footer> may sign it
    return tag in _LINK_LIST_TAGS and _link_list(el)


def _link_list(el: lxml.etree._Element) -> bool:
    """Menus and "相关文章" lists: nearly all text in 3+ links. Dropped, because a list of other
    years' report titles would otherwise compete with the report's own title."""
    links = el.xpath(".//a")
    if len(links) < _MIN_LINKS:
        return False
    total = len("".join(el.text_content().split()))
    linked = sum(len("".join(a.text_content().split())) for a in links)
    return total > 0 and linked >= _LINKED_SHARE * total


def _inline(text: str | None) -> str:
    if not text:
        return ""
    return _SPACE.sub(" ", _CJK_WRAP.sub("", text))


def _own_rows(table: lxml.etree._Element) -> list[lxml.etree._Element]:
    """The table's rows (in thead/tbody/tfoot or bare), not those of tables nested in its cells."""
    rows: list[lxml.etree._Element] = []
    for child in table:
        tag = _tag(child)
        if tag == "tr":
            rows.append(child)
        elif tag in ("thead", "tbody", "tfoot"):
            rows += [r for r in child if _tag(r) == "tr"]
    return rows


def _cells(row: lxml.etree._Element) -> list[lxml.etree._Element]:
    return [c for c in row if _tag(c) in ("td", "th") and not _dropped(c, "td")]


def _layout_table(table: lxml.etree._Element) -> bool:
    """Page layout, not data: a table holding other tables, or one cell per row (a frame around
    the article). Its cells are walked as blocks, so the report's text stays lines, not one row."""
    return bool(table.xpath(".//table")) or all(len(_cells(row)) <= 1 for row in _own_rows(table))


def _span(cell: lxml.etree._Element, name: str) -> int:
    m = re.match(r"\s*(\d+)", cell.get(name) or "")
    # browsers treat rowspan="0" as "to the end of the section"; 1 is the safe reading here
    return min(max(int(m.group(1)), 1), 1000) if m else 1


class _Walker:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.tables: list[Grid] = []

    def newline(self) -> None:
        line = "".join(self.current).strip()
        self.current = []
        if line:
            self.lines.append(line)

    def blank(self) -> None:
        self.newline()
        if self.lines and self.lines[-1]:
            self.lines.append("")

    def walk(self, el: lxml.etree._Element) -> None:
        tag = _tag(el)
        if tag is not None and not _dropped(el, tag):
            if tag == "br":
                self.newline()
            elif tag == "table" and not _layout_table(el):
                self.table(el)
            else:
                block = tag in _BLOCK
                if block:
                    self.newline()
                self.current.append(_inline(el.text))
                for child in el:
                    self.walk(child)
                if block:
                    self.newline()
        self.current.append(_inline(el.tail))

    def table(self, table: lxml.etree._Element) -> None:
        """A data table: a grid, and pipe lines for the text."""
        source: list[list[SourceCell]] = []
        self.blank()
        for caption in (c for c in table if _tag(c) == "caption"):
            self.walk_text(caption)
        for row in _own_rows(table):
            cells = [SourceCell(_cell_text(c), _span(c, "rowspan"), _span(c, "colspan")) for c in _cells(row)]
            source.append(cells)  # even an empty <tr>: it is still a row of the spans above it
            if any(c.text for c in cells):
                self.lines.append(pipe_line([c.text for c in cells]))
        self.blank()
        # Word's sizing row (<tr height=0>) and spacer rows say nothing
        rows = [row for row in expand(source).rows if any(c.text for c in row)]
        if rows:
            self.tables.append(Grid(rows=rows))

    def walk_text(self, el: lxml.etree._Element) -> None:
        self.newline()
        self.current.append(_cell_text(el).replace("\n", " "))
        self.newline()


def _cell_text(cell: lxml.etree._Element) -> str:
    """A cell's text, its own line breaks kept (the grid reader joins label lines itself)."""
    w = _Walker()
    w.current.append(_inline(cell.text))
    for child in cell:
        w.walk(child)
    w.newline()
    return "\n".join(line for line in w.lines if line)


def html_to_page(text: str) -> Page:
    text = _XML_DECL.sub("", text, count=1)  # lxml refuses an XML encoding declaration in a str
    try:
        root = lxml.html.document_fromstring(text.encode("utf-8"), parser=_parser())
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError) as exc:
        raise ExtractionError(ExtractionErrorCode.CORRUPT_FILE, f"the HTML cannot be parsed: {exc}") from exc
    w = _Walker()
    body = root.find("body")
    w.walk(body if body is not None else root)
    w.newline()
    lines = w.lines
    # The report's title is sometimes only in <title> (the body starts with its first heading).
    title = " ".join((root.findtext(".//title") or "").split())
    # "<report title>_<site name>": the site's name would compete with the agency
    title = next((part for part in _TITLE_SEP.split(title) if "年度报告" in part), title)
    head = "".join("".join(lines[:40]).split())
    if "年度报告" in title and "年度报告" not in head:
        lines = [title, "", *lines]
    return Page(
        number=1,
        text=join_lines(lines),
        method=PageMethod.MARKUP,
        reason=f"HTML: {len(w.tables)} table(s)",
        tables=w.tables,
    )


def _parser() -> lxml.html.HTMLParser:
    # bytes re-encoded as UTF-8 with the encoding stated: lxml then ignores the page's <meta>
    return lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)


def extract_html(data: bytes) -> Document:
    text, encoding = decode_html(data)
    page = html_to_page(text)
    return Document(media_type=TEXT_HTML, pages=[page], encoding=encoding)


def extract_mhtml(data: bytes) -> Document:
    """A page saved as one file (MHTML: Word's "单个文件网页", browsers' "save as .mht"): its first
    HTML part, transfer encoding undone, read like any page."""
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    for part in message.walk():
        if part.get_content_type() != "text/html":
            continue
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes):
            continue
        declared = part.get_content_charset()
        codec = _codec(declared) if declared else None
        try:  # the part's own charset header first, then the page's as for any HTML
            text, encoding = (payload.decode(codec), codec) if codec else decode_html(payload)
        except UnicodeDecodeError:
            text, encoding = decode_html(payload)
        return Document(media_type=MHTML, pages=[html_to_page(text)], encoding=encoding)
    raise ExtractionError(ExtractionErrorCode.CORRUPT_FILE, "the saved web page (MHTML) has no HTML part")
