"""A zip writer with every field in reach, for files that zipfile will not write (NUL names, directories that
disagree with local headers, names equal but for case), and a pickle assembler for torch-style data.pkl."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field


@dataclass
class Item:
    name: bytes
    data: bytes
    deflate: bool = False
    local_name: bytes | None = None  # what the local header says (default: name)
    in_directory: bool = True
    local_only: bool = False
    size_override: int | None = None  # what the directory claims the uncompressed size is
    crc_override: int | None = None
    payload: bytes | None = None  # ready-made deflate stream (implies deflate)
    flags: int = 0
    extra: bytes = b""  # the same extra field in the local header and the directory
    zip64: bool = False  # the directory's sizes and offset as 0xFFFFFFFF, the real ones in a zip64 extra field
    header: int = field(default=0, init=False)

    def stream(self) -> bytes:
        if self.payload is not None:
            return self.payload
        return zlib.compress(self.data)[2:-4] if self.deflate else self.data


def build_zip(items: list[Item], directory_order: list[int] | None = None) -> bytes:
    out = bytearray()
    for item in items:
        item.header = len(out)
        payload = item.stream()
        name = item.local_name if item.local_name is not None else item.name
        crc = zlib.crc32(item.data)
        out += struct.pack(
            "<4sHHHHHIIIHH",
            b"PK\x03\x04",
            20,
            item.flags,
            8 if item.deflate or item.payload is not None else 0,
            0,
            0,
            crc,
            len(payload),
            len(item.data),
            len(name),
            len(item.extra),
        )
        out += name + item.extra + payload
    start = len(out)
    listed = [items[i] for i in (directory_order or range(len(items)))]
    listed = [i for i in listed if i.in_directory and not i.local_only]
    for item in listed:
        payload_len = len(item.stream())
        size = item.size_override if item.size_override is not None else len(item.data)
        crc = item.crc_override if item.crc_override is not None else zlib.crc32(item.data)
        extra, header = item.extra, item.header
        if item.zip64:
            extra = struct.pack("<HHQQQ", 1, 24, size, payload_len, header) + extra
            size = payload_len = header = 0xFFFFFFFF
        out += struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            item.flags,
            8 if item.deflate or item.payload is not None else 0,
            0,
            0,
            crc,
            payload_len,
            size,
            len(item.name),
            len(extra),
            0,
            0,
            0,
            0,
            header,
        )
        out += item.name + extra
    end = len(out)
    out += struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(listed), len(listed), end - start, start, 0)
    return bytes(out)


def torch_items(
    data_pkl: bytes,
    storages: dict[str, bytes] | None = None,
    prefix: str = "archive",
    byteorder: bytes | None = b"little",
) -> list[Item]:
    p = prefix.encode()
    items = [Item(p + b"/data.pkl", data_pkl)]
    if byteorder is not None:
        items.append(Item(p + b"/byteorder", byteorder))
    items += [Item(p + b"/data/" + k.encode(), v) for k, v in (storages or {}).items()]
    items.append(Item(p + b"/version", b"3\n"))
    return items


# -- pickles ------------------------------------------------------------------------------------------------------


def s(text: str) -> bytes:  # BINUNICODE
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def g(module: str, name: str) -> bytes:  # GLOBAL
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def call(callee: bytes, *args: bytes) -> bytes:  # callee(*args) via REDUCE
    return callee + b"(" + b"".join(args) + b"tR"


def i(n: int) -> bytes:  # BININT / LONG1
    if 0 <= n < 2**31:
        return b"J" + struct.pack("<i", n)
    raw = n.to_bytes((n.bit_length() + 8) // 8, "little", signed=True)
    return b"\x8a" + bytes([len(raw)]) + raw


def ints(values: tuple[int, ...]) -> bytes:
    return b"(" + b"".join(i(v) for v in values) + b"t"


def pickle_of(body: bytes, proto: int = 2) -> bytes:
    return b"\x80" + bytes([proto]) + body + b"."


def storage(key: str | bytes, numel: int, cls: str = "FloatStorage", extra: bytes = b"") -> bytes:
    """torch's persistent id tuple ('storage', cls, key, 'cpu', numel[, extra]) + BINPERSID."""
    key_op = key if isinstance(key, bytes) else s(key)
    return b"(" + s("storage") + g("torch", cls) + key_op + s("cpu") + i(numel) + extra + b"tQ"


def tensor(store: bytes, offset: int, shape: tuple[int, ...], stride: tuple[int, ...]) -> bytes:
    return call(
        g("torch._utils", "_rebuild_tensor_v2"),
        store,
        i(offset),
        ints(shape),
        ints(stride),
        b"\x89",
        call(g("collections", "OrderedDict")),
    )


def mapping(pairs: list[tuple[bytes, bytes]]) -> bytes:
    return b"}(" + b"".join(k + v for k, v in pairs) + b"u"


def floats(*values: float) -> bytes:
    return struct.pack(f"<{len(values)}f", *values)


# -- the legacy (pre-1.6) format ----------------------------------------------------------------------------------

MAGIC = pickle_of(i(0x1950A86A20F9469CFC6C))
PROTOCOL = pickle_of(b"M\xe9\x03")


def legacy(body: bytes, storages: list[tuple[str, int, bytes]], sys_info: bytes = b"}") -> bytes:
    """magic, protocol, sys info, the object pickle, the key list, then (count, bytes) per storage."""
    keys = pickle_of(b"]" + b"(" + b"".join(s(k) for k, _, _ in storages) + b"e") if storages else pickle_of(b"]")
    data = b"".join(n.to_bytes(8, "little") + raw for _, n, raw in storages)
    return MAGIC + PROTOCOL + pickle_of(sys_info) + pickle_of(body) + keys + data


def legacy_view(key: str, numel: int, view_key: str, offset: int, size: int, cls: str = "FloatStorage") -> bytes:
    return storage(key, numel, cls, extra=b"(" + s(view_key) + i(offset) + i(size) + b"t")


def legacy_root(key: str, numel: int, cls: str = "FloatStorage") -> bytes:
    return storage(key, numel, cls, extra=b"N")


def tar_polyglot(body: bytes, storages: list[tuple[str, int, bytes]]) -> bytes:
    """A v7 tar header (no 'ustar' magic) whose name field holds the legacy format's first pickles, the object
    pickle swallowing the rest of the tar into a BINBYTES it then pops: tarfile and the pickle reader both accept
    it, and torch.load takes the tar."""
    start = MAGIC + PROTOCOL + pickle_of(b"}") + b"\x80\x02B"
    swallowed = 512 + 1024 - len(start) - 4
    header = bytearray(start + struct.pack("<I", swallowed))
    header += bytes(100 - len(header))
    header += b"0000644\0" + b"0000000\0" + b"0000000\0" + b"00000000000\0" + b"00000000000\0" + b" " * 8 + b"0"
    header += bytes(512 - len(header))
    header[148:156] = b"%06o\0 " % sum(header)
    rest = legacy(body, storages)[len(MAGIC + PROTOCOL + pickle_of(b"}")) + 2 :]  # object pickle without PROTO
    return bytes(header) + bytes(1024) + b"0" + rest
