"""Safe reading of uploaded ZIP archives: which members to keep, skip or refuse, and a capped stream.

No services here: `scan` classifies the central directory, `MemberReader` streams one member while
counting what is really decompressed. The worker (workers/archives.py) stores what they let through.

Refusals of the whole archive raise `ArchiveRejected` (corrupt_archive, archive_too_large); refusals
of one member are `Member.error` codes, so one bad name does not lose the other 4,999 reports.
"""

from __future__ import annotations

import re
import struct
import zipfile
import zlib
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, BinaryIO

from gongkai.settings import Settings

# A local file header, an empty archive, a spanned archive: how a ZIP starts.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
# OOXML/ODF documents are ZIPs too; they are documents for the extractor, not archives to expand.
_DOCUMENT_MARKERS = ("[Content_Types].xml", "mimetype")
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNICODE_PATH_EXTRA = 0x7075  # Info-ZIP: a UTF-8 copy of a legacy-encoded name
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})


class ArchiveCode(StrEnum):
    CORRUPT = "corrupt_archive"
    TOO_LARGE = "archive_too_large"
    UNSAFE_PATH = "unsafe_path"
    ENCRYPTED = "encrypted_archive_member"
    NESTED = "nested_archive"
    MEMBER_TOO_LARGE = "file_too_large"
    UNSUPPORTED_COMPRESSION = "unsupported_compression"


class ArchiveRejected(Exception):
    """The archive as a whole is refused; no member of it becomes a job."""

    def __init__(self, code: ArchiveCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class MemberRejected(Exception):
    """One member is refused while it is read (the others go on)."""

    def __init__(self, code: ArchiveCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    max_members: int
    max_total_bytes: int
    max_member_bytes: int
    max_ratio: float
    ratio_min_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            max_members=settings.archive_max_members,
            max_total_bytes=settings.archive_max_total_bytes,
            max_member_bytes=settings.archive_max_member_bytes,
            max_ratio=settings.archive_max_ratio,
            ratio_min_bytes=settings.archive_ratio_min_bytes,
        )


@dataclass(frozen=True)
class Member:
    index: int  # position in the central directory: stable across re-expansions of the same archive
    name: str  # decoded path inside the archive
    info: zipfile.ZipInfo
    error: tuple[ArchiveCode, str] | None = None

    @property
    def basename(self) -> str:
        return re.split(r"[/\\]", self.name.rstrip("/\\"))[-1]


@dataclass(frozen=True)
class Scan:
    members: list[Member]  # files to store or to record as failed, in archive order
    skipped: int  # directories and OS junk


def is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def is_archive(file: BinaryIO) -> bool:
    """Whether an upload (a seekable file) is a ZIP archive to expand — by its bytes, not its name.

    A ZIP that is an Office/ODF document is not; a ZIP whose directory cannot be read still is (it
    is expanded and then reported as corrupt_archive).
    """
    start = file.tell()
    try:
        if not is_zip(file.read(4)):
            return False
        file.seek(start)
        try:
            with zipfile.ZipFile(file) as zf:
                names = set(zf.namelist()[:50])
        # NotImplementedError: a directory entry claims a ZIP version zipfile does not know
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            return True
        return not any(marker in names for marker in _DOCUMENT_MARKERS)
    finally:
        file.seek(start)


# Writers other than Word (LibreOffice, WPS) may start a .docx with its relationships or properties.
_DOCUMENT_FIRST_ENTRIES = (*_DOCUMENT_MARKERS, "_rels/", "docProps/", "word/")


def is_nested_archive(head: bytes) -> bool:
    """A member that is a ZIP but not an Office/ODF document (its first entry's name says which)."""
    if not is_zip(head):
        return False
    first_name = head[30:80]  # the name follows the 30-byte local file header
    return not first_name.startswith(tuple(m.encode() for m in _DOCUMENT_FIRST_ENTRIES))


def open_archive(file: IO[bytes]) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise ArchiveRejected(ArchiveCode.CORRUPT, f"not a readable ZIP archive ({exc})") from exc


def decode_name(info: zipfile.ZipInfo) -> str:
    """The member's name as its creator meant it.

    Without the UTF-8 flag, zipfile decodes names as CP437; Chinese archives made on Windows hold
    GBK/GB18030 there (and some tools write UTF-8 without setting the flag). An Info-ZIP Unicode
    Path extra field, when present and matching, wins.
    """
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    raw = info.filename.encode("cp437")  # zipfile decoded the raw bytes with cp437: lossless
    unicode_path = _unicode_path_extra(info.extra, raw)
    if unicode_path is not None:
        return unicode_path
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return info.filename


def _unicode_path_extra(extra: bytes, raw_name: bytes) -> str | None:
    pos = 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        pos += 4 + size
        # version 1, CRC-32 of the legacy name (stale if a tool renamed the member), UTF-8 name
        if tag == _UNICODE_PATH_EXTRA and len(body) > 5 and body[0] == 1:
            if struct.unpack_from("<I", body, 1)[0] != zlib.crc32(raw_name):
                return None
            try:
                return body[5:].decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def is_junk(name: str) -> bool:
    """OS metadata a user never meant to submit: __MACOSX/, ._resource forks, .DS_Store, Thumbs.db."""
    parts = [p for p in re.split(r"[/\\]", name) if p]
    return any(p.lower() in _JUNK_NAMES or (p.startswith(".") and p not in (".", "..")) for p in parts)


def unsafe_path(name: str) -> str | None:
    """Why a member name could escape an extraction directory (None when it could not)."""
    if not name or "\x00" in name:
        return "empty name or NUL byte"
    if name.startswith(("/", "\\")):
        return "absolute path"
    if _DRIVE.match(name):
        return "drive letter"
    if ".." in re.split(r"[/\\]", name):
        return "parent directory (..)"
    return None


def scan(zf: zipfile.ZipFile, limits: Limits) -> Scan:
    """Classify every entry from the central directory; raise `ArchiveRejected` for a bomb.

    Sizes here are the header's claims; `MemberReader` enforces them on the real bytes.
    """
    members: list[Member] = []
    skipped = 0
    total = 0
    for index, info in enumerate(zf.infolist()):
        name = decode_name(info)
        if info.is_dir() or name.endswith(("/", "\\")) or is_junk(name):
            skipped += 1
            continue
        _check_ratio(name, info.file_size, info.compress_size, limits)  # a bomb condemns the archive
        why = unsafe_path(name)
        error: tuple[ArchiveCode, str] | None = None
        if info.external_attr >> 16 & 0o170000 == 0o120000:
            why = "symbolic link"  # harmless here (nothing is extracted) but never a report
        if why:
            error = (ArchiveCode.UNSAFE_PATH, f"{name!r}: {why}")
        elif info.flag_bits & _ENCRYPTED_FLAG:
            error = (ArchiveCode.ENCRYPTED, f"{name!r} is password-protected")
        elif info.compress_type not in _METHODS:
            error = (
                ArchiveCode.UNSUPPORTED_COMPRESSION,
                f"{name!r}: compression method {info.compress_type}",
            )
        elif info.file_size > limits.max_member_bytes:
            error = (
                ArchiveCode.MEMBER_TOO_LARGE,
                f"{name!r} is {info.file_size} bytes uncompressed; the limit is {limits.max_member_bytes}",
            )
        else:
            total += info.file_size
        members.append(Member(index=index, name=name, info=info, error=error))
        if len(members) > limits.max_members:
            raise ArchiveRejected(
                ArchiveCode.TOO_LARGE, f"more than {limits.max_members} files in the archive"
            )
        if total > limits.max_total_bytes:
            raise ArchiveRejected(
                ArchiveCode.TOO_LARGE,
                f"the members add up to more than {limits.max_total_bytes} bytes uncompressed",
            )
    return Scan(members=members, skipped=skipped)


def _check_ratio(name: str, size: int, compressed: int, limits: Limits) -> None:
    if size > limits.ratio_min_bytes and size > limits.max_ratio * max(compressed, 1):
        raise ArchiveRejected(
            ArchiveCode.TOO_LARGE,
            f"{name!r} expands {size / max(compressed, 1):.0f}x ({compressed} → {size} bytes); "
            f"the limit is {limits.max_ratio:.0f}x (a zip bomb?)",
        )


class MemberReader:
    """Reads one member in chunks, counting real output against the per-member, total and ratio caps.

    zipfile already stops at the size the header declares (and then fails the CRC check), so a lying
    header cannot make it return more; these caps hold whatever the header says. Not seekable on
    purpose: `ObjectStore.put_original` then spools it once instead of decompressing twice.
    """

    def __init__(self, zf: zipfile.ZipFile, member: Member, limits: Limits, budget: list[int]) -> None:
        try:
            self._stream = zf.open(member.info)
        # its local header disagrees with the central directory, or lies before the start of the file
        # (a negative seek: ValueError in memory, OSError EINVAL in the worker's spool file)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise MemberRejected(ArchiveCode.CORRUPT, f"{member.name!r}: {exc}") from exc
        except RuntimeError as exc:  # encrypted without saying so in the flags we checked
            raise MemberRejected(ArchiveCode.ENCRYPTED, f"{member.name!r}: {exc}") from exc
        self.member = member
        self.limits = limits
        self.budget = budget  # [bytes still allowed for the whole archive], shared across members
        self.size = 0
        self.head = b""

    def read(self, size: int = -1, /) -> bytes:
        try:
            chunk = self._stream.read(size)
        except zipfile.BadZipFile as exc:
            raise MemberRejected(ArchiveCode.CORRUPT, f"{self.member.name!r}: {exc}") from exc
        except (zlib.error, EOFError) as exc:
            raise MemberRejected(ArchiveCode.CORRUPT, f"{self.member.name!r}: damaged data ({exc})") from exc
        if self.size == 0 and is_nested_archive(chunk):
            raise MemberRejected(
                ArchiveCode.NESTED, f"{self.member.name!r} is itself a ZIP archive; upload it on its own"
            )
        self.size += len(chunk)
        self.budget[0] -= len(chunk)
        name, limits = self.member.name, self.limits
        if self.size > limits.max_member_bytes:
            raise MemberRejected(
                ArchiveCode.MEMBER_TOO_LARGE, f"{name!r} exceeds {limits.max_member_bytes} bytes uncompressed"
            )
        if self.budget[0] < 0:
            raise ArchiveRejected(
                ArchiveCode.TOO_LARGE, f"the members add up to more than {limits.max_total_bytes} bytes"
            )
        _check_ratio(name, self.size, self.member.info.compress_size, limits)
        return chunk

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> MemberReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
