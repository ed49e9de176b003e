"""The torch zip format (torch.save since 1.6): `<archive>/data.pkl` plus one member per storage.

Read as torch.load reads it: every record through the central directory (see _zipdir.py), `data.pkl` from the
member the directory names, storages as `data/<key>`. Opening checks, from the directory alone (no tensor bytes
read), that every storage the pickle references exists and holds the bytes its tensors need.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import IO, Any

from ckpt_tui.dtypes import ITEMSIZE, itemsize
from ckpt_tui.errors import InvalidCheckpointError, UnreadableError, UnsupportedFormatError
from ckpt_tui.formats import source
from ckpt_tui.formats._entries import make_storage
from ckpt_tui.formats._pickled import build_checkpoint, unpickle
from ckpt_tui.formats._records import StorageRef
from ckpt_tui.formats._unpickler import storage_from_pid
from ckpt_tui.formats._zipdir import STORED, ZipDirectory, member_start, read_directory, read_member
from ckpt_tui.model import Checkpoint, CheckpointFormat, Notice, NoticeCode, Severity, Storage

BYTEORDER_LIMIT = 64


def read(path: str, f: IO[bytes], size: int) -> Checkpoint:
    directory = read_directory(path, f, size)
    _cache_directory(path, directory)
    member = directory.find("data.pkl")
    if member is None:
        raise UnreadableError("is a zip archive but not a PyTorch checkpoint (no data.pkl)", path)
    _check_byteorder(path, f, size, directory)
    pickle_file = io.BytesIO(read_member(path, f, member, size))
    seen: dict[str, StorageRef] = {}

    def persistent_load(pid: Any) -> StorageRef:
        if type(pid) is not tuple or len(pid) != 5 or type(pid[2]) is not str:  # the checks, when one may fail
            if isinstance(pid, tuple) and len(pid) != 5:  # torch unpacks exactly (typename, type, key, loc, numel)
                raise InvalidCheckpointError(f"storage reference with {len(pid)} fields (torch.load expects 5)", path)
            if isinstance(pid, tuple) and not isinstance(pid[2], str):
                raise InvalidCheckpointError(f"storage key {str(pid[2])[:40]} is not a string", path)
        ref = storage_from_pid(pid)
        first = seen.get(ref.key)
        if first is None or first.numel == 0:  # torch keeps a loaded storage, but reloads an empty one each time
            seen[ref.key] = first = ref
        return first

    raw, unpickler = unpickle(pickle_file, path, persistent_load, "data.pkl")
    prefix = directory.archive + "/"

    def to_storage(ref: StorageRef) -> Storage:
        key, dtype, numel, location, _ = ref
        return make_storage(path, key, dtype, numel, location, f"{prefix}data/{key}")

    notices: list[Notice] = []
    fmt = CheckpointFormat.TORCH_ZIP
    script = any(name.startswith("__torch__.") for name in unpickler.unknown_globals)
    if script or _has_record(directory, "constants.pkl"):  # what torch.load dispatches to torch.jit.load
        fmt = CheckpointFormat.TORCHSCRIPT
        notices.append(
            Notice(
                NoticeCode.TORCHSCRIPT,
                Severity.INFO,
                "a TorchScript archive (torch.load hands it to torch.jit.load): its code is not run; "
                "parameters are shown from data.pkl",
            )
        )
    ckpt = build_checkpoint(path, fmt, size, raw, to_storage, unpickler, notices)
    check_storages(path, ckpt, directory, seen)
    return ckpt


def _has_record(directory: ZipDirectory, record: str) -> bool:
    """`record in directory.records()` (torch's get_all_records, compared with case) without listing 100k names."""
    member = directory.find(record)
    return member is not None and member.name == f"{directory.archive}/{record}"


def _check_byteorder(path: str, f: IO[bytes], size: int, directory: ZipDirectory) -> None:
    """torch byte-swaps storages whose `byteorder` record says `big`; values here are read as little-endian."""
    member = directory.find("byteorder")
    if member is None:
        return
    value = read_member(path, f, member, size, BYTEORDER_LIMIT) if member.size <= BYTEORDER_LIMIT else b"?"
    if value == b"big":
        raise UnsupportedFormatError(
            "was saved on a big-endian machine (byteorder record 'big'): torch.load byte-swaps its tensors, "
            "which ckpt-tui does not do; load and re-save it with torch.save on a little-endian machine",
            path,
        )
    if value != b"little":
        raise InvalidCheckpointError(
            f"unknown byteorder record {value[:16]!r}; torch.load refuses it (expects 'little' or 'big')", path
        )


def check_storages(path: str, ckpt: Checkpoint, directory: ZipDirectory, refs: dict[str, StorageRef]) -> None:
    """Every storage the pickle names is a member holding at least the bytes it declares (and so every tensor,
    whose extent was checked against its storage); read from the directory, no tensor bytes."""
    if _storages_present(directory, refs):
        return  # the common case, in one lean pass; else the passes below name the first tensor that fails
    checked: set[str] = set()
    prefix = f"{directory.archive}/data/".encode("utf-8", "surrogateescape").lower()
    members = directory.members
    for name, info in ckpt.tensors.items():  # the fast path: one dict lookup per storage (100k: ~0.05 s)
        storage = info.storage
        if storage.member is None or storage.key in checked:
            continue
        found = members.get(prefix + storage.key.encode("utf-8", "surrogateescape").lower())
        if found is None or found[5] < storage.nbytes or "\0" in storage.key:
            _check_member(path, directory, f"data/{storage.key}", storage.nbytes, f"tensor '{name}'")
        checked.add(storage.key)
    for key, ref in refs.items():
        if key not in checked:
            nbytes = ref.numel * itemsize(ref.dtype)
            _check_member(path, directory, f"data/{key}", nbytes, f"storage '{key}'")


def _storages_present(directory: ZipDirectory, refs: dict[str, StorageRef]) -> bool:
    """Whether every referenced storage is a member holding its bytes (a tensor view of another dtype needs no
    more bytes than its storage: see EntryBuilder._storage)."""
    prefix = f"{directory.archive}/data/".encode("utf-8", "surrogateescape").lower()
    members = directory.members
    for key, ref in refs.items():
        found = members.get(prefix + key.encode("utf-8", "surrogateescape").lower())
        if found is None or found[5] < ref.numel * ITEMSIZE.get(ref.dtype, 1) or "\0" in key:
            return False
    return True


def _check_member(path: str, directory: ZipDirectory, record: str, nbytes: int, what: str) -> None:
    if "\0" in record:
        raise InvalidCheckpointError(f"{what}: its storage key has a NUL byte; torch.load would cut it", path)
    member = directory.find(record)
    if member is None:
        raise InvalidCheckpointError(f"{what}: its storage {record!r} is missing from the archive", path)
    if member.size < nbytes:
        raise InvalidCheckpointError(
            f"{what}: its storage {record!r} holds {member.size:,} bytes but the tensor needs {nbytes:,}", path
        )


_DIRECTORIES: dict[tuple[str, int, int], ZipDirectory] = {}  # the last few files opened, for their data access


def _cache_directory(path: str, directory: ZipDirectory) -> None:
    size, stamp = source.version(path)
    while len(_DIRECTORIES) >= 8:
        del _DIRECTORIES[next(iter(_DIRECTORIES))]
    _DIRECTORIES[(path, size, stamp)] = directory


def member_range(path: str, member: str) -> tuple[int, int]:
    """(absolute offset, length) of a stored member's bytes."""
    return _member_range(path, member, *source.version(path))


@lru_cache(maxsize=4096)
def _member_range(path: str, member: str, size: int, mtime_ns: int) -> tuple[int, int]:
    directory = _DIRECTORIES.get((path, size, mtime_ns))
    if directory is None:
        with source.open_binary(path) as f:
            directory = read_directory(path, f, size)
        _DIRECTORIES[(path, size, mtime_ns)] = directory
    found = directory.find_name(member)
    if found is None:
        raise InvalidCheckpointError(f"storage '{member}' is referenced by data.pkl but missing from the archive", path)
    if found.method != STORED:
        raise UnsupportedFormatError(f"storage '{found.name}' is compressed; re-save it with torch.save", path)
    with source.open_binary(path) as f:
        return member_start(path, f, found, size), found.size
