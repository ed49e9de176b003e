"""Checkpoints made of several files: Hugging Face shard sets (`*.index.json`) and Trainer `checkpoint-N/` dirs.

A shard set is shown as one state dict; its consistency (weight_map vs the shards' contents, duplicates,
`total_size`) is checked and every problem is a notice (`inspect --strict` fails on them). A Trainer directory is
one checkpoint whose parts (weights, optimizer, scheduler, RNG states, trainer state, config) are its top-level keys.
"""

from __future__ import annotations

import glob
import json
import os
from typing import Any

from ckpt_tui.errors import CkptError, InvalidCheckpointError, UnreadableError
from ckpt_tui.model import Checkpoint, Entry, Kind, Notice, Severity

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
    "optimizer.bin": "optimizer",
    "scheduler.pt": "scheduler",
    "scaler.pt": "scaler",
    "trainer_state.json": "trainer_state",
    "config.json": "config",
    "generation_config.json": "generation_config",
    "training_args.bin": "training_args",
}
SHARD_CHECK = "shard-consistency"


def find_index(directory: str) -> str | None:
    for pattern in INDEX_PATTERNS:
        found = sorted(glob.glob(os.path.join(glob.escape(directory), pattern)))
        if found:
            return found[0]
    return None


def is_trainer_dir(directory: str) -> bool:
    names = set(os.listdir(directory))
    return bool(names & set(TRAINER_PARTS) - {"config.json"} or any(n.startswith("rng_state") for n in names))


def read_index(path: str) -> Checkpoint:
    from ckpt_tui.formats import read_checkpoint

    document = load_json(path)
    weight_map = document.get("weight_map") if isinstance(document, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise InvalidCheckpointError("not a shard index: expected {'weight_map': {name: file}}", path)
    directory = os.path.dirname(os.path.abspath(path))
    notices: list[Notice] = []
    shards: dict[str, Checkpoint] = {}
    for name in dict.fromkeys(weight_map.values()):
        shard_path = os.path.join(directory, name)
        if os.path.dirname(os.path.abspath(shard_path)) != directory:
            raise InvalidCheckpointError(f"shard {name!r} lies outside the index's directory", path)
        if name.endswith(".json") or os.path.isdir(shard_path):
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
        notices += [n for n in shard.notices if n.code not in ("safetensors-metadata",)]
    kind = "sharded-safetensors" if all(s.format == "safetensors" for s in shards.values()) else "sharded-torch"
    notices.append(
        Notice(
            "shards", Severity.INFO, f"{len(shards)} shards, {len(children)} tensors (index: {os.path.basename(path)})"
        )
    )
    size = sum(s.file_size for s in shards.values()) + os.path.getsize(path)
    return Checkpoint(path, kind, Entry(Kind.MAPPING, "shards", None, tuple(children)), size, tuple(notices))


def _merge(weight_map: dict[str, str], shards: dict[str, Checkpoint], notices: list[Notice]) -> tuple[list[Any], int]:
    seen: dict[str, str] = {}
    children, total = [], 0
    for file, shard in shards.items():
        for key, info in shard.tensors.items():
            if key.startswith("__metadata__"):
                continue
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


def read_trainer_dir(directory: str) -> Checkpoint:
    """Weights, optimizer, scheduler, RNG states, trainer state and config as the parts of one checkpoint."""
    from ckpt_tui.formats import read_checkpoint

    parts: list[tuple[str, Entry]] = []
    notices: list[Notice] = []
    size = 0
    for name, path in _trainer_files(directory):
        try:
            part = read_checkpoint(path) if not path.endswith(".json") or path.endswith(".index.json") else None
        except CkptError as e:
            notices.append(_problem(f"{os.path.basename(path)} cannot be read: {e}"))
            continue
        if part is None:
            parts.append((name, json_entry(load_json(path))))
            size += os.path.getsize(path)
        else:
            parts.append((name, part.root))
            size += part.file_size
            notices += [
                Notice(n.code, n.severity, f"{os.path.basename(path)}: {n.message}", n.subject) for n in part.notices
            ]
    if not parts:
        raise UnreadableError(
            "is a directory with no checkpoint in it (looked for .metadata, *.index.json, "
            "model.safetensors, pytorch_model.bin, optimizer.pt, trainer_state.json)",
            directory,
        )
    listing = ", ".join(n for n, _ in parts)
    notices.insert(0, Notice("layout", Severity.INFO, f"a training directory with {len(parts)} parts: {listing}"))
    return Checkpoint(
        directory, "directory", Entry(Kind.MAPPING, "directory", None, tuple(parts)), size, tuple(notices)
    )


def _trainer_files(directory: str) -> list[tuple[str, str]]:
    names = sorted(os.listdir(directory))
    out = []
    index = find_index(directory)
    weights = index or next((os.path.join(directory, w) for w in WEIGHT_FILES if w in names), None)
    if weights:
        out.append(("model", weights))
    for name in names:
        path = os.path.join(directory, name)
        if name in TRAINER_PARTS:
            out.append((TRAINER_PARTS[name], path))
        elif name.startswith("rng_state") and name.endswith((".pth", ".pt")):
            out.append((name.rsplit(".", 1)[0], path))
    return out


def load_json(path: str) -> Any:
    try:
        if os.path.getsize(path) > MAX_JSON:
            raise InvalidCheckpointError(f"JSON file larger than {MAX_JSON >> 20} MB", path)
        with open(path, encoding="utf-8") as f:
            return json.load(f)
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
    return Notice(SHARD_CHECK, Severity.WARNING, message)
