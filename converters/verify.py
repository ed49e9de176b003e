"""Read-back verification: the written files must read, through safetensors itself and through our reader,
as exactly the planned tensors, bit for bit."""

from __future__ import annotations

import threading

from ckpt_tui.converters.copy import tensor_chunks
from ckpt_tui.converters.plan import OutputTensor
from ckpt_tui.core.compare import bytes_equal, mapped_bytes_equal
from ckpt_tui.core.tensors import read_array
from ckpt_tui.dtypes import TO_SAFETENSORS
from ckpt_tui.errors import Cancelled, VerificationError
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import TensorInfo


def verify_file(
    path: str, tensors: list[OutputTensor], metadata: dict[str, str], cancel: threading.Event | None = None
) -> None:
    _check_with_reference(path, tensors, metadata)
    written = read_checkpoint(path).tensors
    for t in tensors:
        if cancel is not None and cancel.is_set():
            raise Cancelled("verification cancelled")
        info = written.get(t.name)
        if info is None or info.dtype != t.dtype or info.shape != t.info.shape:
            raise VerificationError(f"{path}: tensor '{t.name}' did not read back as written")
        if not _same(info, t):
            raise VerificationError(f"{path}: tensor '{t.name}' differs from its source after writing")


def _check_with_reference(path: str, tensors: list[OutputTensor], metadata: dict[str, str]) -> None:
    from safetensors import safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            keys, found = set(f.keys()), f.metadata() or {}
            shapes = {k: (f.get_slice(k).get_dtype(), f.get_slice(k).get_shape()) for k in keys}
    except Exception as e:  # noqa: BLE001 - any failure of the reference reader is a failed verification
        raise VerificationError(f"{path}: safetensors cannot read the written file: {e}") from None
    expected = {t.name: (TO_SAFETENSORS[t.dtype], list(t.info.shape)) for t in tensors}
    if shapes != expected or found != metadata:
        raise VerificationError(f"{path}: safetensors reads different keys, shapes or metadata than were written")


def _same(written: TensorInfo, planned: OutputTensor) -> bool:
    """Compare the written bytes with the source's (cast as planned): a memcmp of the mapped bytes where neither
    is cast nor a view, else chunk by chunk."""
    if planned.dtype == planned.info.dtype:
        equal = mapped_bytes_equal(planned.info, written)
        if equal is not None:
            return equal
    out = read_array(written).reshape(-1)
    raw = out.view("u1").data if out.size else memoryview(b"")
    position = 0
    cast = planned.dtype if planned.dtype != planned.info.dtype else None
    for chunk in tensor_chunks(planned.info, cast):
        if not bytes_equal(raw[position : position + len(chunk)], chunk):
            return False
        position += len(chunk)
    return position == len(raw)
