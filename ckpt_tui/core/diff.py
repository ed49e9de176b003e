"""Diff two checkpoints tensor by tensor, with tolerances, across formats, one pair of tensors at a time.

Which tensors: both sides' model state dicts when one side is a bare state dict (or `--key` says so), else every
tensor by path plus every non-tensor value (epoch, lr, hyper-parameters). Key rules (`--strip-wrappers`, ...)
apply to both sides. Tolerance follows `torch.testing.assert_close`: |a-b| <= atol + rtol*|b|, NaNs in the same
places equal; exact by default. A byte-compare fast path makes identical tensors cost a memcmp.

A tensor that gains or loses NaN/Inf is a change of its own kind ("nonfinite", listed first): its finite metrics
can all look perfect. A key present on one side only whose tensor is the same view of the same storage as a key
present on both sides is a tied weight stored once on the other side (transformers' `save_pretrained` and
`safetensors.torch.save_model` drop the duplicate; `from_pretrained`/`load_model` restore it): listed as tied, not
as a difference.
"""

from __future__ import annotations

import hashlib
import re
import threading

from ckpt_tui.core.compare import compare_pair
from ckpt_tui.core.keys import explain_key_mismatch, rename_keys
from ckpt_tui.core.layout import find_state_dict, state_dict_at
from ckpt_tui.errors import Cancelled
from ckpt_tui.model import (
    ArrayValue,
    Checkpoint,
    CheckpointFormat,
    Entry,
    Key,
    Kind,
    TensorInfo,
    value_text,
    walk_dotted,
)
from ckpt_tui.reports import DiffOptions, DiffReport, DiffStatus, Progress, TensorDiff, ValueChange

SAFETENSORS_HEADER = "__metadata__"


def diff_checkpoints(
    a: Checkpoint,
    b: Checkpoint,
    options: DiffOptions | None = None,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> DiffReport:
    options = options or DiffOptions()
    (scope_a, path_a, tensors_a), (scope_b, path_b, tensors_b), whole = _scopes(a, b, options)
    tensors_a, tensors_b = (
        _select(rename_keys(tensors_a, options.rules), options),
        _select(rename_keys(tensors_b, options.rules), options),
    )
    common = [k for k in tensors_a if k in tensors_b]
    total, done = sum(tensors_a[k].nbytes for k in common), 0
    pairs = []
    for key in common:
        if cancel is not None and cancel.is_set():
            raise Cancelled("diff cancelled")
        pairs.append(_diff_pair(key, tensors_a[key], tensors_b[key], options))
        done += tensors_a[key].nbytes
        if progress:
            progress(done, total)
    values = _value_changes(a, b, options) if whole else []
    tied_a, tied_b = _tied_only(tensors_a, tensors_b), _tied_only(tensors_b, tensors_a)
    only_a = tuple(k for k in tensors_a if k not in tensors_b and k not in dict(tied_a))
    only_b = tuple(k for k in tensors_b if k not in tensors_a and k not in dict(tied_b))
    return DiffReport(
        a.path,
        b.path,
        scope_a,
        scope_b,
        options,
        only_a,
        only_b,
        tuple(pairs),
        tuple(values),
        explain_key_mismatch(only_a, only_b),
        path_a,
        path_b,
        tied_a,
        tied_b,
    )


def _tied_only(side: dict[str, TensorInfo], other: dict[str, TensorInfo]) -> tuple[tuple[str, str], ...]:
    """Keys of `side` absent from `other` that view exactly the bytes of a `side` key that `other` has."""
    views: dict[tuple[object, ...], str] = {}
    for key, info in side.items():
        if key in other and info.storage.key:
            views.setdefault(_view(info), key)
    return tuple(
        (key, views[_view(info)])
        for key, info in side.items()
        if key not in other and info.storage.key and _view(info) in views
    )


def _view(info: TensorInfo) -> tuple[object, ...]:
    s = info.storage
    return (s.file, s.key, s.member, s.offset, info.storage_offset, info.shape, info.stride, info.dtype)


Scope = tuple[str, tuple[Key, ...], dict[str, TensorInfo]]


def _scopes(a: Checkpoint, b: Checkpoint, options: DiffOptions) -> tuple[Scope, Scope, bool]:
    """Each side's tensors to compare, and whether whole checkpoints are compared (then values are too)."""
    if options.key_a is not None or options.key_b is not None:
        return _state_dict(a, options.key_a), _state_dict(b, options.key_b), False
    bare_a, bare_b = _is_bare(a), _is_bare(b)
    if bare_a == bare_b:
        return ("(root)", (), a.tensors), ("(root)", (), b.tensors), True
    return _state_dict(a, None), _state_dict(b, None), False


def _is_bare(ckpt: Checkpoint) -> bool:
    found = find_state_dict(ckpt)
    return found is not None and found.path == ()


def _state_dict(ckpt: Checkpoint, key: str | None) -> Scope:
    located, tensors = state_dict_at(ckpt, key)
    return located.label, located.path, tensors


def _select(tensors: dict[str, TensorInfo], options: DiffOptions) -> dict[str, TensorInfo]:
    only = re.compile(options.only) if options.only else None
    exclude = re.compile(options.exclude) if options.exclude else None
    return {
        k: t
        for k, t in tensors.items()
        if (only is None or only.search(k)) and (exclude is None or not exclude.search(k))
    }


def _diff_pair(key: str, a: TensorInfo, b: TensorInfo, options: DiffOptions) -> TensorDiff:
    if a.shape != b.shape:
        return TensorDiff(key, DiffStatus.SHAPE, a, b, None)
    metrics = compare_pair(a, b, options.rtol, options.atol)
    if metrics.nonfinite_changed:
        return TensorDiff(key, DiffStatus.NONFINITE, a, b, metrics)
    return TensorDiff(key, DiffStatus.EQUAL if metrics.mismatched == 0 else DiffStatus.CHANGED, a, b, metrics)


def _value_changes(a: Checkpoint, b: Checkpoint, options: DiffOptions) -> list[ValueChange]:
    """Changed non-tensor values; a safetensors header's `__metadata__` only against another safetensors file."""
    values_a, values_b = _values(a, options), _values(b, options)
    if (a.format == CheckpointFormat.SAFETENSORS) != (b.format == CheckpointFormat.SAFETENSORS):
        values_a, values_b = _without_header(values_a), _without_header(values_b)
    changes = [ValueChange(p, v, values_b.get(p)) for p, v in values_a.items() if values_b.get(p) != v]
    changes += [ValueChange(p, None, v) for p, v in values_b.items() if p not in values_a]
    return changes


def _without_header(values: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in values.items() if not k.startswith(SAFETENSORS_HEADER)}


def _values(ckpt: Checkpoint, options: DiffOptions) -> dict[str, str]:
    """Every non-tensor leaf by dotted path, as a comparable description; a safetensors alias's `__metadata__` entry
    is not one (the alias is compared as the tensor it names)."""
    out = {}
    safetensors = ckpt.format == CheckpointFormat.SAFETENSORS
    aliases = {f"{SAFETENSORS_HEADER}.{k}" for k in ckpt.tensors} if safetensors else set()
    for path, entry in walk_dotted(ckpt.root):
        if path in aliases:
            continue
        if entry.kind is Kind.VALUE:
            out[options.rules.apply(path)] = _describe(entry)
        elif entry.kind is Kind.OPAQUE and not entry.children:
            out[options.rules.apply(path)] = entry.type_name
    return out


def _describe(entry: Entry) -> str:
    """A value's text; data too long to show (arrays, bytes) is told apart by a digest."""
    value = entry.value
    data = value.data if isinstance(value, ArrayValue) else value if isinstance(value, bytes) else None
    digest = f" #{hashlib.blake2b(bytes(data), digest_size=6).hexdigest()}" if isinstance(data, bytes) else ""
    return f"{value_text(value, 200)}{digest} ({entry.type_name})"
