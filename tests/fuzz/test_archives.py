"""Fuzz the archive reader (storage/archives.py) in process: a broken ZIP is refused whole
(`ArchiveRejected`) or member by member (`MemberRejected`), never with another exception — the
worker would fail the whole archive as internal_error and lose its good members."""

from __future__ import annotations

import io
import tempfile
from typing import IO

import pytest
from hypothesis import event, given, settings

from storage.archives import (
    ArchiveCode,
    ArchiveRejected,
    Budget,
    Limits,
    MemberRejected,
    is_archive,
    open_archive,
)
from tests.conftest import example_reports
from tests.extract import bad_inputs
from tests.fuzz.seeds import FUZZ, mutated
from tests.storage.zipfiles import make_zip

LIMITS = Limits(
    max_members=10,
    max_total_bytes=10_000_000,
    max_member_bytes=3_000_000,
    max_ratio=100,
    ratio_min_bytes=100_000,
)


def expand(data: bytes) -> dict[str, str | None]:
    """member name → refusal code (None: read in full), as the worker reads an archive."""
    out: dict[str, str | None] = {}
    # a real file, as the worker spools it: some damage surfaces as OSError there, ValueError in memory
    with tempfile.TemporaryFile() as spool, open_archive(_spooled(spool, data), Budget.of(LIMITS)) as archive:
        for member in archive.members():
            if member.error:
                out[member.name] = member.error[0]
                continue
            try:
                with archive.open(member) as reader:
                    while reader.read(65536):
                        pass
                out[member.name] = None
            except MemberRejected as exc:
                out[member.name] = exc.code
            except NotImplementedError:  # a compression method zipfile lacks: the worker's own code
                out[member.name] = "unsupported_compression"
    return out


def _spooled(spool: IO[bytes], data: bytes) -> IO[bytes]:
    spool.write(data)
    spool.seek(0)
    return spool


def reports_zip() -> bytes:
    return make_zip([(p.name, p.read_bytes()) for p in example_reports()[:3]] + [("dir/", b"")])


def test_members_placed_before_the_start_of_the_file_are_corrupt_one_by_one() -> None:
    # found by this fuzz: zipfile's negative seek (ValueError) escaped and failed the whole archive
    data = bad_inputs.zip_with_offsets_before_the_start(reports_zip())
    codes = expand(data)
    assert len(codes) == 3 and set(codes.values()) == {ArchiveCode.CORRUPT}


@settings(FUZZ, max_examples=400)
@given(data=mutated(pool={"zip": reports_zip()}))
def test_a_broken_archive_is_refused_whole_or_member_by_member(data: bytes) -> None:
    try:
        codes = expand(data)
    except ArchiveRejected as exc:
        assert exc.code and exc.message
        event(f"archive refused: {exc.code}")
        return
    for code in codes.values():
        event(f"member: {code or 'read'}")


def test_an_archive_claiming_an_unknown_zip_version_is_an_archive_refused_as_corrupt() -> None:
    # found by the batch fuzz: is_archive let NotImplementedError out, and the API answered 500
    data = bad_inputs.zip_claiming_version(reports_zip())
    assert is_archive(io.BytesIO(data))
    with pytest.raises(ArchiveRejected) as caught:
        expand(data)
    assert caught.value.code == ArchiveCode.CORRUPT and "21.3" in caught.value.message
