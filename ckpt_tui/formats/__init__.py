"""Bytes on disk -> a lazy, safe `Checkpoint`. Sniffs magic bytes, never trusts the extension, imports no torch."""

from __future__ import annotations

import gc
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ckpt_tui.errors import InvalidCheckpointError, Remedy, UnreadableError, UnsupportedFormatError
from ckpt_tui.formats import source
from ckpt_tui.formats.source import TRAFFIC, is_url, read_range
from ckpt_tui.model import Checkpoint, Storage, StorageSource

__all__ = ["TRAFFIC", "byte_range", "has_byte_range", "is_url", "read_checkpoint", "read_range"]

ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
TAR_MAGIC_OFFSET = 257


def read_checkpoint(path: str | os.PathLike[str]) -> Checkpoint:
    """Read a checkpoint's structure: no tensor bytes are read and nothing the file names is run."""
    path = os.fspath(path)
    with _nested(path):
        return _read_path(path)


_NESTING = threading.local()
MAX_NESTING = 3  # a training directory -> its shard index -> a shard


@contextmanager
def _nested(path: str) -> Iterator[None]:
    """Checkpoints that contain checkpoints (directories, shard sets) stop at MAX_NESTING: a set that lists
    itself, or a symlink loop, is an error, not a recursion."""
    depth = getattr(_NESTING, "depth", 0)
    if depth >= MAX_NESTING:
        raise InvalidCheckpointError(
            f"checkpoints nested more than {MAX_NESTING} deep (a shard set or directory that includes itself?)", path
        )
    _NESTING.depth = depth + 1
    try:
        yield
    finally:
        _NESTING.depth = depth


def _read_path(path: str) -> Checkpoint:
    head = b""
    try:
        if source.isdir(path):
            with _gc_paused():
                return _read_directory(path)
        size = _check_file(path)
        with source.open_binary(path) as f, _gc_paused():
            head = f.read(512)
            try:
                return _dispatch(path, f, head, size)
            except (OSError, MemoryError) as e:
                raise UnreadableError(f"cannot read: {e}", path) from e
    except (UnreadableError, UnsupportedFormatError) as e:
        from ckpt_tui.formats import _foreign

        raise _foreign.explain(path, head, e) from None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Keep the cyclic GC off while a big tree is built (without it, the GC rescans every new object while 100k
    tensors are read); as it was afterwards. Only on the main thread: the GC switch is process-wide, and a read in
    a worker thread is an app's, whose UI thread keeps its GC.
    """
    if threading.current_thread() is not threading.main_thread() or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _read_directory(path: str) -> Checkpoint:
    """A DCP directory, a shard set's directory, or a training directory (weights + optimizer + ...)."""
    from ckpt_tui.formats import dcp, sharded

    try:
        if dcp.is_dcp_dir(path):
            return dcp.read(path)
        weights = sharded.weights_file(path)
        if weights and not sharded.is_trainer_dir(path):
            return _read_model_directory(path, weights)
        return sharded.read_trainer_dir(path, read_checkpoint)
    except PermissionError as e:
        raise UnreadableError(f"permission denied: {e.filename}", path) from None


def _read_model_directory(path: str, weights: str) -> Checkpoint:
    """A released model (weights + config, no training state): its weights, the same whether sharded or not."""
    from dataclasses import replace

    from ckpt_tui.model import Notice, NoticeCode, Severity

    inner = read_checkpoint(weights)
    note = Notice(NoticeCode.LAYOUT, Severity.INFO, f"a model directory: weights from {os.path.basename(weights)}")
    return replace(inner, path=path, notices=(note, *inner.notices))


def _dispatch(path: str, f: object, head: bytes, size: int) -> Checkpoint:
    from ckpt_tui.formats import safetensors, sharded, torch_legacy, torch_zip

    if path.endswith(".json") and head.lstrip().startswith(b"{"):
        return sharded.read_index(path, read_checkpoint)
    if head.startswith(ZIP_MAGIC):
        return torch_zip.read(path, f, size)  # type: ignore[arg-type]
    if path.endswith(".safetensors") and safetensors.sniff(head, size):  # torch.load reads these by name
        return safetensors.read(path, f, size)  # type: ignore[arg-type]
    if head[TAR_MAGIC_OFFSET : TAR_MAGIC_OFFSET + 5] == b"ustar" or _is_tar(f):
        raise UnsupportedFormatError(
            "is a tar archive (torch.load reads it as a PyTorch 0.1 checkpoint, whatever else it looks like): "
            "not read safely",
            path,
            remedy=Remedy.UNSAFE,
        )
    if safetensors.sniff(head, size):
        return safetensors.read(path, f, size)  # type: ignore[arg-type]
    if head[:1] == b"\x80" or head[:1] in (b"(", b"}", b"]"):
        return torch_legacy.read(path, f, size)  # type: ignore[arg-type]
    raise UnreadableError("not a PyTorch checkpoint: unrecognised format (not zip, pickle or safetensors)", path)


def _is_tar(f: object) -> bool:
    """What torch.load tries first on any file that is not a zip: `tarfile.open(mode="r:")`. A file that also
    parses as a pickle is a polyglot, and torch reads the tar side of it."""
    import tarfile

    f.seek(0)  # type: ignore[attr-defined]
    try:
        with tarfile.open(fileobj=f, mode="r:"):  # type: ignore[call-overload]
            return True
    except (tarfile.TarError, EOFError, OSError, ValueError):
        return False
    finally:
        f.seek(0)  # type: ignore[attr-defined]


def _check_file(path: str) -> int:
    if source.is_url(path):
        size = source.getsize(path)
        if size == 0:
            raise UnreadableError("is empty (0 bytes)", path)
        return size
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise UnreadableError("no such file", path) from None
    except OSError as e:
        raise UnreadableError(f"cannot open: {e.strerror}", path) from None
    if st.st_size == 0:
        raise UnreadableError("is empty (0 bytes)", path)
    if not os.access(path, os.R_OK):
        raise UnreadableError("permission denied", path)
    return st.st_size


IN_MEMORY = frozenset(StorageSource)  # storages torch must materialise


def has_byte_range(storage: Storage) -> bool:
    return storage.member not in IN_MEMORY


def byte_range(storage: Storage) -> tuple[int, int]:
    """(absolute file offset, byte length) of a storage; zip members are located on first use."""
    if not has_byte_range(storage):
        raise UnsupportedFormatError(f"storage '{storage.key}' is not a byte range of a file")
    if storage.member is None:
        return storage.offset, storage.nbytes
    from ckpt_tui.formats.torch_zip import member_range

    start, length = member_range(storage.file, storage.member)
    return start + storage.offset, length - storage.offset
