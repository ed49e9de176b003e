"""Where things are in a checkpoint: the model state dict, optimizer and scheduler states, the framework."""

from __future__ import annotations

from operator import attrgetter, itemgetter

from ckpt_tui.errors import UsageError
from ckpt_tui.model import Checkpoint, CheckpointFormat, Entry, Key, Kind, Marker, TensorInfo, tensor_count
from ckpt_tui.reports import Located

STATE_DICT_KEYS = (
    "state_dict",
    "model_state_dict",
    "model_state",
    "model",
    "module",
    "net",
    "network",
    "model_ema",
    "ema",
    "params",
    "weights",
)
OPTIMIZER_KEYS = ("optimizer", "optimizer_state_dict", "optimizer_state", "optim", "opt", "optimizer_states")
SCHEDULER_KEYS = ("scheduler", "lr_scheduler", "scheduler_state_dict", "lr_schedulers", "schedulers")
_MODULE_STATE = str(Marker.MODULE_STATE)  # compared with every key of a walk: a plain str


def tensors_under(entry: Entry) -> dict[str, TensorInfo]:
    """Tensors below `entry` with dotted keys relative to it (a pickled module's own fields excluded).

    `walk`, with the dotted key built as it goes (not joined per entry): this runs over 100k-tensor state dicts."""
    out: dict[str, TensorInfo] = {}
    if entry.kind is Kind.TENSOR:
        out[""] = entry.value  # type: ignore[assignment]
    seen = {id(entry)}
    stack = [(str(k), e, k == _MODULE_STATE) for k, e in reversed(entry.children)]
    while stack:
        key, e, hidden = stack.pop()  # hidden: Marker.MODULE_STATE is on the path
        if e.kind is Kind.TENSOR and not hidden:
            out[key] = e.value  # type: ignore[assignment]
        if e.children and id(e) not in seen:
            seen.add(id(e))
            stack.extend([(f"{key}.{k}", c, hidden or k == _MODULE_STATE) for k, c in reversed(e.children)])
    return out


def find_state_dict(ckpt: Checkpoint) -> Located | None:
    """The model state dict: the root if it is one, else a conventional key, else the largest tensor mapping."""
    root = ckpt.root
    if _is_state_dict(root) or (root.kind is Kind.OPAQUE and root.child(Marker.MODULE_STATE) is not None):
        return Located((), root)
    for key in STATE_DICT_KEYS:
        child = root.child(key)
        if child is not None and child.is_container and _tensor_count(child):
            inner = child.child("state_dict")  # {"model": {"state_dict": ...}}
            return (
                Located((key, "state_dict"), inner)
                if inner is not None and _is_state_dict(inner)
                else Located((key,), child)
            )
    candidates = [(k, e) for k, e in root.children if e.kind is Kind.MAPPING and _is_state_dict(e)]
    candidates = [(k, e) for k, e in candidates if not _is_optimizer(e)]
    if candidates:
        best_key, best = max(candidates, key=lambda kv: _tensor_count(kv[1]))
        return Located((best_key,), best)
    return None


def state_dict_at(ckpt: Checkpoint, key: str | None = None) -> tuple[Located, dict[str, TensorInfo]]:
    """The model state dict (or the entry at dotted/slashed path `key`) and its tensors by relative key."""
    if key is not None:
        path = tuple(_path_key(p) for p in key.replace("/", ".").split(".")) if key else ()
        entry = ckpt.find(path)
        if entry is None or not entry.is_container:
            raise UsageError(f"no container at key {key!r} in {ckpt.path}")
        located = Located(path, entry)
    else:
        found = find_state_dict(ckpt)
        located = found if found is not None else Located((), ckpt.root)
    return located, tensors_under(located.entry)


def find_optimizers(ckpt: Checkpoint) -> list[Located]:
    """Optimizer state dicts ({"state": ..., "param_groups": ...}); Lightning keeps a list of them."""
    found = []
    for key in OPTIMIZER_KEYS:
        child = ckpt.root.child(key)
        if child is None:
            continue
        if _is_optimizer(child):
            found.append(Located((key,), child))
        elif child.kind is Kind.SEQUENCE:
            found += [Located((key, i), e) for i, e in child.children if _is_optimizer(e)]
    if not found and _is_optimizer(ckpt.root):
        found.append(Located((), ckpt.root))
    return found


def find_schedulers(ckpt: Checkpoint) -> list[Located]:
    found = []
    for key in SCHEDULER_KEYS:
        child = ckpt.root.child(key)
        if child is not None:
            found.append(Located((key,), child))
    return found


def detect_framework(ckpt: Checkpoint) -> str:
    root = ckpt.root
    labels = {
        CheckpointFormat.SAFETENSORS: "safetensors weights",
        CheckpointFormat.DCP: "torch.distributed.checkpoint directory",
        CheckpointFormat.TORCHSCRIPT: "TorchScript archive (its code is not run)",
        CheckpointFormat.PICKLE: "plain pickle",
    }
    if ckpt.format in labels:
        return labels[ckpt.format]
    if CheckpointFormat(ckpt.format).is_sharded:
        return f"{ckpt.format.replace('-', ' ')} set"
    if ckpt.format == CheckpointFormat.DIRECTORY:
        names = {str(k) for k, _ in root.children}
        if "trainer_state" in names:
            return "Hugging Face Trainer checkpoint"
        if any(n.startswith("random_states") for n in names):
            return "accelerate save_state directory"
        return "training directory"
    # child() finds keys by their string form, like a set of str(key) would (its index is built once, then reused)
    lightning = ("state_dict", "optimizer_states", "loops")
    if root.child("pytorch-lightning_version") is not None or all(root.child(n) is not None for n in lightning):
        return "PyTorch Lightning checkpoint"
    if root.kind is Kind.OPAQUE and root.child(Marker.MODULE_STATE) is not None:
        return f"whole pickled module ({root.type_name})"
    if _is_state_dict(root):
        return "state dict"
    if find_optimizers(ckpt):
        return "training checkpoint"
    return "checkpoint"


def _is_state_dict(entry: Entry) -> bool:
    if entry.kind is not Kind.MAPPING or not entry.children:
        return False
    tensors = list(map(_KIND, map(_ENTRY, entry.children))).count(Kind.TENSOR)  # in C: 100k children
    return tensors > 0 and tensors * 2 >= len(entry.children)


_KIND, _ENTRY = attrgetter("kind"), itemgetter(1)


def _is_optimizer(entry: Entry) -> bool:
    return entry.kind is Kind.MAPPING and entry.child("state") is not None and entry.child("param_groups") is not None


def _tensor_count(entry: Entry) -> int:
    return tensor_count(entry)


def _path_key(part: str) -> Key:
    return int(part) if part.isdigit() else part
