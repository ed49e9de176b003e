"""Friendly names for what training code saves: RNG states, Lightning and Hugging Face fields."""

from __future__ import annotations

from ckpt_tui.model import Entry, Key, Kind

KEY_LABELS = {
    "pytorch-lightning_version": "Lightning version",
    "global_step": "global step",
    "epoch": "epoch",
    "loops": "Lightning loop progress",
    "callbacks": "callback states",
    "optimizer_states": "optimizer states",
    "lr_schedulers": "LR scheduler states",
    "hyper_parameters": "hyper-parameters",
    "hparams_name": "hyper-parameter attribute name",
    "hparams_type": "hyper-parameter container type",
    "state_dict": "model state dict",
    "model_state_dict": "model state dict",
    "optimizer_state_dict": "optimizer state",
    "scheduler_state_dict": "LR scheduler state",
    "best_metric": "best metric",
    "log_history": "training log",
    "scaler": "AMP grad-scaler state",
    "torch_version": "torch version",
}
TORCH_CPU_RNG_BYTES = 5056


def friendly_label(path: tuple[Key, ...], entry: Entry) -> str | None:
    """A short explanation of an entry, or None where its key and type already say it."""
    rng = _rng_label(path, entry)
    if rng:
        return rng
    return KEY_LABELS.get(str(path[-1])) if path else None


def _rng_label(path: tuple[Key, ...], entry: Entry) -> str | None:
    if entry.kind is Kind.TENSOR:
        info = entry.tensor
        if info.dtype == "uint8" and info.numel == TORCH_CPU_RNG_BYTES:
            return f"torch CPU RNG state, {TORCH_CPU_RNG_BYTES} bytes"
        if info.dtype == "uint8" and info.numel == 16 and any("cuda" in str(k).lower() for k in path):
            return "torch CUDA RNG state (seed and offset), 16 bytes"
        return None
    first = entry.children[0][1] if entry.children else None
    if entry.kind is Kind.SEQUENCE and len(entry.children) == 5 and first is not None and first.value == "MT19937":
        return "numpy RNG state (MT19937)"
    if entry.kind is Kind.SEQUENCE and len(entry.children) == 3 and first is not None and first.value == 3:
        inner = entry.children[1][1]
        if inner.kind is Kind.SEQUENCE and len(inner.children) == 625:
            return "Python random state (Mersenne Twister)"
    return None
