"""The allow-list unpickler: reads a pickle's structure and runs nothing that the pickle names.

`find_class` is the only door through which a pickle reaches code. Here it never imports: the globals that torch
and numpy use to rebuild tensors and containers map to small builders of inert records, and every other name maps
to a generated stub class whose instances only record what they were given (arguments, state, items). Calling a
stub, setting its state or appending to it runs none of the named code, so `posix.system("...")` becomes a record
that reads `posix.system('...')`, and the reader can show it.

Builders return `NamedTuple`s: immutable and without `__dict__`, so a hostile BUILD opcode cannot alter them.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable
from typing import IO, Any, cast

from ckpt_tui.formats._builders import BUILDERS
from ckpt_tui.formats._records import Opaque, StorageRef, StorageType, check_key_depth, stub_class

# protocol 0-2 pickles name Python 2 modules; the stdlib maps them only in its own find_class, which we replace
PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg", "_codecs": "_codecs"}

PersistentLoad = Callable[[Any], StorageRef]


class CappedReader:
    """`read(n)` never asks the file for more than what is left: a pickle that lies about a length gets a short
    read (and an error), not an up-front allocation of the length it claims."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        position = file.tell()
        self._left = file.seek(0, 2) - position
        file.seek(position)

    def read(self, n: int = -1) -> bytes:
        data = self._file.read(self._left if n < 0 else min(n, self._left))
        self._left -= len(data)
        return data

    def readline(self) -> bytes:
        data = self._file.readline(self._left)
        self._left -= len(data)
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        view = memoryview(buffer)[: self._left]
        n = int(self._file.readinto(view))  # type: ignore[attr-defined]
        self._left -= n
        return n


class SafeUnpickler(pickle._Unpickler):
    """Unpickles with `BUILDERS` and inert stubs; remembers every global outside the allow-list.

    The pure-Python unpickler, deliberately: CPython's C unpickler sizes its memo array by the largest index a
    pickle names, so an 8-byte LONG_BINPUT can make it allocate and zero tens of GB (found by fuzzing: a 26 KB
    file took 36 s and 19.7 GB). Here the memo is a dict. It costs ~1 s per 100k tensors; big-tensor files have
    small pickles and do not notice.
    """

    read: Callable[[int], bytes]  # set by pickle._Unpickler.load
    append: Callable[[Any], None]
    stack: list[Any]

    def __init__(self, file: IO[bytes], persistent_load: PersistentLoad) -> None:
        # protocol-2 strings (SHORT_BINSTRING) decode as UTF-8, as torch.load's do (encoding="utf-8")
        super().__init__(file if isinstance(file, io.BytesIO) else CappedReader(file), encoding="utf-8")
        self._persistent_load = persistent_load
        self._stubs: dict[str, type[Opaque]] = {}
        self.unknown_globals: dict[str, int] = {}

    def find_class(self, module: str, name: str) -> Any:
        module = PY2_MODULES.get(module, module)
        builder = BUILDERS.get((module, name))
        if builder is not None:
            return builder
        qualname = f"{module}.{name}"
        self.unknown_globals[qualname] = self.unknown_globals.get(qualname, 0) + 1
        if qualname not in self._stubs:
            self._stubs[qualname] = stub_class(module, name)
        return self._stubs[qualname]

    def persistent_load(self, pid: Any) -> Any:
        return self._persistent_load(pid)

    def load_bytearray8(self) -> None:
        """BYTEARRAY8, reading before allocating: the stdlib's `bytearray(n)` first let an 8-byte length allocate
        and zero gigabytes (found by fuzzing)."""
        (n,) = struct.unpack("<Q", self.read(8))
        data = self.read(n)
        if len(data) < n:
            raise pickle.UnpicklingError("pickle data was truncated")
        self.append(bytearray(data))

    # Where the pickle hashes what it built (dict keys, set items), deep tuples are refused first: CPython hashes a
    # tuple by recursing in C without a depth check, so a key nested 1M deep kills the process (SIGSEGV). SETITEMS,
    # DICT, ADDITEMS and FROZENSET get the same check below the class.
    def load_setitem(self) -> None:
        check_key_depth(self.stack[-2])
        pickle._Unpickler.load_setitem(self)  # type: ignore[attr-defined]

    dispatch = {**pickle._Unpickler.dispatch, pickle.BYTEARRAY8[0]: cast(Any, load_bytearray8)}
    dispatch[pickle.SETITEM[0]] = cast(Any, load_setitem)


def _hashing(opcode: bytes, step: int) -> Any:
    original: Any = pickle._Unpickler.dispatch[opcode[0]]

    def load(self: SafeUnpickler) -> None:
        for item in self.stack[::step]:  # the items above the mark: keys (every other one) or set items
            check_key_depth(item)
        original(self)

    return load


for _op, _step in ((pickle.SETITEMS, 2), (pickle.DICT, 2), (pickle.ADDITEMS, 1), (pickle.FROZENSET, 1)):
    SafeUnpickler.dispatch[_op[0]] = _hashing(_op, _step)


def storage_from_pid(pid: Any) -> StorageRef:
    """Decode torch's persistent id: ('storage', type, key, location, numel[, view_metadata])."""
    if not (isinstance(pid, tuple) and len(pid) in (5, 6) and pid[0] == "storage"):
        raise pickle.UnpicklingError(f"unexpected persistent id {str(pid)[:80]}")
    storage_type, key, location, numel = pid[1:5]
    if not isinstance(storage_type, StorageType):
        raise pickle.UnpicklingError(f"storage type {storage_type!r} is not a torch storage class")
    if not isinstance(key, str | int) or not isinstance(location, str) or type(numel) is not int or numel < 0:
        raise pickle.UnpicklingError(f"malformed storage reference {str(pid)[:80]}")
    view = pid[5] if len(pid) == 6 else None
    if view is not None:
        view_key, view_offset, view_size = view
        if not all(type(v) is int and v >= 0 for v in (view_offset, view_size)):
            raise pickle.UnpicklingError("malformed storage view")
        return StorageRef(str(key), storage_type.dtype, numel, location, (view_offset, view_size))
    return StorageRef(str(key), storage_type.dtype, numel, location)
