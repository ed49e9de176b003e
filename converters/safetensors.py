"""The safetensors writer: a header built from the plan, then every tensor's bytes streamed from the source."""

from __future__ import annotations

import json
import os
import threading

from ckpt_tui.converters.copy import copy_tensor
from ckpt_tui.converters.plan import OutputTensor
from ckpt_tui.dtypes import TO_SAFETENSORS, itemsize
from ckpt_tui.errors import Cancelled
from ckpt_tui.reports import Progress


def ordered(tensors: list[OutputTensor]) -> list[OutputTensor]:
    """The reference writer's order: larger element sizes first (keeps data aligned), then by name."""
    return sorted(tensors, key=lambda t: (-itemsize(t.dtype), t.name))


def header_bytes(tensors: list[OutputTensor], metadata: dict[str, str]) -> bytes:
    header: dict[str, object] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for t in tensors:
        header[t.name] = {
            "dtype": TO_SAFETENSORS[t.dtype],
            "shape": list(t.info.shape),
            "data_offsets": [offset, offset + t.nbytes],
        }
        offset += t.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the data buffer starts 8-byte aligned, as the reference writer pads it
    return len(raw).to_bytes(8, "little") + raw


def write_file(
    fd: int,
    tensors: list[OutputTensor],
    metadata: dict[str, str],
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    done: int = 0,
    total: int = 0,
) -> int:
    """One safetensors file to `fd`; returns the running byte count for progress across shards."""
    _write_all(fd, header_bytes(tensors, metadata))
    for t in tensors:
        if cancel is not None and cancel.is_set():
            raise Cancelled("conversion cancelled")
        cast = t.dtype if t.dtype != t.info.dtype else None
        written = copy_tensor(t.info, fd, cast)
        if written != t.nbytes:
            raise OSError(f"wrote {written} bytes for {t.name}, expected {t.nbytes}")
        done += written
        if progress:
            progress(done, total)
    return done


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
