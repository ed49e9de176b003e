"""Tensor data on demand, one tensor at a time, through a memory map of just its storage's bytes."""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ckpt_tui.core.unsafe import live_tensor
from ckpt_tui.dtypes import NUMPY_TYPESTR, itemsize
from ckpt_tui.errors import InvalidCheckpointError, UnreadableError, UnsupportedFormatError
from ckpt_tui.formats import byte_range, has_byte_range, is_url, read_range
from ckpt_tui.model import StorageSource, TensorInfo

if TYPE_CHECKING:
    import numpy as np
    import torch

# dtypes numpy lacks are exposed as their raw bits; core/stats.py decodes them
RAW_BITS = {
    "bfloat16": "<u2",
    "float8_e4m3fn": "|u1",
    "float8_e5m2": "|u1",
    "float8_e4m3fnuz": "|u1",
    "float8_e5m2fnuz": "|u1",
    "float8_e8m0fnu": "|u1",
    "float4_e2m1fn_x2": "|u1",
    "complex32": "<u4",
    "quint4x2": "|u1",
    "quint2x4": "|u1",
}


EXPANSION_LIMIT = 1 << 30  # bytes a view may claim beyond what its storage holds before reading it is refused


def check_expansion(info: TensorInfo) -> None:
    """A view that repeats its storage (stride 0) may claim terabytes from a few bytes: fine to show, refused
    before statistics, diff, conversion or loading walk or allocate what it claims."""
    claimed = info.numel * itemsize(info.dtype)
    held = max(info.extent, 1) * itemsize(info.dtype)
    if claimed > held + EXPANSION_LIMIT:
        raise InvalidCheckpointError(
            f"tensor '{info.key}' repeats {held:,} bytes of its storage to claim {claimed:,} (zero strides); "
            "reading it would expand that, so it is refused",
            info.storage.file,
        )


def map_storage(info: TensorInfo) -> memoryview:
    """A read-only-in-spirit, copy-on-write map of the tensor's whole storage (empty for empty storages)."""
    nbytes = info.storage.nbytes
    start, available = byte_range(info.storage)
    if nbytes > available:
        raise InvalidCheckpointError(
            f"tensor '{info.key}': storage declares {nbytes} bytes but the file holds {available}", info.storage.file
        )
    if nbytes == 0:
        return memoryview(bytearray())
    if is_url(info.storage.file):
        return fetch_range(info.storage.file, start, nbytes)
    aligned = start - start % mmap.ALLOCATIONGRANULARITY
    try:
        with open(info.storage.file, "rb") as f:
            mm = mmap.mmap(f.fileno(), start + nbytes - aligned, access=mmap.ACCESS_COPY, offset=aligned)
    except (OSError, ValueError) as e:
        raise UnreadableError(f"cannot map tensor '{info.key}': {e}", info.storage.file) from None
    return memoryview(mm)[start - aligned :]


def fetch_range(url: str, start: int, nbytes: int, chunk: int = 8 << 20) -> memoryview:
    """A remote storage's bytes, fetched in chunks into an unnamed temporary file and mapped: as lazy and as
    bounded in memory as a local map (the pages are the file's, not the heap's)."""
    import tempfile

    with tempfile.TemporaryFile() as spool:
        for offset in range(0, nbytes, chunk):
            spool.write(read_range(url, start + offset, min(chunk, nbytes - offset)))
        spool.flush()
        mm = mmap.mmap(spool.fileno(), nbytes, access=mmap.ACCESS_COPY)
    return memoryview(mm)


def read_array(info: TensorInfo) -> np.ndarray:
    """A numpy view of the tensor's elements (bf16/fp8 as their raw bits; see RAW_BITS). No torch needed."""
    import numpy as np

    typestr = NUMPY_TYPESTR.get(info.dtype) or RAW_BITS.get(info.dtype)
    if typestr is None:
        raise UnsupportedFormatError(f"tensor '{info.key}' has dtype {info.dtype}, which has no array view")
    if info.storage.device == "meta":
        raise UnsupportedFormatError(f"tensor '{info.key}' was saved on the meta device: it has no data")
    check_expansion(info)
    if not has_byte_range(info.storage):  # materialised by torch (--unsafe, DCP): one tensor at a time
        import torch

        data = materialise(info).detach().to("cpu").contiguous()
        flat = data.reshape(-1).view(torch.uint8).numpy() if data.numel() else np.empty(0, np.uint8)
        return flat.view(typestr).reshape(info.shape)
    buffer = map_storage(info)
    dtype = np.dtype(typestr)
    base = np.frombuffer(buffer, dtype=dtype, count=info.storage.numel) if len(buffer) else np.empty(0, dtype)
    size = dtype.itemsize
    if info.numel == 0:
        return np.empty(info.shape, dtype)
    return np.lib.stride_tricks.as_strided(
        base[info.storage_offset :], shape=info.shape, strides=tuple(s * size for s in info.stride), writeable=False
    )


def drop_pages(array: object) -> None:
    """Let the kernel take back the pages of `array`'s memory map that were read so far (they stay in the page
    cache). Chunked readers call this as they go, so peak RSS stays near one chunk, not the whole tensor."""
    base = array
    while base is not None and not isinstance(base, memoryview):
        base = getattr(base, "base", None)
    if isinstance(base, memoryview) and isinstance(base.obj, mmap.mmap) and hasattr(mmap, "MADV_DONTNEED"):
        base.obj.madvise(mmap.MADV_DONTNEED)


def row_chunks(*arrays: np.ndarray, elements: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Matching contiguous 1-D chunks of about `elements` elements (whole rows of the first axis) of arrays of one
    shape, any strides, in C order; each array's mapped pages are dropped once its chunk has been used."""
    import numpy as np

    flats = [a.reshape(1) if a.ndim == 0 else a for a in arrays]
    first = flats[0]
    row = max(1, first[0].size) if first.shape[0] else 1
    step = max(1, elements // row)
    for start in range(0, first.shape[0], step):
        yield tuple(np.ascontiguousarray(f[start : start + step]).reshape(-1) for f in flats)
        for f in flats:
            drop_pages(f)  # used: the mapped pages can go (after, or they fault straight back)


def load_tensor(info: TensorInfo, device: str = "cpu") -> torch.Tensor:
    """The tensor, bit-identical to `torch.load(map_location=device)`, with torch's shape, strides and offset."""
    import torch

    from ckpt_tui.core.devices import torch_device

    target = torch_device(device)
    dtype = getattr(torch, info.dtype.replace("qint", "int").replace("quint", "uint"), None)
    if dtype is None:
        raise UnsupportedFormatError(f"tensor '{info.key}' has dtype {info.dtype}, which this torch does not know")
    if target.type == "meta" or info.storage.device == "meta":  # saved without data: it stays without data
        return torch.empty_strided(info.shape, info.stride, dtype=dtype, device="meta")
    check_expansion(info)
    if not has_byte_range(info.storage):
        return materialise(info).to(target)
    raw = map_storage(info)
    flat = torch.frombuffer(raw, dtype=torch.uint8) if len(raw) else torch.empty(0, dtype=torch.uint8)
    tensor = flat.view(dtype).as_strided(info.shape, info.stride, info.storage_offset)
    if info.quantization is not None:
        tensor = _quantize(info, tensor)
    return tensor if target.type == "cpu" else tensor.to(target)


def materialise(info: TensorInfo) -> torch.Tensor:
    """A tensor that is not a byte range of a file: loaded by --unsafe, or read by torch's DCP reader."""
    from ckpt_tui.core.dcp_load import load_dcp_tensor

    tensor: torch.Tensor = live_tensor(info) if info.storage.member == StorageSource.UNSAFE else load_dcp_tensor(info)
    return tensor


def _quantize(info: TensorInfo, int_repr: torch.Tensor) -> torch.Tensor:
    import torch

    q = info.quantization
    if q is None or q.scheme != "per_tensor_affine" or q.scale is None or q.zero_point is None:
        raise UnsupportedFormatError(f"tensor '{info.key}': {q.scheme if q else '?'} quantized tensors are not loaded")
    return torch._make_per_tensor_quantized_tensor(int_repr, q.scale, q.zero_point)
