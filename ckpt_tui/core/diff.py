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
from collections.abc import Callable
from dataclasses import dataclass, field

from ckpt_tui.core.compare import PairMetrics, compare_pair
from ckpt_tui.core.keys import KeyRules, explain_key_mismatch, rename_keys
from ckpt_tui.core.layout import find_state_dict, state_dict_at
from ckpt_tui.core.stats import Cancelled
from ckpt_tui.core.summary import short_repr
from ckpt_tui.model import ArrayValue, Checkpoint, Entry, Key, Kind, TensorInfo, walk_dotted

Progress = Callable[[int, int], None]
SAFETENSORS_HEADER = "__metadata__"


@dataclass(frozen=True, slots=True)
class DiffOptions:
    rtol: float = 0.0
    atol: float = 0.0
    key_a: str | None = None
    key_b: str | None = None
    rules: KeyRules = field(default_factory=KeyRules)
    only: str | None = None
    exclude: str | None = None


@dataclass(frozen=True, slots=True)
class TensorDiff:
    key: str
    status: str  # "equal" | "changed" | "nonfinite" (NaN/Inf introduced or removed) | "shape" (not compared)
    a: TensorInfo
    b: TensorInfo
    metrics: PairMetrics | None

    @property
    def dtype_changed(self) -> bool:
        return self.a.dtype != self.b.dtype


@dataclass(frozen=True, slots=True)
class ValueChange:
    path: str
    a: str | None  # None: only in B
    b: str | None  # None: only in A


@dataclass(frozen=True, slots=True)
class DiffReport:
    a: str
    b: str
    scope_a: str  # "(root)" or the state dict's location
    scope_b: str
    options: DiffOptions
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    tensors: tuple[TensorDiff, ...]  # every pair present on both sides, in A's order
    values: tuple[ValueChange, ...]
    scope_path_a: tuple[Key, ...] = ()  # the same locations as key paths
    scope_path_b: tuple[Key, ...] = ()
    tied_a: tuple[tuple[str, str], ...] = ()  # (key only in A, the key it is tied to in A, present in B)
    tied_b: tuple[tuple[str, str], ...] = ()

    @property
    def changed(self) -> list[TensorDiff]:
        """Changed tensors: NaN/Inf changes first, then the largest relative error first."""
        found = [t for t in self.tensors if t.status in ("changed", "nonfinite")]
        return sorted(found, key=lambda t: (t.status != "nonfinite", -(t.metrics.rel_l2 if t.metrics else 0.0)))

    @property
    def nonfinite(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.status == "nonfinite"]

    @property
    def shape_changes(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.status == "shape"]

    @property
    def dtype_changes(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.dtype_changed]

    @property
    def hint(self) -> str | None:
        return explain_key_mismatch(self.only_a, self.only_b)

    @property
    def identical(self) -> bool:
        return not (self.only_a or self.only_b or self.values or self.dtype_changes) and all(
            t.status == "equal" for t in self.tensors
        )


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
    return DiffReport(
        a.path,
        b.path,
        scope_a,
        scope_b,
        options,
        tuple(k for k in tensors_a if k not in tensors_b and k not in dict(tied_a)),
        tuple(k for k in tensors_b if k not in tensors_a and k not in dict(tied_b)),
        tuple(pairs),
        tuple(values),
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
        return TensorDiff(key, "shape", a, b, None)
    metrics = compare_pair(a, b, options.rtol, options.atol)
    status = "nonfinite" if metrics.nonfinite_changed else "equal" if metrics.mismatched == 0 else "changed"
    return TensorDiff(key, status, a, b, metrics)


def _value_changes(a: Checkpoint, b: Checkpoint, options: DiffOptions) -> list[ValueChange]:
    """Changed non-tensor values; a safetensors header's `__metadata__` only against another safetensors file."""
    values_a, values_b = _values(a, options), _values(b, options)
    if (a.format == "safetensors") != (b.format == "safetensors"):
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
    aliases = {f"{SAFETENSORS_HEADER}.{k}" for k in ckpt.tensors} if ckpt.format == "safetensors" else set()
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
    return f"{short_repr(value, 200)}{digest} ({entry.type_name})"
