"""Text normalisation before anything is matched.

Two levels: `normalize_text` keeps the line structure (the table reader depends on it) and only
unifies characters and drops page chrome and page footers; `normalize_label` flattens a label for
matching (no whitespace, one numbering style).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from opencc import OpenCC

# A line that is only a page number: "- 4 -", "-4-", "— 4 —", "第 4 页", "第4页 共6页", "4 / 6".
PAGE_FOOTER = re.compile(
    r"^\s*(?:[-—–－]+\s*\d{1,3}\s*[-—–－]+|第\s*\d{1,3}\s*页(?:\s*[,，/]?\s*共\s*\d{1,3}\s*页)?"
    r"|\d{1,3}\s*/\s*\d{1,3})\s*$"
)
# Website chrome lines: breadcrumbs, font-size switchers, share/print widgets.
_CHROME = re.compile(
    r"^\s*(?:当前位置|您的位置|你的位置|首页\s*[>＞»/]|字号\s*[:：]|字体\s*[:：]|字体大小|【?\s*字体|"
    r"扫一扫|打印本页|关闭窗口|【?\s*打印|分享到|浏览次数|访问量|阅读次数)"
)
# Fields of the metadata table some portals put above the title (索引号, 发布机构, …).
_META_FIELD = re.compile(
    r"^\s*(?:索\s*引\s*号|信息索取号|主题分类|发布机构|发文机关|发布日期|发布时间|成文日期|生成日期|公开日期|"
    r"文\s*号|栏\s*目|来\s*源|作\s*者|日\s*期|公开方式|公开范围|公开时限|有\s*效\s*性|所属机构)\s*[:：]"
)
_HEADING_ONE = re.compile(r"(?:^|\n)\s*#*\s*(?:一|1|I)\s*[、.．]\s*总\s*体\s*情\s*况")
# Share (and least number) of CJK characters t2s must change before a text counts as Traditional:
# a Traditional text changes a fifth or more, a Simplified one only a rare name (乾县).
_TRADITIONAL_SHARE = 0.08
_TRADITIONAL_MIN = 4


@dataclass
class NormalizedText:
    text: str
    traditional: bool = False
    # lines taken out as chrome or metadata; metadata lines can still name the agency
    removed: list[str] = field(default_factory=list)


@lru_cache(maxsize=1)
def _t2s() -> OpenCC:
    return OpenCC("t2s")


def to_simplified(text: str) -> str:
    return str(_t2s().convert(text))


def is_traditional(text: str) -> bool:
    """True when the text is written in Traditional characters (a mirror copy), judged by how many
    characters t2s changes; a Simplified text is left alone so rare names are never rewritten."""
    cjk = [c for c in text if "\u4e00" <= c <= "\u9fff"]
    if not cjk:
        return False
    sample = "".join(cjk[:4000])
    changed = sum(a != b for a, b in zip(sample, to_simplified(sample), strict=False))
    return changed >= min(_TRADITIONAL_MIN, len(sample)) and changed / len(sample) >= _TRADITIONAL_SHARE


# Mirror sites convert with Taiwan phrases (s2twp): 信息 → 資訊, 文件 → 檔案. t2s keeps those words,
# so map them back; 档案 stays where it names an archive (档案局, 档案馆).
_TAIWAN_PHRASES = ((re.compile(r"资讯"), "信息"), (re.compile(r"档案(?!局|馆|室|管理|工作)"), "文件"))


def undo_taiwan_phrases(text: str) -> str:
    for pattern, simplified in _TAIWAN_PHRASES:
        text = pattern.sub(simplified, text)
    return text


def normalize_chars(text: str) -> str:
    """NFKC (full-width digits, parentheses, colons, ideographic and no-break spaces) and unified
    line endings; form feeds (page breaks) become line breaks."""
    text = unicodedata.normalize("NFKC", text)
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\f", "\n")


def normalize_text(text: str) -> NormalizedText:
    """The document text with characters unified, Traditional converted, page chrome, metadata
    tables and page footers removed. Only whole lines are removed, so table rows that cross a page
    break join up again."""
    text = normalize_chars(text)
    traditional = is_traditional(text)
    if traditional:
        text = undo_taiwan_phrases(to_simplified(text))
    first_heading = _HEADING_ONE.search(text)
    head_end = first_heading.start() if first_heading else len(text) // 3
    kept: list[str] = []
    removed: list[str] = []
    pos = 0
    for line in text.split("\n"):
        in_head = pos < head_end
        pos += len(line) + 1
        if PAGE_FOOTER.match(line) or _CHROME.match(line) or (in_head and _META_FIELD.match(line)):
            removed.append(line.strip())
            continue
        kept.append(line)
    return NormalizedText(text="\n".join(kept), traditional=traditional, removed=removed)


_ENUM_COMMA = re.compile(r"(?<![0-9])([0-9]{1,2})\s*[、.．]\s*")
_SPACE = re.compile(r"\s+")


def normalize_label(label: str) -> str:
    """A label flattened for matching: NFKC, Simplified, no whitespace or line breaks, `1、` → `1.`,
    and one style of quotes."""
    # the table reader asks for the same short labels over and over; long texts are not cached
    return _normalize_label_cached(label) if len(label) <= 200 else _normalize_label(label)


def _normalize_label(label: str) -> str:
    s = unicodedata.normalize("NFKC", label)
    s = _SPACE.sub("", s)
    s = _ENUM_COMMA.sub(r"\1.", s)
    s = s.replace("“", '"').replace("”", '"').replace("‘", "'").replace("’", "'")
    # always Simplified: a label is template wording, never a name that t2s could spoil
    return to_simplified(s)


_normalize_label_cached = lru_cache(maxsize=8192)(_normalize_label)
