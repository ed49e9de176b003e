"""Where the parts of a training checkpoint are: progress counters, metrics, RNG states, scaler, hyper-parameters.

Found by name where conventions exist (`epoch`, `global_step`, `trainer_state`) and by structure where they do not:
torch's CPU generator state is a uint8 tensor of 5056 bytes, a CUDA one 16 bytes under a "cuda" key; numpy's legacy
state is a tuple starting with 'MT19937', a Generator's a dict with 'bit_generator'; Python's `random` state is
(3, <625 ints>, gauss). Only one-element tensors (counters, scores) are ever read, never weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

from ckpt_tui.core.layout import OPTIMIZER_KEYS, SCHEDULER_KEYS, find_optimizers, find_state_dict
from ckpt_tui.errors import CkptError
from ckpt_tui.model import ArrayValue, Checkpoint, Entry, Key, Kind, Marker
from ckpt_tui.reports import Located

MODULE_STATE = Marker.MODULE_STATE

EPOCH_KEYS = ("epoch", "epochs", "current_epoch", "cur_epoch", "start_epoch", "last_epoch")
STEP_KEYS = ("global_step", "step", "steps", "iteration", "iter", "iters", "num_updates", "total_steps", "it")
NESTED = ("trainer_state", "meta", "training_state", "train_state", "extra_state", "progress", "state", "info")
HPARAM_KEYS = ("hyper_parameters", "hparams", "hyperparameters", "config", "cfg", "args", "training_args",
               "model_config", "model_args", "conf", "settings", "options")  # fmt: skip
SCALER_KEYS = ("scaler", "grad_scaler", "scaler_state_dict", "amp_scaler", "amp", "scaler_state")
METRIC_WORDS = ("loss", "acc", "metric", "score", "ppl", "perplexity", "f1", "bleu", "auc", "error", "iou")
VERSION_KEYS = {
    "pytorch-lightning_version": ("pytorch-lightning", "lightning"),
    "lightning_version": ("lightning", "pytorch-lightning"),
    "transformers_version": ("transformers",),
    "torch_version": ("torch",),
    "pytorch_version": ("torch",),
}
TORCH_CPU_RNG_BYTES = 5056
SCALAR_READS = 16  # optimizer `step` counters read per optimizer (each is a 4-byte mmap)


@dataclass
class Parts:
    """The located parts of one checkpoint (working data for the audit)."""

    framework: str  # "lightning" | "hf-trainer" | "plain"
    model: Located | None
    optimizers: list[Located]
    schedulers: list[Located]
    epoch: tuple[float, str] | None = None
    step: tuple[int, str] | None = None  # int(value)
    best: tuple[float, str] | None = None
    metrics: list[tuple[str, float, str]] = field(default_factory=list)
    rng: dict[str, list[str]] = field(default_factory=dict)  # "torch" | "cuda" | "numpy" | "python" -> where
    scaler: Located | None = None
    hparams: Located | None = None
    versions: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)  # (recorded, where, dists)


def find_parts(ckpt: Checkpoint) -> Parts:
    root = ckpt.root
    names = {str(k) for k, _ in root.children}
    framework = "plain"
    if "pytorch-lightning_version" in names or {"loops", "optimizer_states"} <= names:
        framework = "lightning"
    elif str(ckpt.format) == "directory" and "trainer_state" in names:
        framework = "hf-trainer"
    model = find_state_dict(ckpt)
    if model is None and str(ckpt.format) == "torchscript" and ckpt.tensors:
        model = Located((), root)  # a scripted module: its parameters are the weights
    parts = Parts(framework, model, find_optimizers(ckpt), find_schedulers_all(ckpt))
    skip = {id(p.entry) for p in ([parts.model] if parts.model else []) + parts.optimizers}
    parts.epoch = _number(root, EPOCH_KEYS)
    step = _number(root, STEP_KEYS)
    parts.step = (int(step[0]), step[1]) if step else None
    parts.scaler = _scaler(root)
    parts.hparams = next((Located((k,), e) for k, e in root.children if str(k) in HPARAM_KEYS), None)
    parts.rng = _rng_states(root, skip)
    parts.metrics, parts.best = _metrics(root, framework, skip)
    parts.versions = _versions(root)
    return parts


def find_schedulers_all(ckpt: Checkpoint) -> list[Located]:
    """Scheduler state dicts: under the conventional keys (a Lightning list expanded), else by their fields."""
    found: list[Located] = []
    for key in SCHEDULER_KEYS:
        child = ckpt.root.child(key)
        if child is None:
            continue
        if child.kind is Kind.SEQUENCE:
            found += [Located((key, i), e) for i, e in child.children if e.kind is Kind.MAPPING]
        elif child.kind is Kind.MAPPING:
            found.append(Located((key,), child))
    if not found:
        found = [Located((k,), e) for k, e in ckpt.root.children if is_scheduler(e)]
    return found


def is_scheduler(entry: Entry) -> bool:
    if entry.kind is not Kind.MAPPING or entry.child("last_epoch") is None:
        return False
    return any(entry.child(k) is not None for k in ("base_lrs", "_last_lr", "num_bad_epochs"))


def scalar(entry: Entry | None) -> float | None:
    """An int/float value, or the one element of a tensor (read from the file: a few bytes)."""
    if entry is None:
        return None
    if entry.kind is Kind.VALUE and isinstance(entry.value, int | float) and not isinstance(entry.value, bool):
        return float(entry.value)
    if entry.kind is Kind.TENSOR and entry.tensor.numel == 1:
        return _read_one(entry)
    return None


def _read_one(entry: Entry) -> float | None:
    from ckpt_tui.formats import has_byte_range

    info = entry.tensor
    if not has_byte_range(info.storage) or info.device == "meta":
        return None  # materialising it would need torch (DCP, --unsafe): not worth it for a counter
    try:
        from ckpt_tui.core.decode import decode_chunk
        from ckpt_tui.core.tensors import read_array

        value = decode_chunk(info, read_array(info).reshape(-1)).reshape(-1)[0].item()
        return float(abs(value)) if isinstance(value, complex) else float(value)
    except (CkptError, ValueError, TypeError, IndexError):
        return None


def optimizer_step(located: Located) -> float | None:
    """The largest `step` among the first SCALAR_READS parameter states (Adam-like optimizers keep one each)."""
    state = located.entry.child("state")
    steps = [scalar(s.child("step")) for _, s in (state.children[:SCALAR_READS] if state else ())]
    known = [s for s in steps if s is not None]
    return max(known) if known else None


def _number(root: Entry, keys: tuple[str, ...]) -> tuple[float, str] | None:
    for container, prefix in _search_roots(root):
        for key in keys:
            value = scalar(container.child(key))
            if value is not None and math.isfinite(value):
                return value, f"{prefix}[{key!r}]"
    return None


def _search_roots(root: Entry) -> Iterator[tuple[Entry, str]]:
    yield root, ""
    for key in NESTED:
        child = root.child(key)
        if child is not None and child.kind is Kind.MAPPING:
            yield child, f"[{key!r}]"


def _scaler(root: Entry) -> Located | None:
    for key, entry in root.children:
        if entry.kind is not Kind.MAPPING:
            continue
        if str(key) in SCALER_KEYS or (entry.child("scale") is not None and entry.child("_growth_tracker") is not None):
            return Located((key,), entry)
    return None


def _rng_states(root: Entry, skip: set[int]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, entry in _walk_outside(root, skip):
        kind = _rng_kind(path, entry)
        if kind:
            found.setdefault(kind, []).append(_label(path))
    return found


def _walk_outside(root: Entry, skip: set[int], depth: int = 4) -> Iterator[tuple[tuple[Key, ...], Entry]]:
    """Entries up to `depth` below the root, not descending into the model, the optimizers or module state."""
    stack: list[tuple[tuple[Key, ...], Entry]] = [((), root)]
    while stack:
        path, entry = stack.pop()
        yield path, entry
        if id(entry) in skip or len(path) >= depth or entry.kind is Kind.TENSOR:
            continue
        stack.extend((path + (k,), e) for k, e in reversed(entry.children) if k != MODULE_STATE)


def _rng_kind(path: tuple[Key, ...], entry: Entry) -> str | None:
    lowered = "/".join(str(p).lower() for p in path)
    if entry.kind is Kind.TENSOR and entry.tensor.dtype == "uint8" and len(entry.tensor.shape) == 1:
        if "cuda" in lowered:
            return "cuda"
        return "torch" if entry.tensor.shape[0] == TORCH_CPU_RNG_BYTES else None
    if entry.kind is Kind.SEQUENCE and len(entry.children) >= 2:
        first, second = entry.children[0][1], entry.children[1][1]
        if first.value == "MT19937" and isinstance(second.value, ArrayValue):
            return "numpy"
        if first.value == 3 and second.kind is Kind.SEQUENCE and len(second.children) == 625:
            return "python"
    if entry.kind is Kind.MAPPING and entry.child("bit_generator") is not None:
        return "numpy"
    return None


def _metrics(
    root: Entry, framework: str, skip: set[int]
) -> tuple[list[tuple[str, float, str]], tuple[float, str] | None]:
    metrics: list[tuple[str, float, str]] = []
    best: tuple[float, str] | None = None
    for container, prefix in _metric_roots(root, framework):
        if id(container) in skip:  # the root is the state dict: 100k weights, no metrics
            continue
        for raw_key, entry in container.children:
            if entry.kind is not Kind.VALUE and (entry.kind is not Kind.TENSOR or entry.tensor.numel != 1):
                continue
            name = str(raw_key)
            is_best = name.startswith("best") and not any(w in name for w in ("step", "epoch", "path", "checkpoint"))
            value = scalar(entry) if is_best or any(w in name.lower() for w in METRIC_WORDS) else None
            if value is None:
                continue
            where = f"{prefix}[{name!r}]"
            if is_best:
                best = best or (value, where)
            else:
                metrics.append((name, value, where))
    return metrics, best


def _metric_roots(root: Entry, framework: str) -> Iterator[tuple[Entry, str]]:
    yield root, ""
    for key in ("metrics", "callback_metrics", "logged_metrics"):
        child = root.child(key)
        if child is not None and child.kind is Kind.MAPPING:
            yield child, f"[{key!r}]"
    if framework == "lightning":
        for name, cb in (root.child("callbacks") or Entry(Kind.MAPPING, "dict")).children:
            if str(name).startswith("ModelCheckpoint") and cb.kind is Kind.MAPPING:
                yield cb, f"['callbacks'][{str(name)[:15]!r}…]"
    state = root.child("trainer_state")
    if state is not None:
        yield state, "['trainer_state']"
        history = state.child("log_history")
        for i, entry in reversed(history.children if history else ()):
            if entry.child("loss") is not None:
                yield entry, f"['trainer_state']['log_history'][{i}]"
                break


def _versions(root: Entry) -> list[tuple[str, str, tuple[str, ...]]]:
    out = []
    for container, prefix in [(root, ""), *_hparam_roots(root)]:
        for key, dists in VERSION_KEYS.items():
            child = container.child(key)
            if child is not None and isinstance(child.value, str):
                out.append((child.value, f"{prefix}[{key!r}]", dists))
    return out


def _hparam_roots(root: Entry) -> Iterator[tuple[Entry, str]]:
    for key in ("config", "hyper_parameters", "meta"):
        child = root.child(key)
        if child is not None and child.kind is Kind.MAPPING:
            yield child, f"[{key!r}]"


def _label(path: tuple[Key, ...]) -> str:
    return "".join(f"[{k!r}]" for k in path) or "(root)"


__all__ = ["OPTIMIZER_KEYS", "Parts", "find_parts", "optimizer_step", "scalar"]
