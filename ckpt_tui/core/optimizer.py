"""Optimizer state by parameter name: from `param_names` when saved, else inferred from the model's parameter order.

`torch.optim` keys its state by integer ids in `param_groups[i]["params"]`, numbered group by group in the order
the parameters were given — within a group, `model.parameters()` order (the state dict's order without its
buffers). The inference fits every group to the model in order, checking every shape it can, and names only when
exactly one fit exists; otherwise it refuses and says why.
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
    if state_dict is not None and state_dict.entry.type_name == "safetensors":
        model = architecture_order(ckpt, model)
    return [map_optimizer(located, model) for located in optimizers]


def architecture_order(ckpt: Checkpoint, model: dict[str, TensorInfo]) -> dict[str, TensorInfo]:
    """`model` in the architecture's parameter order, when the file's order is not it.

    safetensors writers sort tensors by name, so a Hugging Face `model.safetensors` has lost the order the
    optimizer numbered its parameters in. A `config.json` beside it names the class (`architectures`); the class,
    from the installed transformers (never remote code), is built on the meta device (no memory, no weights) and
    its `named_parameters()` give the order back. Without transformers, or for a class it lacks, `model` is
    returned as it is (the inference then says the shapes do not fit).
    """
    config = ckpt.root.child("config")
    if config is None or config.kind is not Kind.MAPPING:
        return model
    try:
        order = _named_parameters(_plain(config))
    except Exception:  # noqa: BLE001 - any failure of a third-party build only means: no order to offer
        return model
    ranked = [k for k in order if k in model]
    if len(ranked) < len(order) // 2:
        return model
    return {k: model[k] for k in ranked} | {k: t for k, t in model.items() if k not in set(ranked)}


def _named_parameters(config: object) -> list[str]:
    import torch
    import transformers

    assert isinstance(config, dict) and not config.get("auto_map"), "remote code is never run"
    name = config["architectures"][0]
    cls = getattr(transformers, name)
    assert isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel)
    settings = transformers.AutoConfig.for_model(**config)
    with torch.device("meta"):
        built = cls(settings)
    return [n for n, _ in built.named_parameters()]


def _plain(entry: Entry) -> object:
    if entry.kind is Kind.MAPPING:
        return {str(k): _plain(v) for k, v in entry.children}
    if entry.kind is Kind.SEQUENCE:
        return [_plain(v) for _, v in entry.children]
    return entry.value


def map_optimizer(located: Located, model: dict[str, TensorInfo]) -> OptimizerReport:
    groups = _groups(located.entry)
    ids = [(pid, g.index) for g in groups for pid in g.params]
    states = {k: e for k, e in (located.entry.child("state") or Entry(Kind.MAPPING, "dict")).children}
    names, naming, note = _names(located.entry, groups, states, model)
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
    entry: Entry, groups: list[ParamGroup], states: dict[Key, Entry], model: dict[str, TensorInfo]
) -> tuple[dict[Key, str], Naming, str]:
    saved = _saved_names(entry)
    if saved:
        return saved, Naming.PARAM_NAMES, "names saved by the optimizer (param_groups[i]['param_names'])"
    if not any(g.params for g in groups):
        return {}, Naming.NONE, "the optimizer holds no parameters"
    if not model:
        return {}, Naming.REFUSED, "no model state dict found to infer parameter names from"
    candidates = [(k, t) for k, t in model.items() if t.dtype in FLOATING and not k.endswith(BUFFER_NAMES)]
    return _infer(groups, states, candidates)


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


Shape = tuple[int, ...] | None
Positions = tuple[int, ...]
MAX_STATES = 2_000_000  # reachable (parameter, positions) states kept in all; past it the fit is not attempted


def _infer(
    groups: list[ParamGroup], states: dict[Key, Entry], candidates: list[tuple[str, TensorInfo]]
) -> tuple[dict[Key, str], Naming, str]:
    """Name optimizer ids by fitting them to the model's parameters by shape; name each id that every fit agrees on.

    torch numbers ids group by group, and each group lists its parameters in model order; the groups themselves
    interleave in the model (Hugging Face Trainer: weights in a decay group, biases and norms in a no-decay
    group). So every group is an in-order subsequence of the model's parameters, the groups are disjoint, and
    parameters in no group (frozen ones) are skipped. All fits are explored at once, walking the model's
    parameters forward (reachable positions in each group) and backward (positions that can still finish).
    """
    sequences = [[_state_shape(states.get(pid)) for pid in g.params] for g in groups]
    total = sum(map(len, sequences))
    spare = len(candidates) - total
    if spare < 0:
        return {}, Naming.REFUSED, f"the optimizer holds {-spare} more parameters than the model has"
    feasible = _feasible(sequences, [info.shape for _, info in candidates], spare)
    if feasible is None:
        return {}, Naming.REFUSED, "too many ways to fit the optimizer's parameters to the model's to tell them apart"
    if not feasible:
        return {}, Naming.REFUSED, f"the shapes of {total} optimizer parameters do not fit the model's, in order"
    names = {
        groups[g].params[p]: candidates[next(iter(found))][0] for (g, p), found in feasible.items() if len(found) == 1
    }
    note = "inferred from the model's parameter order and shapes"
    if len([g for g in groups if g.params]) > 1:
        note += ", group by group"
    if spare:
        note += f" ({spare} model tensors not in the optimizer)"
    if len(names) < total:
        why = "frozen parameters and repeated shapes" if spare else "parameters without state and repeated shapes"
        if not names:
            return {}, Naming.REFUSED, f"ambiguous: {why} admit more than one fit"
        note += f"; {total - len(names)} of {total} ambiguous ({why})"
    return names, Naming.INFERRED, note


def _feasible(
    sequences: list[list[Shape]], shapes: list[tuple[int, ...]], spare: int
) -> dict[tuple[int, int], set[int]] | None:
    """For each (group, position): the model parameters some complete fit gives it ({} when none fits; None past
    MAX_STATES)."""
    forward: list[set[Positions]] = [{tuple(0 for _ in sequences)}]
    kept = 1
    for i, shape in enumerate(shapes):
        after = {moved for positions in forward[-1] for moved, _ in _moves(sequences, positions, i, shape, spare)}
        kept += len(after)
        if kept > MAX_STATES:
            return None
        forward.append(after)
    end = tuple(len(s) for s in sequences)
    if end not in forward[-1]:
        return {}
    feasible: dict[tuple[int, int], set[int]] = {}
    finishing = {end}
    for i in range(len(shapes) - 1, -1, -1):
        before = set()
        for positions in forward[i]:
            for moved, pair in _moves(sequences, positions, i, shapes[i], spare):
                if moved in finishing:
                    before.add(positions)
                    if pair is not None:
                        feasible.setdefault(pair, set()).add(i)
        finishing = before
    return feasible


def _moves(
    sequences: list[list[Shape]], positions: Positions, i: int, shape: tuple[int, ...], spare: int
) -> list[tuple[Positions, tuple[int, int] | None]]:
    """Where model parameter `i` can go from `positions`: skipped (frozen), or next in a group whose shape fits."""
    out: list[tuple[Positions, tuple[int, int] | None]] = []
    if i - sum(positions) < spare:
        out.append((positions, None))
    for g, sequence in enumerate(sequences):
        p = positions[g]
        if p < len(sequence) and sequence[p] in (None, shape):
            out.append((positions[:g] + (p + 1,) + positions[g + 1 :], (g, p)))
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


def group_steps(report: OptimizerReport) -> dict[int, float]:
    """Each group's `step` (the first parameter with one), read from its 0-dim tensor: a few bytes per group."""
    from ckpt_tui.core.decode import decode_chunk
    from ckpt_tui.core.tensors import read_array

    out: dict[int, float] = {}
    for p in report.params:
        if p.group in out:
            continue
        step = dict(p.state).get("step")
        if step is None:
            continue
        if step.kind is Kind.VALUE and isinstance(step.value, int | float):
            out[p.group] = float(step.value)
        elif step.kind is Kind.TENSOR and step.tensor.numel == 1:
            raw = read_array(step.tensor).reshape(-1)
            out[p.group] = float(decode_chunk(step.tensor, raw)[0])
    return out
