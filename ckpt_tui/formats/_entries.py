"""Raw unpickled objects -> the frozen `Entry` tree, validating every tensor against its storage."""

from __future__ import annotations

import dataclasses
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


def _setters(cls: type, names: tuple[str, ...]) -> tuple[Callable[[Any, Any], None], ...] | None:
    """The slot setters of a frozen slots dataclass whose fields are exactly `names`, in order; None otherwise."""
    if tuple(f.name for f in dataclasses.fields(cls)) != names or "__slots__" not in cls.__dict__:
        return None
    return tuple(cls.__dict__[name].__set__ for name in names)


# A frozen dataclass's generated __init__ sets each field through object.__setattr__: twice as slow as the slot
# setters, and these run for every tensor (three objects each). If the model's fields change, `FAST_BUILD` is
# False and the plain constructors are used (tests/core/test_fast_build.py fails first, to say so).
_STORAGE_SET = _setters(Storage, ("file", "key", "dtype", "numel", "device", "member", "offset"))
_INFO_SET = _setters(
    TensorInfo,
    ("key", "dtype", "shape", "stride", "storage", "storage_offset", "requires_grad", "is_parameter", "quantization"),
)
_ENTRY_SET = _setters(Entry, ("kind", "type_name", "value", "children", "attrs", "origin", "_index"))
FAST_BUILD = None not in (_STORAGE_SET, _INFO_SET, _ENTRY_SET)
_new = object.__new__


def make_storage(
    file: str, key: str, dtype: str, numel: int, device: str = "cpu", member: str | None = None, offset: int = 0
) -> Storage:
    """`Storage(...)`, as fast as the builder's tensors (readers make one per tensor)."""
    if _STORAGE_SET is None:
        return Storage(file, key, dtype, numel, device, member, offset)
    storage = _new(Storage)
    s_file, s_key, s_dtype, s_numel, s_device, s_member, s_offset = _STORAGE_SET
    s_file(storage, file)
    s_key(storage, key)
    s_dtype(storage, dtype)
    s_numel(storage, numel)
    s_device(storage, device)
    s_member(storage, member)
    s_offset(storage, offset)
    return storage


def _tensor_info(
    key: str,
    dtype: str,
    shape: tuple[int, ...],
    stride: tuple[int, ...],
    storage: Storage,
    offset: int,
    requires_grad: bool,
    parameter: bool,
    quantization: Quantization | None,
) -> TensorInfo:
    if _INFO_SET is None:
        return TensorInfo(key, dtype, shape, stride, storage, offset, requires_grad, parameter, quantization)
    info = _new(TensorInfo)
    s_key, s_dtype, s_shape, s_stride, s_storage, s_offset, s_grad, s_param, s_quant = _INFO_SET
    s_key(info, key)
    s_dtype(info, dtype)
    s_shape(info, shape)
    s_stride(info, stride)
    s_storage(info, storage)
    s_offset(info, offset)
    s_grad(info, requires_grad)
    s_param(info, parameter)
    s_quant(info, quantization)
    return info


def _tensor_entry(info: TensorInfo) -> Entry:
    """Entry(Kind.TENSOR, "torch.Tensor", info)"""
    if _ENTRY_SET is None:
        return Entry(Kind.TENSOR, "torch.Tensor", info)
    entry = _new(Entry)
    s_kind, s_type, s_value, s_children, s_attrs, s_origin, s_index = _ENTRY_SET
    s_kind(entry, Kind.TENSOR)
    s_type(entry, "torch.Tensor")
    s_value(entry, info)
    s_children(entry, ())
    s_attrs(entry, ())
    s_origin(entry, None)
    s_index(entry, None)
    return entry


class EntryBuilder:
    """Builds `Entry` trees; an object reachable twice becomes one shared `Entry` (memo bombs stay linear)."""

    def __init__(self, to_storage: ToStorage, path: str) -> None:
        self._to_storage = to_storage
        self._path = path
        self._memo: dict[int, tuple[Entry, Any]] = {}
        self._active: set[int] = set()
        self.notes: set[str] = set()
        # Checkpoint.tensors, gathered while building (its walk costs as much again on 100k tensors); None where
        # the tree is not a plain nesting of containers (tensors in pickled attributes, bare storages, a tensor
        # at the root, an empty first key): Checkpoint.tensors then walks the tree
        self.tensors: dict[str, TensorInfo] | None = {}
        self._in_attrs = 0

    def build(self, obj: Any, path: tuple[Key, ...] = ()) -> Entry:
        if isinstance(obj, PRIMITIVES):
            if type(obj) is int and obj.bit_length() > HUGE_INT_BITS:
                return Entry(Kind.VALUE, "int", huge_int_text(obj))
            return Entry(Kind.VALUE, type(obj).__name__, obj)
        if type(obj) is RawTensor:  # a leaf, never part of a cycle: no memo needed (the common case, made fast)
            self.tensors = None
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
            self.tensors = None
            return Entry(Kind.TENSOR, "torch.Tensor", self._tensor(obj, path))
        if isinstance(obj, StorageRef):
            self.tensors = None
            return self._bare_storage(obj, path)
        if isinstance(obj, OpaqueDict):
            self._in_attrs += 1
            try:
                attrs = self._items(obj.attrs.items(), path)
            finally:
                self._in_attrs -= 1
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
        prefix = ".".join(map(str, path)) + "." if path else ""  # tensor keys: the dotted path
        tensors = self.tensors
        if tensors is not None and path and path[0] == "":  # see __init__
            tensors = self.tensors = None
        plain = self._plain_tensor if FAST_BUILD else self._tensor
        for k, v in pairs:
            key = k if type(k) is str else self._key(k)
            if type(v) is RawTensor:  # the common case, inlined: a state dict's values
                info = plain(v, path, prefix + (key if type(key) is str else str(key)))
                out.append((key, _tensor_entry(info)))
                if tensors is not None:
                    if self._in_attrs:  # a tensor in pickled attributes (which the walk does not visit)
                        tensors = self.tensors = None
                    elif info.key not in tensors:
                        tensors[info.key] = info
                    elif tensors[info.key] != info:
                        raise colliding_keys(info.key, self._path)
            else:
                out.append((key, self.build(v, (*path, key))))
        return tuple(out)

    def _key(self, key: Any) -> Key:
        """A key that is not a string; a tuple nested past MAX_KEY_DEPTH is refused here too, as the pure-Python
        unpickler refuses it (the C unpickler, on its deep stack, built it)."""
        try:
            check_key_depth(key)
        except pickle.UnpicklingError as e:
            raise InvalidCheckpointError(str(e), self._path) from None
        return _key(key)

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
            origin = GlobalRef(obj.module, "scalar")
            return Entry(Kind.VALUE, f"numpy.{_numpy_name(obj.dtype)}", obj.value, origin=origin)
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
        if isinstance(obj, type) and issubclass(obj, OpaqueDict):  # the class itself, named as the pickle named it
            module, _, name = obj.qualname.rpartition(".")
            return Entry(Kind.VALUE, "global", GlobalRef(module, name))
        return Entry(Kind.VALUE, "global", GlobalRef(getattr(obj, "__module__", "?"), getattr(obj, "__name__", "?")))

    def _array(self, arr: NumpyArray, path: tuple[Key, ...]) -> Entry:
        dtype = arr.dtype.name if isinstance(arr.dtype, NumpyDType) else "?"
        if isinstance(arr.data, tuple):  # an object array: its items were unpickled like anything else
            items = self._items(enumerate(arr.data), path)
            return Entry(Kind.SEQUENCE, "numpy.ndarray[object]", None, items)
        value = ArrayValue(dtype, arr.shape, bytes(arr.data), arr.fortran)
        return Entry(Kind.VALUE, "numpy.ndarray", value, origin=GlobalRef(arr.module, "_reconstruct"))

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

    def _plain_tensor(self, raw: RawTensor, path: tuple[Key, ...], key: str) -> TensorInfo:
        """`_tensor(raw, path, key)` for the tensors of a state dict (a storage of the tensor's dtype, no quantizer,
        no subclass, a non-empty extent inside the storage), checked in one pass: it runs for every tensor."""
        ref, offset, shape, stride, dtype, requires_grad, parameter, quantization, subclass = raw
        if ref is None or quantization or subclass or dtype not in ITEMSIZE or len(shape) != len(stride) or offset < 0:
            return self._tensor(raw, path, key)
        storage = self._to_storage(ref)
        end = offset + 1
        for n, s in zip(shape, stride):  # noqa: B905 - lengths compared above
            if n <= 0 or s < 0:  # an empty tensor (extent 0) or a bad stride
                return self._tensor(raw, path, key)
            end += (n - 1) * s
        if storage.dtype != dtype or end > storage.numel:
            return self._tensor(raw, path, key)
        return _tensor_info(key, dtype, shape, stride, storage, offset, requires_grad, parameter, None)

    def _tensor(self, raw: RawTensor, path: tuple[Key, ...], key: str | None = None) -> TensorInfo:
        """The TensorInfo of `raw` at `path`, or under the dotted `key` (a child's: `path` is its parent's)."""
        ref, offset, shape, stride, dtype, requires_grad, parameter, quantization, subclass = raw
        if key is None:
            key = ".".join(map(str, path))
        if dtype not in ITEMSIZE:
            raise InvalidCheckpointError(f"tensor '{key}' has unknown dtype {dtype!r}", self._path)
        if ref is None:
            storage = Storage(self._path, "", dtype, 0, "meta")
        else:
            storage = self._to_storage(ref)
            if storage.dtype != dtype:  # a typed storage read through a view of another dtype
                storage = self._storage(ref, dtype)
        info = _tensor_info(
            key,
            dtype,
            shape,
            stride,
            storage,
            offset,
            requires_grad,
            parameter,
            _quantization(quantization) if quantization else None,
        )
        end = offset + 1  # what _validate accepts, checked quickly; anything else goes to _validate
        if len(shape) == len(stride) and offset >= 0:
            for n, s in zip(shape, stride, strict=True):
                if n <= 0 or s < 0:  # an empty tensor (extent 0) or a bad stride
                    end = -1
                    break
                end += (n - 1) * s
        else:
            end = -1
        if not 0 < end <= storage.numel:
            _validate(info, self._path, meta=ref is None)
        if subclass:
            self.notes.add(f"tensor subclass {subclass} is shown as a plain tensor")
        if quantization:
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


def colliding_keys(key: str, path: str) -> InvalidCheckpointError:
    """Two tensors whose dotted keys collide ({1: a, "1": b}, or {"a.b": a, "a": {"b": b}}): torch.load returns
    both, and a flat view would silently show (and diff) only one of them."""
    return InvalidCheckpointError(
        f"two tensors read as '{key}' (keys such as 1 and '1', or 'a.b' and a → b); refusing rather than "
        "showing one of them",
        path,
    )


def _hashable_keys(pairs: list[tuple[Any, Any]]) -> bool:
    try:
        for k, _ in pairs:
            check_key_depth(k)
        return all(hash(k) is not None for k, _ in pairs)
    except (TypeError, pickle.UnpicklingError):
        return False


def _numpy_name(code: str) -> str:
    return NUMPY_NAMES.get(code, code)
