"""Agency, year and template format of a report, read from its title, preamble and labels."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from report import template as tpl
from report.normalize import normalize_label
from report.readings import ReportFormat

# What an agency's name ends with (局, 办公室, 人民政府, 街道办事处, 服务中心, …).
_SUFFIX = (
    r"(?:局|厅|委员会|委|办公室|办|人民政府|政府|办事处|街道|中心|院|所|站|处|队|部|署|馆|公司|管委会|"
    r"管理委员会|镇|乡|中心校|学校|医院|协会|联合会|法院|检察院)"
)
_YEAR = r"(?P<year>(?:19|20)\d{2})\s*年\s*度?"
_REPORT = r"(?:的)?\s*政\s*府\s*信\s*息\s*公\s*开\s*(?:工\s*作)?\s*(?:年\s*度\s*)?(?:报\s*告|年\s*报)"
# "<agency> 2023 年政府信息公开工作年度报告", agency possibly on the line before
_TITLE = re.compile(rf"^[ \t#*]*(?P<agency>[^\n]*?)\s*(?:关于)?\s*{_YEAR}\s*{_REPORT}", re.M)
# rarer orders: "2023年度某某局政府信息公开工作年度报告", "某某局政府信息公开工作年度报告(2023年度)"
_TITLE_YEAR_FIRST = re.compile(rf"^[ \t#*]*{_YEAR}\s*(?P<agency>[^\n\d]{{2,40}}?{_SUFFIX})\s*{_REPORT}", re.M)
_TITLE_YEAR_LAST = re.compile(
    rf"^[ \t#*]*(?P<agency>[^\n\d]{{2,40}}?{_SUFFIX})\s*{_REPORT}\s*[(（]\s*{_YEAR}\s*[)）]", re.M
)
# "由津市市工业和信息化局(以下简称…)编制", "本报告由淮安市人民政府办公室根据…编制"
_COMPILED_BY = re.compile(
    rf"由\s*(?P<agency>[^\s,，。、()（）“”]{{2,40}}?{_SUFFIX})\s*(?:\(以下简称|根据|按照|依据|编制)"
)
# "2023年,沿海工业城发展服务中心政务信息公开工作…"
_YEAR_LEAD = re.compile(
    rf"{_YEAR}\s*[,，]?\s*(?P<agency>[^\s,，。、《》()（）“”0-9]{{2,40}}?{_SUFFIX})"
    r"\s*(?:的)?(?:政务|政府)?(?:信息)?公开工作"
)
_META_SOURCE = re.compile(
    rf"(?:来\s*源|发布机构|发文机关)\s*[:：]\s*(?P<agency>[^\s:：]{{2,40}}?{_SUFFIX})(?=\s|$|[^\u4e00-\u9fff])"
)
# "2023年,在区委…领导下,官洲街道办事处认真贯彻落实…": the subject of a sentence in the overview
_SUBJECT = re.compile(
    rf"(?:^|[。,，\n])\s*(?P<agency>[^\s,，。、《》()（）“”]{{2,24}}?{_SUFFIX})\s*"
    r"(?:认真|坚持|深入|严格|全面|按照|围绕|高度|始终|持续|积极|进一步|扎实|不断)"
)
_LEADING_VERB = re.compile(r"^(?:现将|现公布|现发布|公布|发布|关于|附件\d*[:：]?)+")
_PERIOD = re.compile(r"(?:统计期限|统计时限|统计期间|数据统计期限)[^\d]{0,10}((?:19|20)\d{2})\s*年")
_THIS_YEAR = re.compile(rf"(?:现将|本报告|我\S{{0,6}}){_YEAR}\s*(?:政府)?信息公开")


@dataclass
class Metadata:
    agency: str | None
    year: int | None
    agency_source: str = ""  # "title", "preamble", "metadata", "" when not found
    year_source: str = ""


def _clean_agency(s: str) -> str | None:
    s = re.sub(r"[#*\s]+", "", s)
    s = re.split(r"[,，。；;:：《》]", s)[-1]  # "根据《条例》规定,现公布区统计局" → "现公布区统计局"
    s = _LEADING_VERB.sub("", s)
    s = s.strip('《》"“”:：,，。-—|')
    if len(s) < 2 or len(s) > 40 or re.search(r"[。；;,，:：]", s):
        return None
    return s


def find_title(text: str) -> tuple[str | None, int | None]:
    """Agency and year of the first title line ("…2024年政府信息公开工作年度报告")."""
    matches = [m for pat in (_TITLE, _TITLE_YEAR_FIRST, _TITLE_YEAR_LAST) for m in pat.finditer(text)]
    for m in sorted(matches, key=lambda m: m.start()):
        if re.search(r"做好|关于印发|通知", m.group("agency")):
            continue  # a sentence citing a notice about reports, not a title
        year = int(m.group("year"))
        agency = _clean_agency(m.group("agency"))
        if agency is None and not m.group("agency").strip(" \t#*"):
            # two-line title: agency alone on the previous non-empty line
            before = [ln for ln in text[: m.start()].split("\n") if ln.strip()]
            if before and re.search(_SUFFIX + r"\s*$", before[-1]):
                agency = _clean_agency(before[-1])
        return agency, year
    return None, None


def find_agency(text: str, preamble: str, removed: list[str] | None = None) -> tuple[str | None, str]:
    agency, _ = find_title(preamble or text)
    # a whole government's report is titled by its place ("淮安市2024年…", "某某县…")
    if agency and re.search(rf"(?:{_SUFFIX}|[省市县区州盟旗])$", agency):
        return agency, "title"
    short = agency
    for pat in (_COMPILED_BY, _YEAR_LEAD, _SUBJECT):
        m = pat.search(text[:3000])
        if m:
            cleaned = _clean_agency(m.group("agency"))
            if cleaned:
                return cleaned, "preamble"
    for line in removed or []:
        m = _META_SOURCE.search(line)
        if m:
            return m.group("agency"), "metadata"
    return (short, "title") if short else (None, "")


def find_year(text: str, preamble: str, overview: str | None) -> tuple[int | None, str]:
    """The year reported on: the title's, else the statistics period's, else the year the overview
    names most (a publication date is dated the following year and is never preferred)."""
    _, year = find_title(preamble or text)
    if year:
        return year, "title"
    for pat in (_PERIOD, _THIS_YEAR):
        m = pat.search(text[:5000])
        if m:
            return int(m.group(1)), "preamble"
    body = overview or text[:5000]
    years = Counter(int(y) for y in re.findall(r"((?:19|20)\d{2})\s*年", body))
    if years:
        best = max(years.values())
        # on a tie the earlier year: a report is written after the year it covers
        return min(y for y, c in years.items() if c == best), "overview"
    return None, ""


def extract_metadata(
    text: str, preamble: str, overview: str | None, removed: list[str] | None = None
) -> Metadata:
    agency, a_src = find_agency(text, preamble, removed)
    year, y_src = find_year(text, preamble, overview)
    return Metadata(agency, year, a_src, y_src)


# ----------------------------------------------------------------------------- format

# Labels only a pre-2019 provincial statistics list prints.
_PRE_2019_MARKERS = ("指标名称", "计量单位", "历年累计", "政府信息公开的收费及减免情况")


def _markers(fmt: ReportFormat) -> set[str]:
    """Labels that only this format's template prints (headers, their variants, rows)."""
    t = tpl.template(fmt)
    own: set[str] = set()
    for block in t.disclosure:
        own.update(block.headers)
        own.update(block.header_aliases)
        for row in block.rows:
            own.add(row.label)
    for r in t.application_rows:
        own.update(r.match)
        own.add(r.full_label)
    own.update(t.application_groups)
    return {normalize_label(m) for m in own}


@dataclass
class FormatGuess:
    format: ReportFormat | None  # None: nothing in the text tells
    evidence: list[str]
    score: dict[str, int]


def detect_format(text: str) -> FormatGuess:
    """The template generation from the labels present, never from the year. Markers shared by
    both national formats are ignored; a 2021 report without its full header (seed 002) still
    shows its three （六）其他处理 sub-items."""
    flat = normalize_label(text)
    m21, m19 = _markers(ReportFormat.V2021), _markers(ReportFormat.TRIAL_2019)
    # a marker inside a label of the other format ("规范性文件" in "行政规范性文件", "(六)其他处理"
    # a row in one and a group in the other) proves nothing
    only21 = sorted(m for m in m21 if len(m) >= 3 and m in flat and not any(m in o for o in m19))
    only19 = sorted(m for m in m19 if len(m) >= 3 and m in flat and not any(m in o for o in m21))
    pre = [m for m in _PRE_2019_MARKERS if m in flat]
    score = {"2021": len(only21), "2019-trial": len(only19), "pre-2019": len(pre)}
    if only21 or only19:
        if len(only21) >= len(only19):
            return FormatGuess(ReportFormat.V2021, only21, score)
        return FormatGuess(ReportFormat.TRIAL_2019, only19, score)
    if len(pre) >= 2 or "指标名称" in pre:
        return FormatGuess(ReportFormat.PRE_2019, pre, score)
    return FormatGuess(None, [], score)
