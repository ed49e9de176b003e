"""The allow-list unpickler: reads a pickle's structure and runs nothing that the pickle names.

`find_class` is the only door through which a pickle reaches code. Here it never imports: the globals that torch
and numpy use to rebuild tensors and containers map to small builders of inert records, and every other name maps
to a generated stub class whose instances only record what they were given (arguments, state, items). Calling a
stub, setting its state or appending to it runs none of the named code, so `posix.system("...")` becomes a record
that reads `posix.system('...')`, and the reader can show it.

Builders return `NamedTuple`s: immutable and without `__dict__`, so a hostile BUILD opcode cannot alter them.

Two unpicklers share that allow-list. `SafeUnpickler` is the stdlib's pure-Python one (a dict memo, reads before
it allocates): it reads anything, at ~1.5 s per 100k tensors. `fast_load` runs CPython's C unpickler (~10x faster)
only on a pickle that `vouch` has scanned first, at C speed (one regular expression), and found made only of the
binary opcodes the two unpicklers treat alike, with every memo index below half the pickle's length (the C
unpickler sizes its memo array by the largest index it is given: the memo bomb) and every counted length within the
pickle (the BYTEARRAY8 allocation). Anything it cannot vouch for, and any error on the way, goes to `SafeUnpickler`,
so a file reads to exactly what it read before, or fails with exactly the same error.
"""

from __future__ import annotations

import io
import pickle
import re
import struct
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import IO, Any, cast

from ckpt_tui.formats._builders import BUILDERS, CHECKED_ORDERED_DICT, ORDERED_DICT, torch_refuses
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


class AllowList:
    """`find_class` for both unpicklers: `BUILDERS`, else an inert stub; remembers every global outside the list."""

    _stubs: dict[str, type[Opaque]]
    unknown_globals: dict[str, int]
    off_allowlist: dict[str, int]  # read as torch reads them, but outside torch's weights-only allowlist

    def find_class(self, module: str, name: str) -> Any:
        module = PY2_MODULES.get(module, module)
        builder = BUILDERS.get((module, name))
        if builder is not None:
            if torch_refuses(module, name):
                self.off_allowlist[f"{module}.{name}"] = self.off_allowlist.get(f"{module}.{name}", 0) + 1
            return builder
        qualname = f"{module}.{name}"
        self.unknown_globals[qualname] = self.unknown_globals.get(qualname, 0) + 1
        if qualname not in self._stubs:
            self._stubs[qualname] = stub_class(module, name)
        return self._stubs[qualname]


class SafeUnpickler(AllowList, pickle._Unpickler):
    """Unpickles anything with the allow-list: the pure-Python unpickler, whose memo is a dict.

    CPython's C unpickler sizes its memo array by the largest index a pickle names, so a 4-byte LONG_BINPUT can
    make it allocate and zero tens of GB (found by fuzzing: a 26 KB file took 36 s and 19.7 GB); it runs here only
    behind `vouch` (see `fast_load`). This one costs ~1.5 s per 100k tensors.
    """

    read: Callable[[int], bytes]  # set by pickle._Unpickler.load
    append: Callable[[Any], None]
    stack: list[Any]

    def __init__(self, file: IO[bytes], persistent_load: PersistentLoad) -> None:
        # protocol-2 strings (SHORT_BINSTRING) decode as UTF-8, as torch.load's do (encoding="utf-8")
        super().__init__(file if isinstance(file, io.BytesIO) else CappedReader(file), encoding="utf-8")
        self._persistent_load = persistent_load
        self._stubs = {}
        self.unknown_globals = {}
        self.off_allowlist = {}

    def persistent_load(self, pid: Any) -> Any:
        return self._persistent_load(pid)

    def find_class(self, module: str, name: str) -> Any:
        found = AllowList.find_class(self, module, name)
        return CHECKED_ORDERED_DICT if found is ORDERED_DICT else found

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


def _nothing_to_add(opcode: bytes) -> Any:
    """APPENDS/ADDITEMS with nothing above the mark do nothing, as in CPython's C unpickler (which returns before
    looking at the target), where the stdlib's Python one first looks up `.append`/`.add` and can fail: the two
    unpicklers must agree on every pickle (found by the fast path's property test)."""
    original: Any = SafeUnpickler.dispatch[opcode[0]]

    def load(self: SafeUnpickler) -> None:
        if not self.stack:  # the stack since the mark is empty
            self.pop_mark()  # type: ignore[attr-defined]
            return
        original(self)

    return load


for _op in (pickle.APPENDS, pickle.ADDITEMS):
    SafeUnpickler.dispatch[_op[0]] = _nothing_to_add(_op)


# -- the fast path: CPython's C unpickler, behind a scan that vouches for the pickle ------------------------------

C_UNPICKLER: Any = None if pickle.Unpickler is cast(Any, pickle._Unpickler) else pickle.Unpickler
FAST_MIN_BYTES = 256 * 1024  # smaller pickles read in milliseconds either way: not worth compiling the scanner
LONGEST_INLINE = 128  # strings up to this length are skipped inside the expression; longer ones one at a time
STOP = pickle.STOP[0]


class FastUnpickler(AllowList, pickle.Unpickler):
    """The C unpickler with the same allow-list; run only on pickles `vouch` accepts."""

    def __init__(self, file: IO[bytes], persistent_load: PersistentLoad) -> None:
        super().__init__(file, encoding="utf-8")  # as torch.load decodes protocol-2 strings
        self.persistent_load = persistent_load  # type: ignore[method-assign] # called directly: no extra frame
        self._stubs = {}
        self.unknown_globals = {}
        self.off_allowlist = {}


def fast_load(data: bytes, persistent_load: PersistentLoad) -> tuple[Any, AllowList] | None:
    """Unpickle `data` with the C unpickler if `vouch` accepts it; None when it does not or when anything fails
    (the caller then reads it with `SafeUnpickler`, which decides what the file is: a result or an error)."""
    if C_UNPICKLER is None or len(data) < FAST_MIN_BYTES or vouch(data) is None:
        return None
    unpickler = FastUnpickler(io.BufferedReader(io.BytesIO(data), 1 << 20), persistent_load)
    try:
        result = on_deep_stack(unpickler.load, nesting_bound(data))
        unpickler.memo.clear()  # the memo holds every intermediate object (argument tuples, ids): free them now
        return result, unpickler
    except Exception:  # noqa: BLE001 - any error: the pure-Python unpickler reads it again and owns the outcome
        return None


STACK_PER_LEVEL = 256  # bytes of C stack one level of tuple hashing takes, with room (measured: 1M levels in 256 MB)
# the opcodes that make an object another can be nested in and hashed through: the tuples, FROZENSET, and (to be
# safe) REDUCE and NEWOBJ, which call a builder or class with an argument tuple
_NESTING = pickle.TUPLE1 + pickle.TUPLE2 + pickle.TUPLE3 + pickle.TUPLE
_NESTING += pickle.FROZENSET + pickle.REDUCE + pickle.NEWOBJ
_NOT_NESTING = bytes(b for b in range(256) if b not in _NESTING)


def nesting_bound(data: bytes) -> int:
    """At most how deep the objects `data` builds can nest: each level is an object made by one of the `_NESTING`
    opcodes, and each opcode is a byte of the pickle, so the count of those byte values (wherever they occur:
    arguments and strings too, an over-count) bounds it. One pass in C."""
    return len(data.translate(None, _NOT_NESTING))


def on_deep_stack(load: Callable[[], Any], depth: int) -> Any:
    """`load()` in a thread whose stack takes the deepest C recursion objects nested `depth` levels can cause.

    The C unpickler hashes dict keys and set items as it builds them, and CPython hashes a tuple by recursing in C
    without a depth check: a key nested once per pickle byte overflowed the main thread's 8 MB stack (SIGSEGV).
    The pure-Python unpickler refuses such keys (`check_key_depth`); here the stack is sized instead: reserved, not
    committed, so only a deep key touches it. It was sized by the pickle's length, which for a 115 MB pickle (1M
    tensors) asked for 29 GB: the thread could not start, and every such file took the pure-Python path (twice the
    time per tensor). A thread that cannot start raises, and the caller falls back."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = load()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e

    old = threading.stack_size((64 << 20) + STACK_PER_LEVEL * depth)
    try:
        thread = threading.Thread(target=run, name="unpickle", daemon=True)
        thread.start()
    finally:
        threading.stack_size(old)
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["result"]


def vouch(data: bytes) -> int | None:
    """The position of the STOP that ends the pickle if every opcode before it is one the C unpickler may run
    (`_token_run`), with memo indices below `memo_limit` and counted lengths inside `data`; else None.

    One regular expression skips the common opcodes at C speed; this loop handles, one at a time, what it stops
    at: STOP, a long string, a large memo index, an 8-byte count; anything else is refused.
    """
    limit = memo_limit(len(data))
    run = _token_run(max(8, limit.bit_length() - 1)).match
    end, pos = len(data), 0
    while pos < end:
        pos = run(data, pos).end()  # type: ignore[union-attr] # a `*` repetition always matches
        if pos >= end:
            return None
        op = data[pos]
        if op == STOP:
            return pos
        width = _COUNTED.get(op)
        if width is not None:  # a length-prefixed argument: its length must fit in what is left
            if pos + 1 + width > end:
                return None
            n = int.from_bytes(data[pos + 1 : pos + 1 + width], "little", signed=op == _BINSTRING)
            if n < 0 or pos + 1 + width + n > end:
                return None
            pos += 1 + width + n
        elif op == _LONG_BINPUT:
            if pos + 5 > end or int.from_bytes(data[pos + 1 : pos + 5], "little") >= limit:
                return None
            pos += 5
        else:
            return None
    return None


def memo_limit(length: int) -> int:
    """Memo indices a pickler that numbers its memo 0, 1, 2... (as Python's and torch's do) can reach: each put
    takes at least 2 bytes. The C unpickler then holds at most 16 bytes of memo array per byte of pickle."""
    return max(256, length // 2)


_BINSTRING = pickle.BINSTRING[0]
_LONG_BINPUT = pickle.LONG_BINPUT[0]
_COUNTED = {  # opcode -> width of its length prefix
    pickle.SHORT_BINSTRING[0]: 1,
    pickle.SHORT_BINBYTES[0]: 1,
    pickle.SHORT_BINUNICODE[0]: 1,
    pickle.LONG1[0]: 1,
    pickle.BINSTRING[0]: 4,
    pickle.BINBYTES[0]: 4,
    pickle.BINUNICODE[0]: 4,
    pickle.LONG4[0]: 4,
    pickle.BINUNICODE8[0]: 8,
    pickle.BINBYTES8[0]: 8,
    pickle.BYTEARRAY8[0]: 8,
}
# Opcodes the C and Python unpicklers run alike (where the C one is stricter, it fails and the Python one reads the
# pickle again). Left out, so read by SafeUnpickler: the text opcodes of protocols 0-1 (INT, LONG, FLOAT, STRING,
# UNICODE, PUT, GET, PERSID, INST, OBJ: decimal parsing and instantiation differ), EXT1/2/4, FRAME (the C unpickler
# does not check frame bounds), NEWOBJ_EX and out-of-band buffers.
_NO_ARGUMENT = (
    pickle.MARK
    + pickle.EMPTY_TUPLE
    + pickle.POP
    + pickle.POP_MARK
    + pickle.DUP
    + pickle.NONE
    + pickle.NEWTRUE
    + pickle.NEWFALSE
    + pickle.EMPTY_LIST
    + pickle.EMPTY_DICT
    + pickle.EMPTY_SET
    + pickle.TUPLE
    + pickle.TUPLE1
    + pickle.TUPLE2
    + pickle.TUPLE3
    + pickle.LIST
    + pickle.DICT
    + pickle.APPEND
    + pickle.APPENDS
    + pickle.SETITEM
    + pickle.SETITEMS
    + pickle.ADDITEMS
    + pickle.FROZENSET
    + pickle.REDUCE
    + pickle.BUILD
    + pickle.NEWOBJ
    + pickle.BINPERSID
    + pickle.STACK_GLOBAL
    + pickle.MEMOIZE
)


@lru_cache(maxsize=4)
def _token_run(index_bits: int) -> re.Pattern[bytes]:
    """A run of vouched-for opcodes with their arguments; LONG_BINPUT only below 2**index_bits (at most
    `memo_limit`), strings only up to LONGEST_INLINE bytes. Frequent opcodes first: alternatives are tried in order."""
    any_ = b"[\\s\\S]"

    def counted(op: bytes, width: int) -> bytes:
        lengths = [re.escape(n.to_bytes(width, "little")) + any_ + b"{%d}" % n for n in range(LONGEST_INLINE)]
        return re.escape(op) + b"(?:" + b"|".join(lengths) + b")"

    index = b""  # the 4 little-endian bytes of an index < 2**index_bits
    for byte in range(4):
        bits = min(max(index_bits - 8 * byte, 0), 8)
        index += any_ if bits == 8 else b"\\x00" if bits == 0 else b"[\\x00-\\x%02x]" % ((1 << bits) - 1)
    tokens = [
        b"[" + re.escape(pickle.BINPUT + pickle.BINGET + pickle.BININT1) + b"]" + any_,
        re.escape(pickle.LONG_BINPUT) + index,
        b"[" + re.escape(_NO_ARGUMENT) + b"]",
        b"[" + re.escape(pickle.BININT + pickle.LONG_BINGET) + b"]" + any_ + b"{4}",
        re.escape(pickle.BININT2) + any_ + b"{2}",
        counted(pickle.BINUNICODE, 4),
        counted(pickle.SHORT_BINUNICODE, 1),
        re.escape(pickle.GLOBAL) + b"[^\\n]+\\n[^\\n]+\\n",
        re.escape(pickle.BINFLOAT) + any_ + b"{8}",
        re.escape(pickle.PROTO) + b"[\\x00-\\x%02x]" % pickle.HIGHEST_PROTOCOL,
    ]
    return re.compile(b"(?:" + b"|".join(tokens) + b")*+")


def storage_from_pid(pid: Any) -> StorageRef:
    """Decode torch's persistent id: ('storage', type, key, location, numel[, view_metadata])."""
    if type(pid) is tuple and len(pid) == 5:  # the common case, checked in a few exact type tests
        tag, storage_type, key, location, numel = pid
        if (
            tag == "storage"
            and type(storage_type) is StorageType
            and type(key) is str
            and type(location) is str
            and type(numel) is int
            and numel >= 0
        ):  # StorageRef(...) without the NamedTuple's Python-level __new__
            return _new_tuple(StorageRef, (key, storage_type.dtype, numel, location, None))
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


_new_tuple = tuple.__new__
