"""The torch zip format (torch.save since 1.6): `<archive>/data.pkl` plus one member per storage.

torch writes `data.pkl` first, uncompressed, so it is unpickled in place straight from the local header; the
central directory (1.2 s for 100k members) is parsed only when a tensor's bytes are first needed.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from functools import lru_cache
from typing import IO, Any

from ckpt_tui.errors import InvalidCheckpointError, UnreadableError, UnsupportedFormatError
from ckpt_tui.formats._entries import make_storage
from ckpt_tui.formats._pickled import build_checkpoint, unpickle
from ckpt_tui.formats._records import StorageRef
from ckpt_tui.formats._unpickler import storage_from_pid
from ckpt_tui.model import Checkpoint, CheckpointFormat, Notice, NoticeCode, Severity, Storage

LOCAL_HEADER = struct.Struct("<4sHHHIIIIHH")
ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    NotImplementedError,
    struct.error,
    UnicodeDecodeError,
    OverflowError,
    OSError,
)
CENTRAL_HEADER = struct.Struct("<4sHHHHHHIIIHHHHHII")
STORED = 0


def read(path: str, f: IO[bytes], size: int) -> Checkpoint:
    _check_not_truncated(path, f, size)
    prefix, pickle_file = _open_data_pkl(path, f)
    if isinstance(pickle_file, io.BufferedReader):  # the fast path read the first local header: check it is the one
        length = _check_single_data_pkl(path, f, size, f"{prefix}data.pkl")
        f.seek(_data_start(f))
        pickle_file = io.BytesIO(f.read(length))
    seen: dict[str, StorageRef] = {}

    def persistent_load(pid: Any) -> StorageRef:
        ref = storage_from_pid(pid)
        return seen.setdefault(ref.key, ref)

    raw, unpickler = unpickle(pickle_file, path, persistent_load, "data.pkl")

    def to_storage(ref: StorageRef) -> Storage:
        return make_storage(path, ref.key, ref.dtype, ref.numel, ref.location, f"{prefix}data/{ref.key}")

    notices: list[Notice] = []
    fmt = CheckpointFormat.TORCH_ZIP
    if any(name.startswith("__torch__.") for name in unpickler.unknown_globals):
        fmt = CheckpointFormat.TORCHSCRIPT
        notices.append(
            Notice(
                NoticeCode.TORCHSCRIPT,
                Severity.INFO,
                "a TorchScript archive: its code is not run; parameters are shown from data.pkl",
            )
        )
    return build_checkpoint(path, fmt, size, raw, to_storage, unpickler, notices)


def _check_not_truncated(path: str, f: IO[bytes], size: int) -> None:
    """A zip ends with its central directory: without an end record, the tail of the file is gone."""
    tail_len = min(size, 65_557)  # end record (22 bytes) + the longest possible comment
    f.seek(size - tail_len)
    if b"PK\x05\x06" not in f.read(tail_len):
        raise UnreadableError("truncated or corrupt zip: the central directory at its end is missing", path)


def _data_start(f: IO[bytes]) -> int:
    f.seek(0)
    *_, name_len, extra_len = LOCAL_HEADER.unpack(f.read(LOCAL_HEADER.size))
    return LOCAL_HEADER.size + int(name_len) + int(extra_len)


def _check_single_data_pkl(path: str, f: IO[bytes], size: int, name: str) -> int:
    """The central directory (what torch reads) must name data.pkl once, at the local header we read; its size.

    Two entries with one name are how a file shows one pickle to a scanner and another to torch.load. The
    directory is searched as bytes for the name, not parsed record by record: 100k members stay cheap.
    """
    try:
        directory = _central_directory(path, f, size)
    except ZIP_ERRORS as e:
        raise UnreadableError(f"corrupt zip: its central directory cannot be read ({e})", path) from None
    encoded = name.encode()
    hits = []
    start = directory.find(encoded)
    while start != -1:
        record = start - CENTRAL_HEADER.size
        if record >= 0 and directory[record : record + 4] == b"PK\x01\x02":
            fields = CENTRAL_HEADER.unpack_from(directory, record)
            if fields[10] == len(encoded):
                hits.append((fields[16], fields[9]))
        start = directory.find(encoded, start + 1)
    if len(hits) != 1:
        raise InvalidCheckpointError(f"the zip names {name!r} {len(hits)} times; loaders would disagree on it", path)
    offset, length = hits[0]
    if offset not in (0, 0xFFFFFFFF):
        raise InvalidCheckpointError(f"the zip's directory points {name!r} elsewhere than its first entry", path)
    return length if length != 0xFFFFFFFF else size  # zip64: the size is in an extra field; read up to STOP


def _central_directory(path: str, f: IO[bytes], size: int) -> bytes:
    tail_len = min(size, 65_557)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    end = tail.rfind(b"PK\x05\x06")
    cd_size, cd_offset = struct.unpack_from("<II", tail, end + 12)
    if 0xFFFFFFFF in (cd_size, cd_offset):  # zip64: the locator just before the end record gives the real one
        locator = tail.rfind(b"PK\x06\x07", 0, end)
        (zip64_end,) = struct.unpack_from("<Q", tail, locator + 8)
        f.seek(zip64_end)
        record = f.read(56)
        cd_size, cd_offset = struct.unpack_from("<QQ", record, 40)
    if cd_offset + cd_size > size:
        raise UnreadableError("corrupt zip: its central directory lies past the end of the file", path)
    f.seek(cd_offset)
    return f.read(cd_size)


def _open_data_pkl(path: str, f: IO[bytes]) -> tuple[str, IO[bytes]]:
    """(archive prefix, a file positioned at data.pkl). Fast path: data.pkl is the first, stored member."""
    f.seek(0)
    header = f.read(LOCAL_HEADER.size)
    if len(header) == LOCAL_HEADER.size:
        sig, _, _, method, _, _, _, _, name_len, extra_len = LOCAL_HEADER.unpack(header)
        name = f.read(name_len).decode("utf-8", "replace")
        if sig == b"PK\x03\x04" and method == STORED and _is_data_pkl(name):
            f.seek(LOCAL_HEADER.size + name_len + extra_len)
            return name[: -len("data.pkl")], f
    return _open_data_pkl_slow(path, f)


def _open_data_pkl_slow(path: str, f: IO[bytes]) -> tuple[str, IO[bytes]]:
    f.seek(0)
    try:
        archive = zipfile.ZipFile(f)
        names = [n for n in archive.namelist() if _is_data_pkl(n)]
        if not names:
            raise UnreadableError("is a zip archive but not a PyTorch checkpoint (no data.pkl)", path)
        name = min(names, key=len)
        return name[: -len("data.pkl")], io.BytesIO(archive.read(name))
    except ZIP_ERRORS as e:
        raise UnreadableError(f"corrupt or truncated zip archive ({e})", path) from None


def _is_data_pkl(name: str) -> bool:
    return name == "data.pkl" or (name.endswith("/data.pkl") and name.count("/") == 1)


def member_range(path: str, member: str) -> tuple[int, int]:
    """(absolute offset, length) of a stored member's bytes."""
    st = os.stat(path)
    offsets = _member_offsets(path, st.st_size, st.st_mtime_ns)
    if member not in offsets:
        raise InvalidCheckpointError(f"storage '{member}' is referenced by data.pkl but missing from the archive", path)
    return offsets[member]


@lru_cache(maxsize=8)
def _member_offsets(path: str, size: int, mtime_ns: int) -> dict[str, tuple[int, int]]:
    """Central directory -> {name: (data offset, size)}; cached per file version."""
    out: dict[str, tuple[int, int]] = {}
    try:
        with open(path, "rb") as f, zipfile.ZipFile(f) as archive:
            for info in archive.infolist():
                if info.filename in out:
                    raise InvalidCheckpointError(f"zip member '{info.filename}' appears twice", path)
                if "/data/" in info.filename:
                    out[info.filename] = (_data_offset(f, info, path, size), info.file_size)
    except ZIP_ERRORS as e:
        raise UnreadableError(f"corrupt or truncated zip archive ({e})", path) from None
    return out


def _data_offset(f: IO[bytes], info: zipfile.ZipInfo, path: str, size: int) -> int:
    if info.compress_type != STORED:
        raise UnsupportedFormatError(f"storage '{info.filename}' is compressed; re-save it with torch.save", path)
    f.seek(info.header_offset)
    header = f.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size or header[:4] != b"PK\x03\x04":
        raise UnreadableError(f"corrupt zip: bad local header for '{info.filename}'", path)
    *_, name_len, extra_len = LOCAL_HEADER.unpack(header)
    start = info.header_offset + LOCAL_HEADER.size + name_len + extra_len
    if start + info.file_size > size:
        raise InvalidCheckpointError(f"storage '{info.filename}' runs past the end of the file (truncated?)", path)
    return int(start)
