"""The allow-list: the globals torch and numpy use to rebuild tensors and containers, each mapped to a builder
of an inert record (see _unpickler.py). Builders validate their arguments; they never import or call anything."""

from __future__ import annotations

import pickle
import struct
import types
from collections.abc import Callable
from typing import Any

from ckpt_tui.dtypes import ITEMSIZE, NUMPY_STRUCT, STORAGE_DTYPES
from ckpt_tui.formats._records import (
    CheckedOpaqueDict,
    Device,
    DType,
    Layout,
    NumpyScalar,
    OpaqueDict,
    QScheme,
    RawSparse,
    RawTensor,
    StorageRef,
    StorageType,
    check_key_depth,
    qualname_of_stub,
    stub_class,
)

NUMPY_MULTIARRAY = frozenset({"numpy.core.multiarray", "numpy._core.multiarray"})
STORAGE_MODULES = frozenset({"torch", "torch.storage", "torch.cuda"})


# -- torch builders ---------------------------------------------------------------------------------------------


def _ints(value: Any, what: str) -> tuple[int, ...]:
    if type(value) is tuple:  # the common case first: this runs twice for every tensor
        for v in value:
            if type(v) is not int:
                break
        else:
            return value
    if isinstance(value, tuple | list):
        for v in value:  # a plain loop: this runs for every tensor, and generators cost more
            if type(v) is not int:
                break
        else:
            return tuple(value)
    raise pickle.UnpicklingError(f"tensor {what} must be a tuple of ints, got {str(value)[:40]}")


def _storage(value: Any) -> StorageRef:
    if not isinstance(value, StorageRef):
        raise pickle.UnpicklingError(f"tensor storage must be a storage reference, got {type(value).__name__}")
    return value


def rebuild_tensor(storage: Any, offset: Any, size: Any, stride: Any, *rest: Any) -> RawTensor:
    requires_grad = bool(rest[0]) if rest else False
    if len(rest) > 2 and rest[2]:  # torch.save passes tensor metadata only when a conj/neg bit is set
        _no_lazy_bits(rest[2])
    ref = storage if type(storage) is StorageRef else _storage(storage)
    if type(offset) is not int:
        raise pickle.UnpicklingError("tensor storage offset must be an int")
    # RawTensor(...) without the NamedTuple's Python-level __new__ (this runs for every tensor); defaults last
    fields = (ref, offset, _ints(size, "shape"), _ints(stride, "stride"), ref.dtype, requires_grad, False, None, None)
    return _new_tuple(RawTensor, fields)


_new_tuple = tuple.__new__


def _no_lazy_bits(metadata: Any) -> None:
    """torch applies `metadata` ({'conj': True} / {'neg': True}) on load: the values are no longer the bytes."""
    if metadata and (not isinstance(metadata, dict) or any(metadata.values())):
        raise pickle.UnpicklingError(
            f"tensor saved with lazy bits {str(metadata)[:60]} (a conjugated or negated view): torch.load applies "
            "them, ckpt-tui does not; resolve them (resolve_conj/resolve_neg) and save again"
        )


def rebuild_tensor_v3(
    storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any, hooks: Any, dtype: Any, *rest: Any
) -> RawTensor:
    _no_lazy_bits(rest[0] if rest else None)
    if not isinstance(dtype, DType) or dtype.name not in ITEMSIZE:
        raise pickle.UnpicklingError(f"unknown tensor dtype {dtype!r}")
    ref = _storage(storage)
    if ref.dtype != dtype.name:  # an untyped (byte) storage read as `dtype`
        ref = ref._replace(dtype=dtype.name, numel=ref.numel * ITEMSIZE[ref.dtype] // ITEMSIZE[dtype.name])
    return rebuild_tensor(ref, offset, size, stride, requires_grad)


def rebuild_parameter(data: Any, requires_grad: Any = True, *rest: Any) -> Any:
    if isinstance(data, RawTensor):
        return data._replace(parameter=True, requires_grad=bool(requires_grad))
    return data  # e.g. a sparse or opaque tensor wrapped as a parameter: keep what it is


def rebuild_qtensor(
    storage: Any, offset: Any, size: Any, stride: Any, quantizer: Any, requires_grad: Any = False, *rest: Any
) -> RawTensor:
    tensor = rebuild_tensor(storage, offset, size, stride, requires_grad)
    return tensor._replace(quantization=tuple(quantizer) if isinstance(quantizer, tuple) else None)


def rebuild_meta_tensor(dtype: Any, size: Any, stride: Any, requires_grad: Any = False, *rest: Any) -> RawTensor:
    if not isinstance(dtype, DType):
        raise pickle.UnpicklingError("meta tensor dtype must be a torch dtype")
    return RawTensor(None, 0, _ints(size, "shape"), _ints(stride, "stride"), dtype.name, bool(requires_grad))


def rebuild_sparse(layout: Any, data: Any) -> RawSparse:
    name = layout.name if isinstance(layout, Layout) else str(layout)
    return RawSparse(name, tuple(data) if isinstance(data, tuple | list) else (data,))


def rebuild_from_type_v2(func: Any, new_type: Any, args: Any, state: Any) -> Any:
    # `func` came from find_class, so it is one of our builders or an inert stub
    result = func(*args) if callable(func) and isinstance(args, tuple) else None
    subclass = qualname_of_stub(new_type)
    if isinstance(result, RawTensor) and subclass not in (None, "torch.Tensor", "torch._tensor.Tensor"):
        if subclass == "torch.nn.parameter.Parameter":
            return result._replace(parameter=True)
        return result._replace(subclass=subclass)
    return result


def make_parameter(data: Any = None, requires_grad: Any = True) -> RawTensor:
    """`torch.nn.parameter.Parameter(data, requires_grad)`, which torch's weights-only loader allows."""
    if not isinstance(data, RawTensor):
        raise pickle.UnpicklingError("a Parameter must be built from a tensor")
    return data._replace(parameter=True, requires_grad=bool(requires_grad))


def rebuild_device_tensor_from_cpu_tensor(data: Any, dtype: Any, device: Any, requires_grad: Any) -> RawTensor:
    """torch calls `data.to(dtype, device)`: kept only where that is no conversion (a cast would change values)."""
    if not isinstance(data, RawTensor) or not isinstance(dtype, DType) or dtype.name != data.dtype:
        raise pickle.UnpicklingError("_rebuild_device_tensor_from_cpu_tensor with a dtype cast is not supported")
    return data._replace(requires_grad=bool(requires_grad))


def call_tensor_class(*args: Any, **kwargs: Any) -> Any:
    """`torch.Tensor()` then BUILD with (storage, offset, size, stride), the pre-1.0 way, which torch's weights-only
    loader still follows: not reproduced here, so refused rather than shown as something else."""
    raise pickle.UnpicklingError("a tensor built by calling torch.Tensor and setting its state is not supported")


class CounterDict(OpaqueDict):
    """`collections.Counter`, allowed by torch's weights-only loader: built like Counter (an iterable is counted)."""

    qualname = "collections.Counter"

    def __init__(self, iterable: Any = None, /, **counts: Any) -> None:
        super().__init__()
        if isinstance(iterable, dict):
            self.update(iterable)
        elif isinstance(iterable, list | tuple | str | bytes):
            for item in iterable:
                check_key_depth(item)
                self[item] = self.get(item, 0) + 1
        elif iterable is not None:
            raise pickle.UnpicklingError("Counter takes a mapping or a sequence")
        for key, n in counts.items():
            self[key] = self.get(key, 0) + n


class TorchSize(tuple[int, ...]):
    __slots__ = ()


def make_size(dims: Any = ()) -> TorchSize:
    return TorchSize(_ints(dims, "size"))


def make_device(kind: Any, index: Any = None) -> Device:
    if not isinstance(kind, str) or (index is not None and type(index) is not int):
        raise pickle.UnpicklingError("torch.device takes a type string and an optional index")
    return Device(kind if index is None else f"{kind}:{index}")


def get_layout(name: Any) -> Layout:
    return Layout(str(name).removeprefix("torch."))


# -- numpy and builtins -----------------------------------------------------------------------------------------


class NumpyDType:
    """`numpy.dtype('f8')` plus its BUILD state (byte order); never imports numpy."""

    __slots__ = ("code", "byteorder")

    def __init__(self, code: Any, align: Any = False, copy: Any = False) -> None:
        if not isinstance(code, str):
            raise pickle.UnpicklingError("numpy dtype code must be a string")
        self.code, self.byteorder = code, "|"

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) > 1 and isinstance(state[1], str):
            self.byteorder = state[1]

    @property
    def name(self) -> str:
        return self.code if self.byteorder in "|=<" else f"{self.byteorder}{self.code}"


class NumpyArray:
    __slots__ = ("shape", "dtype", "fortran", "data")
    module = "numpy.core.multiarray"  # the module of the `_reconstruct` global (one subclass per module)

    shape: tuple[int, ...]
    dtype: Any
    fortran: bool
    data: bytes | bytearray | tuple[Any, ...]

    def __init__(self, subtype: Any = None, shape: Any = (0,), dtype: Any = None) -> None:
        self.shape, self.dtype, self.fortran, self.data = (0,), None, False, b""

    def __setstate__(self, state: Any) -> None:
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("numpy array state must be a 5-tuple")
        _, shape, dtype, fortran, data = state
        self.shape, self.dtype, self.fortran = _ints(shape, "shape"), dtype, bool(fortran)
        self.data = data if isinstance(data, bytes | bytearray) else tuple(data)


def numpy_scalar_of(module: str) -> Any:
    """The `scalar` builder for one numpy module path: the record remembers which path the file named."""

    def scalar(dtype: Any, data: Any = None) -> NumpyScalar:
        return numpy_scalar(dtype, data)._replace(module=module)

    return scalar


def numpy_scalar(dtype: Any, data: Any = None) -> NumpyScalar:
    """A numpy scalar, decoded with `struct` (no numpy import) where the dtype is a plain number."""
    if not isinstance(dtype, NumpyDType):
        raise pickle.UnpicklingError("numpy scalar needs a numpy dtype")
    code = dtype.code.lstrip("<>|=")
    fmt = NUMPY_STRUCT.get(code)
    order = ">" if dtype.byteorder == ">" else "<"
    if isinstance(data, bytes) and fmt and struct.calcsize(fmt) == len(data):
        return NumpyScalar(code, struct.unpack(order + fmt, data)[0])
    if isinstance(data, bytes) and code in ("c8", "c16") and len(data) == int(code[1:]):
        re, im = struct.unpack(order + ("ff" if code == "c8" else "dd"), data)
        return NumpyScalar(code, complex(re, im))
    return NumpyScalar(code, data)


def codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    # protocol 2 pickles bytes as _codecs.encode(str, "latin1")
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only allowed for latin-1 byte strings")
    return text.encode("latin-1")


def make_bytearray(data: Any = b"") -> bytes:
    if not isinstance(data, bytes | list | tuple):  # bytearray(10**12) would allocate a terabyte
        raise pickle.UnpicklingError("bytearray must be built from bytes")
    return bytes(data)


def make_set(items: Any = ()) -> set[Any]:
    return set(_iterable(items))


def make_frozenset(items: Any = ()) -> frozenset[Any]:
    return frozenset(_iterable(items))


def _iterable(items: Any) -> list[Any] | tuple[Any, ...]:
    if not isinstance(items, list | tuple):
        raise pickle.UnpicklingError("set must be built from a list")
    for item in items:
        check_key_depth(item)
    return items


def make_complex(real: Any = 0.0, imag: Any = 0.0) -> complex:
    if not all(type(v) in (int, float) for v in (real, imag)):
        raise pickle.UnpicklingError("complex takes two numbers")
    return complex(real, imag)


def _builders() -> dict[tuple[str, str], Any]:
    table: dict[tuple[str, str], Any] = {
        ("collections", "OrderedDict"): OpaqueDict,
        ("collections", "Counter"): CounterDict,
        ("torch.nn.parameter", "Parameter"): make_parameter,
        ("torch", "Tensor"): call_tensor_class,
        ("builtins", "set"): make_set,
        ("builtins", "frozenset"): make_frozenset,
        ("builtins", "complex"): make_complex,
        ("builtins", "bytearray"): make_bytearray,
        ("_codecs", "encode"): codecs_encode,
        ("torch", "Size"): make_size,
        ("torch", "device"): make_device,
        ("torch.serialization", "_get_layout"): get_layout,
        ("numpy", "dtype"): NumpyDType,
        ("numpy", "ndarray"): stub_class("numpy", "ndarray"),
    }
    for module in ("torch._utils", "torch._tensor"):
        table |= {
            (module, "_rebuild_tensor"): rebuild_tensor,
            (module, "_rebuild_tensor_v2"): rebuild_tensor,
            (module, "_rebuild_tensor_v3"): rebuild_tensor_v3,
            (module, "_rebuild_parameter"): rebuild_parameter,
            (module, "_rebuild_parameter_with_state"): rebuild_parameter,
            (module, "_rebuild_qtensor"): rebuild_qtensor,
            (module, "_rebuild_sparse_tensor"): rebuild_sparse,
            (module, "_rebuild_meta_tensor_no_storage"): rebuild_meta_tensor,
            (module, "_rebuild_from_type_v2"): rebuild_from_type_v2,
            (module, "_rebuild_device_tensor_from_cpu_tensor"): rebuild_device_tensor_from_cpu_tensor,
        }
    for module in NUMPY_MULTIARRAY:
        array = type("NumpyArray", (NumpyArray,), {"__slots__": (), "module": module})
        table |= {(module, "_reconstruct"): array, (module, "scalar"): numpy_scalar_of(module)}
    for module in STORAGE_MODULES:
        table |= {(module, name): StorageType(name, dtype) for name, dtype in STORAGE_DTYPES.items()}
    table |= {("torch", name): DType(name) for name in ITEMSIZE}
    table |= {
        ("torch", q): QScheme(q)
        for q in (
            "per_tensor_affine",
            "per_channel_affine",
            "per_tensor_symmetric",
            "per_channel_symmetric",
            "per_channel_affine_float_qparams",
        )
    }
    table |= {
        ("torch", lay): Layout(lay)
        for lay in (
            "strided",
            "sparse_coo",
            "sparse_csr",
            "sparse_csc",
            "sparse_bsr",
            "sparse_bsc",
            "_mkldnn",
            "jagged",
        )
    }
    return table


class Builder:
    """An allow-listed function, callable but sealed. `find_class` hands the same object to every read, so a BUILD
    on it (`__defaults__`, `__kwdefaults__` set from the pickle) would change how later files read in the same
    process; here it is an error instead, in both unpicklers (no `__dict__`, no settable attributes).

    Each function gets its own sealed subclass whose `__call__` is the function itself (a staticmethod): calling
    the builder runs the function with no forwarding frame in between (it runs for every tensor)."""

    __slots__ = ()
    _fn: Callable[..., Any]

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the builder for {self._fn.__name__} is read-only")


class _Sealed(type):
    """The metaclass of allow-listed classes: their attributes cannot be set once made (a BUILD on the class)."""

    def __setattr__(cls, name: str, value: Any) -> None:
        raise AttributeError(f"{cls.__name__} is read-only")


def _seal(value: Any) -> Any:
    if isinstance(value, types.FunctionType):
        call = staticmethod(value)
        return _Sealed(f"Builder[{value.__name__}]", (Builder,), {"__slots__": (), "_fn": call, "__call__": call})()
    if isinstance(value, type):
        return _Sealed(value.__name__, (value,), {"__slots__": ()})
    return value  # NamedTuple records: immutable already


BUILDERS = {key: _seal(value) for key, value in _builders().items()}
# the pure-Python unpickler's OrderedDict: it checks key depth before hashing (see CheckedOpaqueDict)
ORDERED_DICT, CHECKED_ORDERED_DICT = BUILDERS[("collections", "OrderedDict")], _seal(CheckedOpaqueDict)
LAYOUTS = frozenset(name for (module, name), v in BUILDERS.items() if module == "torch" and isinstance(v, Layout))


def torch_refuses(module: str, name: str) -> bool:
    """A global read here like torch reads it, but outside `torch.load(weights_only=True)`'s allowlist (torch
    2.13's `_get_allowed_globals`), so torch refuses the file. numpy's are left out: torch documents allowlisting
    them."""
    if module == "torch._tensor":
        return name != "_rebuild_from_type_v2"
    if module == "torch._utils":
        return name == "_rebuild_from_type_v2"
    if module == "torch.storage" or name == "UntypedStorage":
        return (module, name) != ("torch.storage", "UntypedStorage")
    if module == "torch.cuda":
        return name.startswith("Q")
    return (module, name) == ("builtins", "frozenset") or (module == "torch" and name in LAYOUTS)
