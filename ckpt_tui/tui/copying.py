"""What `y` and friends put on the clipboard: a key that works in Python, a shape, values, statistics.

`python_path(("model_state_dict", "head.weight"))` is `ckpt["model_state_dict"]["head.weight"]`: exact
subscripts, ints as ints, strings quoted and escaped as Python would (so a key holding control characters copies as
escapes, never as raw bytes).
"""

from __future__ import annotations

from typing import Any

from ckpt_tui.model import Checkpoint, Key, Kind, walk, walk_dotted
from ckpt_tui.render import printable
from ckpt_tui.reports import TensorStats


def python_literal(key: Key) -> str:
    """A key as Python source: `"head.weight"` (double quotes when possible), `0`, `(1, 2)`."""
    text = repr(key)
    if isinstance(key, str) and text.startswith("'") and '"' not in key:
        text = '"' + text[1:-1].replace("\\'", "'") + '"'
    return text


def python_path(path: tuple[Key, ...], root: str = "ckpt") -> str:
    return root + "".join(f"[{python_literal(k)}]" for k in path)


def tensor_paths(ckpt: Checkpoint) -> dict[str, tuple[Key, ...]]:
    """Each tensor's dotted key -> its real path of subscripts (the same walk, in the same order)."""
    out: dict[str, tuple[Key, ...]] = {}
    for (dotted, entry), (path, _) in zip(walk_dotted(ckpt.root), walk(ckpt.root), strict=True):
        if entry.kind is Kind.TENSOR:
            out[dotted] = path
    return out


def values_text(preview: tuple[tuple[Any, ...], ...], scalar: bool) -> str:
    """The values shown, as a Python list literal (the corner the preview holds)."""
    if scalar and preview:
        return repr(preview[0][0])
    return repr([list(row) for row in preview]) if len(preview) > 1 else repr(list(preview[0] if preview else ()))


def stats_text(stats: TensorStats) -> str:
    """Tab-separated name/value lines, full precision: pastes into a spreadsheet or a note."""
    rows = [
        ("key", printable(stats.key)),
        ("dtype", stats.dtype),
        ("numel", stats.numel),
        ("min", stats.min),
        ("max", stats.max),
        ("mean", stats.mean),
        ("std", stats.std),
        ("nan", stats.nan_count),
        ("inf", stats.inf_count),
        ("zeros", stats.zero_count),
    ]
    return "\n".join(f"{name}\t{value!r}" if isinstance(value, float) else f"{name}\t{value}" for name, value in rows)
