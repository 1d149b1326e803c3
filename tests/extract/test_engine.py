"""The two ways of running Tesseract give the same words; the in-process one is the default and
fails cleanly on a timeout."""

from __future__ import annotations

import os

import pytest
from PIL import Image, ImageDraw, ImageFont

from extract.engine import LibTesseractEngine, OcrFailure, TesseractEngine, default_engine

pytestmark = pytest.mark.ocr

_FONT = "/usr/share/fonts/truetype/arphic/uming.ttc"  # the CJK font scripts/setup.sh installs


def _image(lines: list[str]) -> Image.Image:
    """Black text on white, 300 dpi body size, no resolution in the image (as the pipeline passes)."""
    try:
        font: ImageFont.FreeTypeFont | ImageFont.ImageFont = ImageFont.truetype(_FONT, 42)
    except OSError:
        font = ImageFont.load_default(size=42)
    image = Image.new("L", (1400, 90 * len(lines) + 60), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((40, 40 + 90 * i), line, fill=0, font=font)
    return image


def test_default_engine_is_the_library_in_process() -> None:
    assert isinstance(default_engine(), LibTesseractEngine)
    assert default_engine() is default_engine()  # one per process: models loaded once


@pytest.mark.parametrize(("psm", "digits"), [(3, False), (6, False), (6, True)])
def test_library_and_program_read_the_same_words(psm: int, digits: bool) -> None:
    image = _image(["一、本年新收政府信息公开申请数量 3001 53 0", "（一）予以公开 1288 21 -4", "7 / 19 60"])
    program = TesseractEngine().words(image, psm=psm, digits=digits, timeout=60)
    library = LibTesseractEngine().words(image, psm=psm, digits=digits, timeout=60)
    assert program, "the program read nothing: the image is not a fair test"
    assert library == program
    if digits:
        assert all(set(w.text) <= set("0123456789.-/") for w in library)


def test_library_handle_is_reused_with_its_own_settings() -> None:
    engine = LibTesseractEngine()
    image = _image(["公开 1288 年报"])
    first = engine.words(image, psm=6, digits=True, timeout=60)
    text = engine.words(image, psm=6, timeout=60)
    assert engine.words(image, psm=6, digits=True, timeout=60) == first
    assert any("公开" in w.text for w in text), "the digits whitelist leaked into the page handle"


def test_library_timeout_is_an_ocr_failure_and_the_engine_still_works() -> None:
    engine = LibTesseractEngine()
    image = _image([f"（{i}）予以公开 {i * 37} {i * 11} 政府信息" for i in range(30)])
    with pytest.raises(OcrFailure):
        engine.words(image, psm=3, timeout=0.001)
    assert engine.words(_image(["1288"]), psm=6, digits=True, timeout=60)


def test_a_forked_child_gets_its_own_engine() -> None:
    parent = default_engine()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new engine that works, not the parent's
        child = default_engine()
        ok = child is not parent and bool(child.words(_image(["1288"]), psm=6, digits=True, timeout=60))
        os.write(write, b"1" if ok else b"0")
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    assert os.read(read, 1) == b"1" and status == 0
    assert default_engine() is parent


_PAGE = [
    "一、总体情况 本机关严格落实政府信息公开条例",
    "二、主动公开政府信息情况 规章 规范性文件",
    "三、收到和处理政府信息公开申请情况 自然人",
    "四、政府信息公开行政复议、行政诉讼情况 维持",
    "五、存在的主要问题及改进情况 加强培训",
    "六、其他需要报告的事项 信息处理费 0 元",
] * 3


@pytest.mark.parametrize("turned", [0, 90, 180, 270])
def test_library_and_program_agree_on_orientation(turned: int) -> None:
    # PIL turns counter-clockwise: a page turned by `turned` needs that much clockwise to be upright.
    image = _image(_PAGE).rotate(turned, expand=True)
    program = TesseractEngine().orientation(image, timeout=60)
    library = LibTesseractEngine().orientation(image, timeout=60)
    assert program is not None and program.rotate == turned
    assert library == program


def test_orientation_of_a_blank_page_is_unknown_to_both() -> None:
    blank = Image.new("L", (1200, 1600), 255)
    assert TesseractEngine().orientation(blank, timeout=60) is None
    assert LibTesseractEngine().orientation(blank, timeout=60) is None
