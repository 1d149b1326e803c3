"""The OCR engine behind one small interface, and its Tesseract wrapper (the only code that runs it).

Failures of the external program (timeout, crash) come back as `OcrFailure` values raised from one
place, so callers turn them into a failed page instead of a hung or crashed worker.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Protocol

import pytesseract
from PIL import Image

# Tesseract's OpenMP threads fight each other on a small shared machine: measured here ~11 s/page
# with default threading vs ~2.3 s with one thread on 2 cores, identical output. The subprocess
# inherits this environment.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

# Value cells: numbers, decimals, negative changes (2019-trial 本年增/减), "/" and "-" placeholders.
DIGITS = "0123456789.-/"


@dataclass(frozen=True)
class Word:
    text: str
    left: int
    top: int
    width: int
    height: int
    conf: float  # [0, 1]
    block: int = 0
    par: int = 0
    line: int = 0

    @property
    def cx(self) -> float:
        return self.left + self.width / 2

    @property
    def cy(self) -> float:
        return self.top + self.height / 2


@dataclass(frozen=True)
class Orientation:
    rotate: int  # degrees clockwise that make the page upright (0, 90, 180, 270)
    confidence: float


class OcrFailure(Exception):
    """The engine gave no result for an image (timeout, crash)."""


class OcrEngine(Protocol):
    def words(
        self, image: Image.Image, *, psm: int = 3, digits: bool = False, timeout: float = 0
    ) -> list[Word]:
        """Recognise an image; return its words with boxes (pixels of `image`) and confidences."""
        ...

    def orientation(self, image: Image.Image, *, timeout: float = 0) -> Orientation | None:
        """How to rotate the image upright, or None when the engine cannot tell."""
        ...


class TesseractEngine:
    """pytesseract: `chi_sim` for pages (it includes Latin letters and digits); `eng` for the
    digits-only pass (measured on table crops: higher confidence on lone "0" cells, 2× faster)."""

    def __init__(self, lang: str = "chi_sim", digits_lang: str = "eng") -> None:
        self.lang = lang
        self.digits_lang = digits_lang

    def words(
        self, image: Image.Image, *, psm: int = 3, digits: bool = False, timeout: float = 0
    ) -> list[Word]:
        config = f"--psm {psm}"
        if digits:
            config += f" -c tessedit_char_whitelist={DIGITS}"
        try:
            data = pytesseract.image_to_data(
                image,
                lang=self.digits_lang if digits else self.lang,
                config=config,
                timeout=timeout,
                output_type=pytesseract.Output.DICT,
            )
        except RuntimeError as exc:  # pytesseract raises RuntimeError on timeout
            raise OcrFailure(f"tesseract timed out after {timeout:g} s") from exc
        except pytesseract.TesseractError as exc:
            raise OcrFailure(f"tesseract failed: {str(exc)[:200]}") from exc
        out: list[Word] = []
        for i, text in enumerate(data["text"]):
            text = str(text).strip()
            conf = float(data["conf"][i])
            if not text or conf < 0:
                continue
            out.append(
                Word(
                    text=text,
                    left=int(data["left"][i]),
                    top=int(data["top"][i]),
                    width=int(data["width"][i]),
                    height=int(data["height"][i]),
                    conf=conf / 100.0,
                    block=int(data["block_num"][i]),
                    par=int(data["par_num"][i]),
                    line=int(data["line_num"][i]),
                )
            )
        return out

    def orientation(self, image: Image.Image, *, timeout: float = 0) -> Orientation | None:
        try:
            osd = pytesseract.image_to_osd(image, config="--psm 0", timeout=timeout)
        except (RuntimeError, pytesseract.TesseractError):
            # OSD fails on pages with too little text; treat as "cannot tell".
            return None
        rotate = re.search(r"Rotate:\s*(\d+)", osd)
        conf = re.search(r"Orientation confidence:\s*([\d.]+)", osd)
        if not rotate or not conf:
            return None
        return Orientation(rotate=int(rotate.group(1)) % 360, confidence=float(conf.group(1)))
