"""Read-back verification of a written safetensors file. The bytes are checked as they are written (copy.py:
each chunk read back and compared); here the finished file must read, through safetensors itself and through our
reader, as exactly the planned tensors (names, dtypes, shapes, metadata) at exactly the byte ranges that were
checked.
"""

from __future__ import annotations

from dataclasses import dataclass

from ckpt_tui.converters.plan import OutputTensor
from ckpt_tui.dtypes import TO_SAFETENSORS
from ckpt_tui.errors import VerificationError
from ckpt_tui.formats import byte_range, read_checkpoint


@dataclass(frozen=True, slots=True)
class Written:
    """A tensor as written: its plan and the absolute file offset of its first byte."""

    tensor: OutputTensor
    position: int


def verify_layout(path: str, written: list[Written], metadata: dict[str, str]) -> None:
    """The written file, read back by safetensors and by our reader, holds exactly the planned tensors (names,
    dtypes, shapes, metadata) at exactly the byte ranges that were compared with their sources."""
    _check_with_reference(path, [w.tensor for w in written], metadata)
    found = read_checkpoint(path).tensors
    for w in written:
        info = found.get(w.tensor.name)
        if info is None or info.dtype != w.tensor.dtype or info.shape != w.tensor.info.shape:
            raise VerificationError(f"{path}: tensor '{w.tensor.name}' did not read back as written")
        if info.nbytes and byte_range(info.storage)[0] + info.byte_offset != w.position:
            raise VerificationError(f"{path}: tensor '{w.tensor.name}' reads back from another place than written")


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
