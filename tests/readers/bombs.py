"""Compressed "bombs" for the bounded-memory tests and benchmarks: small files that
decompress to a few good lines and then one gigantic line (1 GiB by default).

The deflate stream is built once per size (about 3 s for 1 GiB) and wrapped as ``.gz``
and ``.zip`` by hand (the container headers are a few bytes; the checksums are those of
the real content), so the files are made without writing the gigabyte anywhere.
"""

from __future__ import annotations

import functools
import struct
import zlib
from pathlib import Path

_CHUNK = b"a" * (1 << 20)


@functools.lru_cache(maxsize=2)
def _deflate(head: bytes, mib: int) -> tuple[bytes, int, int]:
    """``(raw deflate, crc32, size)`` of ``head`` + ``mib`` MiB of 'a' + a line break."""
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [c.compress(head)]
    crc = zlib.crc32(head)
    for _ in range(mib):
        parts.append(c.compress(_CHUNK))
        crc = zlib.crc32(_CHUNK, crc)
    parts.append(c.compress(b"\n"))
    crc = zlib.crc32(b"\n", crc)
    parts.append(c.flush())
    return b"".join(parts), crc, len(head) + mib * len(_CHUNK) + 1


def gz_bomb(path: Path, head: bytes, mib: int = 1024) -> Path:
    """A ``.gz`` of ``head`` then a ``mib`` MiB line."""
    raw, crc, size = _deflate(head, mib)
    header = b"\x1f\x8b\x08\x00" + b"\x00" * 4 + b"\x00\xff"
    path.write_bytes(header + raw + struct.pack("<II", crc, size & 0xFFFFFFFF))
    return path


def zip_bomb(path: Path, head: bytes, mib: int = 1024, member: str = "data.csv") -> Path:
    """A ``.zip`` of one member: ``head`` then a ``mib`` MiB line (zip64 sizes)."""
    raw, crc, size = _deflate(head, mib)
    name = member.encode()
    extra = struct.pack("<HHQQ", 1, 16, size, len(raw))
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 8, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), len(extra))
    central_extra = struct.pack("<HHQQQ", 1, 24, size, len(raw), 0)
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 8, 0, 0, crc, 0xFFFFFFFF, 0xFFFFFFFF,
        len(name), len(central_extra), 0, 0, 0, 0, 0xFFFFFFFF,
    ) + name + central_extra
    body = local + name + extra + raw
    cd_offset = len(body)
    zip64_end = struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, 1, 1, len(central), cd_offset)
    locator = struct.pack("<IIQI", 0x07064B50, 0, cd_offset + len(central), 1)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), 0xFFFFFFFF, 0)
    path.write_bytes(body + central + zip64_end + locator + end)
    return path


def zst_bomb(path: Path, head: bytes, mib: int = 1024) -> Path:
    """A ``.zst`` of ``head`` then a ``mib`` MiB line (one frame, its size not in the header)."""
    import zstandard

    c = zstandard.ZstdCompressor(level=19).compressobj()
    parts = [c.compress(head)]
    for _ in range(mib):
        parts.append(c.compress(_CHUNK))
    parts.append(c.compress(b"\n"))
    parts.append(c.flush())
    path.write_bytes(b"".join(parts))
    return path


BOMBS = {"gz": gz_bomb, "zip": zip_bomb, "zst": zst_bomb}
