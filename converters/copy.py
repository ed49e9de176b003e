"""Moving tensor bytes from a source checkpoint into an output file, without holding whole tensors in memory.

Contiguous tensors are copied in the kernel (`copy_file_range`; read/write where it is refused), as fast as `cp`;
non-contiguous views and dtype casts go chunk by chunk through numpy.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ckpt_tui.core.decode import decode_chunk
from ckpt_tui.core.tensors import drop_pages, read_array
from ckpt_tui.formats import byte_range, has_byte_range, is_url
from ckpt_tui.model import TensorInfo

if TYPE_CHECKING:
    import numpy as np

CHUNK_BYTES = 64 << 20
_KERNEL_COPY_FAILURES = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EBADF)


def source_range(info: TensorInfo) -> tuple[int, int]:
    """(file offset, length) of a contiguous tensor's own bytes."""
    start, _ = byte_range(info.storage)
    return start + info.byte_offset, info.nbytes


def copy_tensor(info: TensorInfo, out_fd: int, cast: str | None = None) -> int:
    """Append one tensor's bytes (C order, optionally cast) to `out_fd`; returns bytes written."""
    if cast is None and info.is_contiguous and has_byte_range(info.storage) and not is_url(info.storage.file):
        start, length = source_range(info)
        with open(info.storage.file, "rb") as src:
            copy_range(src.fileno(), out_fd, start, length)
        return length
    written = 0
    for chunk in tensor_chunks(info, cast):
        _write_all(out_fd, chunk)
        written += len(chunk)
    return written


def tensor_chunks(info: TensorInfo, cast: str | None = None) -> Iterator[bytes]:
    """The tensor's elements in C order as bytes, a block of rows at a time, cast if asked."""
    import numpy as np

    array = read_array(info)
    flat = array.reshape(1) if array.ndim == 0 else array
    if flat.size == 0:
        return
    row_bytes = max(1, flat[0].nbytes) if flat.shape[0] else 1
    step = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, flat.shape[0], step):
        raw = np.ascontiguousarray(flat[start : start + step]).reshape(-1)
        yield (cast_raw(info, raw, cast) if cast else raw).tobytes()
        drop_pages(flat)  # written: the mapped pages can go


def cast_raw(info: TensorInfo, raw: np.ndarray, target: str) -> np.ndarray:
    """Raw elements of `info.dtype` -> elements of `target` (float16, bfloat16 or float32), round to nearest even."""
    import numpy as np

    values = decode_chunk(info, raw).astype(np.float32)
    if target == "float32":
        return values
    if target == "float16":
        with np.errstate(over="ignore"):
            return values.astype(np.float16)
    bits = values.view(np.uint32)
    rounded = ((bits + (0x7FFF + ((bits >> 16) & 1))) >> 16).astype(np.uint16)
    return np.where(np.isnan(values), np.uint16(0x7FC0), rounded)


def copy_range(in_fd: int, out_fd: int, offset: int, length: int) -> None:
    """`length` bytes from `in_fd` at `offset` to the end of `out_fd`, in the kernel where it can."""
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(in_fd, out_fd, min(length - done, 1 << 30), offset + done)
            if n == 0:
                raise OSError(errno.EIO, "source ended early")
            done += n
        return
    except OSError as e:
        if e.errno not in _KERNEL_COPY_FAILURES or done:
            raise
    _read_write(in_fd, out_fd, offset, length)


def _read_write(in_fd: int, out_fd: int, offset: int, length: int) -> None:
    done = 0
    while done < length:
        data = os.pread(in_fd, min(CHUNK_BYTES, length - done), offset + done)
        if not data:
            raise OSError(errno.EIO, "source ended early")
        _write_all(out_fd, data)
        done += len(data)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
