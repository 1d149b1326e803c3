"""Safe reading of uploaded archives (ZIP, tar, tar.gz): which members to keep, skip or refuse, and a
capped stream of each.

No services here. `open_archive` tells the format by its bytes and gives an `ArchiveReader`; its
`members()` classifies the entries and `open(member)` streams one while counting what is really
decompressed. ZIP has a central directory, so a ZIP is classified whole before any member is read; a
tar has none, so it is read in one forward pass (members come and are read in stream order, never
seeking back into a gzip stream). The worker (workers/archives.py) stores what they let through.

Refusals of the whole archive raise `ArchiveRejected` (corrupt_archive, archive_too_large); refusals
of one member are `Member.error` codes, so one bad name does not lose the other 4,999 reports. One
`Budget` (members, uncompressed bytes) is shared by an archive and the archives nested in it.
"""

from __future__ import annotations

import re
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, BinaryIO, cast

from gongkai.settings import Settings

# A local file header, an empty archive, a spanned archive: how a ZIP starts.
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
GZIP_MAGIC = b"\x1f\x8b"
HEAD_BYTES = 64 * 1024  # enough to see a tar header through the start of a gzip stream
CHUNK = 64 * 1024
_TAR_BLOCK = 512
# OOXML/ODF documents are ZIPs too; they are documents for the extractor, not archives to expand.
_DOCUMENT_MARKERS = ("[Content_Types].xml", "mimetype")
_JUNK_NAMES = frozenset({"thumbs.db", "desktop.ini", "__macosx"})
_DRIVE = re.compile(r"^[A-Za-z]:")
_UNICODE_PATH_EXTRA = 0x7075  # Info-ZIP: a UTF-8 copy of a legacy-encoded name
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_METHODS = frozenset({zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA})
# What a member's data can fail with while it is read (the archive's other members may still be fine).
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, tarfile.ReadError)


class ArchiveCode(StrEnum):
    CORRUPT = "corrupt_archive"
    TOO_LARGE = "archive_too_large"
    UNSAFE_PATH = "unsafe_path"
    ENCRYPTED = "encrypted_archive_member"
    NESTED = "nested_archive"
    MEMBER_TOO_LARGE = "file_too_large"
    UNSUPPORTED_COMPRESSION = "unsupported_compression"


class ArchiveKind(StrEnum):
    ZIP = "zip"
    TAR = "tar"
    TAR_GZ = "tar.gz"

    @property
    def media_type(self) -> str:
        return {"zip": "application/zip", "tar": "application/x-tar", "tar.gz": "application/gzip"}[self]


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


@dataclass
class Budget:
    """What is still allowed for one uploaded archive, nested archives included (shared, mutable)."""

    limits: Limits
    members: int
    bytes: int

    @classmethod
    def of(cls, limits: Limits) -> Budget:
        return cls(limits=limits, members=limits.max_members, bytes=limits.max_total_bytes)

    def take_member(self) -> None:
        self.members -= 1
        if self.members < 0:
            raise ArchiveRejected(
                ArchiveCode.TOO_LARGE, f"more than {self.limits.max_members} files in the archive"
            )

    def take_bytes(self, count: int) -> None:
        self.bytes -= count
        if self.bytes < 0:
            raise ArchiveRejected(
                ArchiveCode.TOO_LARGE,
                f"the members add up to more than {self.limits.max_total_bytes} bytes uncompressed",
            )


@dataclass(frozen=True)
class Member:
    index: int  # position among the archive's entries: stable across re-expansions of the same archive
    name: str  # decoded path inside the archive
    size: int  # uncompressed size the archive declares
    compressed: int | None  # a ZIP member's compressed size (a tar.gz is compressed as a whole)
    ref: zipfile.ZipInfo | tarfile.TarInfo
    error: tuple[ArchiveCode, str] | None = None

    @property
    def basename(self) -> str:
        return re.split(r"[/\\]", self.name.rstrip("/\\"))[-1]


def is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_MAGIC)


def _is_tar_header(block: bytes) -> bool:
    if len(block) < _TAR_BLOCK:
        return False
    if block[257:262] == b"ustar":  # POSIX and GNU
        return True
    try:  # a pre-POSIX (v7) header: only its checksum says so
        tarfile.TarInfo.frombuf(block[:_TAR_BLOCK], "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


# Writers other than Word (LibreOffice, WPS) may start a .docx with its relationships or properties.
_DOCUMENT_FIRST_ENTRIES = (*_DOCUMENT_MARKERS, "_rels/", "docProps/", "word/")


def sniff(head: bytes) -> ArchiveKind | None:
    """Which archive the first bytes of a file (up to `HEAD_BYTES`) start, if any.

    A ZIP whose first entry belongs to an Office/ODF document is a document; a gzip stream is an
    archive only if what it holds starts with a tar header (a gzip'd PDF is not)."""
    if is_zip(head):
        first_name = head[30:80]  # the name follows the 30-byte local file header
        return (
            None
            if first_name.startswith(tuple(m.encode() for m in _DOCUMENT_FIRST_ENTRIES))
            else ArchiveKind.ZIP
        )
    if head.startswith(GZIP_MAGIC):
        try:
            inner = zlib.decompressobj(31).decompress(head, _TAR_BLOCK)
        except zlib.error:
            return None
        return ArchiveKind.TAR_GZ if _is_tar_header(inner) else None
    return ArchiveKind.TAR if _is_tar_header(head) else None


def is_nested_archive(head: bytes) -> bool:
    """A member that is an archive (ZIP but not an Office/ODF document, tar, tar.gz)."""
    return sniff(head) is not None


def archive_kind(file: BinaryIO) -> ArchiveKind | None:
    """Whether an upload (a seekable file) is an archive to expand — by its bytes, not its name.

    A ZIP that is an Office/ODF document is not; a ZIP whose directory cannot be read still is (it
    is expanded and then reported as corrupt_archive).
    """
    start = file.tell()
    try:
        head = file.read(HEAD_BYTES)
        if not is_zip(head):
            return sniff(head)
        file.seek(start)
        try:
            with zipfile.ZipFile(file) as zf:
                names = set(zf.namelist()[:50])
        # NotImplementedError: a directory entry claims a ZIP version zipfile does not know
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
            return ArchiveKind.ZIP
        return None if any(marker in names for marker in _DOCUMENT_MARKERS) else ArchiveKind.ZIP
    finally:
        file.seek(start)


def is_archive(file: BinaryIO) -> bool:
    return archive_kind(file) is not None


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
    return _decode_legacy(raw, info.filename)


def _decode_legacy(raw: bytes, fallback: str) -> str:
    for encoding in ("utf-8", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return fallback


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


def _check_ratio(name: str, size: int, compressed: int, limits: Limits) -> None:
    if size > limits.ratio_min_bytes and size > limits.max_ratio * max(compressed, 1):
        raise ArchiveRejected(
            ArchiveCode.TOO_LARGE,
            f"{name!r} expands {size / max(compressed, 1):.0f}x ({compressed} → {size} bytes); "
            f"the limit is {limits.max_ratio:.0f}x (a zip bomb?)",
        )


def _size_error(name: str, size: int, limits: Limits) -> tuple[ArchiveCode, str] | None:
    if size <= limits.max_member_bytes:
        return None
    return (
        ArchiveCode.MEMBER_TOO_LARGE,
        f"{name!r} is {size} bytes uncompressed; the limit is {limits.max_member_bytes}",
    )


class MemberReader:
    """Reads one member in chunks, counting real output against the per-member, total and ratio caps.

    The caps hold whatever the headers claim (zipfile also stops at the declared size and then fails
    the CRC check). Not seekable on purpose: `ObjectStore.put_original` then spools it once instead
    of decompressing twice. `peek()` shows the first bytes (to tell a nested archive) without losing
    them for `read()`.
    """

    def __init__(self, stream: IO[bytes], member: Member, budget: Budget) -> None:
        self._stream = stream
        self.member = member
        self.budget = budget
        self.max_bytes = budget.limits.max_member_bytes  # the worker lifts it for a nested archive
        self.size = 0
        self._head: bytes | None = None

    def peek(self) -> bytes:
        if self._head is None:
            parts: list[bytes] = []
            got = 0
            while got < HEAD_BYTES and (chunk := self._read(HEAD_BYTES - got)):
                parts.append(chunk)
                got += len(chunk)
            self._head = b"".join(parts)
        return self._head

    @property
    def kind(self) -> ArchiveKind | None:
        return sniff(self.peek())

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            cut = len(self._head) if size < 0 else size
            out, self._head = self._head[:cut], self._head[cut:]
            return out
        self._head = b""
        return self._read(size)

    def _read(self, size: int) -> bytes:
        name = self.member.name
        try:
            chunk = self._stream.read(size)
        except NotImplementedError as exc:  # a compression method zipfile cannot read
            raise MemberRejected(ArchiveCode.UNSUPPORTED_COMPRESSION, f"{name!r}: {exc}") from exc
        except _READ_ERRORS as exc:
            raise MemberRejected(ArchiveCode.CORRUPT, f"{name!r}: damaged data ({exc})") from exc
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise MemberRejected(
                ArchiveCode.MEMBER_TOO_LARGE, f"{name!r} exceeds {self.max_bytes} bytes uncompressed"
            )
        self.budget.take_bytes(len(chunk))
        if self.member.compressed is not None:
            _check_ratio(name, self.size, self.member.compressed, self.budget.limits)
        return chunk

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> MemberReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ArchiveReader:
    """One archive's members (`members()`, in archive order) and their capped streams (`open`).

    A member's stream must be read before the next member is asked for (a tar is one stream)."""

    kind: ArchiveKind
    budget: Budget
    skipped: int  # directories and OS junk met so far

    def members(self) -> Iterator[Member]:
        raise NotImplementedError

    def open(self, member: Member) -> MemberReader:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ZipReader(ArchiveReader):
    kind = ArchiveKind.ZIP

    def __init__(self, file: IO[bytes], budget: Budget) -> None:
        try:
            self.zf = zipfile.ZipFile(file)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ArchiveRejected(ArchiveCode.CORRUPT, f"not a readable ZIP archive ({exc})") from exc
        self.budget = budget
        self.skipped = 0

    def members(self) -> Iterator[Member]:
        # The whole central directory first: a bomb or an oversize archive is refused before any
        # member is decompressed. Sizes here are claims; `MemberReader` enforces them on the bytes.
        return iter(self._scan())

    def _scan(self) -> list[Member]:
        limits = self.budget.limits
        members: list[Member] = []
        total = 0
        for index, info in enumerate(self.zf.infolist()):
            name = decode_name(info)
            if info.is_dir() or name.endswith(("/", "\\")) or is_junk(name):
                self.skipped += 1
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
            else:
                error = _size_error(name, info.file_size, limits)
            if error is None:
                total += info.file_size
            members.append(
                Member(index, name, size=info.file_size, compressed=info.compress_size, ref=info, error=error)
            )
            self.budget.take_member()
            if total > self.budget.bytes:
                raise ArchiveRejected(
                    ArchiveCode.TOO_LARGE,
                    f"the members add up to more than {limits.max_total_bytes} bytes uncompressed",
                )
        return members

    def open(self, member: Member) -> MemberReader:
        assert isinstance(member.ref, zipfile.ZipInfo)
        try:
            stream = self.zf.open(member.ref)
        # its local header disagrees with the central directory, or lies before the start of the file
        # (a negative seek: ValueError in memory, OSError EINVAL in the worker's spool file)
        except (zipfile.BadZipFile, ValueError, OSError) as exc:
            raise MemberRejected(ArchiveCode.CORRUPT, f"{member.name!r}: {exc}") from exc
        except RuntimeError as exc:  # encrypted without saying so in the flags we checked
            raise MemberRejected(ArchiveCode.ENCRYPTED, f"{member.name!r}: {exc}") from exc
        except NotImplementedError as exc:
            raise MemberRejected(ArchiveCode.UNSUPPORTED_COMPRESSION, f"{member.name!r}: {exc}") from exc
        return MemberReader(stream, member, self.budget)

    def close(self) -> None:
        self.zf.close()


class TarStream:
    """The tar bytes of an archive file, gunzipped if need be, read forward only.

    Everything that comes out counts, refused and skipped members too (a tar is read through to reach
    the next header): more than the archive's total, or a gzip stream expanding more than the ratio
    allows (a tar.gz bomb), condemns the archive as soon as it is seen. Decompression is bounded to
    one chunk per step, so a bomb never sits in memory.
    """

    def __init__(self, raw: IO[bytes], limits: Limits, *, gzipped: bool) -> None:
        self._raw = raw
        self._limits = limits
        self._inflate = zlib.decompressobj(31) if gzipped else None
        self._input = b""
        self._buffer = b""
        self._pos = 0
        self.consumed = 0  # bytes of the file read
        self.produced = 0  # tar bytes given out
        # headers and padding: at most ~1.5 KiB per member beyond the members' own bytes
        self._cap = limits.max_total_bytes + 2048 * (limits.max_members + 2)

    def read(self, size: int = -1, /) -> bytes:
        # tarfile asks for a record (10 KiB) at a time: hand out slices of the last chunk, not copies
        # of what is left of it
        while size < 0 or len(self._buffer) - self._pos < size:
            more = self._more()
            if not more:
                break
            self._buffer, self._pos = self._buffer[self._pos :] + more, 0
        end = len(self._buffer) if size < 0 else self._pos + size
        out = self._buffer[self._pos : end]
        self._pos += len(out)
        return out

    def _read_raw(self) -> bytes:
        chunk = self._raw.read(CHUNK)
        self.consumed += len(chunk)
        return chunk

    def _more(self) -> bytes:
        out = self._inflated() if self._inflate is not None else self._read_raw()
        self.produced += len(out)
        limits = self._limits
        if self.produced > self._cap:
            raise ArchiveRejected(
                ArchiveCode.TOO_LARGE,
                f"the tar stream holds more than {limits.max_total_bytes} bytes uncompressed",
            )
        if (
            self._inflate is not None
            and self.produced > limits.ratio_min_bytes
            and self.produced > limits.max_ratio * max(self.consumed, 1)
        ):
            raise ArchiveRejected(
                ArchiveCode.TOO_LARGE,
                f"the gzip stream expands more than {limits.max_ratio:.0f}x ({self.consumed} → "
                f"{self.produced} bytes so far; a gzip bomb?)",
            )
        return out

    def _inflated(self) -> bytes:
        assert self._inflate is not None
        while True:
            if not self._input:
                self._input = self._read_raw()
                if not self._input:
                    if not self._inflate.eof:
                        raise ArchiveRejected(ArchiveCode.CORRUPT, "the gzip stream is truncated")
                    return b""
            if self._inflate.eof:
                # gzip members may follow each other (pigz, `cat a.gz b.gz`); anything else ends it
                if not self._input.startswith(GZIP_MAGIC):
                    self._input = b""
                    return b""
                self._inflate = zlib.decompressobj(31)
            try:
                out = self._inflate.decompress(self._input, CHUNK)
            except zlib.error as exc:
                raise ArchiveRejected(ArchiveCode.CORRUPT, f"damaged gzip data ({exc})") from exc
            self._input = self._inflate.unconsumed_tail or self._inflate.unused_data
            if out:
                return out

    def close(self) -> None:
        self._raw.close()


class TarReader(ArchiveReader):
    def __init__(self, file: IO[bytes], budget: Budget, *, gzipped: bool) -> None:
        self.kind = ArchiveKind.TAR_GZ if gzipped else ArchiveKind.TAR
        self.stream = TarStream(file, budget.limits, gzipped=gzipped)
        self.budget = budget
        self.skipped = 0
        try:
            # "r|": a forward-only stream; names as UTF-8 (PAX always is), raw bytes kept otherwise
            self.tf = tarfile.open(  # noqa: SIM115 (closed by `close`)
                fileobj=cast(IO[bytes], self.stream),  # read() is all tarfile asks of a stream
                mode="r|",
                encoding="utf-8",
                errors="surrogateescape",
            )
        except tarfile.TarError as exc:
            raise ArchiveRejected(ArchiveCode.CORRUPT, f"not a readable tar archive ({exc})") from exc

    def members(self) -> Iterator[Member]:
        limits = self.budget.limits
        index = 0
        while True:
            try:
                info = self.tf.next()
            except tarfile.TarError as exc:
                raise ArchiveRejected(
                    ArchiveCode.CORRUPT, f"damaged tar data after {index} entries ({exc})"
                ) from exc
            if info is None:
                return
            # stream order is all we need: keep memory flat over 10,000 entries (not in the stubs)
            self.tf.members.clear()  # type: ignore[attr-defined]
            name = _tar_name(info.name)
            position, index = index, index + 1
            if info.isdir() or is_junk(name):
                self.skipped += 1
                continue
            why = unsafe_path(name) or _special(info)
            error = (
                (ArchiveCode.UNSAFE_PATH, f"{name!r}: {why}") if why else _size_error(name, info.size, limits)
            )
            self.budget.take_member()
            yield Member(position, name, size=info.size, compressed=None, ref=info, error=error)

    def open(self, member: Member) -> MemberReader:
        assert isinstance(member.ref, tarfile.TarInfo)
        stream = self.tf.extractfile(member.ref)
        if stream is None:  # not a regular file; `members()` already refused those
            raise MemberRejected(ArchiveCode.UNSAFE_PATH, f"{member.name!r}: not a regular file")
        return MemberReader(stream, member, self.budget)

    def close(self) -> None:
        self.tf.close()


def _tar_name(name: str) -> str:
    """Names that were not UTF-8 (GNU tar on a GBK system) come back as surrogates: try GB18030."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return _decode_legacy(name.encode("utf-8", "surrogateescape"), name)
    return name


def _special(info: tarfile.TarInfo) -> str | None:
    """Why a tar entry is not a plain file to read (links could point anywhere; devices never end)."""
    if info.issym():
        return f"symbolic link to {info.linkname!r}"
    if info.islnk():
        return f"hard link to {info.linkname!r}"
    if info.ischr() or info.isblk():
        return "device file"
    if info.isfifo():
        return "FIFO"
    if not info.isreg():
        return f"not a regular file (type {info.type!r})"
    return None


def open_archive(file: IO[bytes], budget: Budget) -> ArchiveReader:
    """The reader for a seekable archive file, by its bytes; `ArchiveRejected` if it is none."""
    start = file.tell()
    head = file.read(HEAD_BYTES)
    file.seek(start)
    if head.startswith(GZIP_MAGIC):
        return TarReader(file, budget, gzipped=True)
    if _is_tar_header(head):
        return TarReader(file, budget, gzipped=False)
    # a ZIP, or one whose first header is damaged (zipfile reads the directory at the end)
    return ZipReader(file, budget)
