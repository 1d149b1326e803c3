"""OCR confidence thresholds of the parser, in one place (report.parse flags, report.tokens)."""

from __future__ import annotations

# OCR cells recognised with less confidence than this are flagged `low_confidence`. The value is
# the extractor's calibration (extract.ocr.LOW_CONFIDENCE, repeated here because the parser does not
# import extract/; tests/report/test_fuzzy_labels.py keeps the two equal): the OCR marks a value cell
# whose two readings disagree, or that has ink but no reading, below 0.6, and on the bench scans
# (bench/RESULTS.md, "Field accuracy of scans") no cell at or above 0.6 was wrong, at 200-300 dpi,
# clean to heavily degraded. A stricter value only flags right cells (52-150 per report set).
LOW_CONFIDENCE = 0.6
# Cells read from the running text of an OCR page carry no confidence of their own; they are flagged
# when the page's mean confidence is below this. The mean mixes label and value words and is not
# what the extractor calibrated, so it keeps the stricter bound.
POOR_PAGE_CONFIDENCE = 0.8
