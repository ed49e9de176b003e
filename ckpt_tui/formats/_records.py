"""The inert records the safe unpickler builds: tensors and storages as references, and stand-ins for every class
a pickle names (Opaque), which only record what they are given. None of them imports or runs anything."""

from __future__ import annotations

import pickle
from typing import Any, NamedTuple


class StorageType(NamedTuple):
    name: str
    dtype: str


class StorageRef(NamedTuple):
    key: str
    dtype: str
    numel: int
    location: str
    view: tuple[int, int] | None = None  # legacy storage views: (byte offset into the root, element count)


class DType(NamedTuple):
    name: str


class Device(NamedTuple):
    name: str


class Layout(NamedTuple):
    name: str


class QScheme(NamedTuple):
    name: str


class RawTensor(NamedTuple):
    storage: StorageRef | None  # None: a meta tensor, saved without data
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    dtype: str
    requires_grad: bool = False
    parameter: bool = False
    quantization: tuple[Any, ...] | None = None
    subclass: str | None = None


class RawSparse(NamedTuple):
    layout: str
    parts: tuple[Any, ...]


class NumpyScalar(NamedTuple):
    dtype: str
    value: object
    module: str = "numpy.core.multiarray"  # the module of the `scalar` global, as the file named it


class Opaque:
    """An object of a class we do not import: what it was built from, nothing more.

    Subclasses are generated per global name (`stub_class`); NEWOBJ and REDUCE both end in `__new__`, BUILD in
    `__setstate__`, APPEND(S)/SETITEM(S)/ADDITEMS in the recording methods below.
    """

    __slots__ = ("args", "kwargs", "state", "items", "dict_items", "called")
    module, name, qualname = "?", "?", "?"
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any
    items: list[Any]
    dict_items: list[tuple[Any, Any]]
    called: bool

    def __new__(cls, *args: Any, **kwargs: Any) -> Opaque:
        self = object.__new__(cls)
        self.args, self.kwargs, self.state, self.called = args, kwargs, None, False
        self.items, self.dict_items = [], []
        return self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.called = True  # REDUCE calls the class; NEWOBJ only calls __new__

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __setitem__(self, key: Any, value: Any) -> None:
        self.dict_items.append((key, value))

    def append(self, item: Any) -> None:
        self.items.append(item)

    def extend(self, items: Any) -> None:
        self.items.extend(list(items))

    add = append

    def __call__(self, *args: Any, **kwargs: Any) -> Opaque:
        return OpaqueCall(self, *args, **kwargs)


class OpaqueCall(Opaque):
    """The result of calling an opaque object: `args[0]` is what was called."""

    __slots__ = ()
    module, name, qualname = "", "<call>", "<call>"


MAX_KEY_DEPTH = 100


def check_key_depth(obj: Any) -> None:
    """Refuse a tuple or frozenset nested deeper than MAX_KEY_DEPTH before anything hashes it: CPython hashes a
    tuple by recursing in C without a depth check, so a dict key nested 1M deep kills the process (SIGSEGV).
    Heights are memoised by identity (a memo-shared DAG is walked once, and its longest path is what counts)."""
    if not isinstance(obj, tuple | frozenset):
        return
    height: dict[int, int] = {}
    stack: list[tuple[Any, bool, int]] = [(obj, False, 1)]
    while stack:
        item, done, depth = stack.pop()
        if id(item) in height:
            continue
        inner = [x for x in item if isinstance(x, tuple | frozenset)]
        if done:
            height[id(item)] = 1 + max((height[id(x)] for x in inner), default=0)
        else:
            stack.append((item, True, depth))
            stack.extend((x, False, depth + 1) for x in inner if id(x) not in height)
        if depth > MAX_KEY_DEPTH or height.get(id(item), 0) > MAX_KEY_DEPTH:
            raise pickle.UnpicklingError(f"a dict key or set item nested deeper than {MAX_KEY_DEPTH} levels")


class OpaqueDict(dict[Any, Any]):
    """A mapping with pickled attributes: an OrderedDict's `_metadata`, or a dict subclass we do not import."""

    qualname = "collections.OrderedDict"
    attrs: dict[Any, Any] = {}  # noqa: RUF012 - replaced, never mutated, by __setstate__

    # no __init__ of its own: dict's, in C (an empty OrderedDict is every tensor's backward hooks). It hashes the
    # keys it is given: the C unpickler calls it on its deep stack; the pure-Python one calls `CheckedOpaqueDict`.

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError("mapping state must be a dict")
        self.attrs = {**self.attrs, **state}


class CheckedOpaqueDict(OpaqueDict):
    """`OpaqueDict` for the pure-Python unpickler, which runs on the main thread's stack: refuses keys nested too
    deep to hash (CPython hashes a tuple by recursing in C, unchecked) before dict's __init__ hashes them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        for arg in args:  # OrderedDict([(key, value), ...]) hashes its keys
            for pair in arg.items() if isinstance(arg, dict) else arg if isinstance(arg, list | tuple) else ():
                check_key_depth(pair[0] if isinstance(pair, tuple) and pair else pair)
        super().__init__(*args, **kwargs)


def stub_class(module: str, name: str) -> type[Opaque]:
    """A new inert stand-in class for a global the pickle names."""
    attrs = {"module": module, "name": name, "qualname": f"{module}.{name}", "__slots__": ()}
    return type(name.rpartition(".")[2] or "Opaque", (Opaque,), attrs)


def qualname_of_stub(obj: object) -> str | None:
    return obj.qualname if isinstance(obj, type) and issubclass(obj, Opaque) else None
