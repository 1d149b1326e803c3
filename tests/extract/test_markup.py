"""HTML and Word uploads: built at test time from the samples' truth files (real rowspans/colspans,
merged Word cells, GBK pages, portal chrome) and parsed back to exactly their truth."""

from __future__ import annotations

import codecs
import io
import json
import quopri
import subprocess
import sys
import zipfile
from typing import Any

import pytest

from extract import sniff
from extract.dispatch import extract_document, tables_from
from extract.errors import ExtractionError, ExtractionErrorCode
from extract.markup import SourceCell, decode_html, expand
from report import NotAReportError, parse_document
from report.document import Document, Grid, Page, PageMethod
from storage.archives import is_archive, is_nested_archive
from tests.report.conftest import numeric_truth

from .conftest import SAMPLES, TOOLS
from .markup_docs import blocks, html_table, report_docx, report_html, report_word_html

SAMPLE_TRUTHS = sorted(SAMPLES.glob("*.truth.json"))
# make_truth.py seeds: 2021 and 2019-trial, with and without blank (null) zero cells
GENERATED = [("2021", 1), ("2021", 2), ("2019-trial", 1), ("2019-trial", 3)]


@pytest.fixture(scope="module")
def truths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = {p.name.removesuffix(".truth.json"): json.loads(p.read_text("utf-8")) for p in SAMPLE_TRUTHS}
    tmp = tmp_path_factory.mktemp("truths")
    for fmt, seed in GENERATED:
        path = tmp / f"{fmt}-{seed}.json"
        cmd = [
            sys.executable,
            str(TOOLS / "make_truth.py"),
            "--format",
            fmt,
            "--seed",
            str(seed),
            "-o",
            str(path),
        ]
        subprocess.run(cmd, check=True, capture_output=True, timeout=60)
        out[f"make_truth-{fmt}-{seed}"] = json.loads(path.read_text("utf-8"))
    return {k: v for k, v in out.items() if v["format"] in ("2021", "2019-trial")}


NAMES = [p.name.removesuffix(".truth.json") for p in SAMPLE_TRUTHS] + [
    f"make_truth-{f}-{s}" for f, s in GENERATED
]
HUAIAN = "huaian_2024"


def assert_equals_truth(
    doc: Document, truth: dict[str, Any], *, flagged: frozenset[str] = frozenset()
) -> dict[str, Any]:
    got = parse_document(doc).to_canonical()
    assert (got["agency"], got["year"], got["format"]) == (truth["agency"], truth["year"], truth["format"])
    want, have = numeric_truth(truth), numeric_truth(got)
    wrong = {k: (v, have.get(k, "<missing>")) for k, v in want.items() if k not in have or have[k] != v}
    assert wrong == {}
    assert set(have) == set(want)
    assert {f for fl in got["flags"] for f in fl["fields"]} <= flagged
    return got


# ----------------------------------------------------------------------------- whole reports


@pytest.mark.parametrize("name", NAMES)
def test_gbk_html_report_equals_truth(name: str, truths: dict[str, dict[str, Any]]) -> None:
    data = report_html(truths[name], encoding="gbk", meta="gb2312")
    doc = extract_document(data)
    assert doc.media_type == "text/html" and doc.encoding == "gb18030"
    [page] = doc.pages
    assert page.method == "markup" and len(page.tables) == 3
    assert_equals_truth(doc, truths[name])


@pytest.mark.parametrize("name", NAMES)
def test_docx_report_equals_truth(name: str, truths: dict[str, dict[str, Any]]) -> None:
    doc = extract_document(report_docx(truths[name]))
    assert doc.media_type == sniff.DOCX
    [page] = doc.pages
    assert page.method == "markup" and len(page.tables) == 3
    assert_equals_truth(doc, truths[name])


@pytest.mark.parametrize("name", NAMES)
def test_word_exported_html_report_equals_truth(name: str, truths: dict[str, dict[str, Any]]) -> None:
    """Word's "save as web page" (~250 kB): every cell <td><p class=MsoNormal><span style=…>58</span>
    </p></td> with runs split mid-word, long labels over two paragraphs, a large style sheet."""
    data = report_word_html(truths[name])
    assert 200_000 < len(data) < 300_000
    doc = extract_document(data)
    assert doc.media_type == "text/html" and doc.encoding == "gb18030"
    [page] = doc.pages
    assert len(page.tables) == 3
    assert "mso-" not in doc.text and "@font-face" not in doc.text  # the style sheet is not text
    assert_equals_truth(doc, truths[name])


def test_word_exported_cells_join_their_runs_and_paragraphs(truths: dict[str, dict[str, Any]]) -> None:
    """A number split over two runs is one number; a label over two paragraphs is one cell whose
    lines the grid keeps (the table reader joins them)."""
    doc = extract_document(report_word_html(truths[HUAIAN]))
    t3 = doc.pages[0].tables[1].texts()
    assert t3[1][4:9] == ["法人或\n其他组织"] * 5
    new = t3[3]
    assert new[:3] == ["一、本年新收政府\n信息公开申请数量"] * 3
    assert new[3:] == ["3001", "53", "0", "0", "61", "4", "3119"]  # "3001": <span>30</span><span>01</span>
    fees = doc.pages[0].tables[0].texts()[-1]
    assert fees == ["行政事\n业性收费", "96171.6", "96171.6", "96171.6"]


def test_tables_from_names_where_the_grids_came_from(truths: dict[str, dict[str, Any]]) -> None:
    """What the job result records as source.tables_from."""
    truth = truths[HUAIAN]
    for data in (report_html(truth), report_word_html(truth), report_docx(truth)):
        assert tables_from(extract_document(data)) == "markup"
    assert tables_from(extract_document(f"{REPORT}\n一、总体情况".encode())) == "text"
    grid = Grid.from_texts([["a", "1"]])
    pages = [
        Page(number=1, method=PageMethod.TEXT_LAYER, tables=[grid]),
        Page(number=2, method=PageMethod.TEXT_LAYER),
        Page(number=3, method=PageMethod.OCR, tables=[grid]),
    ]
    assert tables_from(Document(media_type="application/pdf", pages=pages)) == "text_layer+ocr"
    assert tables_from(Document(media_type="application/pdf", pages=pages[1:2])) == "text"


@pytest.mark.parametrize("name", [HUAIAN, "000_6cd8fdb8270bcb50", "synthetic_001_cells"])
def test_labels_broken_with_br_and_spans(name: str, truths: dict[str, dict[str, Any]]) -> None:
    """Labels broken by <br> and wrapped in several <span>s inside one cell read as one label."""
    page = report_html(truths[name], encoding="utf-8", meta="utf-8").decode()
    for label in ("（区分处理的", "商业企业", "本年度办理结果", "法人或其他组织", "信息公开申请数量"):
        cut = len(label) // 2
        page = page.replace(label, f"{label[:cut]}<br><span lang=ZH-CN>{label[cut:]}</span>")
    assert page.count("<br><span lang=ZH-CN>") >= 5  # each label at least once
    assert_equals_truth(extract_document(page.encode()), truths[name])


def test_page_chrome_is_dropped_or_left_to_the_parser(truths: dict[str, dict[str, Any]]) -> None:
    truth = truths[HUAIAN]
    doc = extract_document(report_html(truth, chrome=True, encoding="utf-8", meta="utf-8"))
    text = doc.text
    assert "当前位置" in text and "索引号" in text  # left for the parser's normaliser
    for gone in ("统计代码", "互动交流", "网站首页", "备案号"):  # script, menu, nav, site footer
        assert gone not in text
    got = assert_equals_truth(doc, truth)
    assert "主办单位" not in got["sections"]["other_matters"]
    assert "信息处理费" in got["sections"]["other_matters"]


def test_each_path_alone_reads_the_report(truths: dict[str, dict[str, Any]]) -> None:
    """The grids alone (no pipe lines in the text) and the text alone (no grids) both give every
    value. (The format is detected from the text's labels: without the pipe lines it is flagged.)"""
    truth = truths[HUAIAN]
    for data in (report_html(truth), report_docx(truth)):
        doc = extract_document(data)
        page = doc.pages[0]
        no_pipes = "\n".join(line for line in page.text.split("\n") if not line.startswith("| "))
        grids_only = page.model_copy(update={"text": no_pipes})
        assert_equals_truth(
            doc.model_copy(update={"pages": [grids_only]}), truth, flagged=frozenset({"format"})
        )
        text_only = page.model_copy(update={"tables": []})
        assert_equals_truth(doc.model_copy(update={"pages": [text_only]}), truth)


def test_report_inside_a_layout_table(truths: dict[str, dict[str, Any]]) -> None:
    """Old portals put the article in layout tables: only the innermost tables are data."""
    truth = truths[HUAIAN]
    inner = report_html(truth, encoding="utf-8", meta=None).decode("utf-8")
    body = inner.split("<body>", 1)[1].split("</body>", 1)[0]
    page = (
        "<html><body><table width=1000><tr><td>当前位置：首页 &gt; 年报</td></tr>"
        f"<tr><td><table><tr><td>{body}</td></tr></table></td></tr></table></body></html>"
    )
    doc = extract_document(page.encode("utf-8"))
    assert len(doc.pages[0].tables) == 3
    assert_equals_truth(doc, truth)


def test_title_only_in_head_is_kept(truths: dict[str, dict[str, Any]]) -> None:
    truth = truths[HUAIAN]
    html = report_html(truth, encoding="utf-8", meta="utf-8").decode("utf-8")
    title = f"{truth['agency']}{truth['year']}年政府信息公开工作年度报告"
    html = html.replace(f'<p style="text-indent:2em">\u3000\u3000{title}</p>', "", 1)
    assert html.count(title) == 1  # now only in <title>
    doc = extract_document(html.encode("utf-8"))
    assert doc.text.split("\n")[0] == title  # without the site's name after "_"
    assert_equals_truth(doc, truth)


def test_html_without_a_report_is_not_a_report() -> None:
    page = (
        "<!DOCTYPE html><html><head><meta charset=gbk><title>关于做好秋冬季森林防火工作的通知</title></head>"
        "<body><div class=position>当前位置：首页 &gt; 通知公告</div>"
        "<h1>关于做好秋冬季森林防火工作的通知</h1>"
        "<p>各乡镇人民政府，各有关单位：</p><p>为切实做好今年秋冬季森林防火工作，现将有关事项通知如下。</p>"
        "<table border=1><tr><td>序号</td><td>单位</td><td>值班电话</td></tr><tr><td>1</td><td>应急局</td>"
        "<td>12345678</td></tr></table></body></html>"
    ).encode("gbk")
    doc = extract_document(page)
    assert doc.media_type == "text/html" and len(doc.pages[0].tables) == 1
    with pytest.raises(NotAReportError):
        parse_document(doc)


# ----------------------------------------------------------------------------- grids


def test_spans_are_expanded_with_the_text_repeated() -> None:
    grid = expand(
        [
            [SourceCell("a", rowspan=2, colspan=2), SourceCell("b")],
            [SourceCell("c")],
            [SourceCell("d"), SourceCell("e", colspan=2)],
            [SourceCell("f", rowspan=5)],  # past the last row: clamped
        ]
    )
    assert grid.texts() == [["a", "a", "b"], ["a", "a", "c"], ["d", "e", "e"], ["f", "", ""]]


@pytest.mark.parametrize("kind", ["html", "docx"])
def test_table_three_merged_cells_in_the_grid(kind: str, truths: dict[str, dict[str, Any]]) -> None:
    truth = truths[HUAIAN]
    doc = extract_document(report_html(truth) if kind == "html" else report_docx(truth))
    t3 = doc.pages[0].tables[1].texts()
    assert all(len(row) == 10 for row in t3)
    assert t3[0][:3] == [t3[0][0]] * 3 and t3[2][2] == t3[0][0] and "勾稽关系" in t3[0][0]  # 3×3 header
    assert t3[0][3:] == ["申请人情况"] * 7
    assert [r[3] for r in t3[1:3]] == ["自然人", "自然人"] and t3[1][4:9] == ["法人或其他组织"] * 5
    body = t3[3:]
    assert body[0][:3] == ["一、本年新收政府信息公开申请数量"] * 3
    result = [r for r in body if r[0] == "三、本年度办理结果"]
    assert len(result) == 22  # granted … total_handled, 2021 format
    denied = [r for r in body if r[1] == "（三）不予公开"]
    assert [r[2][:2] for r in denied] == [f"{i}." for i in range(1, 9)]
    assert denied[0][3:] == ["2", "0", "0", "0", "0", "0", "2"]


def test_docx_keeps_body_order(truths: dict[str, dict[str, Any]]) -> None:
    text = extract_document(report_docx(truths[HUAIAN])).text
    order = [
        text.index(s)
        for s in ("二、主动公开", "| 第二十条第（一）项 |", "三、收到和处理", "| 行政复议 |", "五、存在")
    ]
    assert order == sorted(order)


def test_html_tables_print_their_cells_once_per_row(truths: dict[str, dict[str, Any]]) -> None:
    """The text path gets the ragged pipe rows it reads (merged cells once), like a pipe layout."""
    text = extract_document(report_html(truths[HUAIAN])).text
    assert "| 2.其他法律行政法规禁止公开 | 30 | 1 | 0 | 0 | 0 | 0 | 31 |" in text.split("\n")
    assert "| 行政事业性收费 | 96171.6 |" in text.split("\n")


# ----------------------------------------------------------------------------- encodings and sniffing

REPORT = "淮安市人民政府2024年政府信息公开工作年度报告"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (
            f'<html><head><meta charset="gb2312"></head><body><p>{REPORT}</p></body></html>'.encode("gbk"),
            "gb18030",
        ),
        (
            (
                '<html><head><meta http-equiv="Content-Type" content="text/html; charset=GBK"></head>'
                f"<body>{REPORT}</body></html>"
            ).encode("gbk"),
            "gb18030",
        ),
        (f"<html><body><p>{REPORT}</p></body></html>".encode(), "utf-8"),
        (f"<html><body><p>{REPORT}</p></body></html>".encode("gb18030"), "gb18030"),  # no declaration
        (codecs.BOM_UTF8 + f"<html><body>{REPORT}</body></html>".encode(), "utf-8"),
        # a copied template declares UTF-8, the bytes are GBK: the bytes win
        (f'<html><head><meta charset="utf-8"></head><body>{REPORT}</body></html>'.encode("gbk"), "gb18030"),
        (f"<html><body>{REPORT}</body></html>".encode("utf-16"), "utf-16-le"),
    ],
)
def test_html_charsets(data: bytes, encoding: str) -> None:
    assert decode_html(data)[1] == encoding
    doc = extract_document(data)
    assert doc.media_type == "text/html" and REPORT in doc.text


def test_a_stray_byte_does_not_lose_the_page() -> None:
    data = f"<html><body><p>{REPORT}</p><p>".encode() + b"\xff\xfe\x80" + "结束</p></body></html>".encode()
    text, encoding = decode_html(data)
    assert encoding == "utf-8" and REPORT in text and "结束" in text


def make_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries:
            zf.writestr(name, content)
    return buf.getvalue()


CT = "[Content_Types].xml"


def test_corrupt_docx_is_corrupt_file(truths: dict[str, dict[str, Any]]) -> None:
    good = report_docx(truths[HUAIAN])
    bad_xml = make_zip([(CT, b"<Types/>"), ("word/document.xml", b"<w:document><w:body><w:p>")])
    not_word = make_zip([(CT, b"<Types/>"), ("word/document.xml", b"<html><body/></html>")])
    for data in (good[: len(good) // 2], good[:-30], bad_xml, not_word):
        with pytest.raises(ExtractionError) as info:
            extract_document(data)
        assert info.value.code == ExtractionErrorCode.CORRUPT_FILE, info.value.message
        assert "Word" in info.value.message


def test_zips_are_documents_or_archives_as_the_batch_api_decides(truths: dict[str, dict[str, Any]]) -> None:
    xlsx = make_zip([(CT, b"<Types><Override ContentType='...spreadsheetml.sheet.main+xml'/></Types>")])
    odt = make_zip([("mimetype", b"application/vnd.oasis.opendocument.text"), ("content.xml", b"<x/>")])
    plain = make_zip([("a.txt", "报告".encode())])
    cases = {
        sniff.DOCX: report_docx(truths[HUAIAN]),
        sniff.OOXML: xlsx,
        "application/vnd.oasis.opendocument.text": odt,
        sniff.ZIP: plain,
    }
    for media_type, data in cases.items():
        assert sniff.sniff_container(data, sniff.sniff_media_type(data[:4096])) == media_type
        # one rule in both places: storage/archives.py expands exactly the ZIPs that are not documents
        assert is_archive(io.BytesIO(data)) == (media_type == sniff.ZIP)
        if media_type != sniff.DOCX:
            with pytest.raises(ExtractionError) as info:
                extract_document(data)
            assert info.value.code == ExtractionErrorCode.UNSUPPORTED_TYPE
            assert (
                "batches" in info.value.message if media_type == sniff.ZIP else ".docx" in info.value.message
            )


def test_docx_content_controls_textboxes_and_revisions() -> None:
    """Text inside content controls and inserted revisions is read once; deleted text is not;
    a text box's Choice/Fallback copies are read once."""
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    mc = 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    body = (
        f"<w:document {w} {mc}><w:body>"
        "<w:sdt><w:sdtContent><w:p><w:r><w:t>标题</w:t></w:r></w:p></w:sdtContent></w:sdt>"
        "<w:p><w:ins><w:r><w:t>新增</w:t></w:r></w:ins><w:del><w:r><w:delText>删除</w:delText></w:r></w:del>"
        "<w:r><w:tab/><w:t>之后</w:t></w:r></w:p>"
        "<w:p><w:r><mc:AlternateContent><mc:Choice><w:txbxContent><w:p><w:r><w:t>框内</w:t></w:r></w:p>"
        "</w:txbxContent></mc:Choice><mc:Fallback><w:p><w:r><w:t>框内</w:t></w:r></w:p></mc:Fallback>"
        "</mc:AlternateContent></w:r></w:p>"
        "<w:tbl><w:tr><w:trPr><w:gridBefore w:val='1'/></w:trPr>"
        "<w:tc><w:tcPr><w:gridSpan w:val='2'/></w:tcPr>"
        "<w:p><w:r><w:t>甲</w:t></w:r></w:p></w:tc></w:tr>"
        "<w:tr><w:tc><w:tcPr><w:vMerge w:val='restart'/></w:tcPr><w:p><w:r><w:t>乙</w:t></w:r></w:p></w:tc>"
        "<w:tc><w:p><w:r><w:t>1</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>2</w:t></w:r></w:p></w:tc></w:tr>"
        "<w:tr><w:tc><w:tcPr><w:vMerge/></w:tcPr><w:p/></w:tc>"
        "<w:tc><w:p><w:r><w:t>3</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>4</w:t></w:r></w:p></w:tc></w:tr>"
        "</w:tbl></w:body></w:document>"
    )
    data = make_zip([(CT, b"<Types/>"), ("word/document.xml", body.encode())])
    doc = extract_document(data)
    assert doc.text.split("\n") == ["标题", "新增 之后", "框内", "", "| 甲 |", "| 乙 | 1 | 2 |", "| 3 | 4 |"]
    assert doc.pages[0].tables[0].texts() == [["", "甲", "甲"], ["乙", "1", "2"], ["乙", "3", "4"]]


def test_html_blocks_and_whitespace() -> None:
    page = (
        "<html><body><h1>标题</h1><p>第一段\n  接着第一段<br>换行后&nbsp;&nbsp;2024 年</p>"
        "<div style='display:none'>隐藏</div><ul><li>一</li><li>二</li></ul>"
        "<table><caption>表一</caption><tr><th>项目</th><td>1<br/></td></tr></table><p>尾</p></body></html>"
    )
    doc = extract_document(page.encode())
    assert doc.text.split("\n") == [
        "标题",
        "第一段接着第一段",
        "换行后 2024 年",
        "一",
        "二",
        "",
        "表一",
        "| 项目 | 1 |",
        "",
        "尾",
    ]


def test_blocks_helper_covers_the_report(truths: dict[str, dict[str, Any]]) -> None:
    """The fixture builder lays out all three tables (guards the tests above)."""
    tables = [b for b in blocks(truths[HUAIAN]) if not isinstance(b, str)]
    assert len(tables) == 3 and 'rowspan="22"' in html_table(tables[1])


def test_word_exported_html() -> None:
    """Word's "save as web page": Office namespaces, conditional comments, <o:p>, a sizing row of
    empty cells; and an empty <tr> that is still a row of the rowspan above it (as browsers do)."""
    page = (
        b'<html xmlns:o="urn:schemas-microsoft-com:office:office">\n<head>'
        b'<meta http-equiv=Content-Type content="text/html; charset=gb2312">'
        b"<!--[if gte mso 9]><xml><w:WordDocument><w:View>Print</w:View></w:WordDocument></xml><![endif]-->"
        b"</head><body lang=ZH-CN><div class=WordSection1>"
        b"<p class=MsoNormal><![if !supportLists]><span>1.<span>&nbsp;&nbsp; </span></span><![endif]>"
        + "总体情况".encode("gbk")
        + b"<o:p></o:p></p><table class=MsoNormalTable border=1>"
        b"<tr><td rowspan=2><p class=MsoNormal><span lang=EN-US>3<o:p></o:p></span></p></td><td>4</td></tr>"
        b"<tr></tr><tr><td>5</td><td>6</td></tr>"
        b"<![if !supportMisalignedColumns]><tr height=0><td width=80 style='border:none'></td>"
        b"<td width=80 style='border:none'></td></tr><![endif]></table></div></body></html>"
    )
    assert sniff.sniff_media_type(page[:4096]) == sniff.TEXT_HTML
    doc = extract_document(page)
    assert doc.text.split("\n") == ["1. 总体情况", "", "| 3 | 4 |", "| 5 | 6 |"]
    assert doc.pages[0].tables[0].texts() == [["3", "4"], ["3", ""], ["5", "6"]]


def test_docx_legacy_horizontal_merge() -> None:
    w = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'

    def tc(text: str, merge: str = "") -> str:
        return f"<w:tc><w:tcPr>{merge}</w:tcPr><w:p><w:r><w:t>{text}</w:t></w:r></w:p></w:tc>"

    restart = "<w:hMerge w:val='restart'/>"
    body = (
        f"<w:document {w}><w:body><w:tbl>"
        f"<w:tr>{tc('合计', restart)}{tc('', '<w:hMerge/>')}{tc('7')}</w:tr>"
        f"<w:tr><w:tc><w:p/></w:tc><w:tc><w:p/></w:tc><w:tc><w:p/></w:tc></w:tr>"
        "</w:tbl></w:body></w:document>"
    )
    doc = extract_document(make_zip([(CT, b"<Types/>"), ("word/document.xml", body.encode())]))
    assert doc.pages[0].tables[0].texts() == [["合计", "合计", "7"]]
    assert doc.text == "| 合计 | 7 |"


def test_docx_from_other_writers_is_a_document_everywhere(truths: dict[str, dict[str, Any]]) -> None:
    """A .docx that starts with its relationships (not [Content_Types].xml, as Word does) is still a
    document: to the extractor, to the batch upload, and as an archive member."""
    word = zipfile.ZipFile(io.BytesIO(report_docx(truths[HUAIAN])))
    names = sorted(word.namelist(), key=lambda n: (n != "_rels/.rels", n == CT))
    data = make_zip([(n, word.read(n)) for n in names])
    assert data[30:41] == b"_rels/.rels"
    assert not is_nested_archive(data[:4096]) and not is_archive(io.BytesIO(data))
    assert_equals_truth(extract_document(data), truths[HUAIAN])


def test_report_inside_a_frame(truths: dict[str, dict[str, Any]]) -> None:
    """A one-cell table round the whole report (Word) or the prose (HTML) is layout: the text
    stays lines, and only the tables inside are grids."""
    truth = truths[HUAIAN]
    doc = extract_document(report_docx(truth, framed=True))
    assert len(doc.pages[0].tables) == 3 and "一、总体情况" in doc.text.split("\n")
    assert_equals_truth(doc, truth)
    page = f"<html><body><table><tr><td><p>{REPORT}</p><p>一、总体情况</p><p>正文。</p></td></tr></table>"
    doc = extract_document(page.encode())
    assert doc.pages[0].tables == [] and doc.text.split("\n") == [REPORT, "一、总体情况", "正文。"]


def test_saved_single_file_web_page(truths: dict[str, dict[str, Any]]) -> None:
    """Word's "单个文件网页" (.mht, often renamed .doc): MIME parts, quoted-printable GB2312 HTML."""
    truth = truths[HUAIAN]
    html_part = quopri.encodestring(report_html(truth, encoding="gbk", meta="gb2312"))
    data = (
        b"MIME-Version: 1.0\r\nX-Document-Type: Word.Document\r\n"
        b'Content-Type: multipart/related; boundary="----=_NextPart_01DA"\r\n\r\n'
        b"This document is a Single File Web Page, also known as a Web Archive file.\r\n\r\n"
        b"------=_NextPart_01DA\r\nContent-Location: file:///C:/report.htm\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n"
        b'Content-Type: text/html; charset="gb2312"\r\n\r\n' + html_part + b"\r\n\r\n"
        b"------=_NextPart_01DA\r\nContent-Location: file:///C:/report.files/image001.png\r\n"
        b"Content-Transfer-Encoding: base64\r\nContent-Type: image/png\r\n\r\niVBORw0KGgo=\r\n\r\n"
        b"------=_NextPart_01DA--\r\n"
    )
    assert sniff.sniff_media_type(data[:4096]) == sniff.MHTML
    doc = extract_document(data)
    assert doc.media_type == sniff.MHTML and doc.encoding == "gb18030" and len(doc.pages[0].tables) == 3
    assert_equals_truth(doc, truth)
    with pytest.raises(ExtractionError) as info:
        extract_document(data.split(b"------=_NextPart_01DA\r\nContent-Location: file:///C:/report.htm")[0])
    assert info.value.code == ExtractionErrorCode.CORRUPT_FILE
