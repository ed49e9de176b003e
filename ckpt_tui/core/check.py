"""Does this checkpoint load into this model class on this device? One LoadReport that says why or why not.

The model is built on the target device (meta: nothing allocated), its state dict compared with the checkpoint's
(after the same key rules as convert): missing and unexpected keys, shape and dtype mismatches, tied parameters
the checkpoint would pull apart, buffers left uninitialised. Every floating tensor the model would receive is read
chunk by chunk for NaN/Inf (on meta too: the values are in the file). On a real device the tensors are then really
loaded (`load_state_dict`), and `forward` runs one pass on random input and fails on NaN/Inf.

What counts as loaded follows the libraries that load these files, so that PASS means they load it too:
- tied parameters (one Parameter under several names, found by identity in `named_parameters(remove_duplicate=
  False)`, which works on meta where `data_ptr` does not) need one of their names in the checkpoint, as
  `from_pretrained` and `safetensors.torch.load_model` do; a safetensors file's `{alias: kept}` metadata is
  honoured by the reader. transformers' `_tied_weights_keys` is not consulted: transformers 5 declares it even
  when `tie_word_embeddings=False`, and then `from_pretrained` reports the missing name as missing too.
- checkpoint keys naming a non-persistent buffer of the model (BERT's `embeddings.position_ids` in older files)
  are reported, not failed: transformers ignores them.
- `--no-strict` tolerates missing/unexpected keys and dtype changes, but never a load that matched less than
  MIN_MATCHED (reports.py: half) of the model's keys (and at least one): a check that loaded nothing does not pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ckpt_tui.core.compare import compare_pair
from ckpt_tui.core.keys import explain_key_mismatch, rename_keys
from ckpt_tui.core.layout import state_dict_at
from ckpt_tui.core.user_model import build_model
from ckpt_tui.dtypes import COMPLEX, FLOATING
from ckpt_tui.model import Checkpoint, TensorInfo
from ckpt_tui.reports import ForwardResult, KeyRules, LoadReport, Mismatch, NonFinite


def check_loads(
    checkpoint: str | Checkpoint,
    model: str,
    *,
    kwargs: dict[str, Any] | None = None,
    device: str = "cpu",
    strict: bool = True,
    key: str | None = None,
    rules: KeyRules | None = None,
    forward: tuple[tuple[int, ...], str] | None = None,
    paths: Sequence[str] = (),
    allow_nonfinite: bool = False,
) -> LoadReport:
    """The Python API (`from ckpt_tui import check_loads`): raises CkptError for bad input, else a report."""
    from ckpt_tui.core.devices import torch_device
    from ckpt_tui.formats import read_checkpoint

    ckpt = checkpoint if isinstance(checkpoint, Checkpoint) else read_checkpoint(checkpoint)
    target = torch_device(device)
    located, tensors = state_dict_at(ckpt, key)
    tensors = rename_keys(tensors, rules or KeyRules())
    module = build_model(model, kwargs or {}, target, paths)
    expected = module.state_dict(keep_vars=True)
    tied = _tied_fills(module, expected, tensors)
    non_persistent = {name for name, _ in module.named_buffers() if name not in expected}
    missing = tuple(k for k in expected if k not in tensors and k not in dict(tied))
    unexpected = tuple(k for k in tensors if k not in expected and k not in non_persistent)
    common = [k for k in expected if k in tensors]
    shapes = tuple(
        Mismatch(k, str(list(tensors[k].shape)), str(list(expected[k].shape)))
        for k in common
        if tuple(expected[k].shape) != tensors[k].shape
    )
    dtypes = tuple(
        Mismatch(k, tensors[k].dtype, str(expected[k].dtype).removeprefix("torch."))
        for k in common
        if str(expected[k].dtype).removeprefix("torch.") != tensors[k].dtype
    )
    nonfinite, checked = _nonfinite({k: tensors[k] for k in common})
    report = LoadReport(
        ckpt.path,
        model,
        str(target),
        strict,
        located.path,
        len(common),
        len(expected),
        missing,
        unexpected,
        shapes,
        dtypes,
        *_tie_conflicts(module, tensors),
        tied,
        tuple(k for k in tensors if k in non_persistent),
        _uninitialised(module, target),
        nonfinite,
        checked,
        allow_nonfinite,
        hint=explain_key_mismatch(unexpected, missing, ("unexpected keys", "missing keys"), right_is_fixed=True),
    )
    if target.type != "meta":
        report = _load(report, module, tensors, {m.key for m in shapes}, target)
    if forward is not None:
        report = _with_forward(report, module, forward, target)
    return report


def _tie_groups(module: Any) -> list[list[str]]:
    """Names sharing one Parameter object (identity, so meta models count too), two names or more."""
    groups: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    return [names for names in groups.values() if len(names) > 1]


def _tied_fills(module: Any, expected: dict[str, Any], tensors: dict[str, TensorInfo]) -> tuple[tuple[str, str], ...]:
    """(absent key, present key) for each model key the file leaves out but fills through a tie."""
    fills = []
    for names in _tie_groups(module):
        present = [n for n in names if n in tensors]
        if present:
            fills += [(n, present[0]) for n in names if n not in tensors and n in expected]
    return tuple(fills)


def _nonfinite(tensors: dict[str, TensorInfo]) -> tuple[tuple[NonFinite, ...], int]:
    """NaN/Inf counts of every floating tensor with data (each storage view read once), and how many were read."""
    from ckpt_tui.core.stats import non_finite_counts

    seen: dict[tuple[object, ...], tuple[int, int]] = {}
    found = []
    for key, info in tensors.items():
        if info.dtype not in FLOATING | COMPLEX or info.device == "meta":
            continue
        s = info.storage
        identity = (s.file, s.key, s.member, s.offset, info.storage_offset, info.shape, info.stride, info.dtype)
        if identity not in seen:
            seen[identity] = non_finite_counts(info)
        nan, inf = seen[identity]
        if nan or inf:
            found.append(NonFinite(key, nan, inf))
    return tuple(found), len(seen)


def _tie_conflicts(module: Any, tensors: dict[str, TensorInfo]) -> tuple[tuple[tuple[str, ...], ...], int]:
    """Groups of names the model ties (one Parameter) whose values differ in the checkpoint, and how many groups
    have two names or more in it (the ones there is something to compare in)."""
    conflicts, compared = [], 0
    for names in _tie_groups(module):
        present = [n for n in names if n in tensors]
        if len(present) > 1:
            compared += 1
            if any(not _same(tensors[present[0]], tensors[n]) for n in present[1:]):
                conflicts.append(tuple(present))
    return tuple(conflicts), compared


def _same(a: TensorInfo, b: TensorInfo) -> bool:
    if a.storage == b.storage and (a.storage_offset, a.shape, a.stride) == (b.storage_offset, b.shape, b.stride):
        return True
    return a.shape == b.shape and a.dtype == b.dtype and a.device != "meta" and compare_pair(a, b).mismatched == 0


def _uninitialised(module: Any, target: Any) -> tuple[str, ...]:
    """On meta, non-persistent buffers have no values and no checkpoint will give them any."""
    if target.type != "meta":
        return ()
    persistent = set(module.state_dict())
    return tuple(name for name, _ in module.named_buffers() if name not in persistent)


def _load(report: LoadReport, module: Any, tensors: dict[str, TensorInfo], skip: set[str], target: Any) -> LoadReport:
    from ckpt_tui.core.tensors import load_tensor

    expected = module.state_dict()
    state = {k: load_tensor(t, str(target)) for k, t in tensors.items() if k in expected and k not in skip}
    try:
        module.load_state_dict(state, strict=False)
    except Exception as e:  # noqa: BLE001 - a model's own load hooks may raise anything
        return replace(report, load_error=f"{type(e).__name__}: {str(e).splitlines()[0][:300]}")
    return replace(report, loaded=True, loaded_count=len(state))


def _with_forward(report: LoadReport, module: Any, forward: tuple[tuple[int, ...], str], target: Any) -> LoadReport:
    import torch

    shape, dtype_name = forward
    dtype = getattr(torch, dtype_name, None)
    if not isinstance(dtype, torch.dtype):
        return replace(report, forward=ForwardResult(shape, (), 0, 0, f"unknown input dtype {dtype_name!r}"))
    if target.type == "meta":
        x = torch.empty(shape, dtype=dtype, device=target)
    else:  # the same random input on every device: drawn on the CPU from a fixed seed
        g = torch.Generator().manual_seed(0)
        x = torch.randn(shape, generator=g) if dtype.is_floating_point else torch.randint(0, 2, shape, generator=g)
        x = x.to(device=target, dtype=dtype)
    module.eval()
    try:
        with torch.no_grad():
            outputs = _tensors_in(module(x))
    except Exception as e:  # noqa: BLE001 - the user's forward may raise anything
        return replace(report, forward=ForwardResult(shape, (), 0, 0, f"{type(e).__name__}: {e}"))
    meta = target.type == "meta"
    nan = 0 if meta else sum(int(torch.isnan(t).sum()) for t in outputs if t.is_floating_point())
    inf = 0 if meta else sum(int(torch.isinf(t).sum()) for t in outputs if t.is_floating_point())
    return replace(report, forward=ForwardResult(shape, tuple(tuple(t.shape) for t in outputs), nan, inf))


def _tensors_in(output: Any) -> list[Any]:
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        return [t for v in output.values() for t in _tensors_in(v)]
    if isinstance(output, list | tuple):
        return [t for v in output for t in _tensors_in(v)]
    return []
