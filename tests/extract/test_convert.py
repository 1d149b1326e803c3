"""Legacy .doc/.wps conversion through LibreOffice: off by default (refused, naming the format), and
when turned on without LibreOffice installed, a clear error. (LibreOffice is not installed where the
tests run: the conversion itself is not exercised here.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from extract import ExtractOptions, sniff
from extract.convert import find_soffice
from extract.dispatch import extract_document
from extract.errors import ExtractionError, ExtractionErrorCode
from gongkai.settings import Settings, get_settings
from workers.pipeline import JobFailure, extract

from .test_sniff import EXCEL, WORD_DOC, WPS_FILE


@pytest.fixture
def no_soffice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no soffice, no libreoffice
    assert find_soffice() is None


@pytest.fixture
def fresh_settings() -> Iterator[None]:
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_conversion_is_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONGKAI_CONVERT_LEGACY_WORD", raising=False)
    assert Settings(_env_file=None).convert_legacy_word is False  # type: ignore[call-arg]
    assert ExtractOptions().convert_legacy_word is False
    monkeypatch.setenv("GONGKAI_CONVERT_LEGACY_WORD", "true")
    assert Settings(_env_file=None).convert_legacy_word is True  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("data", "name"), [(WORD_DOC, "legacy Word (.doc)"), (WPS_FILE, "Kingsoft WPS Writer (.wps)")]
)
def test_turned_on_without_libreoffice_is_a_clear_error(no_soffice: None, data: bytes, name: str) -> None:
    with pytest.raises(ExtractionError) as info:
        extract_document(data, ExtractOptions(convert_legacy_word=True))
    assert info.value.code == ExtractionErrorCode.UNSUPPORTED_TYPE
    message = info.value.message
    assert name in message and "LibreOffice is not installed (no soffice on PATH)" in message
    assert "GONGKAI_CONVERT_LEGACY_WORD" in message and "save the file as .docx or PDF" in message


def test_only_word_binaries_are_converted(no_soffice: None) -> None:
    """An Excel binary is refused as before, conversion on or not."""
    with pytest.raises(ExtractionError) as info:
        extract_document(EXCEL, ExtractOptions(convert_legacy_word=True))
    assert info.value.code == ExtractionErrorCode.UNSUPPORTED_TYPE
    assert f"({sniff.OLE2})" in info.value.message and "LibreOffice" not in info.value.message


def test_the_pipeline_follows_the_setting(
    no_soffice: None, fresh_settings: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the worker and `gongkai parse` run: the setting from the environment decides."""
    monkeypatch.setenv("GONGKAI_CONVERT_LEGACY_WORD", "false")
    with pytest.raises(JobFailure) as off:
        extract(WORD_DOC)
    assert off.value.code == "unsupported_type" and "legacy Word .doc file" in off.value.message
    get_settings.cache_clear()
    monkeypatch.setenv("GONGKAI_CONVERT_LEGACY_WORD", "true")
    with pytest.raises(JobFailure) as on:
        extract(WORD_DOC)
    assert on.value.code == "unsupported_type" and "no soffice on PATH" in on.value.message
