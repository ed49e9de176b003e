"""Optimizer state by parameter name: from `param_names` when saved, else inferred from the model's parameter order.

`torch.optim` keys its state by integer ids in `param_groups[i]["params"]`, numbered in the order the model's
parameters were given — which is `model.parameters()` order, the state dict's order without its buffers. The
inference walks both in order and checks every shape it can; where shapes disagree it refuses and says where.
"""

from __future__ import annotations

from typing import cast

from ckpt_tui.core.layout import find_optimizers, find_state_dict, tensors_under
from ckpt_tui.dtypes import FLOATING
from ckpt_tui.model import Checkpoint, Entry, Key, Kind, TensorInfo
from ckpt_tui.reports import Located, Naming, OptimizerReport, ParamGroup, ParamState

BUFFER_NAMES = ("running_mean", "running_var", "num_batches_tracked")


def optimizer_reports(ckpt: Checkpoint) -> list[OptimizerReport]:
    optimizers = find_optimizers(ckpt)
    if not optimizers:  # a 100k-tensor state dict: no need to walk it
        return []
    state_dict = find_state_dict(ckpt)
    model = tensors_under(state_dict.entry) if state_dict else {}
    return [map_optimizer(located, model) for located in optimizers]


def map_optimizer(located: Located, model: dict[str, TensorInfo]) -> OptimizerReport:
    groups = _groups(located.entry)
    ids = [(pid, g.index) for g in groups for pid in g.params]
    states = {k: e for k, e in (located.entry.child("state") or Entry(Kind.MAPPING, "dict")).children}
    names, naming, note = _names(located.entry, ids, states, model)
    params = tuple(
        ParamState(pid, names.get(pid), group, _pairs(states.get(pid)), _bytes(states.get(pid))) for pid, group in ids
    )
    optimizer_bytes = sum(p.nbytes for p in params)
    return OptimizerReport(
        located, tuple(groups), params, naming, note, optimizer_bytes, sum(t.nbytes for t in model.values())
    )


def _groups(entry: Entry) -> list[ParamGroup]:
    out = []
    groups = entry.child("param_groups")
    for i, (_, group) in enumerate(groups.children if groups else ()):
        params = group.child("params")
        ids = tuple(cast(Key, e.value) for _, e in params.children) if params else ()
        hyper = tuple((str(k), v) for k, v in group.children if k not in ("params", "param_names"))
        out.append(ParamGroup(i, hyper, ids))
    return out


def _names(
    entry: Entry, ids: list[tuple[Key, int]], states: dict[Key, Entry], model: dict[str, TensorInfo]
) -> tuple[dict[Key, str], Naming, str]:
    saved = _saved_names(entry)
    if saved:
        return saved, Naming.PARAM_NAMES, "names saved by the optimizer (param_groups[i]['param_names'])"
    if not ids:
        return {}, Naming.NONE, "the optimizer holds no parameters"
    if not model:
        return {}, Naming.REFUSED, "no model state dict found to infer parameter names from"
    candidates = [(k, t) for k, t in model.items() if t.dtype in FLOATING and not k.endswith(BUFFER_NAMES)]
    return _infer(ids, states, candidates)


def _saved_names(entry: Entry) -> dict[Key, str]:
    names: dict[Key, str] = {}
    groups = entry.child("param_groups")
    for _, group in groups.children if groups else ():
        params, saved = group.child("params"), group.child("param_names")
        if params is None or saved is None or len(params.children) != len(saved.children):
            return {}
        pairs = zip(params.children, saved.children, strict=True)
        names |= {cast(Key, p.value): str(n.value) for (_, p), (_, n) in pairs}
    return names


def _infer(
    ids: list[tuple[Key, int]], states: dict[Key, Entry], candidates: list[tuple[str, TensorInfo]]
) -> tuple[dict[Key, str], Naming, str]:
    """Align optimizer ids with model parameters in order, by shape; refuse unless exactly one alignment fits.

    Parameters missing from the optimizer (frozen ones) make alignment ambiguous when their shapes repeat: the
    earliest and the latest alignment that fit must agree, or the names cannot be told from shapes alone.
    """
    shapes = [_state_shape(states.get(pid)) for pid, _ in ids]
    shape_of = [info.shape for _, info in candidates]
    earliest = _align(shapes, shape_of)
    latest = _align(shapes[::-1], shape_of[::-1])
    if earliest is None or latest is None:
        return {}, Naming.REFUSED, f"the shapes of {len(ids)} optimizer parameters do not fit the model's, in order"
    latest = [len(candidates) - 1 - i for i in reversed(latest)]
    if earliest != latest:
        skipped = len(candidates) - len(ids)
        return {}, Naming.REFUSED, f"ambiguous: {skipped} model parameters are not in the optimizer and shapes repeat"
    names = {pid: candidates[i][0] for (pid, _), i in zip(ids, earliest, strict=True)}
    skipped = len(candidates) - len(names)
    note = "inferred from the model's parameter order and shapes"
    return names, Naming.INFERRED, note + (f" ({skipped} model tensors not in the optimizer)" if skipped else "")


def _align(shapes: list[tuple[int, ...] | None], candidates: list[tuple[int, ...]]) -> list[int] | None:
    """Greedy in-order match: the earliest candidate index for each shape (None matches anything)."""
    out, position = [], 0
    for shape in shapes:
        while position < len(candidates) and shape is not None and candidates[position] != shape:
            position += 1
        if position >= len(candidates):
            return None
        out.append(position)
        position += 1
    return out


def _state_shape(state: Entry | None) -> tuple[int, ...] | None:
    for _, e in state.children if state else ():
        if e.kind is Kind.TENSOR and e.tensor.numel > 1:
            return e.tensor.shape
    return None


def _pairs(state: Entry | None) -> tuple[tuple[str, Entry], ...]:
    return tuple((str(k), v) for k, v in state.children) if state else ()


def _bytes(state: Entry | None) -> int:
    return sum(e.tensor.nbytes for _, e in state.children if e.kind is Kind.TENSOR) if state else 0
