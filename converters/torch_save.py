"""The .pth writer: the whole checkpoint again, in torch's zip format, with only its keys rewritten.

The pickle is emitted from the `Entry` tree opcode by opcode (protocol 2, the globals torch itself writes), so it
loads with `torch.load(weights_only=True)` whenever the input did. Opaque objects could be written back from their
recorded recipe without importing anything, but that would launder a payload: the globals of the pickle written
are checked (safe_globals.py) and anything torch's safe loader refuses is refused, or carried only when asked.
numpy globals are named as the input named them. Storages are copied whole (views and ties stay views and ties)
into 64-byte aligned, uncompressed members, as torch writes them.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from typing import IO

from ckpt_tui.converters.copy import tensor_chunks
from ckpt_tui.converters.plan import is_list_like
from ckpt_tui.converters.safe_globals import unsafe_globals
from ckpt_tui.dtypes import NUMPY_NAMES, NUMPY_STRUCT, STORAGE_DTYPES
from ckpt_tui.errors import UnsupportedFormatError, UsageError
from ckpt_tui.formats import byte_range, has_byte_range
from ckpt_tui.model import (
    ArrayValue,
    Checkpoint,
    CheckpointFormat,
    Entry,
    GlobalRef,
    Kind,
    Marker,
    OpaqueRecipe,
    Storage,
    TensorInfo,
)
from ckpt_tui.reports import KeyRules

TYPED_STORAGE = {dtype: name for name, dtype in STORAGE_DTYPES.items() if name != "UntypedStorage"}
NUMPY_CODES = {name: code for code, name in NUMPY_NAMES.items() if code in NUMPY_STRUCT}
ALIGNMENT = 64
ARCHIVE = "archive"


class PickleWriter:
    """Emits a protocol-2 pickle of an Entry tree; collects the storages its tensors reference."""

    def __init__(self, rules: KeyRules, lists: bool = False) -> None:
        self.out = io.BytesIO()
        self.rules = rules
        self.lists = lists  # DCP: mappings keyed 0..n-1 were lists (torch's DCP loader rebuilds them as lists)
        self.storages: dict[tuple[str, str, str | None, int], tuple[str, Storage, TensorInfo]] = {}
        # entries written once and referenced again (shared in the source too); holding each entry keeps its id()
        # from being reused by a temporary entry built while writing (renamed _metadata, param_names)
        self.memo: dict[int, tuple[int, Entry]] = {}

    def dump(self, root: Entry) -> bytes:
        self.out.write(b"\x80\x02")
        self.entry(root, renaming=False)
        self.out.write(b".")
        return self.out.getvalue()

    # -- entries ------------------------------------------------------------------------------------------------

    def entry(self, e: Entry, renaming: bool) -> None:
        if id(e) in self.memo:  # written before: a reference, as the source pickle had it
            self.out.write(b"j" + struct.pack("<I", self.memo[id(e)][0]))
            return
        if e.kind is Kind.TENSOR:
            self.tensor(e.value)  # type: ignore[arg-type]
        elif e.kind is Kind.MAPPING:
            self.mapping(e)
        elif e.kind is Kind.SEQUENCE:
            self.sequence(e, renaming)
        elif e.kind is Kind.OPAQUE:
            self.opaque(e)
        else:
            self.value(e)
            return
        self.remember(e)

    def remember(self, e: Entry) -> None:
        """Store what was just built in the memo (LONG_BINPUT), so a second reference to it is a LONG_BINGET."""
        if id(e) not in self.memo:
            self.memo[id(e)] = (len(self.memo), e)
            self.out.write(b"r" + struct.pack("<I", self.memo[id(e)][0]))

    def mapping(self, e: Entry) -> None:
        if self.lists and is_list_like(e):
            self.sequence(Entry(Kind.SEQUENCE, "list", None, e.children), renaming=False)
            return
        rename = _is_state_dict(e)
        if e.type_name == "collections.OrderedDict":
            self.reduce(GlobalRef("collections", "OrderedDict"), [])
        else:
            self.out.write(b"}")
        if e.children:
            self.out.write(b"(")
            for key, child in e.children:
                self.value_of(self.rules.apply(key) if rename and isinstance(key, str) else key)
                self.entry(child, renaming=key == "param_names")
            self.out.write(b"u")
        if e.attrs:
            self.out.write(b"}(")
            for key, child in e.attrs:
                self.value_of(key)
                self.attrs_value(key, child, rename)
            self.out.write(b"ub")

    def attrs_value(self, key: object, child: Entry, rename: bool) -> None:
        if key == "_metadata" and rename and child.kind is Kind.MAPPING:  # module names: "module.encoder" -> "encoder"
            renamed = [
                (self.rules.apply(f"{k}.").removesuffix(".") if isinstance(k, str) else k, v) for k, v in child.children
            ]
            self.entry(Entry(Kind.MAPPING, child.type_name, None, tuple(renamed), child.attrs), renaming=False)
        else:
            self.entry(child, renaming=False)

    def sequence(self, e: Entry, renaming: bool) -> None:
        items = [c for _, c in e.children]
        if e.type_name in ("set", "frozenset"):
            self.out.write(b"c__builtin__\n" + e.type_name.encode() + b"\n(]")
            self.items(items)
            self.out.write(b"tR")
            return
        if e.type_name == "tuple":
            self.out.write(b"(")
            for c in items:
                self.entry(c, renaming=False)
            self.out.write(b"t")
            return
        if e.type_name != "list":
            raise UnsupportedFormatError(f"cannot write a {e.type_name} back into a .pth file")
        self.out.write(b"]")
        if renaming:  # optimizer param_names: the same key rules as the state dict
            items = [
                Entry(Kind.VALUE, "str", self.rules.apply(c.value)) if isinstance(c.value, str) else c for c in items
            ]
        self.items(items)

    def items(self, items: list[Entry]) -> None:
        if items:
            self.out.write(b"(")
            for c in items:
                self.entry(c, renaming=False)
            self.out.write(b"e")

    def opaque(self, e: Entry) -> None:
        recipe = e.value
        if not isinstance(recipe, OpaqueRecipe):
            if e.type_name.startswith("torch.sparse_"):
                return self.sparse(e)
            raise UnsupportedFormatError(f"cannot write {e.type_name} back into a .pth file")
        if recipe.module_view:
            raise UnsupportedFormatError(
                f"the checkpoint holds a whole pickled module ({e.type_name}); --to pth cannot rewrite it: "
                "use --to safetensors, or save its state_dict()"
            )
        children: dict[object, Entry] = dict(e.children)
        args = children.get("args")
        self.global_(recipe.cls)
        self.out.write(b"(")
        for _, c in args.children if args else ():
            self.entry(c, renaming=False)
        self.out.write(b"tR" if recipe.called else b"t\x81")
        self.opaque_state(recipe, e, children)

    def opaque_state(self, recipe: OpaqueRecipe, e: Entry, children: dict[object, Entry]) -> None:
        if "items" in children:
            self.items([c for _, c in children["items"].children])
        if "dict_items" in children and children["dict_items"].children:
            self.out.write(b"(")
            for k, c in children["dict_items"].children:
                self.value_of(k)
                self.entry(c, renaming=False)
            self.out.write(b"u")
        reserved = {"args", "kwargs", "items", "dict_items"}
        if recipe.spread_state:
            state = [(k, c) for k, c in e.children if k not in reserved]
            self.out.write(b"}(")
            for k, c in state:
                self.value_of(k)
                self.entry(c, renaming=False)
            self.out.write(b"ub")
        elif "state" in children:
            self.entry(children["state"], renaming=False)
            self.out.write(b"b")

    def sparse(self, e: Entry) -> None:
        layout = e.type_name.removesuffix(" tensor")
        self.global_(GlobalRef("torch._utils", "_rebuild_sparse_tensor"))
        self.out.write(b"(")
        self.reduce(GlobalRef("torch.serialization", "_get_layout"), [layout])
        self.out.write(b"(")
        for _, c in e.children:
            self.entry(c, renaming=False)
        self.out.write(b"ttR")

    # -- tensors ------------------------------------------------------------------------------------------------

    def tensor(self, info: TensorInfo) -> None:
        if info.is_parameter:
            self.global_(GlobalRef("torch._utils", "_rebuild_parameter"))
            self.out.write(b"(")
        if info.device == "meta":
            self.global_(GlobalRef("torch._utils", "_rebuild_meta_tensor_no_storage"))
            self.out.write(b"(")
            self.global_(GlobalRef("torch", info.dtype))
            self.shape_args(info)
            self.out.write(b"tR")
        elif info.quantization is not None:
            self.qtensor(info)
        elif info.dtype in TYPED_STORAGE:
            self.global_(GlobalRef("torch._utils", "_rebuild_tensor_v2"))
            self.out.write(b"(")
            self.storage(info, TYPED_STORAGE[info.dtype], info.storage.numel)
            self.shape_args(info, offset=True)
            self.hooks()
            self.out.write(b"tR")
        else:  # dtypes without a typed storage class: an untyped (byte) storage and the dtype
            self.global_(GlobalRef("torch._utils", "_rebuild_tensor_v3"))
            self.out.write(b"(")
            self.storage(info, None, info.storage.nbytes)
            self.shape_args(info, offset=True)
            self.hooks()
            self.global_(GlobalRef("torch", info.dtype))
            self.out.write(b"tR")
        if info.is_parameter:
            self.value_of(info.requires_grad)
            self.hooks()
            self.out.write(b"tR")

    def qtensor(self, info: TensorInfo) -> None:
        q = info.quantization
        if q is None or q.scheme != "per_tensor_affine":
            raise UnsupportedFormatError(f"tensor '{info.key}': only per-tensor quantized tensors can be written")
        self.global_(GlobalRef("torch._utils", "_rebuild_qtensor"))
        self.out.write(b"(")
        self.storage(info, TYPED_STORAGE[info.dtype], info.storage.numel)
        self.value_of(info.storage_offset)
        self.value_of(tuple(info.shape))
        self.value_of(tuple(info.stride))
        self.out.write(b"(")
        self.global_(GlobalRef("torch", q.scheme))
        self.value_of(q.scale)
        self.value_of(q.zero_point)
        self.out.write(b"t")
        self.value_of(info.requires_grad)
        self.hooks()
        self.out.write(b"tR")

    def shape_args(self, info: TensorInfo, offset: bool = False) -> None:
        if offset:
            self.value_of(info.storage_offset)
        self.value_of(tuple(info.shape))
        self.value_of(tuple(info.stride))
        self.value_of(info.requires_grad if not info.is_parameter else False)

    def storage(self, info: TensorInfo, typed: str | None, numel: int) -> None:
        s = info.storage
        identity = (s.file, s.key, s.member, s.offset)
        if identity not in self.storages:
            self.storages[identity] = (str(len(self.storages)), s, info)
        key = self.storages[identity][0]
        self.out.write(b"(")
        self.value_of("storage")
        self.global_(GlobalRef("torch", typed) if typed else GlobalRef("torch.storage", "UntypedStorage"))
        self.value_of(key)
        self.value_of(s.device)
        self.value_of(numel)
        self.out.write(b"tQ")

    def hooks(self) -> None:
        self.reduce(GlobalRef("collections", "OrderedDict"), [])

    # -- values -------------------------------------------------------------------------------------------------

    def value(self, e: Entry) -> None:
        v = e.value
        if e.type_name == "torch.Size":
            self.reduce(GlobalRef("torch", "Size"), [tuple(v)])  # type: ignore[arg-type]
        elif e.type_name == "torch.device":
            kind, _, index = str(v).partition(":")
            self.reduce(GlobalRef("torch", "device"), [kind, int(index)] if index else [kind])
        elif e.type_name in ("torch.dtype", "torch.layout", "torch.qscheme"):
            module, _, name = str(v).rpartition(".")
            self.global_(GlobalRef(module, name))
        elif e.type_name.startswith("numpy.") and e.type_name != "numpy.ndarray":
            self.numpy_scalar(e)
        elif isinstance(v, ArrayValue):
            self.numpy_array(v, e.origin or GlobalRef("numpy.core.multiarray", "_reconstruct"))
        elif isinstance(v, GlobalRef):
            self.global_(v)
        elif e.type_name == Marker.CYCLE:
            raise UnsupportedFormatError("the checkpoint holds a self-referencing object; it cannot be rewritten")
        else:
            self.value_of(v)

    def numpy_scalar(self, e: Entry) -> None:
        code = NUMPY_CODES.get(e.type_name.removeprefix("numpy."))
        if code is None:
            raise UnsupportedFormatError(f"cannot write a {e.type_name} value back into a .pth file")
        self.global_(e.origin or GlobalRef("numpy.core.multiarray", "scalar"))
        self.out.write(b"(")
        self.numpy_dtype(code, "<")
        self.value_of(struct.pack("<" + NUMPY_STRUCT[code], e.value))
        self.out.write(b"tR")

    def numpy_array(self, a: ArrayValue, reconstruct: GlobalRef) -> None:
        self.global_(reconstruct)  # the module path as read (numpy.core or numpy._core): allowlists still match
        self.out.write(b"(")
        self.global_(GlobalRef("numpy", "ndarray"))
        self.value_of((0,))
        self.value_of(b"b")
        self.out.write(b"tR(")
        self.value_of(1)
        self.value_of(tuple(a.shape))
        order = a.dtype[0] if a.dtype[0] in "<>|=" else "<"
        self.numpy_dtype(a.dtype.lstrip("<>|="), order)
        self.value_of(a.fortran_order)
        self.value_of(a.data if isinstance(a.data, bytes) else b"")
        self.out.write(b"tb")

    def numpy_dtype(self, code: str, order: str) -> None:
        self.reduce(GlobalRef("numpy", "dtype"), [code, False, True])
        self.out.write(b"(")
        for item in (3, order if code not in ("i1", "u1", "b1") else "|", None, None, None, -1, -1, 0):
            self.value_of(item)
        self.out.write(b"tb")

    def value_of(self, v: object) -> None:
        """A plain Python value, as pickle protocol 2 writes it."""
        w = self.out.write
        if v is None:
            w(b"N")
        elif v is True or v is False:
            w(b"\x88" if v else b"\x89")
        elif isinstance(v, int):
            w(b"J" + struct.pack("<i", v)) if -(2**31) <= v < 2**31 else self._long(v)
        elif isinstance(v, float):
            w(b"G" + struct.pack(">d", v))
        elif isinstance(v, str):
            data = v.encode("utf-8", "surrogatepass")
            w(b"X" + struct.pack("<I", len(data)) + data)
        elif isinstance(v, bytes):
            self.reduce(GlobalRef("_codecs", "encode"), [v.decode("latin-1"), "latin1"])
        elif isinstance(v, complex):
            self.reduce(GlobalRef("__builtin__", "complex"), [v.real, v.imag])
        elif isinstance(v, tuple):
            w(b"(")
            for item in v:
                self.value_of(item)
            w(b"t")
        else:
            raise UnsupportedFormatError(f"cannot write a {type(v).__name__} value back into a .pth file")

    def _long(self, v: int) -> None:
        data = v.to_bytes((v.bit_length() + 8) // 8, "little", signed=True)
        self.out.write(b"\x8a" + bytes([len(data)]) + data)

    def global_(self, ref: GlobalRef) -> None:
        self.out.write(b"c" + ref.module.encode() + b"\n" + ref.name.encode() + b"\n")

    def reduce(self, ref: GlobalRef, args: list[object]) -> None:
        self.global_(ref)
        self.value_of(tuple(args))
        self.out.write(b"R")


def _is_state_dict(e: Entry) -> bool:
    tensors = sum(1 for _, c in e.children if c.kind is Kind.TENSOR)
    return tensors > 0 and tensors * 2 >= len(e.children)


def write_pth(ckpt: Checkpoint, rules: KeyRules, out: IO[bytes], carry_unsafe: bool = False) -> list[str]:
    """The whole checkpoint, keys rewritten by `rules`, as a torch zip archive on `out`; returns the globals that
    `torch.load(weights_only=True)` refuses and that were carried anyway (only with `carry_unsafe`)."""
    writer = PickleWriter(rules, lists=ckpt.format == CheckpointFormat.DCP)
    data_pkl = writer.dump(ckpt.root)
    unsafe = unsafe_globals(data_pkl)
    if unsafe and not carry_unsafe:
        raise UsageError(
            f"{ckpt.path}: refusing to write globals that torch.load(weights_only=True) refuses (they can run "
            f"code when loaded): {', '.join(unsafe)}; use --to safetensors, or --carry-unsafe-globals to copy "
            "them (the output is then no safer than the input)"
        )
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        _write_member(archive, out, f"{ARCHIVE}/data.pkl", [data_pkl], len(data_pkl))
        _write_member(archive, out, f"{ARCHIVE}/byteorder", [b"little"], 6)
        for key, storage, info in writer.storages.values():
            _write_member(archive, out, f"{ARCHIVE}/data/{key}", _storage_bytes(storage, info), storage.nbytes)
        _write_member(archive, out, f"{ARCHIVE}/version", [b"3\n"], 2)
    return unsafe


def _write_member(archive: zipfile.ZipFile, out: IO[bytes], name: str, chunks: object, size: int) -> None:
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = size
    zip64 = size * 1.05 > zipfile.ZIP64_LIMIT
    header = 30 + len(name.encode()) + (20 if zip64 else 0)
    pad = -(out.tell() + header + 4) % ALIGNMENT  # an extra field pads the data to a 64-byte boundary
    info.extra = struct.pack("<HH", 0x4B46, pad) + b"Z" * pad
    with archive.open(info, "w", force_zip64=zip64) as member:
        for chunk in chunks:  # type: ignore[attr-defined]
            member.write(chunk)


def _storage_bytes(storage: Storage, info: TensorInfo, chunk: int = 8 << 20) -> object:
    if not has_byte_range(storage):  # DCP: read through its own reader, one tensor (= one storage) at a time
        if info.storage_offset or not info.is_contiguous or info.numel != storage.numel:
            raise UnsupportedFormatError(f"tensor '{info.key}' is a view of a storage that is not in a file")
        yield from tensor_chunks(info)
        return
    start, available = byte_range(storage)
    length = storage.nbytes
    if length > available:
        raise UnsupportedFormatError(f"storage {storage.key} is shorter than declared; cannot copy it")
    with open(storage.file, "rb") as f:
        for offset in range(0, length, chunk):
            yield os.pread(f.fileno(), min(chunk, length - offset), start + offset)
