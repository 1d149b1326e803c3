"""The OCR engine behind one small interface, and its Tesseract wrappers (the only code that runs it).

Two ways to run the same Debian Tesseract: `LibTesseractEngine` calls libtesseract in process
(ctypes over its C API) and keeps each language's model loaded between calls; `TesseractEngine`
starts the `tesseract` program per call (pytesseract). A page makes 3–5 engine calls (the page and
the cell mosaics); each program start re-reads the model and round-trips the image through a PNG
file, ≈ 0.1–0.3 s a call, which is most of the pipeline's cost over one bare `tesseract` run.
`default_engine()` picks the library when it loads, else the program.

Failures (timeout, crash) come back as `OcrFailure` values raised from one place, so callers turn
them into a failed page instead of a hung or crashed worker.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
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


def _words_from_tsv(data: dict[str, list[Any]]) -> list[Word]:
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


_TSV_COLUMNS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num",
                "left", "top", "width", "height", "conf", "text")  # fmt: skip


def _parse_tsv(tsv: str) -> dict[str, list[Any]]:
    """The C API's TSV (no header row; the program's TSV output is the same text with one)."""
    data: dict[str, list[Any]] = {k: [] for k in _TSV_COLUMNS}
    for line in tsv.splitlines():
        parts = line.split("\t", 11)
        if len(parts) < 11:
            continue
        if len(parts) == 11:
            parts.append("")
        for key, value in zip(_TSV_COLUMNS, parts, strict=True):
            data[key].append(value)
    # The program's TSV (what pytesseract reads, and what the thresholds were calibrated on) gives
    # whole-number confidences: truncate the same way, so both engines give the same words.
    data["conf"] = [int(float(c)) for c in data["conf"]]
    return data


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
        return _words_from_tsv(data)

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


def _load_libtesseract() -> ctypes.CDLL:
    name = ctypes.util.find_library("tesseract") or "libtesseract.so.5"
    lib = ctypes.CDLL(name)
    p, c, i = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int
    signatures: dict[str, tuple[Any, list[Any]]] = {
        "TessBaseAPICreate": (p, []),
        "TessBaseAPIInit3": (i, [p, c, c]),
        "TessBaseAPISetVariable": (i, [p, c, c]),
        "TessBaseAPISetPageSegMode": (None, [p, i]),
        "TessBaseAPISetImage": (None, [p, c, i, i, i, i]),
        "TessBaseAPIRecognize": (i, [p, p]),
        "TessBaseAPIGetTsvText": (ctypes.POINTER(ctypes.c_char), [p, i]),
        "TessDeleteText": (None, [ctypes.POINTER(ctypes.c_char)]),
        "TessBaseAPIClear": (None, [p]),
        "TessBaseAPIDelete": (None, [p]),
        "TessMonitorCreate": (p, []),
        "TessMonitorSetDeadlineMSecs": (None, [p, i]),
        "TessMonitorDelete": (None, [p]),
        "TessVersion": (c, []),
        "TessBaseAPIDetectOrientationScript": (
            i,
            [
                p,
                ctypes.POINTER(i),
                ctypes.POINTER(ctypes.c_float),
                ctypes.POINTER(c),
                ctypes.POINTER(ctypes.c_float),
            ],
        ),
    }
    for fname, (restype, argtypes) in signatures.items():
        fn = getattr(lib, fname)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


class LibTesseractEngine:
    """libtesseract in process, one initialised handle per (language, digits whitelist), reused for
    every call in this process: same library, models and settings as the `tesseract` program, so the
    same words; no process start, model load or image file per call. Orientation detection (OSD)
    too, with the `osd` model: the same answers as `tesseract --psm 0`, without the ≈ 1 s of writing
    the page to a PNG and starting the program."""

    def __init__(self, lang: str = "chi_sim", digits_lang: str = "eng") -> None:
        self.lang = lang
        self.digits_lang = digits_lang
        self._lib = _load_libtesseract()
        self._handles: dict[tuple[str, bool], int] = {}
        self._lock = threading.Lock()  # a handle is not safe to share between threads
        self._program = TesseractEngine(lang, digits_lang)

    def _handle(self, lang: str, digits: bool) -> int:
        handle = self._handles.get((lang, digits))
        if handle is None:
            handle = self._lib.TessBaseAPICreate()
            if self._lib.TessBaseAPIInit3(handle, None, lang.encode()) != 0:
                self._lib.TessBaseAPIDelete(handle)
                raise OcrFailure(f"libtesseract could not load language {lang!r}")
            # The program prints its diagnostics ("Estimating resolution as …") to the terminal; a
            # worker's log has no use for them.
            self._lib.TessBaseAPISetVariable(handle, b"debug_file", os.devnull.encode())
            if digits:
                self._lib.TessBaseAPISetVariable(handle, b"tessedit_char_whitelist", DIGITS.encode())
            self._handles[(lang, digits)] = handle
        return handle

    def words(
        self, image: Image.Image, *, psm: int = 3, digits: bool = False, timeout: float = 0
    ) -> list[Word]:
        gray = np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8))
        height, width = gray.shape
        lib = self._lib
        with self._lock:
            handle = self._handle(self.digits_lang if digits else self.lang, digits)
            lib.TessBaseAPISetPageSegMode(handle, psm)
            lib.TessBaseAPISetImage(handle, gray.tobytes(), width, height, 1, width)
            monitor = lib.TessMonitorCreate()
            try:
                if timeout > 0:
                    lib.TessMonitorSetDeadlineMSecs(monitor, max(1, int(timeout * 1000)))
                if lib.TessBaseAPIRecognize(handle, monitor) != 0:
                    raise OcrFailure(f"tesseract failed or timed out after {timeout:g} s")
                raw = lib.TessBaseAPIGetTsvText(handle, 0)
                if not raw:
                    raise OcrFailure("tesseract gave no result")
                try:
                    tsv = ctypes.string_at(raw).decode("utf-8", "replace")
                finally:
                    lib.TessDeleteText(raw)
            finally:
                lib.TessMonitorDelete(monitor)
                lib.TessBaseAPIClear(handle)
        return _words_from_tsv(_parse_tsv(tsv))

    def orientation(self, image: Image.Image, *, timeout: float = 0) -> Orientation | None:
        # No deadline in this C call; OSD reads only the page's blobs (≈ 0.1–0.3 s a page), and the
        # task's own time limit still holds.
        gray = np.ascontiguousarray(np.asarray(image.convert("L"), dtype=np.uint8))
        height, width = gray.shape
        lib = self._lib
        degrees, confidence = ctypes.c_int(0), ctypes.c_float(0.0)
        script, script_confidence = ctypes.c_char_p(), ctypes.c_float(0.0)
        with self._lock:
            try:
                handle = self._handle("osd", False)
            except OcrFailure:  # no osd model: the program says why
                return self._program.orientation(image, timeout=timeout)
            lib.TessBaseAPISetPageSegMode(handle, 0)  # PSM_OSD_ONLY
            lib.TessBaseAPISetImage(handle, gray.tobytes(), width, height, 1, width)
            try:
                found = lib.TessBaseAPIDetectOrientationScript(
                    handle, ctypes.byref(degrees), ctypes.byref(confidence), ctypes.byref(script),
                    ctypes.byref(script_confidence),
                )  # fmt: skip
            finally:
                lib.TessBaseAPIClear(handle)
        if not found:  # too little text to tell, as the program fails then
            return None
        # `degrees` is the page's orientation; the program prints it as "Orientation in degrees" and
        # the turn that makes the page upright (Orientation.rotate) as "Rotate": 360 minus it.
        return Orientation(rotate=(360 - degrees.value) % 360, confidence=round(confidence.value, 2))


_ENGINES: dict[int, OcrEngine] = {}


def default_engine() -> OcrEngine:
    """One engine per process (a Celery pool child, the CLI): the in-process library when it loads,
    else the `tesseract` program. Keyed by pid: a forked child must not reuse its parent's
    libtesseract handles (or a lock the parent held while forking)."""
    pid = os.getpid()
    engine = _ENGINES.get(pid)
    if engine is None:
        try:
            engine = LibTesseractEngine()
        except (OSError, AttributeError):
            engine = TesseractEngine()
        _ENGINES.clear()  # a parent's engine is of no use here
        _ENGINES[pid] = engine
    return engine
