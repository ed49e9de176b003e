"""The safetensors writer: a header built from the plan, then every tensor's bytes streamed from the source."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from ckpt_tui.core.stats import Cancelled
from ckpt_tui.dtypes import TO_SAFETENSORS, itemsize
from converters.copy import Writeback, copy_tensor, write_all
from converters.plan import OutputTensor
from converters.verify import ByteVerifier, Written

Progress = Callable[[int, int], None]


def ordered(tensors: tuple[OutputTensor, ...] | list[OutputTensor]) -> list[OutputTensor]:
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


class ByteCount:
    """Progress across the files of one conversion."""

    def __init__(self, total: int, progress: Progress | None, cancel: threading.Event | None) -> None:
        self.done, self.total, self.progress, self.cancel = 0, total, progress, cancel

    def add(self, n: int) -> None:
        self.done += n
        if self.progress:
            self.progress(self.done, self.total)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("conversion cancelled")


def write_file(
    fd: int, tensors: list[OutputTensor], metadata: dict[str, str], count: ByteCount, verifier: ByteVerifier | None
) -> list[Written]:
    """One safetensors file to `fd` (each tensor handed to `verifier` once written); returns where each went."""
    head = header_bytes(tensors, metadata)
    write_all(fd, head)
    position, writeback, placed = len(head), Writeback(fd), []
    for t in tensors:
        count.check_cancel()
        written = copy_tensor(t.info, fd, t.dtype if t.dtype != t.info.dtype else None)
        if written != t.nbytes:
            raise OSError(f"wrote {written} bytes for {t.name}, expected {t.nbytes}")
        placed.append(Written(t, position))
        if verifier is not None:
            verifier.check(placed[-1])
        position += written
        writeback.advance(position)
        count.add(written)
    return placed
