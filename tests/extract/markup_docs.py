"""HTML pages and Word files of a truth file, built at test time the way publishers make them:
tables with real rowspans/colspans (merged Word cells), GBK pages with <meta charset=gb2312>,
portal chrome around the article. Test helper only."""

from __future__ import annotations

import html
import io
import sys
from dataclasses import dataclass
from typing import Any

from .conftest import TOOLS

sys.path.insert(0, str(TOOLS))
import report_template as tpl


@dataclass(frozen=True)
class C:
    """A source cell: text, rowspan, colspan."""

    text: str
    rows: int = 1
    cols: int = 1


Table = list[list[C]]


def cell(truth: dict[str, Any], dotted: str) -> str:
    raw = (truth.get("raw_cells") or {}).get(dotted)
    if raw is not None:
        return str(raw).strip()
    v = tpl.value(truth, dotted)
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6f}".rstrip("0").rstrip(".")
    return str(v)


def table2(truth: dict[str, Any]) -> Table:
    rows: Table = []
    for title, headers, items in tpl.ACTIVE_DISCLOSURE[truth["format"]]:
        rows.append([C(title, cols=4)])
        rows.append([C(h) for h in headers[:-1]] + [C(headers[-1], cols=5 - len(headers))])
        for key, label, fields in items:
            values = [C(cell(truth, f"active_disclosure.{key}.{f}")) for f in fields]
            values[-1] = C(values[-1].text, cols=4 - len(fields))
            rows.append([C(label), *values])
    return rows


def table3(truth: dict[str, Any]) -> Table:
    fmt = truth["format"]
    cols = [k for k, _ in tpl.APPLICANT_COLUMNS]
    rows: Table = [
        [C(tpl.BALANCE_NOTE, rows=3, cols=3), C("申请人情况", cols=7)],
        [C("自然人", rows=2), C("法人或其他组织", cols=5), C("总计", rows=2)],
        [C(label) for _, label in tpl.APPLICANT_COLUMNS[1:-1]],
    ]
    app_rows = tpl.application_rows(fmt)
    n_result = sum(1 for _, block, _, _ in app_rows if block == "result")
    first_result = True
    seen_groups: set[str] = set()
    for key, block, group, label in app_rows:
        values = [C(cell(truth, f"applications.{key}.{c}")) for c in cols]
        row: list[C] = []
        if block != "result":
            row.append(C(label, cols=3))
        else:
            if first_result:
                row.append(C(tpl.RESULT_BLOCK_LABEL, rows=n_result))
                first_result = False
            if group is None:
                row.append(C(label, cols=2))
            else:
                if group not in seen_groups:
                    seen_groups.add(group)
                    size = sum(1 for _, _, g, _ in app_rows if g == group)
                    row.append(C(group, rows=size))
                row.append(C(label))
        rows.append(row + values)
    return rows


def table4(truth: dict[str, Any]) -> Table:
    items = [C(label) for _ in tpl.REVIEW_GROUPS for _, label in tpl.REVIEW_ITEMS]
    values = [
        C(cell(truth, f"review_litigation.{g}.{i}"))
        for g, _ in tpl.REVIEW_GROUPS
        for i, _ in tpl.REVIEW_ITEMS
    ]
    return [
        [C("行政复议", rows=2, cols=5), C("行政诉讼", cols=10)],
        [C("未经复议直接起诉", cols=5), C("复议后起诉", cols=5)],
        items,
        values,
    ]


def blocks(truth: dict[str, Any]) -> list[str | Table]:
    """The report in order: paragraphs (str) and tables."""
    sections = truth.get("sections") or {}
    out: list[str | Table] = [
        f"{truth['agency']}{truth['year']}年政府信息公开工作年度报告",
        f"本报告由{truth['agency']}办公室根据《中华人民共和国政府信息公开条例》编制。",
        tpl.SECTION_HEADINGS[0],
        *(sections.get("overview") or "本年度政府信息公开工作有序推进。").split("\n"),
        tpl.SECTION_HEADINGS[1],
        table2(truth),
        tpl.SECTION_HEADINGS[2],
        table3(truth),
        tpl.SECTION_HEADINGS[3],
        table4(truth),
        tpl.SECTION_HEADINGS[4],
        *(sections.get("problems_and_improvements") or "一是公开质量有待提升。").split("\n"),
        tpl.SECTION_HEADINGS[5],
        *(sections.get("other_matters") or "本年度未收取信息处理费。").split("\n"),
    ]
    return [b for b in out if not isinstance(b, str) or b.strip()]


# ----------------------------------------------------------------------------- HTML

CHROME_TOP = """
<div class="top"><ul class="menu"><li><a href="/">首页</a></li><li><a href="/zwgk">政务公开</a></li>
<li><a href="/hdjl">互动交流</a></li></ul></div>
<nav class="mainnav"><a href="/">网站首页</a> <a href="/xxgk">信息公开</a></nav>
<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="/xxgk">政府信息公开</a> &gt; 年度报告</div>
<table class="xxgk-meta" border="1">
<tr><td>索引号：</td><td>014167024/2025-00031</td><td>分类：</td><td>政府信息公开年报</td></tr>
<tr><td>发布机构：</td><td>{agency}办公室</td><td>发文日期：</td><td>{pub}-01-20</td></tr>
<tr><td>文号：</td><td></td><td>有效性：</td><td>有效</td></tr>
</table>
<div class="fontsize">字号：<a href="#">大</a> <a href="#">中</a> <a href="#">小</a>
<span>浏览次数：1024</span></div>
"""
CHROME_BOTTOM = """
<div class="tools"><a href="javascript:window.print()">【打印本页】</a>
<a href="javascript:close()">【关闭窗口】</a></div>
<script>var _hmt = _hmt || []; document.write("统计代码 2024年 12 34 56");</script>
<footer>主办单位：{agency}办公室　备案号：苏ICP备12345678号　网站标识码：3208000001</footer>
"""


def html_table(rows: Table, *, border: bool = True) -> str:
    out = [f'<table {"border=1 " if border else ""}cellspacing="0" class="MsoNormalTable">']
    for row in rows:
        cells = []
        for c in row:
            attrs = (f' rowspan="{c.rows}"' if c.rows > 1 else "") + (
                f' colspan="{c.cols}"' if c.cols > 1 else ""
            )
            # Word-exported pages wrap every cell's text in <p><span>, with &nbsp; for empty cells
            text = html.escape(c.text) if c.text else "&nbsp;"
            cells.append(
                f'<td{attrs} valign="center"><p align="center">'
                f'<span style="font-size:10.5pt">{text}</span></p></td>'
            )
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def report_html(
    truth: dict[str, Any], *, chrome: bool = False, encoding: str = "gbk", meta: str | None = "gb2312"
) -> bytes:
    body: list[str] = []
    for b in blocks(truth):
        if isinstance(b, str):
            body.append(f'<p style="text-indent:2em">\u3000\u3000{html.escape(b)}</p>')
        else:
            body.append(html_table(b))
    title = f"{truth['agency']}{truth['year']}年政府信息公开工作年度报告"
    head = f'<meta charset="{meta}">' if meta else ""
    page = (
        "<!DOCTYPE html>\n<html>\n<head>" + head + f"<title>{title}_{truth['agency']}</title>"
        "<style>td{border:1px solid #000}</style></head>\n<body>\n"
        + (CHROME_TOP.format(agency=truth["agency"], pub=truth["year"] + 1) if chrome else "")
        + '<div class="article">\n'
        + "\n".join(body)
        + "\n</div>\n"
        + (CHROME_BOTTOM.format(agency=truth["agency"]) if chrome else "")
        + "</body>\n</html>\n"
    )
    return page.encode(encoding)


# ----------------------------------------------------------------------------- Word


def report_docx(truth: dict[str, Any], *, framed: bool = False) -> bytes:
    """framed: the whole report inside a one-cell table (a frame some offices draw round it)."""
    import docx

    d = docx.Document()
    container: Any = d.add_table(rows=1, cols=1).cell(0, 0) if framed else d
    for b in blocks(truth):
        if isinstance(b, str):
            container.add_paragraph(b)
            continue
        placed = place(b)
        height = len(b)
        width = max(c + cl for (_, c, _, cl, _) in placed)
        t = container.add_table(rows=height, cols=width)
        t.style = "Table Grid"
        for r, c, rs, cs, text in placed:
            target = t.cell(r, c)
            if rs > 1 or cs > 1:
                target = target.merge(t.cell(r + rs - 1, c + cs - 1))
            target.text = text
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def place(rows: Table) -> list[tuple[int, int, int, int, str]]:
    """(row, col, rowspan, colspan, text) of every source cell, as a browser lays them out."""
    taken: set[tuple[int, int]] = set()
    out = []
    for r, row in enumerate(rows):
        col = 0
        for c in row:
            while (r, col) in taken:
                col += 1
            out.append((r, col, c.rows, c.cols, c.text))
            taken |= {(r + i, col + j) for i in range(c.rows) for j in range(c.cols)}
            col += c.cols
    return out


# ----------------------------------------------------------------------------- Word "save as web page"

# Word's own style sheet heads every exported page (tens of kB in real files: fonts, list and table
# definitions); enough of it here to be as heavy for the parser.
_WORD_FONTS = ("宋体", "仿宋_GB2312", "黑体", "楷体_GB2312", "Cambria Math", "Calibri", "Times New Roman")
WORD_STYLE = (
    "<style>\n<!--\n"
    + "".join(
        f'@font-face {{font-family:"{f}"; panose-1:2 1 6 0 3 1 1 1 1 1; mso-font-alt:SimSun;'
        f" mso-font-charset:134; mso-generic-font-family:auto; mso-font-pitch:variable;"
        f" mso-font-signature:3 680460288 22 0 262145 0;}}\n"
        for f in _WORD_FONTS
    )
    + "".join(
        f"p.MsoNormal{i}, li.MsoNormal{i}, div.MsoNormal{i} {{mso-style-unhide:no; mso-style-qformat:yes;"
        f" margin:0cm; margin-bottom:.0001pt; text-align:justify; text-justify:inter-ideograph;"
        f' mso-pagination:none; font-size:10.5pt; font-family:"Calibri",sans-serif;'
        f' mso-bidi-font-family:"Times New Roman"; mso-font-kerning:1.0pt;}}\n'
        for i in range(200)
    )
    + "@page WordSection1 {size:595.3pt 841.9pt; margin:72.0pt 90.0pt 72.0pt 90.0pt; layout-grid:15.6pt;}\n"
    + "div.WordSection1 {page:WordSection1;}\n-->\n</style>\n"
    + "<!--[if gte mso 9]><xml>\n<w:WordDocument><w:View>Print</w:View>"
    + "<w:SpellingState>Clean</w:SpellingState><w:DrawingGridVerticalSpacing>7.8 磅"
    + "</w:DrawingGridVerticalSpacing></w:WordDocument>\n</xml><![endif]-->\n"
)
_SPAN = (
    "<span lang={lang} style='font-size:{size}pt;font-family:仿宋_GB2312;mso-hansi-font-family:"
    '"Times New Roman";mso-bidi-font-family:宋体;color:black;mso-font-kerning:0pt\'>{text}</span>'
)


def _runs(text: str, size: str = "10.5") -> str:
    """Word writes a paragraph as runs: split mid-word (a run ends where the formatting or the
    spell-check state changed), digits as lang=EN-US runs."""
    if not text:
        return _SPAN.format(lang="EN-US", size=size, text="<o:p>&nbsp;</o:p>")
    cut = max(1, len(text) // 2)
    parts = [text[:cut], text[cut:]] if len(text) > 1 else [text]
    return (
        "".join(
            _SPAN.format(lang="EN-US" if p[:1].isdigit() else "ZH-CN", size=size, text=html.escape(p))
            for p in parts
            if p
        )
        + "<o:p></o:p>"
    )


def _word_paragraphs(text: str) -> str:
    """A label of more than six characters broken over two paragraphs (an Enter in a narrow cell)."""
    style = (
        "class=MsoNormal align=center style='text-align:center;mso-pagination:widow-orphan;line-height:14pt'"
    )
    if len(text) > 6 and not text[:1].isdigit():
        cut = len(text) // 2
        return "".join(f"<p {style}>{_runs(part)}</p>" for part in (text[:cut], text[cut:]))
    return f"<p {style}>{_runs(text)}</p>"


def word_html_table(rows: Table) -> str:
    out = [
        "<div align=center><table class=MsoNormalTable border=1 cellspacing=0 cellpadding=0 width=605"
        " style='width:453.6pt;border-collapse:collapse;border:none;mso-border-alt:solid windowtext .5pt;"
        "mso-yfti-tbllook:1184;mso-padding-alt:0cm 5.4pt 0cm 5.4pt'>"
    ]
    for r, row in enumerate(rows):
        cells = []
        for c in row:
            attrs = (f" rowspan={c.rows}" if c.rows > 1 else "") + (
                f" colspan={c.cols}" if c.cols > 1 else ""
            )
            cells.append(
                f"<td width={60 * c.cols}{attrs} valign=center style='width:{45 * c.cols}.0pt;border:solid"
                " windowtext 1.0pt;border-top:none;mso-border-top-alt:solid windowtext .5pt;mso-border-alt:"
                "solid windowtext .5pt;padding:0cm 5.4pt 0cm 5.4pt;height:20.25pt'>"
                f"{_word_paragraphs(c.text)}</td>"
            )
        out.append(f"<tr style='mso-yfti-irow:{r};height:20.25pt'>" + "".join(cells) + "</tr>")
    width = max(sum(c.cols for c in row) for row in rows)
    out.append(
        "<![if !supportMisalignedColumns]><tr height=0>"
        + "<td width=60 style='border:none'></td>" * width
        + "</tr><![endif]></table></div>"
    )
    return "\n".join(out)


def report_word_html(truth: dict[str, Any]) -> bytes:
    """The report as Word's "save as web page" writes it (GB2312): Office namespaces, its style
    sheet, every cell's text in <p class=MsoNormal><span style=…> runs split mid-word, long labels
    over two paragraphs, &nbsp; in empty cells, the column-sizing row."""
    body: list[str] = []
    for b in blocks(truth):
        if isinstance(b, str):
            body.append(
                "<p class=MsoNormal style='text-indent:32.0pt;mso-char-indent-count:2.0;line-height:28.0pt;"
                f"mso-line-height-rule:exactly'>{_runs(b, '16.0')}</p>"
            )
        else:
            body.append(word_html_table(b))
    page = (
        '<html xmlns:v="urn:schemas-microsoft-com:vml" xmlns:o="urn:schemas-microsoft-com:office:office"'
        ' xmlns:w="urn:schemas-microsoft-com:office:word" xmlns="http://www.w3.org/TR/REC-html40">\n<head>\n'
        '<meta http-equiv=Content-Type content="text/html; charset=gb2312">\n'
        '<meta name=ProgId content=Word.Document>\n<meta name=Generator content="Microsoft Word 15">\n'
        + WORD_STYLE
        + "</head>\n<body lang=ZH-CN style='tab-interval:21.0pt;text-justify-trim:punctuation'>\n"
        "<div class=WordSection1 style='layout-grid:15.6pt'>\n"
        + "\n".join(body)
        + "\n</div>\n</body>\n</html>\n"
    )
    return page.encode("gbk")
