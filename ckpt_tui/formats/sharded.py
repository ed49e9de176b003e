"""Checkpoints made of several files: Hugging Face shard sets (`*.index.json`) and Trainer `checkpoint-N/` dirs.

A shard set is shown as one state dict; its consistency (weight_map vs the shards' contents, duplicates,
`total_size`) is checked and every problem is a notice (`inspect --strict` fails on them). A Trainer directory is
one checkpoint whose parts (weights, optimizer, scheduler, RNG states, trainer state, config) are its top-level keys.
"""

from __future__ import annotations

import fnmatch
import json
import os
from collections.abc import Callable
from typing import Any

from ckpt_tui.errors import CkptError, InvalidCheckpointError, UnreadableError
from ckpt_tui.formats import source
from ckpt_tui.model import Checkpoint, CheckpointFormat, Entry, Kind, Notice, NoticeCode, Severity

Reader = Callable[[str], Checkpoint]

MAX_JSON = 100 << 20
INDEX_PATTERNS = ("*.safetensors.index.json", "*.bin.index.json", "*.pt.index.json", "*.index.json")
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "adapter_model.safetensors",
    "adapter_model.bin",
    "diffusion_pytorch_model.safetensors",
    "model.pt",
    "model.pth",
)
TRAINER_PARTS = {
    "optimizer.pt": "optimizer",
    "optimizer.bin": "optimizer",  # accelerate save_state
    "scheduler.pt": "scheduler",
    "scheduler.bin": "scheduler",  # accelerate save_state
    "scaler.pt": "scaler",
    "sampler.bin": "sampler",  # accelerate save_state
    "trainer_state.json": "trainer_state",
    "config.json": "config",
    "generation_config.json": "generation_config",
    "training_args.bin": "training_args",
}
# a released model directory has these beside its weights; a training directory has more (optimizer, RNG, ...)
MODEL_DIR_PARTS = {"config.json", "generation_config.json"}
# numbered parts: rng_state_0.pth (Trainer, one per process), random_states_0.pkl, custom_checkpoint_0.pkl (accelerate)
NUMBERED_PARTS = (("rng_state", (".pth", ".pt")), ("random_states", (".pkl",)), ("custom_checkpoint", (".pkl",)))


def find_index(directory: str) -> str | None:
    names = sorted(n for n in source.listdir(directory) if not n.startswith("."))
    for pattern in INDEX_PATTERNS:
        found = fnmatch.filter(names, pattern)
        if found:
            return source.join(directory, found[0])
    return None


def is_trainer_dir(directory: str) -> bool:
    """Training state beside the weights (optimizer, scheduler, RNG, trainer state): not just a released model."""
    names = set(source.listdir(directory))
    return bool(names & (set(TRAINER_PARTS) - MODEL_DIR_PARTS) or any(_numbered_part(n) for n in names))


def _numbered_part(name: str) -> bool:
    return any(name.startswith(stem) and name.endswith(ends) for stem, ends in NUMBERED_PARTS)


def weights_file(directory: str) -> str | None:
    """The model weights of a directory: its shard index, else the first of the usual file names."""
    names = set(source.listdir(directory))
    return find_index(directory) or next((source.join(directory, w) for w in WEIGHT_FILES if w in names), None)


def read_index(path: str, read_checkpoint: Reader) -> Checkpoint:
    """`read_checkpoint` reads each shard (the dispatcher in formats/__init__.py, which calls this module)."""
    document = load_json(path)
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise InvalidCheckpointError("not a shard index: expected {'weight_map': {name: file}}", path)
    directory = source.dirname(path)
    notices: list[Notice] = []
    shards: dict[str, Checkpoint] = {}
    for name in dict.fromkeys(weight_map.values()):
        shard_path = source.join(directory, name)
        if _outside(directory, name, shard_path):
            raise InvalidCheckpointError(f"shard {name!r} lies outside the index's directory", path)
        if name.endswith(".json") or source.isdir(shard_path):
            notices.append(_problem(f"shard {name} is not a weights file (an index or a directory); not read"))
            continue
        try:
            shards[name] = read_checkpoint(shard_path)
        except CkptError as e:
            notices.append(_problem(f"shard {name} cannot be read: {e}"))
    children, total = _merge(weight_map, shards, notices)
    declared = (document.get("metadata") or {}).get("total_size")
    if isinstance(declared, int) and shards and len(shards) == len(set(weight_map.values())) and declared != total:
        notices.append(_problem(f"metadata.total_size is {declared:,} but the mapped tensors hold {total:,} bytes"))
    for shard in shards.values():
        notices += [n for n in shard.notices if n.code != NoticeCode.SAFETENSORS_METADATA]
    kind = (
        CheckpointFormat.SHARDED_SAFETENSORS
        if all(s.format == CheckpointFormat.SAFETENSORS for s in shards.values())
        else CheckpointFormat.SHARDED_TORCH
    )
    notices.append(
        Notice(
            NoticeCode.SHARDS,
            Severity.INFO,
            f"{len(shards)} shards, {len(children)} tensors (index: {os.path.basename(path)})",
        )
    )
    size = sum(s.file_size for s in shards.values()) + source.getsize(path)
    return Checkpoint(path, kind, Entry(Kind.MAPPING, "shards", None, tuple(children)), size, tuple(notices))


def _outside(directory: str, name: str, shard_path: str) -> bool:
    if source.is_url(directory):
        return "/" in name or name in (".", "..")
    return os.path.dirname(os.path.abspath(shard_path)) != directory


def _merge(weight_map: dict[str, str], shards: dict[str, Checkpoint], notices: list[Notice]) -> tuple[list[Any], int]:
    seen: dict[str, str] = {}
    children, total = [], 0
    for file, shard in shards.items():
        storages = set()
        for key, info in shard.tensors.items():
            if key.startswith("__metadata__"):
                continue
            if info.storage in storages and shard.format == "safetensors" and key not in seen:
                seen[key] = file  # an alias from the shard's __metadata__: shown, not counted, not needed in the map
                children.append((key, Entry(Kind.TENSOR, "torch.Tensor", info)))
                continue
            storages.add(info.storage)
            if key in seen:
                notices.append(_problem(f"'{key}' is in both {seen[key]} and {file}"))
                continue
            seen[key] = file
            mapped = weight_map.get(key)
            if mapped is None:
                notices.append(_problem(f"'{key}' is in {file} but not in the weight_map"))
            elif mapped != file:
                notices.append(_problem(f"the weight_map puts '{key}' in {mapped}, but it is in {file}"))
            children.append((key, Entry(Kind.TENSOR, "torch.Tensor", info)))
            total += info.nbytes
    for key, file in weight_map.items():
        if key not in seen and file in shards:
            notices.append(_problem(f"the weight_map puts '{key}' in {file}, which does not contain it"))
    return children, total


def read_trainer_dir(directory: str, read_checkpoint: Reader) -> Checkpoint:
    """Weights, optimizer, scheduler, RNG states, trainer state and config as the parts of one checkpoint, each read
    by `read_checkpoint`."""
    parts: list[tuple[str, Entry]] = []
    notices: list[Notice] = []
    size = 0
    files, skipped = _trainer_files(directory)
    for name, path in files:
        try:
            part = read_checkpoint(path) if not path.endswith(".json") or path.endswith(".index.json") else None
        except CkptError as e:
            notices.append(_problem(f"{os.path.basename(path)} cannot be read: {e}"))
            continue
        if part is None:
            parts.append((name, json_entry(load_json(path))))
            size += source.getsize(path)
        else:
            parts.append((name, part.root))
            size += part.file_size
            notices += part_notices(os.path.basename(path), part.notices)
    if not parts:
        raise UnreadableError(
            "is a directory with no checkpoint in it (looked for .metadata, *.index.json, "
            "model.safetensors, pytorch_model.bin, optimizer.pt, trainer_state.json)",
            directory,
        )
    listing = ", ".join(n for n, _ in parts)
    notices.insert(
        0, Notice(NoticeCode.LAYOUT, Severity.INFO, f"a training directory with {len(parts)} parts: {listing}")
    )
    if skipped:
        shown = ", ".join(skipped[:8]) + (f" and {len(skipped) - 8} more" if len(skipped) > 8 else "")
        message = f"not read (not a known part of a checkpoint): {shown}"
        notices.append(Notice(NoticeCode.LAYOUT, Severity.INFO, message))
    return Checkpoint(
        directory,
        CheckpointFormat.DIRECTORY,
        Entry(Kind.MAPPING, "directory", None, tuple(parts)),
        size,
        tuple(notices),
    )


def _trainer_files(directory: str) -> tuple[list[tuple[str, str]], list[str]]:
    """(part name, path) of every part, and the names of the files that are none (said, not dropped silently)."""
    names = sorted(source.listdir(directory))
    out, skipped = [], []
    weights = weights_file(directory)
    if weights:
        out.append(("model", weights))
    for name in names:
        path = source.join(directory, name)
        if name in TRAINER_PARTS:
            out.append((TRAINER_PARTS[name], path))
        elif _numbered_part(name):
            out.append((name.rsplit(".", 1)[0], path))
        elif not _is_weights_file(directory, name, weights):
            skipped.append(name)
    return out, skipped


def _is_weights_file(directory: str, name: str, weights: str | None) -> bool:
    """The weights file itself, or a shard its index names (shards are read through the index)."""
    if weights is None:
        return False
    path = source.join(directory, name)
    if path == weights:
        return True
    return weights.endswith(".index.json") and name.endswith((".safetensors", ".bin", ".pt", ".pth"))


def part_notices(part: str, found: tuple[Notice, ...]) -> list[Notice]:
    """A part's notices, prefixed with its file name; its unknown globals grouped into one notice per part."""
    unknown = [n for n in found if n.code == NoticeCode.UNKNOWN_GLOBAL]
    rest = [n for n in found if n.code != NoticeCode.UNKNOWN_GLOBAL]
    out = [Notice(n.code, n.severity, f"{part}: {n.message}", n.subject) for n in rest]
    if len(unknown) == 1:
        n = unknown[0]
        out.append(Notice(n.code, n.severity, f"{part}: {n.message}", n.subject))
    elif unknown:
        worst = Severity.WARNING if any(n.severity is Severity.WARNING for n in unknown) else Severity.INFO
        names = ", ".join(n.subject for n in unknown)
        what = "would import them and run their code" if worst is Severity.WARNING else "are plain data classes"
        message = f"{part}: {len(unknown)} globals not imported ({names}); torch.load(weights_only=False) {what}"
        out.append(Notice(NoticeCode.UNKNOWN_GLOBAL, worst, message, names))
    return out


def load_json(path: str) -> Any:
    try:
        if source.getsize(path) > MAX_JSON:
            raise InvalidCheckpointError(f"JSON file larger than {MAX_JSON >> 20} MB", path)
        with source.open_binary(path) as f:
            return json.loads(f.read().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise UnreadableError(f"cannot read JSON: {e}", path) from None


def json_entry(value: Any, depth: int = 0) -> Entry:
    if depth > 200:
        return Entry(Kind.VALUE, "str", "<nested too deep>")
    if isinstance(value, dict):
        return Entry(Kind.MAPPING, "dict", None, tuple((str(k), json_entry(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, list):
        return Entry(Kind.SEQUENCE, "list", None, tuple((i, json_entry(v, depth + 1)) for i, v in enumerate(value)))
    return Entry(Kind.VALUE, type(value).__name__, value)


def _problem(message: str) -> Notice:
    return Notice(NoticeCode.SHARD_CONSISTENCY, Severity.WARNING, message)
