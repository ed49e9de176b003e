"""The legacy format (torch.save before 1.6, or `_use_new_zipfile_serialization=False`), and plain pickles.

Layout: pickles of the magic number, the protocol version and sys info; the object pickle (storages as persistent
ids); a pickle of the storage keys; then per storage an 8-byte little-endian element count and its raw bytes.
Storage offsets are found by reading those 8-byte counts and seeking past the data, never reading it.

Storage references resolve as torch's `_legacy_load` resolves them: the first reference to a key fixes its type
and size, a view (`view_metadata`) is defined by its first reference and cut to its root's bytes, and a view key
that is also a storage key (which torch resolves in order-dependent ways) is refused.
"""

from __future__ import annotations

from typing import IO, Any

from ckpt_tui.dtypes import itemsize
from ckpt_tui.errors import InvalidCheckpointError, UnreadableError
from ckpt_tui.formats._pickled import build_checkpoint, no_storages, unpickle
from ckpt_tui.formats._records import StorageRef
from ckpt_tui.formats._unpickler import AllowList, storage_from_pid
from ckpt_tui.model import Checkpoint, CheckpointFormat, Notice, NoticeCode, Severity, Storage

MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
PROTOCOL_VERSION = 1001


class _References:
    """torch's `persistent_load` for the legacy format, over records: roots by key, views by view key."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.roots: dict[str, StorageRef] = {}
        self.views: dict[str, StorageRef] = {}

    def __call__(self, pid: Any) -> StorageRef:
        if not (isinstance(pid, tuple) and len(pid) == 6):
            raise InvalidCheckpointError("legacy storage reference without its 6 fields", self.path)
        if not isinstance(pid[2], str):
            raise InvalidCheckpointError(f"storage key {str(pid[2])[:40]} is not a string", self.path)
        ref = storage_from_pid(pid[:5])
        root = self.roots.setdefault(ref.key, ref)
        if root.numel == 0:  # torch gives an empty storage the type of each reference
            root = ref._replace(numel=0)
        return root if pid[5] is None else self._view(ref, root, pid[5])

    def _view(self, ref: StorageRef, root: StorageRef, view: Any) -> StorageRef:
        if not (isinstance(view, tuple) and len(view) == 3 and isinstance(view[0], str)):
            raise InvalidCheckpointError("malformed legacy storage view", self.path)
        view_key, offset, size = view
        if not all(type(v) is int and v >= 0 for v in (offset, size)):
            raise InvalidCheckpointError("malformed legacy storage view", self.path)
        if view_key in self.views:
            return self.views[view_key]
        element = itemsize(ref.dtype)
        root_bytes = root.numel * itemsize(root.dtype)
        start = min(offset * element, root_bytes)  # torch slices the root's bytes, and a slice is cut to fit
        numel = min(size * element, root_bytes - start) // element
        self.views[view_key] = StorageRef(root.key, ref.dtype, numel, ref.location, (start, numel))
        return self.views[view_key]

    def check_keys(self) -> None:
        clash = sorted(set(self.views) & set(self.roots))
        if clash:
            raise InvalidCheckpointError(
                f"legacy storage view key {clash[0]!r} is also a storage key; torch resolves it by order", self.path
            )


def read(path: str, f: IO[bytes], size: int) -> Checkpoint:
    f.seek(0)
    magic, unpickler = unpickle(f, path, no_storages)
    if magic != MAGIC_NUMBER:
        return _plain_pickle(path, f, size)
    side = [unpickler]
    protocol, header = unpickle(f, path, no_storages, "protocol header")
    if protocol != PROTOCOL_VERSION:
        raise UnreadableError(f"legacy checkpoint with unknown protocol version {protocol!r}", path)
    side += [header, unpickle(f, path, no_storages, "system info")[1]]
    refs = _References(path)
    raw, unpickler = unpickle(f, path, refs, "object pickle")
    refs.check_keys()
    keys, key_unpickler = unpickle(f, path, no_storages, "storage key list")
    offsets = _storage_offsets(path, f, size, keys, refs)
    _report_side_globals(unpickler, [*side, key_unpickler])

    def to_storage(ref: StorageRef) -> Storage:
        start = offsets[ref.key]
        if ref.view is None:
            return Storage(path, ref.key, ref.dtype, ref.numel, ref.location, offset=start)
        byte_offset, numel = ref.view
        return Storage(path, f"{ref.key}@{byte_offset}", ref.dtype, numel, ref.location, offset=start + byte_offset)

    notice = Notice(
        NoticeCode.LEGACY_FORMAT,
        Severity.INFO,
        "legacy (pre-1.6) format: tensors cannot be memory-mapped by "
        "torch.load(mmap=True); ckpt-tui still reads them one at a time",
    )
    return build_checkpoint(path, CheckpointFormat.TORCH_LEGACY, size, raw, to_storage, unpickler, [notice])


def _report_side_globals(main: AllowList, side: list[AllowList]) -> None:
    """Globals in the small pickles around the object pickle would run under torch.load too: report them all."""
    for other in side:
        for name, n in other.unknown_globals.items():
            main.unknown_globals[name] = main.unknown_globals.get(name, 0) + n


def _storage_offsets(path: str, f: IO[bytes], size: int, keys: Any, refs: _References) -> dict[str, int]:
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UnreadableError("corrupt legacy checkpoint: the storage key list is not a list of strings", path)
    offsets: dict[str, int] = {}
    pos = f.tell()
    for key in keys:
        if key not in refs.roots:
            raise InvalidCheckpointError(f"storage '{key}' is listed but never used", path)
        f.seek(pos)
        count = f.read(8)
        if len(count) < 8:
            raise UnreadableError(f"truncated: storage '{key}' is missing", path)
        numel = int.from_bytes(count, "little")
        offsets[key] = pos + 8  # a key listed twice is read twice by torch: the last copy wins, as here
        pos += 8 + numel * itemsize(refs.roots[key].dtype)
        if pos > size:
            raise UnreadableError(f"truncated or corrupt: storage '{key}' runs past the end of the file", path)
        if numel != refs.roots[key].numel:
            raise InvalidCheckpointError(
                f"storage '{key}' holds {numel} elements but is declared with {refs.roots[key].numel}; "
                "torch.load refuses that",
                path,
            )
    missing = set(refs.roots) - set(offsets)
    if missing:
        raise InvalidCheckpointError(f"storages {sorted(missing)[:3]} are used but not stored", path)
    return offsets


def _plain_pickle(path: str, f: IO[bytes], size: int) -> Checkpoint:
    """A pickle that is not a torch checkpoint (e.g. `pickle.dump(obj)`): shown all the same, safely."""
    f.seek(0)
    raw, unpickler = unpickle(f, path, no_storages)
    notice = Notice(NoticeCode.PLAIN_PICKLE, Severity.INFO, "a plain pickle, not written by torch.save")
    return build_checkpoint(path, CheckpointFormat.PICKLE, size, raw, no_storages, unpickler, [notice])
