"""What a checkpoint is, in numbers: counts, bytes per dtype, where the parts are, and what to watch out for."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from ckpt_tui.core.keys import wrapper_prefixes
from ckpt_tui.core.layout import (
    Located,
    detect_framework,
    find_optimizers,
    find_schedulers,
    find_state_dict,
    tensors_under,
)
from ckpt_tui.model import Checkpoint, Entry, Key, Kind, Notice, Severity, walk


@dataclass(frozen=True, slots=True)
class TopLevelItem:
    key: Key
    description: str


@dataclass(frozen=True, slots=True)
class Summary:
    path: str
    format: str
    framework: str
    file_size: int
    tensor_count: int
    element_count: int
    tensor_bytes: int
    bytes_by_dtype: dict[str, int]
    top_level: tuple[TopLevelItem, ...]
    state_dict: Located | None
    state_dict_params: int
    optimizers: tuple[Located, ...]
    schedulers: tuple[Located, ...]
    notices: tuple[Notice, ...]


def summarize(ckpt: Checkpoint) -> Summary:
    tensors = ckpt.tensors.values()
    by_dtype: Counter[str] = Counter()
    for t in tensors:
        by_dtype[t.dtype] += t.nbytes
    state_dict = find_state_dict(ckpt)
    params = sum(t.numel for t in tensors_under(state_dict.entry).values()) if state_dict else 0
    return Summary(
        ckpt.path,
        ckpt.format,
        detect_framework(ckpt),
        ckpt.file_size,
        len(ckpt.tensors),
        sum(t.numel for t in tensors),
        sum(t.nbytes for t in tensors),
        dict(by_dtype.most_common()),
        tuple(TopLevelItem(k, describe(e)) for k, e in ckpt.root.children),
        state_dict,
        params,
        tuple(find_optimizers(ckpt)),
        tuple(find_schedulers(ckpt)),
        ckpt.notices + tuple(prefix_notices(ckpt, state_dict)),
    )


def prefix_notices(ckpt: Checkpoint, state_dict: Located | None) -> list[Notice]:
    if state_dict is None:
        return []
    keys = list(tensors_under(state_dict.entry))
    notices = []
    for prefix, count in wrapper_prefixes(keys).items():
        flag = "--strip-module" if prefix == "module." else "--strip-wrappers"
        message = (
            f"{count} of {len(keys)} state dict keys carry the wrapper prefix '{prefix}'; "
            f"strip it with: ckpt-tui convert {flag} {ckpt.path}"
        )
        notices.append(Notice("wrapper-prefix", Severity.WARNING, message, prefix))
    return notices


def describe(entry: Entry) -> str:
    """One short line for an entry: 'mapping of 12 (10 tensors)', 'float32 [3, 4]', 'int = 3'."""
    if entry.kind is Kind.TENSOR:
        info = entry.value
        return f"{info.dtype} {list(info.shape)}"  # type: ignore[union-attr]
    if entry.kind is Kind.VALUE:
        return f"{entry.type_name} = {short_repr(entry.value)}"
    tensors = sum(1 for _, e in walk(entry) if e.kind is Kind.TENSOR)
    inner = f", {tensors} tensors" if tensors else ""
    return f"{entry.type_name} of {len(entry.children)}{inner}"


def short_repr(value: object, limit: int = 60) -> str:
    from ckpt_tui.model import ArrayValue, GlobalRef

    if isinstance(value, ArrayValue):
        return f"array {value.dtype} {list(value.shape)}"
    if isinstance(value, GlobalRef):
        return value.qualname
    if isinstance(value, bytes) and len(value) > 16:
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
