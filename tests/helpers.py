"""Helpers shared by the tests: flatten torch.load output like our reader keys it; build torch-like zips."""

from __future__ import annotations

import argparse
import zipfile
from pathlib import Path
from typing import Any

import torch

SAMPLES = Path(__file__).resolve().parent.parent / "sample_checkpoints"


def flatten_tensors(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Tensors of a torch.load result by dotted path: dict keys, list indices, object fields."""
    out: dict[str, torch.Tensor] = {}
    join = (lambda k: f"{prefix}.{k}") if prefix else str
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out |= flatten_tensors(v, join(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            out |= flatten_tensors(v, join(i))
    elif isinstance(obj, argparse.Namespace):
        out |= flatten_tensors(vars(obj), prefix)
    return out


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Bit-identical, with torch's dtype, shape, strides and storage offset."""
    if (a.dtype, a.shape, a.stride(), a.storage_offset()) != (b.dtype, b.shape, b.stride(), b.storage_offset()):
        return False
    if a.is_quantized:
        return torch.equal(a.int_repr(), b.int_repr()) and a.q_scale() == b.q_scale()
    return bytes(a.contiguous().reshape(-1).view(torch.uint8).numpy()) == bytes(
        b.contiguous().reshape(-1).view(torch.uint8).numpy()
    )


def write_torch_zip(
    path: Path, data_pkl: bytes, storages: dict[str, bytes] | None = None, prefix: str = "archive"
) -> Path:
    """A zip laid out like torch.save's: data.pkl first, members stored uncompressed."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr(f"{prefix}/data.pkl", data_pkl)
        z.writestr(f"{prefix}/byteorder", "little")
        for key, data in (storages or {}).items():
            z.writestr(f"{prefix}/data/{key}", data)
        z.writestr(f"{prefix}/version", "3\n")
    return path


def data_pkl_of(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        name = next(n for n in z.namelist() if n.endswith("/data.pkl"))
        return z.read(name)
