"""Classifying and streaming archive members (storage.archives), without services."""

from __future__ import annotations

import io
import random
import zipfile

import pytest

from storage.archives import (
    ArchiveCode,
    ArchiveRejected,
    Limits,
    MemberReader,
    MemberRejected,
    is_archive,
    open_archive,
    scan,
)
from tests.storage.zipfiles import legacy_name, lying_sizes, make_zip, set_flag, with_raw_names, zip_bomb

LIMITS = Limits(
    max_members=10,
    max_total_bytes=10_000_000,
    max_member_bytes=3_000_000,
    max_ratio=100,
    ratio_min_bytes=100_000,
)
NOISE = random.Random(0).randbytes(2_000_000)  # incompressible: only size limits apply
NAME = "津市市工业和信息化局2024年政府信息公开工作年度报告.txt"


def scanned(data: bytes, limits: Limits = LIMITS) -> dict[str, ArchiveCode | None]:
    with open_archive(io.BytesIO(data)) as zf:
        return {m.name: m.error[0] if m.error else None for m in scan(zf, limits).members}


def read_all(data: bytes, name: str, limits: Limits = LIMITS) -> bytes:
    with open_archive(io.BytesIO(data)) as zf:
        [member] = [m for m in scan(zf, limits).members if m.name == name]
        out = b""
        with MemberReader(zf, member, limits, [limits.max_total_bytes]) as reader:
            while chunk := reader.read(65536):
                out += chunk
        return out


def test_archives_are_recognised_by_their_bytes() -> None:
    assert is_archive(io.BytesIO(make_zip([("a.txt", b"x")])))
    assert is_archive(io.BytesIO(b"PK\x03\x04 truncated"))  # expanded, then reported corrupt
    assert not is_archive(io.BytesIO("报告".encode()))
    docx = make_zip([("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>")])
    assert not is_archive(io.BytesIO(docx))  # an Office document is a document


def test_junk_is_skipped_and_unsafe_names_refused() -> None:
    data = make_zip(
        [
            ("reports/", b""),
            ("reports/a.txt", b"a"),
            ("__MACOSX/reports/._a.txt", b"junk"),
            ("reports/.DS_Store", b"junk"),
            ("Thumbs.db", b"junk"),
            ("../evil.txt", b"evil"),
            ("/etc/evil.txt", b"evil"),
            ("C:/evil.txt", b"evil"),
            ("a/../../evil.txt", b"evil"),
            ("..\\evil.txt", b"evil"),
        ]
    )
    with open_archive(io.BytesIO(data)) as zf:
        found = scan(zf, LIMITS)
    assert found.skipped == 4
    assert {m.name: m.error[0] if m.error else None for m in found.members} == {
        "reports/a.txt": None,
        "../evil.txt": ArchiveCode.UNSAFE_PATH,
        "/etc/evil.txt": ArchiveCode.UNSAFE_PATH,
        "C:/evil.txt": ArchiveCode.UNSAFE_PATH,
        "a/../../evil.txt": ArchiveCode.UNSAFE_PATH,
        "..\\evil.txt": ArchiveCode.UNSAFE_PATH,
    }


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8"])
def test_legacy_names_without_the_utf8_flag(encoding: str) -> None:
    raw = ("年报/" + NAME).encode(encoding)
    placeholder = legacy_name(0, raw)
    data = with_raw_names(make_zip([(placeholder, "内容".encode())]), {placeholder: raw})
    assert zipfile.ZipFile(io.BytesIO(data)).infolist()[0].flag_bits & 0x800 == 0
    assert scanned(data) == {"年报/" + NAME: None}
    assert read_all(data, "年报/" + NAME) == "内容".encode()


def test_symbolic_links_are_refused() -> None:
    link = zipfile.ZipInfo("link.txt")
    link.external_attr = (0o120777 << 16) | 0x20
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(link, "/etc/passwd")
    assert scanned(buf.getvalue()) == {"link.txt": ArchiveCode.UNSAFE_PATH}


def test_utf8_flagged_names() -> None:
    assert scanned(make_zip([(NAME, b"x")])) == {NAME: None}


def test_encrypted_and_oversize_members() -> None:
    data = make_zip([("secret.txt", b"s" * 100), ("big.txt", NOISE + NOISE), ("ok.txt", b"ok")])
    data = set_flag(data, "secret.txt", 0x1)
    assert scanned(data) == {
        "secret.txt": ArchiveCode.ENCRYPTED,
        "big.txt": ArchiveCode.MEMBER_TOO_LARGE,
        "ok.txt": None,
    }


def test_nested_archive_is_refused_when_read() -> None:
    data = make_zip([("inner.zip", make_zip([("a.txt", b"a")]))])
    with pytest.raises(MemberRejected) as caught:
        read_all(data, "inner.zip")
    assert caught.value.code == ArchiveCode.NESTED


def test_bombs_and_oversize_archives_are_refused_whole() -> None:
    with pytest.raises(ArchiveRejected) as caught:
        scanned(zip_bomb(20_000_000))
    assert caught.value.code == ArchiveCode.TOO_LARGE and "expands" in caught.value.message
    many = make_zip([(f"{i}.txt", b"x") for i in range(11)])
    with pytest.raises(ArchiveRejected, match="more than 10 files"):
        scanned(many)
    total = make_zip([(f"{i}.txt", NOISE) for i in range(6)])  # 6 x 2 MB
    with pytest.raises(ArchiveRejected, match="add up to"):
        scanned(total)


def test_a_header_that_lies_about_the_size_cannot_inflate_the_stream() -> None:
    data = lying_sizes(make_zip([("zeros.txt", bytes(5_000_000))]), "zeros.txt", 1000)
    assert scanned(data) == {"zeros.txt": None}  # the header looks harmless…
    with pytest.raises(MemberRejected) as caught:
        read_all(data, "zeros.txt")  # …but the real stream does not match it
    assert caught.value.code == ArchiveCode.CORRUPT


def test_a_local_header_that_disagrees_is_a_corrupt_member() -> None:
    data = make_zip([("a.txt", b"a" * 100), ("b.txt", b"b")])
    local = data.find(b"PK\x03\x04")
    data = data[:local] + b"PK\x03\x05" + data[local + 4 :]  # a.txt's local header is broken
    with open_archive(io.BytesIO(data)) as zf:
        members = scan(zf, LIMITS).members
        with pytest.raises(MemberRejected) as caught:
            MemberReader(zf, members[0], LIMITS, [LIMITS.max_total_bytes])
        assert caught.value.code == ArchiveCode.CORRUPT
    assert read_all(data, "b.txt") == b"b"


def test_stream_caps_hold_whatever_the_header_says() -> None:
    # A header claiming less than it holds is caught by zipfile (above); the caps also stop an honest
    # member when the archive-wide budget runs out.
    data = make_zip([("a.txt", NOISE)])
    with open_archive(io.BytesIO(data)) as zf:
        [member] = scan(zf, LIMITS).members
        with MemberReader(zf, member, LIMITS, [500_000]) as reader, pytest.raises(ArchiveRejected):
            while reader.read(65536):
                pass


def test_corrupt_archive() -> None:
    with pytest.raises(ArchiveRejected) as caught:
        open_archive(io.BytesIO(b"PK\x03\x04" + b"\x00" * 100))
    assert caught.value.code == ArchiveCode.CORRUPT
    truncated = make_zip([("a.txt", b"a" * 1000)])[:-30]
    with pytest.raises(ArchiveRejected):
        open_archive(io.BytesIO(truncated))
