"""Building test tar archives: plain files, and the links, devices and bombs an attacker writes."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib

# (name, bytes) for a regular file; (name, tarfile type, link target) for anything else
TarEntry = tuple[str, bytes] | tuple[str, bytes, str]


def make_tar(entries: list[TarEntry], *, gz: bool = False, encoding: str = "utf-8") -> bytes:
    """A GNU tar (names in `encoding`, as GNU tar writes the locale's bytes), gzip'd with `gz`."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT, encoding=encoding) as tf:
        for entry in entries:
            info = tarfile.TarInfo(entry[0])
            if len(entry) == 3:
                info.type, info.linkname = entry[1], entry[2]
                tf.addfile(info)
            elif entry[0].endswith("/"):
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(entry[1])
                tf.addfile(info, io.BytesIO(entry[1]))
    data = buf.getvalue()
    return gzip.compress(data, mtime=0) if gz else data


def tar_gz_bomb(uncompressed: int, name: str = "zeros.txt") -> bytes:
    """A tar.gz of one member of `uncompressed` zero bytes, compressed in chunks (~1000x smaller)."""
    header = tarfile.TarInfo(name)
    header.size = uncompressed
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [squeeze.compress(header.tobuf(format=tarfile.GNU_FORMAT))]
    chunk = bytes(1 << 20)
    left = uncompressed
    while left > 0:
        out.append(squeeze.compress(chunk[: min(left, len(chunk))]))
        left -= len(chunk)
    out.append(squeeze.compress(bytes(-uncompressed % 512 + 1024)))  # padding, end of archive
    out.append(squeeze.flush())
    return b"".join(out)
