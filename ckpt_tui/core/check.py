"""Does this checkpoint load into this model class on this device? One LoadReport that says why or why not.

The model is built on the target device (meta: nothing allocated), its state dict compared with the checkpoint's
(after the same key rules as convert): missing and unexpected keys, shape and dtype mismatches, tied parameters
the checkpoint would pull apart, buffers left uninitialised. On a real device the tensors are then really loaded
(`load_state_dict`), and `forward` runs one pass on random input and fails on NaN/Inf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ckpt_tui.core.compare import compare_pair
from ckpt_tui.core.keys import explain_key_mismatch, rename_keys
from ckpt_tui.core.layout import state_dict_at
from ckpt_tui.core.user_model import build_model
from ckpt_tui.model import Checkpoint, TensorInfo
from ckpt_tui.reports import ForwardResult, KeyRules, LoadReport, Mismatch


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
    missing = tuple(k for k in expected if k not in tensors)
    unexpected = tuple(k for k in tensors if k not in expected)
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
    report = LoadReport(
        ckpt.path,
        model,
        str(target),
        strict,
        located.label,
        len(common),
        missing,
        unexpected,
        shapes,
        dtypes,
        _tie_conflicts(module, tensors),
        _uninitialised(module, target),
        hint=explain_key_mismatch(unexpected, missing, ("unexpected keys", "missing keys")),
    )
    if target.type != "meta":
        report = _load(report, module, tensors, {m.key for m in shapes}, target)
    if forward is not None:
        report = _with_forward(report, module, forward, target)
    return report


def _tie_conflicts(module: Any, tensors: dict[str, TensorInfo]) -> tuple[tuple[str, ...], ...]:
    """Groups of names the model ties (one Parameter) whose values differ in the checkpoint."""
    groups: dict[int, list[str]] = {}
    for name, param in module.named_parameters(remove_duplicate=False):
        groups.setdefault(id(param), []).append(name)
    conflicts = []
    for names in groups.values():
        present = [n for n in names if n in tensors]
        if len(present) > 1 and any(not _same(tensors[present[0]], tensors[n]) for n in present[1:]):
            conflicts.append(tuple(present))
    return tuple(conflicts)


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
    return replace(report, loaded=True)


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
