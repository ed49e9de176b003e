"""Short text for entries and values, shared by the renderers and the app."""

from __future__ import annotations

from ckpt_tui.model import Entry, Kind, tensor_count, value_text


def describe(entry: Entry, memo: dict[int, int] | None = None) -> str:
    """One short line for an entry: 'mapping of 12 (10 tensors)', 'float32 [3, 4]', 'int = 3'."""
    if entry.kind is Kind.TENSOR:
        return f"{entry.tensor.dtype} {list(entry.tensor.shape)}"
    if entry.kind is Kind.VALUE:
        return f"{entry.type_name} = {short_repr(entry.value)}"
    tensors = tensor_count(entry, memo)
    inner = f", {tensors} tensors" if tensors else ""
    return f"{entry.type_name} of {len(entry.children)}{inner}"


short_repr = value_text  # the vocabulary's rule, shared with the diff
