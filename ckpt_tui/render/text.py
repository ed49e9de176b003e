"""Short text for entries and values, shared by the renderers and the app."""

from __future__ import annotations

from ckpt_tui.model import ArrayValue, Entry, GlobalRef, Kind, tensor_count


def describe(entry: Entry, memo: dict[int, int] | None = None) -> str:
    """One short line for an entry: 'mapping of 12 (10 tensors)', 'float32 [3, 4]', 'int = 3'."""
    if entry.kind is Kind.TENSOR:
        return f"{entry.tensor.dtype} {list(entry.tensor.shape)}"
    if entry.kind is Kind.VALUE:
        return f"{entry.type_name} = {short_repr(entry.value)}"
    tensors = tensor_count(entry, memo)
    inner = f", {tensors} tensors" if tensors else ""
    return f"{entry.type_name} of {len(entry.children)}{inner}"


def short_repr(value: object, limit: int = 60) -> str:
    if isinstance(value, ArrayValue):
        return f"array {value.dtype} {list(value.shape)}"
    if isinstance(value, GlobalRef):
        return value.qualname
    if isinstance(value, bytes) and len(value) > 16:
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
