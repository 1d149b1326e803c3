"""Cell text → value: integers, decimals (万元 fees, 元 amounts), placeholders, 2019-trial negatives."""

from __future__ import annotations

import re
import unicodedata

from report.readings import Number
from report.template import PLACEHOLDERS

# A printed number: optional sign, thousands commas, decimals, a unit glued on ("251000元").
_NUMBER = re.compile(r"^([-−]?)(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d+))?(?:万元|元|件|个|项|次|条)?$")
# pdftotext page footers inside tables: "-4-", "- 4 -", "—4—"
FOOTER = re.compile(r"^[-−—–]\s*\d{1,3}\s*[-−—–]$")


def clean(text: str) -> str:
    """NFKC, no whitespace and no markdown emphasis ("**规章**"): how labels and cells are compared."""
    return re.sub(r"[\s*`]+", "", unicodedata.normalize("NFKC", text))


def is_placeholder(text: str) -> bool:
    return clean(text) in PLACEHOLDERS


def is_number(text: str) -> bool:
    return _NUMBER.match(clean(text)) is not None


def is_value(text: str) -> bool:
    """A cell that holds a value (a number or a placeholder), as opposed to a label."""
    t = clean(text)
    return t in PLACEHOLDERS or (_NUMBER.match(t) is not None and FOOTER.match(t) is None)


def parse_number(text: str) -> Number | None:
    """The value of a cell: int, float for decimals, None for blanks/placeholders or non-numbers.

    A sign is kept: the table reader only accepts it for 2019-trial `change` cells and reports any
    other negative as printed (the checks warn about negative counts; nothing is silently dropped).
    """
    t = clean(text)
    if t in PLACEHOLDERS:
        return None
    m = _NUMBER.match(t)
    if m is None:
        return None
    sign, whole, frac = m.groups()
    digits = whole.replace(",", "")
    if frac is not None and frac.strip("0"):
        value: Number = float(f"{digits}.{frac}")
    else:
        value = int(digits)
    return -value if sign else value
