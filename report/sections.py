"""The six sections of a report, found with tolerant heading matching.

Headings seen in the wild: "一、总体情况", "1、 总体情况", "## 二、主动公开…", typos ("行政法复议"),
sections left out, headings glued to the body (flattened HTML puts the whole report on one line).
A heading is a numeral for its position followed by a keyword of its section; a sub-heading such as
"(一)主动公开政府信息情况" is not one, because its numeral is in parentheses.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

_CN = "一二三四五六"
# Keywords by section number; the gap before the keyword tolerates typos and rewordings.
_KEYWORDS: dict[int, str] = {
    1: r"总\s*体\s*情\s*况|概\s*述|基本情况",
    2: r"主\s*动\s*公\s*开",
    3: r"申\s*请",
    4: r"复\s*议|诉\s*讼",
    5: r"问\s*题|改\s*进|不\s*足",
    6: r"其\s*[他它]\s*(?:需|要|事)",
}
_GAP = {1: 0, 2: 2, 3: 12, 4: 14, 5: 8, 6: 2}
_START = re.compile(r"(?:^|\n)[ \t#*>]*$")


def _pattern(n: int, *, any_numeral: bool = False) -> re.Pattern[str]:
    # "第一部分", or a numeral not preceded by "(" (a sub-heading) or 第 ("第二十条"); an Arabic
    # numeral not inside a number. Pre-2019 reports number their sections differently (七 parts),
    # so there any numeral goes and the keyword alone says which section it is.
    cn, ar = (r"[一二三四五六七八九十]{1,2}", r"\d") if any_numeral else (_CN[n - 1], str(n))
    numeral = rf"(?:第{cn}部分|(?<![(（第]){cn}|(?<![(（第0-9.]){ar})"
    return re.compile(
        rf"{numeral}\s*[、.．,，:：]?\s*(?:[^\s、。;；,，0-9]{{0,{_GAP[n]}}}?)(?:{_KEYWORDS[n]})"
    )


_PATTERNS = {n: _pattern(n) for n in range(1, 7)}
_LOOSE_PATTERNS = {n: _pattern(n, any_numeral=True) for n in range(1, 7)}
# the rest of a heading line after its keyword, up to the end of the canonical heading wording
_HEADING_TAIL = re.compile(r"[^\n。;；,，]{0,24}?(?:情\s*况|事\s*项|措\s*施)")
CANONICAL_HEADINGS = {
    1: "总体情况",
    2: "主动公开政府信息情况",
    3: "收到和处理政府信息公开申请情况",
    4: "政府信息公开行政复议、行政诉讼情况",
    5: "存在的主要问题及改进情况",
    6: "其他需要报告的事项",
}

SECTION_KEYS = {1: "overview", 5: "problems_and_improvements", 6: "other_matters"}


@dataclass
class Heading:
    number: int  # 1..6
    start: int  # offset of the heading in the text
    body_start: int  # offset where the section's text begins
    at_line_start: bool


@dataclass
class Sections:
    text: str
    headings: dict[int, Heading] = field(default_factory=dict)

    def span(self, n: int) -> tuple[int, int] | None:
        """(start, end) of section n's body, up to the next heading found."""
        h = self.headings.get(n)
        if h is None:
            return None
        later = [o.start for m, o in self.headings.items() if m > n]
        return h.body_start, min(later) if later else len(self.text)

    def raw(self, n: int) -> str | None:
        sp = self.span(n)
        return None if sp is None else self.text[sp[0] : sp[1]]

    def plain(self, n: int) -> str | None:
        raw = self.raw(n)
        return None if raw is None else plain_text(raw, last=n == max(self.headings, default=0))

    @property
    def preamble(self) -> str:
        first = min((h.start for h in self.headings.values()), default=len(self.text))
        return self.text[:first]

    def canonical(self) -> dict[str, str | None]:
        return {key: self.plain(n) for n, key in SECTION_KEYS.items()}


def _close(heading: str, n: int) -> bool:
    words = re.sub(r"^\s*\S\s*[、.．,，:：]?|\s", "", heading)
    return SequenceMatcher(None, words, CANONICAL_HEADINGS[n]).ratio() >= 0.8


def _candidates(text: str, any_numeral: bool) -> list[Heading]:
    found: list[Heading] = []
    for n, pat in (_LOOSE_PATTERNS if any_numeral else _PATTERNS).items():
        for m in pat.finditer(text):
            line_start = m.start() == 0 or bool(_START.search(text[max(0, m.start() - 20) : m.start()]))
            tail = _HEADING_TAIL.match(text, m.end())
            end = tail.end() if tail and n != 1 else m.end()
            if not line_start and not _close(text[m.start() : end], n):
                continue  # inside a line only the (nearly) exact wording counts: flattened HTML
            if n == 1:
                rest = re.match(r"[ \t]*[。.:：]?", text[end:])
                end += rest.end() if rest else 0
            found.append(Heading(n, m.start(), end, line_start))
    return sorted(found, key=lambda h: h.start)


def find_sections(text: str, *, any_numeral: bool = False) -> Sections:
    """The best chain of headings in document order (numbers strictly increasing), preferring
    headings at the start of a line; missing sections are simply absent."""
    cands = _candidates(text, any_numeral)
    # longest-chain DP: score = sections found, then headings at line start
    best: list[tuple[int, int, int]] = []  # (score, line-start count, predecessor index)
    for i, c in enumerate(cands):
        entry = (1, int(c.at_line_start), -1)
        for j in range(i):
            p = cands[j]
            if p.number < c.number and p.body_start <= c.start:
                s, ls, _ = best[j]
                cand = (s + 1, ls + int(c.at_line_start), j)
                if cand[:2] > entry[:2]:
                    entry = cand
        best.append(entry)
    sections = Sections(text=text)
    if not best:
        return sections
    i = max(range(len(best)), key=lambda k: (best[k][0], best[k][1], -k))
    while i >= 0:
        sections.headings[cands[i].number] = cands[i]
        i = best[i][2]
    return sections


_NUMBERED = re.compile(r"^(?:\(?[一二三四五六七八九十]+[)、.]|\(\d+\)|\d+[、.](?!\d))")
_APPENDIX = re.compile(r"^附\s*(?:表|件)\s*\d*\s*[:：]")
_SENTENCE_END = "。！？；!?;:：）)”"
_SIGNATURE = re.compile(
    r"^(?:\S{2,30}(?:局|办公室|办事处|政府|委员会|中心|街道|管委会|委|处|所|院|站|队)|"
    r"\d{4}\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日)$"
)


def plain_text(raw: str, *, last: bool = False) -> str:
    """Section text as plain paragraphs: markdown marks and empty lines dropped, hard line wraps
    (a line not ending a sentence) joined; after the last section, an appendix (附表:) and the
    signature block dropped."""
    lines = [re.sub(r"^[#>*\s]+|[\s*]+$", "", ln) for ln in raw.split("\n")]
    lines = [ln for ln in lines if ln]
    if last:
        appendix = next((i for i, ln in enumerate(lines) if _APPENDIX.match(ln)), len(lines))
        lines = lines[:appendix]
        while lines and _SIGNATURE.match(lines[-1].replace(" ", "")):
            lines.pop()
    out = ""
    heading = False
    for ln in lines:
        numbered = bool(_NUMBERED.match(ln))
        if out and out[-1] not in _SENTENCE_END and not numbered and not heading:
            out += ln
        else:
            out += ("\n" if out else "") + ln
        heading = numbered and len(ln) <= 30
    return out.strip()
