"""Splitting a plan into shards no larger than a size, and the Hugging Face style index that maps them."""

from __future__ import annotations

import json
import os
import re

from ckpt_tui.converters.plan import OutputTensor
from ckpt_tui.errors import UsageError

UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}


def parse_size(text: str) -> int:
    """'5GB', '500MB', '2GiB', '1000' -> bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).upper() not in UNITS:
        raise UsageError(f"cannot read size {text!r}: use e.g. 5GB, 500MB or 2GiB")
    size = int(float(match.group(1)) * UNITS[match.group(2).upper()])
    if size <= 0:
        raise UsageError("--max-shard-size must be positive")
    return size


def split(tensors: list[OutputTensor], max_bytes: int) -> list[list[OutputTensor]]:
    """Consecutive groups of at most `max_bytes` (a larger tensor gets a shard of its own)."""
    shards: list[list[OutputTensor]] = [[]]
    size = 0
    for t in tensors:
        if shards[-1] and size + t.nbytes > max_bytes:
            shards.append([])
            size = 0
        shards[-1].append(t)
        size += t.nbytes
    return shards


def shard_names(output: str, count: int) -> list[str]:
    """model.safetensors -> model-00001-of-00003.safetensors, ..."""
    stem, ext = os.path.splitext(output)
    return [f"{stem}-{i:05d}-of-{count:05d}{ext}" for i in range(1, count + 1)]


def index_bytes(shards: list[list[OutputTensor]], names: list[str]) -> bytes:
    """The index maps only names stored in a shard, as transformers writes it (aliases stay in each shard's
    `__metadata__`): an alias in the weight_map names a tensor its file does not hold."""
    weight_map = {t.name: os.path.basename(name) for shard, name in zip(shards, names, strict=True) for t in shard}
    total = sum(t.nbytes for shard in shards for t in shard)
    document = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    return (json.dumps(document, indent=2) + "\n").encode()


def index_path(output: str) -> str:
    return output + ".index.json"
