"""The legacy format (torch.save before 1.6, or `_use_new_zipfile_serialization=False`), and plain pickles.

Layout: pickles of the magic number, the protocol version and sys info; the object pickle (storages as persistent
ids); a pickle of the storage keys; then per storage an 8-byte little-endian element count and its raw bytes.
Storage offsets are found by reading those 8-byte counts and seeking past the data, never reading it.
"""

from __future__ import annotations

from typing import IO, Any

from ckpt_tui.dtypes import itemsize
from ckpt_tui.errors import InvalidCheckpointError, UnreadableError
from ckpt_tui.formats._pickled import build_checkpoint, no_storages, unpickle
from ckpt_tui.formats._records import StorageRef
from ckpt_tui.formats._unpickler import storage_from_pid
from ckpt_tui.model import Checkpoint, CheckpointFormat, Notice, NoticeCode, Severity, Storage

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


def read(path: str, f: IO[bytes], size: int) -> Checkpoint:
    f.seek(0)
    magic, unpickler = unpickle(f, path, no_storages)
    if magic != MAGIC_NUMBER:
        return _plain_pickle(path, f, size)
    protocol, _ = unpickle(f, path, no_storages, "protocol header")
    if protocol != PROTOCOL_VERSION:
        raise UnreadableError(f"legacy checkpoint with unknown protocol version {protocol!r}", path)
    unpickle(f, path, no_storages, "system info")
    refs: dict[str, StorageRef] = {}

    def persistent_load(pid: Any) -> StorageRef:
        ref = storage_from_pid(pid)
        return refs.setdefault(ref.key, ref)

    raw, unpickler = unpickle(f, path, persistent_load, "object pickle")
    keys, _ = unpickle(f, path, no_storages, "storage key list")
    offsets = _storage_offsets(path, f, size, keys, refs)

    def to_storage(ref: StorageRef) -> Storage:
        base = refs[ref.key]
        start = offsets[ref.key]
        if ref.view is None:
            return Storage(path, ref.key, ref.dtype, ref.numel, ref.location, offset=start)
        view_offset, view_numel = ref.view
        return Storage(
            path, ref.key, base.dtype, view_numel, ref.location, offset=start + view_offset * itemsize(base.dtype)
        )

    notice = Notice(
        NoticeCode.LEGACY_FORMAT,
        Severity.INFO,
        "legacy (pre-1.6) format: tensors cannot be memory-mapped by "
        "torch.load(mmap=True); ckpt-tui still reads them one at a time",
    )
    return build_checkpoint(path, CheckpointFormat.TORCH_LEGACY, size, raw, to_storage, unpickler, [notice])


def _storage_offsets(path: str, f: IO[bytes], size: int, keys: Any, refs: dict[str, StorageRef]) -> dict[str, int]:
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UnreadableError("corrupt legacy checkpoint: the storage key list is not a list of strings", path)
    offsets: dict[str, int] = {}
    pos = f.tell()
    for key in keys:
        if key not in refs:
            raise InvalidCheckpointError(f"storage '{key}' is listed but never used", path)
        f.seek(pos)
        count = f.read(8)
        if len(count) < 8:
            raise UnreadableError(f"truncated: storage '{key}' is missing", path)
        numel = int.from_bytes(count, "little")
        offsets[key] = pos + 8
        pos += 8 + numel * itemsize(refs[key].dtype)
        if numel < refs[key].numel or pos > size:
            raise UnreadableError(f"truncated or corrupt: storage '{key}' runs past the end of the file", path)
    missing = set(refs) - set(offsets)
    if missing:
        raise InvalidCheckpointError(f"storages {sorted(missing)[:3]} are used but not stored", path)
    return offsets


def _plain_pickle(path: str, f: IO[bytes], size: int) -> Checkpoint:
    """A pickle that is not a torch checkpoint (e.g. `pickle.dump(obj)`): shown all the same, safely."""
    f.seek(0)
    raw, unpickler = unpickle(f, path, no_storages)
    notice = Notice(NoticeCode.PLAIN_PICKLE, Severity.INFO, "a plain pickle, not written by torch.save")
    return build_checkpoint(path, CheckpointFormat.PICKLE, size, raw, no_storages, unpickler, [notice])
