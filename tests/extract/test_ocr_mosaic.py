"""Cell mosaics: which words of a mosaic's reading belong to which cell crop."""

from __future__ import annotations

import numpy as np
import pytest

from extract.engine import Word
from extract.ocr import _in_slots, _mosaic


@pytest.mark.parametrize("scale", [1.0, 1.5])
def test_words_go_to_the_slot_their_centre_lies_in(scale: float) -> None:
    rng = np.random.default_rng(4)
    page = np.full((400, 600), 255, np.uint8)
    boxes = [(10, 10, 60, 40), (100, 50, 300, 90), (5, 200, 20, 215), (400, 300, 590, 390)]
    canvas, slots = _mosaic(page, boxes)
    assert [b for _, b in slots[:-1]] == [a for a, _ in slots[1:]]  # slots meet
    # words everywhere on the (scaled) mosaic, centres on and next to every slot edge included
    edges = [v * scale for slot in slots for v in slot]
    tops = [round(e - 5) + d for e in edges for d in (-1, 0, 1)]  # centre = top + 5
    tops += [int(t) for t in rng.integers(-20, canvas.shape[0] * 2, 60)]
    words = [
        Word(text=f"w{i}", left=int(rng.integers(0, 200)), top=t, width=8, height=10, conf=0.9)
        for i, t in enumerate(tops)
    ]
    got = _in_slots(words, slots, scale)
    want = [[w for w in words if sa * scale <= w.cy < sb * scale] for sa, sb in slots]
    assert got == want
    assert all(got) and sum(map(len, got)) < len(words)  # some in every slot, some in none
