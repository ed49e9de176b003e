"""The safetensors writer: a header built from the plan, then every tensor's bytes streamed from the source."""

from __future__ import annotations

import json
import threading

from ckpt_tui.converters.copy import Mismatch, OutputFile, copy_tensor
from ckpt_tui.converters.plan import OutputTensor
from ckpt_tui.converters.verify import Written
from ckpt_tui.dtypes import TO_SAFETENSORS, itemsize
from ckpt_tui.errors import Cancelled, VerificationError
from ckpt_tui.reports import Progress


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
    out: OutputFile, tensors: list[OutputTensor], metadata: dict[str, str], count: ByteCount
) -> list[Written]:
    """One safetensors file to `out`; returns where each tensor went (the bytes are read back as written when
    `out` was opened with a read-back path)."""
    what, head = "the header", header_bytes(tensors, metadata)
    out.reserve(len(head) + sum(t.nbytes for t in tensors))
    try:
        out.append(head)
        placed = []
        for t in tensors:
            count.check_cancel()
            what, position = f"tensor '{t.name}'", out.position
            written = copy_tensor(t.info, out, t.dtype if t.dtype != t.info.dtype else None)
            if written != t.nbytes:
                raise OSError(f"wrote {written} bytes for {t.name}, expected {t.nbytes}")
            placed.append(Written(t, position))
            count.add(written)
    except Mismatch as e:
        raise VerificationError(f"{what} differs from its source after writing ({e})") from None
    return placed
