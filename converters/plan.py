"""What a conversion will write: output names, tensors, casts, aliases, metadata, and what cannot be carried.

Planning reads only structure, so every problem (collisions, unsupported dtypes, nothing to write) is found before
a byte is written.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from ckpt_tui.core.keys import rename_keys
from ckpt_tui.core.layout import state_dict_at
from ckpt_tui.core.tensors import check_expansion
from ckpt_tui.dtypes import FLOATING, NUMPY_STRUCT, TO_SAFETENSORS
from ckpt_tui.errors import Setting, UsageError
from ckpt_tui.model import (
    ArrayValue,
    Checkpoint,
    CheckpointFormat,
    Entry,
    GlobalRef,
    Kind,
    TensorInfo,
    tensor_count,
    walk_dotted,
)
from ckpt_tui.reports import OUTSIDE_STATE_DICT, KeyRules

CASTS = {
    "bf16": "bfloat16",
    "bfloat16": "bfloat16",
    "fp16": "float16",
    "float16": "float16",
    "fp32": "float32",
    "float32": "float32",
}
MAX_ARRAY_ELEMENTS = 1 << 16  # numpy arrays up to this size are carried as JSON lists
MAX_JSON_NODES = 1 << 20


@dataclass(frozen=True, slots=True)
class OutputTensor:
    name: str
    info: TensorInfo
    dtype: str  # the dtype written (differs from info.dtype when cast)

    @property
    def nbytes(self) -> int:
        from ckpt_tui.dtypes import itemsize

        return self.info.numel * itemsize(self.dtype)


@dataclass(frozen=True, slots=True)
class ConversionPlan:
    """Everything a safetensors conversion writes and reports, decided from the structure before a byte is written."""

    source: Checkpoint
    scope: str
    tensors: tuple[OutputTensor, ...]
    aliases: dict[str, str]  # dropped name -> kept name (same data), also in `metadata` (the safetensors convention)
    renamed: dict[str, str]
    metadata: dict[str, str]
    not_carried: tuple[tuple[str, str], ...]  # (path, why)
    notices: tuple[str, ...]  # carried, but not as they were (sparse tensors as their parts)


def plan_safetensors(
    ckpt: Checkpoint,
    key: str | None = None,
    all_tensors: bool = False,
    rules: KeyRules | None = None,
    dtype: str | None = None,
) -> ConversionPlan:
    rules = rules or KeyRules()
    cast = _cast(dtype)
    if all_tensors:
        scope, selected, prefix = "(every tensor)", dict(ckpt.tensors), None
    else:
        located, selected = state_dict_at(ckpt, key)
        scope, prefix = located.label, ".".join(map(str, located.path))
    renamed = rename_keys(selected, rules)
    candidates, not_carried = [], []
    for name, info in renamed.items():
        check_expansion(info)  # a stride-0 view claiming terabytes is refused before the output is sized for it
        why = _unsupported(info)
        if why:
            not_carried.append((name, why))
        else:
            target = cast if cast and info.dtype in FLOATING and info.dtype != cast else info.dtype
            candidates.append(OutputTensor(name, info, target))
    tensors, aliases = _dedupe_aliases(candidates)
    if not tensors:
        raise UsageError(f"{ckpt.path}: no tensors to write at {scope}" + _why(not_carried))
    metadata, rest = _carry_the_rest(ckpt, prefix, {id(info) for info in selected.values()})
    return ConversionPlan(
        ckpt,
        scope,
        tuple(tensors),
        aliases,
        {old: new for old, new in zip(selected, renamed, strict=True) if old != new},
        {**metadata, **aliases, "format": "pt"},
        (*not_carried, *rest),
        _sparse_parts(ckpt, prefix or "", list(selected)),
    )


def _cast(dtype: str | None) -> str | None:
    if dtype is None:
        return None
    if dtype not in CASTS:
        raise UsageError(f"must be one of bf16, fp16, fp32 (got {dtype!r})", setting=Setting.DTYPE)
    return CASTS[dtype]


def _unsupported(info: TensorInfo) -> str | None:
    if info.device == "meta":
        return "saved on the meta device: it has no data"
    if info.quantization is not None:
        return f"quantized ({info.dtype}): safetensors has no quantized dtypes"
    if info.dtype not in TO_SAFETENSORS:
        return f"dtype {info.dtype} has no safetensors equivalent"
    return None


def _dedupe_aliases(candidates: list[OutputTensor]) -> tuple[list[OutputTensor], dict[str, str]]:
    """Names viewing exactly the same bytes are stored once; the others are recorded as aliases of the first."""
    kept: dict[tuple[object, ...], str] = {}
    tensors, aliases = [], {}
    for t in candidates:
        s = t.info.storage
        identity = (s.file, s.key, s.member, s.offset, t.info.storage_offset, t.info.shape, t.info.stride, t.dtype)
        if identity in kept and s.key:
            aliases[t.name] = kept[identity]
        else:
            kept[identity] = t.name
            tensors.append(t)
    return tensors, aliases


def _sparse_parts(ckpt: Checkpoint, prefix: str, selected: list[str]) -> tuple[str, ...]:
    """Sparse tensors in the selection: safetensors has no sparse layout, so they are written as their parts."""
    out = []
    for path, entry in walk_dotted(ckpt.root):
        if entry.kind is Kind.OPAQUE and entry.type_name.startswith("torch.sparse_"):
            relative = path.removeprefix(prefix + ".") if prefix else path
            parts = [k for k in selected if k.startswith(relative + ".")]
            if parts and (not prefix or path.startswith(prefix + ".")):
                layout = entry.type_name.removeprefix("torch.").removesuffix(" tensor")
                out.append(f"{path}: a {layout} tensor, written as its parts {', '.join(parts)} (safetensors has no "
                           "sparse layout; rebuild it from them)")  # fmt: skip
    return tuple(out)


def _carry_the_rest(
    ckpt: Checkpoint, scope_prefix: str | None, selected: set[int]
) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """Non-tensor values into metadata as JSON; tensors outside the selection reported as not carried."""
    metadata: dict[str, str] = {}
    not_carried: list[tuple[str, str]] = []
    for path, entry in _top_down(ckpt.root):
        if scope_prefix and (path == scope_prefix or path.startswith(scope_prefix + ".")):
            continue  # the written state dict itself
        if ckpt.format == CheckpointFormat.SAFETENSORS and path == "__metadata__":
            metadata.update({str(k): str(e.value) for k, e in entry.children})  # already strings
        elif entry.kind is Kind.TENSOR and id(entry.value) not in selected:
            not_carried.append((path, OUTSIDE_STATE_DICT))
        elif entry.kind is not Kind.TENSOR:
            encoded = to_json(entry, lists=ckpt.format == CheckpointFormat.DCP)
            if encoded is UNREPRESENTABLE:
                not_carried.append((path, f"{entry.type_name} cannot be represented as JSON"))
            elif path:
                metadata[path] = json.dumps(encoded, ensure_ascii=False)
    for path, entry in walk_dotted(ckpt.root):
        if entry.attrs:
            not_carried.append(
                (f"{path or '(root)'}._metadata", "state dict module versions (safetensors has no place for them)")
            )
    return metadata, not_carried


def _top_down(root: Entry) -> list[tuple[str, Entry]]:
    """The largest tensor-free subtrees and the single tensors, in order (a subtree with tensors is opened).
    A container shared by several paths (the pickle memo) is opened once."""
    out: list[tuple[str, Entry]] = []
    stack: list[tuple[str, Entry]] = [("", root)]
    counts: dict[int, int] = {}
    opened: set[int] = set()
    while stack:
        path, entry = stack.pop()
        if entry.is_container and tensor_count(entry, counts):
            if id(entry) in opened:
                continue
            opened.add(id(entry))
            prefix = path + "." if path else ""
            stack.extend((f"{prefix}{k}", e) for k, e in reversed(entry.children))
        else:
            out.append((path, entry))
    return out


UNREPRESENTABLE = object()  # to_json's answer where there is no JSON form (None is JSON's null)


def to_json(entry: Entry, budget: list[int] | None = None, lists: bool = False) -> object:
    """A JSON-able form of a tensor-free entry, or UNREPRESENTABLE where it has none (bytes, big arrays, cycles) or
    where it would exceed MAX_JSON_NODES (memo-shared subtrees expand in JSON: a hostile pickle could make that
    endless). `lists`: mappings keyed 0..n-1 are lists (DCP flattens lists into such keys; torch rebuilds lists)."""
    budget = [MAX_JSON_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return UNREPRESENTABLE
    if entry.kind is Kind.VALUE:
        return _json_value(entry.value)
    items = [(k, to_json(e, budget, lists)) for k, e in entry.children]
    if any(v is UNREPRESENTABLE for _, v in items):
        return UNREPRESENTABLE
    if entry.kind is Kind.SEQUENCE or (lists and entry.kind is Kind.MAPPING and is_list_like(entry)):
        return [v for _, v in items]
    obj = {str(k): v for k, v in items}
    return obj if entry.kind is Kind.MAPPING else {"__class__": entry.type_name, **obj}


def is_list_like(entry: Entry) -> bool:
    """A mapping keyed exactly 0, 1, ..., n-1 (ints): how DCP's metadata keeps a list."""
    return bool(entry.children) and all(k == i and type(k) is int for i, (k, _) in enumerate(entry.children))


def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, complex):
        return {"real": value.real, "imag": value.imag}
    if isinstance(value, GlobalRef):
        return {"__global__": value.qualname}
    if isinstance(value, tuple):
        items = [_json_value(v) for v in value]
        return UNREPRESENTABLE if any(v is UNREPRESENTABLE for v in items) else items
    if isinstance(value, ArrayValue):
        return _array_json(value)
    return UNREPRESENTABLE


def _array_json(array: ArrayValue) -> object:
    code = array.dtype.lstrip("<>|=")
    if not isinstance(array.data, bytes) or code not in NUMPY_STRUCT or array.dtype.startswith(">"):
        return UNREPRESENTABLE
    count = len(array.data) // struct.calcsize(NUMPY_STRUCT[code])
    if count > MAX_ARRAY_ELEMENTS:
        return UNREPRESENTABLE
    values = list(struct.unpack(f"<{count}{NUMPY_STRUCT[code]}", array.data))
    return {"__ndarray__": array.dtype, "shape": list(array.shape), "data": values}


def _why(not_carried: list[tuple[str, str]]) -> str:
    return f" ({not_carried[0][0]}: {not_carried[0][1]})" if not_carried else ""
