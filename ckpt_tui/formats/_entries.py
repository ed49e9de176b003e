"""Raw unpickled objects -> the frozen `Entry` tree, validating every tensor against its storage."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

from ckpt_tui.dtypes import ITEMSIZE, NUMPY_NAMES
from ckpt_tui.errors import InvalidCheckpointError
from ckpt_tui.formats._builders import NumpyArray, NumpyDType, TorchSize
from ckpt_tui.formats._records import (
    Device,
    DType,
    Layout,
    NumpyScalar,
    Opaque,
    OpaqueDict,
    QScheme,
    RawSparse,
    RawTensor,
    StorageRef,
    StorageType,
    check_key_depth,
    qualname_of_stub,
)
from ckpt_tui.model import (
    ArrayValue,
    Entry,
    GlobalRef,
    Key,
    Kind,
    Marker,
    OpaqueRecipe,
    Quantization,
    Storage,
    TensorInfo,
)

MAX_DEPTH = 200
PRIMITIVES = (str, int, float, bool, complex, bytes, type(None))
MODULE_FIELDS = ("_parameters", "_buffers", "_modules")
RESERVED = frozenset({"args", "kwargs", "state", "items", "dict_items"})  # children names of opaque objects
_COMPRESSED = {
    "row": ("crow_indices", "col_indices", "values", "size"),
    "col": ("ccol_indices", "row_indices", "values", "size"),
}
SPARSE_PARTS = {
    "sparse_coo": ("indices", "values", "size", "is_coalesced"),
    "sparse_csr": _COMPRESSED["row"],
    "sparse_bsr": _COMPRESSED["row"],
    "sparse_csc": _COMPRESSED["col"],
    "sparse_bsc": _COMPRESSED["col"],
}

ToStorage = Callable[[StorageRef], Storage]


class EntryBuilder:
    """Builds `Entry` trees; an object reachable twice becomes one shared `Entry` (memo bombs stay linear)."""

    def __init__(self, to_storage: ToStorage, path: str) -> None:
        self._to_storage = to_storage
        self._path = path
        self._memo: dict[int, tuple[Entry, Any]] = {}
        self._active: set[int] = set()
        self.notes: set[str] = set()

    def build(self, obj: Any, path: tuple[Key, ...] = ()) -> Entry:
        if isinstance(obj, PRIMITIVES):
            if type(obj) is int and obj.bit_length() > HUGE_INT_BITS:
                return Entry(Kind.VALUE, "int", huge_int_text(obj))
            return Entry(Kind.VALUE, type(obj).__name__, obj)
        if type(obj) is RawTensor:  # a leaf, never part of a cycle: no memo needed (the common case, made fast)
            return Entry(Kind.TENSOR, "torch.Tensor", self._tensor(obj, path))
        if len(path) > MAX_DEPTH:
            raise InvalidCheckpointError(f"objects nested deeper than {MAX_DEPTH} levels", self._path)
        ident = id(obj)
        if ident in self._memo:
            return self._memo[ident][0]
        if ident in self._active:
            return Entry(Kind.VALUE, Marker.CYCLE.value, "<recursive reference>")
        self._active.add(ident)
        try:
            entry = self._convert(obj, path)
        finally:
            self._active.discard(ident)
        self._memo[ident] = (entry, obj)  # holding obj keeps its id from being reused by a later temporary
        return entry

    def _convert(self, obj: Any, path: tuple[Key, ...]) -> Entry:
        if isinstance(obj, RawTensor):
            return Entry(Kind.TENSOR, "torch.Tensor", self._tensor(obj, path))
        if isinstance(obj, StorageRef):
            return self._bare_storage(obj, path)
        if isinstance(obj, OpaqueDict):
            attrs = self._items(obj.attrs.items(), path)
            return Entry(Kind.MAPPING, obj.qualname, None, self._items(obj.items(), path), attrs)
        if type(obj) is dict:
            return Entry(Kind.MAPPING, "dict", None, self._items(obj.items(), path))
        if type(obj) in (list, tuple, set, frozenset):  # exact: the builders' NamedTuples are values
            return Entry(Kind.SEQUENCE, type(obj).__name__, None, self._items(enumerate(obj), path))
        if isinstance(obj, Opaque):
            return self._opaque(obj, path)
        return self._value(obj, path)

    def _items(self, pairs: Any, path: tuple[Key, ...]) -> tuple[tuple[Key, Entry], ...]:
        out = []
        for k, v in pairs:
            key = k if type(k) is str else _key(k)
            out.append((key, self.build(v, (*path, key))))
        return tuple(out)

    def _value(self, obj: Any, path: tuple[Key, ...]) -> Entry:
        if isinstance(obj, DType):
            return Entry(Kind.VALUE, "torch.dtype", f"torch.{obj.name}")
        if isinstance(obj, TorchSize):
            return Entry(Kind.VALUE, "torch.Size", tuple(obj))
        if isinstance(obj, Device):
            return Entry(Kind.VALUE, "torch.device", obj.name)
        if isinstance(obj, Layout | QScheme):
            return Entry(Kind.VALUE, f"torch.{type(obj).__name__.lower()}", f"torch.{obj.name}")
        if isinstance(obj, NumpyScalar):
            return Entry(Kind.VALUE, f"numpy.{_numpy_name(obj.dtype)}", obj.value)
        if isinstance(obj, NumpyArray):
            return self._array(obj, path)
        if isinstance(obj, NumpyDType):
            return Entry(Kind.VALUE, "numpy.dtype", obj.name)
        if isinstance(obj, StorageType):
            return Entry(Kind.VALUE, "global", GlobalRef("torch", obj.name))
        if isinstance(obj, RawSparse):
            names = SPARSE_PARTS.get(obj.layout, ())
            parts = self._items(((names[i] if i < len(names) else i, p) for i, p in enumerate(obj.parts)), path)
            self.notes.add(f"sparse tensors ({obj.layout}) are shown as their parts")
            return Entry(Kind.OPAQUE, f"torch.{obj.layout} tensor", None, parts)
        if qualname_of_stub(obj):
            return Entry(Kind.VALUE, "global", GlobalRef(obj.module, obj.name))
        return Entry(Kind.VALUE, "global", GlobalRef(getattr(obj, "__module__", "?"), getattr(obj, "__name__", "?")))

    def _array(self, arr: NumpyArray, path: tuple[Key, ...]) -> Entry:
        dtype = arr.dtype.name if isinstance(arr.dtype, NumpyDType) else "?"
        if isinstance(arr.data, tuple):  # an object array: its items were unpickled like anything else
            items = self._items(enumerate(arr.data), path)
            return Entry(Kind.SEQUENCE, "numpy.ndarray[object]", None, items)
        return Entry(Kind.VALUE, "numpy.ndarray", ArrayValue(dtype, arr.shape, bytes(arr.data), arr.fortran))

    def _opaque(self, obj: Opaque, path: tuple[Key, ...]) -> Entry:
        state = obj.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):  # (dict, slots) state
            state = {**(state[0] or {}), **state[1]}
        cls = GlobalRef(obj.module, obj.name)
        if isinstance(state, dict) and all(isinstance(state.get(f), dict) for f in MODULE_FIELDS[::2]):
            return self._module(OpaqueRecipe(cls, obj.called, module_view=True), state, path)
        pairs: list[tuple[Any, Any]] = []
        if obj.args:
            pairs.append(("args", obj.args))
        if obj.kwargs:
            pairs.append(("kwargs", obj.kwargs))
        spread = isinstance(state, dict) and all(isinstance(k, str) for k in state) and not RESERVED & set(state)
        if spread:
            pairs.extend(state.items())
        elif state is not None:
            pairs.append(("state", state))
        if obj.items:
            pairs.append(("items", obj.items))
        if obj.dict_items:
            pairs.append(("dict_items", dict(obj.dict_items) if _hashable_keys(obj.dict_items) else obj.dict_items))
        recipe = OpaqueRecipe(cls, obj.called, spread_state=spread)
        return Entry(Kind.OPAQUE, obj.qualname, recipe, self._items(pairs, path))

    def _module(self, recipe: OpaqueRecipe, state: dict[str, Any], path: tuple[Key, ...]) -> Entry:
        """A pickled `nn.Module`: parameters, buffers and submodules by name, like its state dict."""
        pairs: list[tuple[Any, Any]] = []
        for field in MODULE_FIELDS:
            members = state.get(field) or {}
            pairs.extend((k, v) for k, v in members.items() if v is not None)
        rest = {k: v for k, v in state.items() if k not in MODULE_FIELDS and not k.endswith("hooks")}
        pairs.append((Marker.MODULE_STATE.value, rest))
        return Entry(Kind.OPAQUE, recipe.cls.qualname, recipe, self._items(pairs, path))

    def _tensor(self, raw: RawTensor, path: tuple[Key, ...]) -> TensorInfo:
        key = ".".join(map(str, path))
        if raw.dtype not in ITEMSIZE:
            raise InvalidCheckpointError(f"tensor '{key}' has unknown dtype {raw.dtype!r}", self._path)
        storage = (
            self._storage(raw.storage, raw.dtype) if raw.storage else Storage(self._path, "", raw.dtype, 0, "meta")
        )
        info = TensorInfo(
            key,
            raw.dtype,
            raw.shape,
            raw.stride,
            storage,
            raw.offset,
            raw.requires_grad,
            raw.parameter,
            _quantization(raw.quantization),
        )
        _validate(info, self._path, meta=raw.storage is None)
        if raw.subclass:
            self.notes.add(f"tensor subclass {raw.subclass} is shown as a plain tensor")
        if raw.quantization:
            self.notes.add("quantized tensors are shown with their integer storage and quantizer")
        return info

    def _storage(self, ref: StorageRef, dtype: str) -> Storage:
        storage = self._to_storage(ref)
        if storage.dtype != dtype:  # a typed storage read through a view of another dtype
            numel = storage.numel * ITEMSIZE[storage.dtype] // ITEMSIZE[dtype]
            storage = Storage(storage.file, storage.key, dtype, numel, storage.device, storage.member, storage.offset)
        return storage

    def _bare_storage(self, ref: StorageRef, path: tuple[Key, ...]) -> Entry:
        storage = self._to_storage(ref)
        info = TensorInfo(".".join(map(str, path)), storage.dtype, (storage.numel,), (1,), storage)
        return Entry(Kind.TENSOR, "torch.storage", info)


def _validate(info: TensorInfo, path: str, meta: bool) -> None:
    if len(info.shape) != len(info.stride) or min(info.shape, default=0) < 0 or min(info.stride, default=0) < 0:
        raise InvalidCheckpointError(f"tensor '{info.key}' has shape {info.shape} and stride {info.stride}", path)
    if info.storage_offset < 0:
        raise InvalidCheckpointError(f"tensor '{info.key}' has a negative storage offset", path)
    end = info.storage_offset + info.extent
    if not meta and end > info.storage.numel and info.extent:
        raise InvalidCheckpointError(
            f"tensor '{info.key}' spans {end} elements but its storage holds {info.storage.numel}", path
        )


def _quantization(params: tuple[Any, ...] | None) -> Quantization | None:
    if not params:
        return None
    scheme = params[0].name if isinstance(params[0], QScheme) else str(params[0])
    scale = params[1] if len(params) > 1 and isinstance(params[1], float) else None
    zero_point = params[2] if len(params) > 2 and type(params[2]) is int else None
    return Quantization(scheme, scale, zero_point)


HUGE_INT_BITS = 14_000  # ~4,200 digits: below Python's int -> str limit (4,300), and printing stays fast


def huge_int_text(value: int) -> str:
    """How an int too long to print is shown (str() refuses it, and quadratic printing would hang)."""
    digits = int(value.bit_length() * 0.30103) + 1
    return f"<int of ~{digits:,} digits: {hex(value)[:18]}…>"


def _key(key: Any) -> Key:
    if type(key) is int and key.bit_length() > HUGE_INT_BITS:
        return huge_int_text(key)
    if isinstance(key, str | int | float | bool | type(None)):
        return key
    if isinstance(key, tuple) and all(isinstance(k, str | int | float | bool | type(None)) for k in key):
        return tuple(_key(k) for k in key)
    if isinstance(key, Opaque):
        return f"<{key.qualname}>"
    return f"<{type(key).__name__}>"


def _hashable_keys(pairs: list[tuple[Any, Any]]) -> bool:
    try:
        for k, _ in pairs:
            check_key_depth(k)
        return all(hash(k) is not None for k, _ in pairs)
    except (TypeError, pickle.UnpicklingError):
        return False


def _numpy_name(code: str) -> str:
    return NUMPY_NAMES.get(code, code)
