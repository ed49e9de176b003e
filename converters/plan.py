"""What a conversion will write: output names, tensors, casts, aliases, metadata, and what cannot be carried.

Planning reads only structure, so every problem (collisions, unsupported dtypes, nothing to write) is found before
a byte is written.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field

from ckpt_tui.core.keys import rename_keys
from ckpt_tui.core.layout import state_dict_at
from ckpt_tui.dtypes import FLOATING, NUMPY_STRUCT, TO_SAFETENSORS
from ckpt_tui.errors import UsageError
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
from ckpt_tui.reports import KeyRules

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


@dataclass
class ConversionPlan:
    source: Checkpoint
    scope: str
    tensors: list[OutputTensor]
    aliases: dict[str, str] = field(default_factory=dict)  # dropped name -> kept name (same data)
    renamed: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    not_carried: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


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
        scope, selected, prefix = "(every tensor)", dict(ckpt.tensors), ""
    else:
        located, selected = state_dict_at(ckpt, key)
        scope, prefix = located.label, ".".join(map(str, located.path))
    renamed = rename_keys(selected, rules)
    plan = ConversionPlan(ckpt, scope, [])
    plan.renamed = {old: new for old, new in zip(selected, renamed, strict=True) if old != new}
    written: set[int] = set()
    for name, info in renamed.items():
        why = _unsupported(info)
        if why:
            plan.not_carried.append((name, why))
            continue
        target = cast if cast and info.dtype in FLOATING and info.dtype != cast else info.dtype
        plan.tensors.append(OutputTensor(name, info, target))
        written.add(id(info))
    _dedupe_aliases(plan)
    if not plan.tensors:
        raise UsageError(f"{ckpt.path}: no tensors to write at {scope}" + _why(plan))
    _carry_the_rest(plan, ckpt, prefix if not all_tensors else None, {id(info) for info in selected.values()})
    plan.metadata["format"] = "pt"
    return plan


def _cast(dtype: str | None) -> str | None:
    if dtype is None:
        return None
    if dtype not in CASTS:
        raise UsageError(f"--dtype must be one of bf16, fp16, fp32 (got {dtype!r})")
    return CASTS[dtype]


def _unsupported(info: TensorInfo) -> str | None:
    if info.device == "meta":
        return "saved on the meta device: it has no data"
    if info.quantization is not None:
        return f"quantized ({info.dtype}): safetensors has no quantized dtypes"
    if info.dtype not in TO_SAFETENSORS:
        return f"dtype {info.dtype} has no safetensors equivalent"
    return None


def _dedupe_aliases(plan: ConversionPlan) -> None:
    """Names viewing exactly the same bytes are stored once; the others are recorded as aliases of the first."""
    kept: dict[tuple[object, ...], str] = {}
    tensors = []
    for t in plan.tensors:
        s = t.info.storage
        identity = (s.file, s.key, s.member, s.offset, t.info.storage_offset, t.info.shape, t.info.stride, t.dtype)
        if identity in kept and s.key:
            plan.aliases[t.name] = kept[identity]
        else:
            kept[identity] = t.name
            tensors.append(t)
    plan.tensors = tensors
    plan.metadata.update(plan.aliases)  # the safetensors convention: {dropped name: kept name}


def _carry_the_rest(plan: ConversionPlan, ckpt: Checkpoint, scope_prefix: str | None, selected: set[int]) -> None:
    """Non-tensor values into metadata as JSON; tensors outside the selection reported as not carried."""
    for path, entry in _top_down(ckpt.root):
        if scope_prefix and (path == scope_prefix or path.startswith(scope_prefix + ".")):
            continue  # the written state dict itself
        if ckpt.format == CheckpointFormat.SAFETENSORS and path == "__metadata__":
            plan.metadata.update({str(k): str(e.value) for k, e in entry.children})  # already strings
        elif entry.kind is Kind.TENSOR and id(entry.value) not in selected:
            plan.not_carried.append((path, "a tensor outside the converted state dict (use --all or --key)"))
        elif entry.kind is not Kind.TENSOR:
            encoded = to_json(entry)
            if encoded is not None and path:
                plan.metadata[path] = json.dumps(encoded, ensure_ascii=False)
            elif encoded is None:
                plan.not_carried.append((path, f"{entry.type_name} cannot be represented as JSON"))
    for path, entry in walk_dotted(ckpt.root):
        if entry.attrs:
            plan.not_carried.append(
                (f"{path or '(root)'}._metadata", "state dict module versions (safetensors has no place for them)")
            )


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


def to_json(entry: Entry, budget: list[int] | None = None) -> object | None:
    """A JSON-able form of a tensor-free entry, or None where it has none (bytes, big arrays, cycles) or where it
    would exceed MAX_JSON_NODES (memo-shared subtrees expand in JSON: a hostile pickle could make that endless)."""
    budget = [MAX_JSON_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return None
    if entry.kind is Kind.VALUE:
        return _json_value(entry.value)
    items = [(k, to_json(e, budget)) for k, e in entry.children]
    if any(v is None and e.value is not None for (_, v), (_, e) in zip(items, entry.children, strict=True)):
        return None
    if entry.kind is Kind.SEQUENCE:
        return [v for _, v in items]
    obj = {str(k): v for k, v in items}
    return obj if entry.kind is Kind.MAPPING else {"__class__": entry.type_name, **obj}


def _json_value(value: object) -> object | None:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, complex):
        return {"real": value.real, "imag": value.imag}
    if isinstance(value, GlobalRef):
        return {"__global__": value.qualname}
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, ArrayValue):
        return _array_json(value)
    return None


def _array_json(array: ArrayValue) -> object | None:
    code = array.dtype.lstrip("<>|=")
    if not isinstance(array.data, bytes) or code not in NUMPY_STRUCT or array.dtype.startswith(">"):
        return None
    count = len(array.data) // struct.calcsize(NUMPY_STRUCT[code])
    if count > MAX_ARRAY_ELEMENTS:
        return None
    values = list(struct.unpack(f"<{count}{NUMPY_STRUCT[code]}", array.data))
    return {"__ndarray__": array.dtype, "shape": list(array.shape), "data": values}


def _why(plan: ConversionPlan) -> str:
    return f" ({plan.not_carried[0][0]}: {plan.not_carried[0][1]})" if plan.not_carried else ""
