"""Classifying and streaming archive members (storage.archives), without services."""

from __future__ import annotations

import dataclasses
import gzip
import io
import random
import tarfile
import zipfile

import pytest

from storage.archives import (
    ArchiveCode,
    ArchiveKind,
    ArchiveRejected,
    Budget,
    Limits,
    Member,
    MemberRejected,
    ZipReader,
    archive_kind,
    is_archive,
    open_archive,
)
from tests.storage.archive_files import make_tar, tar_gz_bomb
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
    with open_archive(io.BytesIO(data), Budget.of(limits)) as reader:
        return {m.name: m.error[0] if m.error else None for m in reader.members()}


def read_all(data: bytes, name: str, limits: Limits = LIMITS, budget: Budget | None = None) -> bytes:
    with open_archive(io.BytesIO(data), budget or Budget.of(limits)) as reader:
        for member in reader.members():
            if member.name == name:
                out = b""
                with reader.open(member) as stream:
                    while chunk := stream.read(65536):
                        out += chunk
                return out
    raise AssertionError(f"no member {name!r}")


def zip_members(data: bytes, budget: Budget) -> tuple[ZipReader, list[Member]]:
    reader = open_archive(io.BytesIO(data), budget)
    assert isinstance(reader, ZipReader)
    return reader, list(reader.members())


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
    with open_archive(io.BytesIO(data), Budget.of(LIMITS)) as reader:
        found = list(reader.members())
    assert reader.skipped == 4
    assert {m.name: m.error[0] if m.error else None for m in found} == {
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


def test_a_member_that_is_an_archive_is_told_by_its_bytes() -> None:
    docx = make_zip([("[Content_Types].xml", b"<Types/>"), ("word/document.xml", b"<w/>")])
    inner = {
        "inner.zip": make_zip([("a.txt", b"a")]),
        "inner.tar": make_tar([("a.txt", b"a")]),
        "inner.tgz": make_tar([("a.txt", b"a")], gz=True),
        "report.docx": docx,
        "report.txt.gz": gzip.compress("报告".encode()),
        "report.txt": "报告".encode(),
    }
    data = make_zip(list(inner.items()))
    kinds: dict[str, ArchiveKind | None] = {}
    with open_archive(io.BytesIO(data), Budget.of(LIMITS)) as reader:
        for member in reader.members():
            with reader.open(member) as stream:
                kinds[member.name] = stream.kind
                assert stream.read() == inner[member.name]  # peeking loses nothing
    assert kinds == {
        "inner.zip": ArchiveKind.ZIP,
        "inner.tar": ArchiveKind.TAR,
        "inner.tgz": ArchiveKind.TAR_GZ,
        "report.docx": None,
        "report.txt.gz": None,
        "report.txt": None,
    }


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
    reader, members = zip_members(data, Budget.of(LIMITS))
    with reader, pytest.raises(MemberRejected) as caught:
        reader.open(members[0])
    assert caught.value.code == ArchiveCode.CORRUPT
    assert read_all(data, "b.txt") == b"b"


def test_stream_caps_hold_whatever_the_header_says() -> None:
    # A header claiming less than it holds is caught by zipfile (above); the caps also stop an honest
    # member when the archive-wide budget runs out.
    data = make_zip([("a.txt", NOISE)])
    budget = Budget.of(LIMITS)
    reader, [member] = zip_members(data, budget)
    budget.bytes = 500_000  # what an archive before it in the same upload left
    with reader, reader.open(member) as stream, pytest.raises(ArchiveRejected):
        while stream.read(65536):
            pass


def test_corrupt_archive() -> None:
    with pytest.raises(ArchiveRejected) as caught:
        open_archive(io.BytesIO(b"PK\x03\x04" + b"\x00" * 100), Budget.of(LIMITS))
    assert caught.value.code == ArchiveCode.CORRUPT
    truncated = make_zip([("a.txt", b"a" * 1000)])[:-30]
    with pytest.raises(ArchiveRejected):
        open_archive(io.BytesIO(truncated), Budget.of(LIMITS))
    with pytest.raises(ArchiveRejected) as caught:
        open_archive(io.BytesIO("报告".encode()), Budget.of(LIMITS))
    assert caught.value.code == ArchiveCode.CORRUPT


# -- tar and tar.gz --------------------------------------------------------------------------------


def test_tar_and_tar_gz_are_recognised_by_their_bytes() -> None:
    tar = make_tar([("a.txt", b"a")])
    assert archive_kind(io.BytesIO(tar)) == ArchiveKind.TAR
    assert archive_kind(io.BytesIO(make_tar([("a.txt", b"a")], gz=True))) == ArchiveKind.TAR_GZ
    assert archive_kind(io.BytesIO(make_tar([("a.txt", b"a")], gz=True)[:200])) == ArchiveKind.TAR_GZ
    assert archive_kind(io.BytesIO(gzip.compress(b"%PDF-1.7 " * 100))) is None  # a gzip'd document
    assert archive_kind(io.BytesIO(bytes(2048))) is None  # zeros are no tar header
    assert archive_kind(io.BytesIO(make_zip([("a.txt", b"a")]))) == ArchiveKind.ZIP
    v7 = bytearray(tar)
    v7[257:265] = bytes(8)  # no "ustar" magic: a pre-POSIX header, told by its checksum…
    checksum = sum(v7[:148]) + 8 * 32 + sum(v7[156:512])
    v7[148:156] = b"%06o\x00 " % checksum
    assert archive_kind(io.BytesIO(bytes(v7))) == ArchiveKind.TAR
    v7[100] ^= 1  # …so a broken checksum is no tar
    assert archive_kind(io.BytesIO(bytes(v7))) is None


@pytest.mark.parametrize("gz", [False, True])
def test_tar_members_are_classified_and_read(gz: bool) -> None:
    data = make_tar(
        [
            ("reports/", b""),
            (f"reports/{NAME}", "内容".encode()),
            ("reports/._" + NAME, b"junk"),
            ("../evil.txt", b"evil"),
            ("/etc/evil.txt", b"evil"),
            ("C:/evil.txt", b"evil"),
            ("link.txt", tarfile.SYMTYPE, "/etc/passwd"),
            ("hard.txt", tarfile.LNKTYPE, "reports/" + NAME),
            ("tty", tarfile.CHRTYPE, ""),
            ("disk", tarfile.BLKTYPE, ""),
            ("pipe", tarfile.FIFOTYPE, ""),
            ("big.txt", NOISE + NOISE),
            ("b.txt", b"b"),
        ],
        gz=gz,
    )
    roomy = dataclasses.replace(LIMITS, max_members=20)
    with open_archive(io.BytesIO(data), Budget.of(roomy)) as reader:
        found = {m.name: m.error[0] if m.error else None for m in reader.members()}
        assert reader.kind == (ArchiveKind.TAR_GZ if gz else ArchiveKind.TAR) and reader.skipped == 2
    unsafe = ArchiveCode.UNSAFE_PATH
    assert found == {
        f"reports/{NAME}": None,
        "../evil.txt": unsafe,
        "/etc/evil.txt": unsafe,
        "C:/evil.txt": unsafe,
        "link.txt": unsafe,
        "hard.txt": unsafe,
        "tty": unsafe,
        "disk": unsafe,
        "pipe": unsafe,
        "big.txt": ArchiveCode.MEMBER_TOO_LARGE,
        "b.txt": None,
    }
    assert read_all(data, f"reports/{NAME}", roomy) == "内容".encode()
    assert read_all(data, "b.txt", roomy) == b"b"  # read after skipping what was refused


def test_tar_names_in_gbk_are_decoded() -> None:
    data = make_tar([("年报/" + NAME, b"x")], encoding="gbk")
    assert "年报".encode() not in data and "年报".encode("gbk") in data
    assert scanned(data) == {"年报/" + NAME: None}


def read_every_member(data: bytes, limits: Limits = LIMITS) -> list[int]:
    """Read each accepted member through; the sizes read."""
    sizes = []
    with open_archive(io.BytesIO(data), Budget.of(limits)) as reader:
        for member in reader.members():
            if member.error is None:
                with reader.open(member) as stream:
                    while stream.read(65536):
                        pass
                    sizes.append(stream.size)
    return sizes


def test_a_tar_gz_bomb_is_refused_after_a_few_megabytes() -> None:
    bomb = tar_gz_bomb(200_000_000)
    assert len(bomb) < 300_000
    with pytest.raises(ArchiveRejected) as caught:  # read as a member…
        read_every_member(bomb, dataclasses.replace(LIMITS, max_member_bytes=10**9))
    assert caught.value.code == ArchiveCode.TOO_LARGE and "gzip stream expands" in caught.value.message
    with pytest.raises(ArchiveRejected, match="gzip stream expands"):  # …or skipped as too large
        scanned(bomb)


def test_tar_caps_count_members_and_bytes() -> None:
    with pytest.raises(ArchiveRejected, match="more than 10 files"):
        scanned(make_tar([(f"{i}.txt", b"x") for i in range(11)]))
    assert read_every_member(make_tar([(f"{i}.txt", NOISE) for i in range(4)])) == [len(NOISE)] * 4
    # members read, each within its cap: the budget (or the stream's own cap) runs out
    with pytest.raises(ArchiveRejected) as caught:
        read_every_member(make_tar([(f"{i}.txt", NOISE) for i in range(6)]))
    assert caught.value.code == ArchiveCode.TOO_LARGE


def test_nested_archives_share_the_budget() -> None:
    budget = Budget.of(LIMITS)
    with open_archive(io.BytesIO(make_zip([(f"{i}.txt", b"x") for i in range(6)])), budget) as outer:
        assert len(list(outer.members())) == 6
    inner = make_tar([(f"{i}.txt", b"x") for i in range(5)], gz=True)
    with open_archive(io.BytesIO(inner), budget) as nested, pytest.raises(ArchiveRejected, match="10 files"):
        list(nested.members())  # 6 + 5 > 10
    with open_archive(io.BytesIO(inner), Budget.of(LIMITS)) as alone:
        assert len(list(alone.members())) == 5


def test_damaged_tars_are_corrupt_archives() -> None:
    data = make_tar([("a.txt", NOISE[:100_000]), ("b.txt", b"b")], gz=True)
    with pytest.raises(ArchiveRejected) as caught:
        scanned(data[: len(data) // 2])
    assert caught.value.code == ArchiveCode.CORRUPT
    with pytest.raises(ArchiveRejected) as caught:
        scanned(data[:10] + bytes(len(data) - 10))
    assert caught.value.code == ArchiveCode.CORRUPT
    # gzip members one after another (pigz, `cat a.gz b.gz`) are one stream, even within a member
    tar = make_tar([("a.txt", NOISE[:1000]), ("b.txt", b"b")])
    joined = gzip.compress(tar[:700]) + gzip.compress(tar[700:])
    assert scanned(joined) == {"a.txt": None, "b.txt": None}
    assert read_all(joined, "a.txt") == NOISE[:1000] and read_all(joined, "b.txt") == b"b"
