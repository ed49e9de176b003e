"""A run member's epoch, step, metrics and resume parts, each value with where it came from.

Sources, in order of trust: the checkpoint's own scalars (`epoch`, `global_step`, `val_loss`, nested dicts such as
`metrics`), a Trainer directory's `trainer_state.json`, Lightning's `ModelCheckpoint` callback state, the optimizer's
`param_groups[0].lr`, and the file name (`epoch=3-step=400`, `_epoch_010`, `checkpoint-500`, `val_loss=0.12`).
No tensor bytes are read, except one-element tensors (a loss saved as `tensor(0.53)`, Lightning's scores):
a few bytes each, at most `MAX_SCALAR_TENSORS` per checkpoint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from ckpt_tui.core.layout import OPTIMIZER_KEYS, SCHEDULER_KEYS, STATE_DICT_KEYS, find_optimizers, find_state_dict
from ckpt_tui.formats import has_byte_range
from ckpt_tui.model import Checkpoint, Entry, Kind
from ckpt_tui.reports import Source, Sourced

EPOCH_KEYS = ("epoch", "epochs", "current_epoch")
STEP_KEYS = ("global_step", "step", "iteration", "iter", "num_updates", "steps")
METRIC_NAME = re.compile(
    r"(^|_)(loss|acc|accuracy|lr|learning_rate|score|perplexity|ppl|f1|bleu|auc|iou|error|grad_norm|metric)$"
    r"|^(best|val|valid|validation|eval|test|train)_",
    re.IGNORECASE,
)
NOT_METRICS = ("runtime", "per_second", "total_flos", "num_input_tokens")
SKIP_SUBTREES = {*STATE_DICT_KEYS, *OPTIMIZER_KEYS, *SCHEDULER_KEYS, "callbacks", "loops", "trainer_state"}
SKIP_SUBTREES |= {"hyper_parameters", "hparams", "args", "config", "training_args", "datamodule_hyper_parameters"}
MAX_DEPTH = 3
MAX_SCALAR_TENSORS = 64
RNG_WORDS = ("rng", "random_state", "generator_state")
SCALER_KEYS = ("scaler", "grad_scaler", "amp", "amp_scaler", "scaler_state_dict", "native_amp_scaling_state")

NAME_EPOCH = re.compile(r"(?:^|[^a-z])epoch[=_-]?(\d+)", re.IGNORECASE)
NAME_STEP = re.compile(r"(?:^|[^a-z])(?:global_step|step|iter|iteration|checkpoint)[=_-]?(\d+)", re.IGNORECASE)
NAME_METRIC = re.compile(r"([A-Za-z][A-Za-z0-9_]*)=(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)", re.IGNORECASE)
LIGHTNING_MODE = re.compile(r"'mode': '(min|max)'")


@dataclass
class Scalars:
    epoch: Sourced | None = None
    step: Sourced | None = None
    metrics: dict[str, Sourced] = field(default_factory=dict)
    lightning: dict[str, object] = field(default_factory=dict)
    trainer_best: tuple[str, float | None, str | None] | None = None

    def offer_metric(self, name: str, value: Sourced) -> None:
        self.metrics.setdefault(name, value)


def read_scalars(ckpt: Checkpoint, name: str) -> Scalars:
    """Everything the run table shows about one checkpoint except its file facts."""
    found = Scalars()
    budget = [MAX_SCALAR_TENSORS]
    for path, value in _walk_scalars(ckpt.root, (), budget):
        _offer(found, path, Sourced(value, Source.CHECKPOINT, ".".join(path)))
    _from_trainer_state(ckpt.root.child("trainer_state"), found)
    _from_lightning(ckpt.root.child("callbacks"), found, budget)
    _from_optimizer(ckpt, found)
    _from_name(os.path.basename(name.rstrip("/")), found)
    return found


def resume_parts(ckpt: Checkpoint) -> dict[str, bool]:
    """Which parts a resume needs are present: model, optimizer, scheduler, RNG state, AMP scaler."""
    names = [str(k).lower() for k, _ in ckpt.root.children] if ckpt.root.kind is Kind.MAPPING else []
    schedulers = [ckpt.root.child(k) for k in SCHEDULER_KEYS]
    return {
        "model": find_state_dict(ckpt) is not None,
        "optimizer": bool(find_optimizers(ckpt)),
        "scheduler": any(s is not None and (s.children or s.kind is Kind.OPAQUE) for s in schedulers),
        "rng": any(w in n for n in names for w in RNG_WORDS),
        "scaler": any(n in SCALER_KEYS for n in names),
    }


def _offer(found: Scalars, path: tuple[str, ...], value: Sourced) -> None:
    key = path[-1].lower()
    if key in EPOCH_KEYS and found.epoch is None and isinstance(value.value, int):
        found.epoch = value
    elif key in STEP_KEYS and found.step is None and isinstance(value.value, int):
        found.step = value
    elif METRIC_NAME.search(key) and not any(n in key for n in NOT_METRICS):
        found.offer_metric(path[-1], value)


def _walk_scalars(
    entry: Entry, path: tuple[str, ...], budget: list[int]
) -> Iterator[tuple[tuple[str, ...], float | int]]:
    """(key path, number) for the plain numbers near the top of the tree; big subtrees are not entered."""
    if entry.kind not in (Kind.MAPPING, Kind.OPAQUE) or len(path) >= MAX_DEPTH:
        return
    nested = []
    for key, child in entry.children:
        key_s = str(key)
        if child.kind is Kind.VALUE or child.kind is Kind.TENSOR:
            value = _number(child, budget) if child.kind is Kind.VALUE or _named_like_scalar(key_s) else None
            if value is not None:
                yield (*path, key_s), value
        elif key_s not in SKIP_SUBTREES and child.kind is Kind.MAPPING:
            nested.append((key_s, child))
    for key_s, child in nested:  # breadth first: a top-level `loss` wins over `metrics.loss`
        yield from _walk_scalars(child, (*path, key_s), budget)


def _named_like_scalar(key: str) -> bool:
    low = key.lower()
    return low in EPOCH_KEYS or low in STEP_KEYS or bool(METRIC_NAME.search(low))


def _number(entry: Entry, budget: list[int]) -> float | int | None:
    value = entry.value
    if entry.kind is Kind.TENSOR:
        return _tensor_scalar(entry, budget)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _tensor_scalar(entry: Entry, budget: list[int]) -> float | int | None:
    """The value of a one-element tensor: a few bytes of the file (no torch)."""
    info = entry.tensor
    if info.numel != 1 or budget[0] <= 0 or not has_byte_range(info.storage) or info.device == "meta":
        return None
    budget[0] -= 1
    try:
        from ckpt_tui.core.decode import decode_chunk
        from ckpt_tui.core.tensors import read_array

        item = decode_chunk(info, read_array(info).reshape(-1)).reshape(-1)[0].item()
    except Exception:  # noqa: BLE001 - a scalar we cannot decode is a scalar we do not show
        return None
    if isinstance(item, bool) or not isinstance(item, (int, float)):
        return None
    return item


def _from_trainer_state(state: Entry | None, found: Scalars) -> None:
    if state is None or state.kind is not Kind.MAPPING:
        return
    for key, slot in (("global_step", "step"), ("epoch", "epoch")):
        value = _plain(state.child(key))
        if value is not None and getattr(found, slot) is None:
            setattr(found, slot, Sourced(value, Source.TRAINER_STATE, key))
    step = found.step.value if found.step else None
    history = state.child("log_history")
    for i, record in reversed(list(history.children if history is not None else ())):
        if _plain(record.child("step")) != step:
            continue
        for record_key, value_entry in record.children:
            value = _plain(value_entry)
            key_s = str(record_key)
            if value is not None and key_s not in ("step", "epoch") and not any(n in key_s for n in NOT_METRICS):
                found.offer_metric(key_s, Sourced(value, Source.TRAINER_STATE, f"log_history[{i}].{key_s}"))
    best = state.child("best_model_checkpoint")
    if best is not None and isinstance(best.value, str):
        found.trainer_best = (best.value, _float(state.child("best_metric")), _best_metric_name(state))


def _best_metric_name(state: Entry) -> str | None:
    """trainer_state.json keeps the best value, not the metric's name: find it in the best step's log."""
    best, at = _float(state.child("best_metric")), _plain(state.child("best_global_step"))
    history = state.child("log_history")
    for _, record in history.children if history is not None else ():
        if at is not None and _plain(record.child("step")) != at:
            continue
        for key, value_entry in record.children:
            if str(key).startswith("eval_") and _float(value_entry) == best:
                return str(key)
    return None


def _from_lightning(callbacks: Entry | None, found: Scalars, budget: list[int]) -> None:
    for key, state in callbacks.children if callbacks is not None else ():
        if not str(key).startswith("ModelCheckpoint") or state.kind is not Kind.MAPPING:
            continue
        mode = LIGHTNING_MODE.search(str(key))
        monitor = _text(state.child("monitor"))
        info: dict[str, object] = {"monitor": monitor, "mode": mode.group(1) if mode else "min"}
        for name in ("best_model_path", "last_model_path", "kth_best_model_path"):
            info[name] = _text(state.child(name))
        info["best_model_score"] = _score(state.child("best_model_score"), budget)
        top_k = state.child("best_k_models")
        info["best_k_models"] = [str(k) for k, _ in top_k.children] if top_k is not None else []
        found.lightning = found.lightning or info
        current = _score(state.child("current_score"), budget)
        if monitor and current is not None:
            found.offer_metric(monitor, Sourced(current, Source.LIGHTNING, "ModelCheckpoint.current_score"))


def _from_optimizer(ckpt: Checkpoint, found: Scalars) -> None:
    if "lr" in found.metrics or "learning_rate" in found.metrics:
        return
    for located in find_optimizers(ckpt)[:1]:
        groups = located.entry.child("param_groups")
        first = groups.children[0][1] if groups is not None and groups.children else None
        lr = _float(first.child("lr")) if first is not None else None
        if lr is not None:
            found.offer_metric("lr", Sourced(lr, Source.OPTIMIZER, f"{located.label}['param_groups'][0]['lr']"))


def _from_name(name: str, found: Scalars) -> None:
    stem = re.sub(r"\.(pth?|ckpt|bin|safetensors|tar|pt\.tar|pth\.tar)$", "", name, flags=re.IGNORECASE)
    epoch, step = NAME_EPOCH.search(stem), NAME_STEP.search(stem)
    if epoch and found.epoch is None:
        found.epoch = Sourced(int(epoch.group(1)), Source.FILE_NAME, epoch.group(0).lstrip("_-."))
    if step and found.step is None:
        found.step = Sourced(int(step.group(1)), Source.FILE_NAME, step.group(0).lstrip("_-."))
    for match in NAME_METRIC.finditer(stem):
        key = match.group(1)
        if key.lower() not in EPOCH_KEYS + STEP_KEYS:
            found.offer_metric(key, Sourced(float(match.group(2)), Source.FILE_NAME, match.group(0)))


def _score(entry: Entry | None, budget: list[int]) -> float | None:
    value = _number(entry, budget) if entry is not None else None
    return float(value) if value is not None else None


def _plain(entry: Entry | None) -> float | int | None:
    value = entry.value if entry is not None and entry.kind is Kind.VALUE else None
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(entry: Entry | None) -> float | None:
    value = _plain(entry)
    return float(value) if value is not None else None


def _text(entry: Entry | None) -> str | None:
    return entry.value if entry is not None and isinstance(entry.value, str) else None
