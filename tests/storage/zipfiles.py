"""Building test archives: what real Windows/macOS tools write, and what attackers write."""

from __future__ import annotations

import io
import struct
import zipfile

LOCAL, CENTRAL = b"PK\x03\x04", b"PK\x01\x02"


def make_zip(entries: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries:
            zf.writestr(name, data)  # a name ending in "/" is a directory entry
    return buf.getvalue()


def legacy_name(index: int, raw_name: bytes) -> str:
    """An ASCII placeholder as long as `raw_name`, to be swapped for it by `with_raw_names`."""
    stem = f"@{index}@"
    return stem + "x" * (len(raw_name) - len(stem))


def with_raw_names(data: bytes, names: dict[str, bytes]) -> bytes:
    """Swap placeholder names for raw bytes without the UTF-8 flag — as WinRAR/Windows Explorer
    write GBK names (zipfile itself would set the flag and write UTF-8)."""
    for placeholder, raw in names.items():
        assert len(placeholder.encode()) == len(raw)
        data = data.replace(placeholder.encode(), raw)
    return data


def set_flag(data: bytes, name: str, bit: int) -> bytes:
    """Set a general-purpose flag bit (e.g. 0x1, encrypted) on one member in both of its headers."""
    out = bytearray(data)
    raw = name.encode()
    for signature, flag_at, name_len_at, name_at in ((LOCAL, 6, 26, 30), (CENTRAL, 8, 28, 46)):
        pos = out.find(signature)
        while pos >= 0:
            length = struct.unpack_from("<H", out, pos + name_len_at)[0]
            if bytes(out[pos + name_at : pos + name_at + length]) == raw:
                flags = struct.unpack_from("<H", out, pos + flag_at)[0]
                struct.pack_into("<H", out, pos + flag_at, flags | bit)
            pos = out.find(signature, pos + 4)
    return bytes(out)


def zip_bomb(uncompressed: int, name: str = "zeros.txt") -> bytes:
    """`uncompressed` bytes of zeros in one deflated member, written in chunks (~1000x smaller)."""
    buf = io.BytesIO()
    chunk = bytes(1 << 20)
    with (
        zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf,
        zf.open(name, "w", force_zip64=True) as member,
    ):
        left = uncompressed
        while left > 0:
            member.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)
    return buf.getvalue()


def lying_sizes(data: bytes, name: str, declared: int) -> bytes:
    """Make both headers of a (non-zip64) member claim `declared` uncompressed bytes."""
    out = bytearray(data)
    raw = name.encode()
    for signature, size_at, name_len_at, name_at in ((LOCAL, 22, 26, 30), (CENTRAL, 24, 28, 46)):
        pos = out.find(signature)
        while pos >= 0:
            length = struct.unpack_from("<H", out, pos + name_len_at)[0]
            if bytes(out[pos + name_at : pos + name_at + length]) == raw:
                struct.pack_into("<I", out, pos + size_at, declared)
            pos = out.find(signature, pos + 4)
    return bytes(out)
