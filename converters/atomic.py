"""Atomic outputs: written to an anonymous file in the target directory, fsynced, then linked into place.

With O_TMPFILE (Linux) a file being written has no name, so a crash or SIGKILL leaves nothing behind; where the
filesystem lacks it, a hidden temp file is used and removed on any exception or Ctrl-C. Existing outputs are only
replaced with `force`, and never before the new file is complete.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from ckpt_tui.errors import OutputExistsError, Remedy, WriteError


@dataclass
class PendingFile:
    """An output being written: `fd` is open for writing; `path` is where it goes on commit."""

    path: str
    fd: int
    temp_name: str | None = None  # the fallback's visible temp file
    committed: bool = field(default=False)

    @property
    def readable_path(self) -> str:
        """A path that reads the file before it is committed (for verification)."""
        return self.temp_name or f"/proc/self/fd/{self.fd}"


def check_writable(paths: list[str], force: bool) -> None:
    for path in paths:
        if os.path.lexists(path) and not force:
            raise OutputExistsError(f"{path} exists", remedy=Remedy.FORCE)
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise WriteError(f"output directory {directory} does not exist")


def open_pending(path: str) -> PendingFile:
    directory = os.path.dirname(os.path.abspath(path))
    mode = 0o666 & ~_umask()
    try:
        return PendingFile(path, os.open(directory, os.O_TMPFILE | os.O_WRONLY, mode))
    except (AttributeError, OSError):
        fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".partial")
        os.fchmod(fd, mode)
        return PendingFile(path, fd, temp_name)


def commit(pending: PendingFile) -> None:
    """fsync, give the file its name (replacing any old one), fsync the directory."""
    os.fsync(pending.fd)
    directory = os.path.dirname(os.path.abspath(pending.path))
    if pending.temp_name is None:
        staging = os.path.join(directory, f".{os.path.basename(pending.path)}.{os.getpid()}.staging")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staging)
        _link_anonymous(pending.fd, staging)
        os.replace(staging, pending.path)
    else:
        os.replace(pending.temp_name, pending.path)
        pending.temp_name = None
    os.close(pending.fd)
    pending.committed = True
    _fsync_dir(directory)


def discard(pending: PendingFile) -> None:
    if not pending.committed:
        with contextlib.suppress(OSError):
            os.close(pending.fd)
    if pending.temp_name is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(pending.temp_name)


@contextlib.contextmanager
def atomic_outputs(paths: list[str], force: bool) -> Iterator[list[PendingFile]]:
    """All of `paths` appear together once the block succeeds, or none of them (and no temp files) do."""
    check_writable(paths, force)
    pending: list[PendingFile] = []
    try:
        pending = [open_pending(p) for p in paths]
        yield pending
        for p in pending:
            commit(p)
    except OSError as e:
        raise WriteError(f"writing {e.filename or paths[0]} failed: {e.strerror or e}; nothing was written") from None
    finally:
        for p in pending:
            discard(p)


def _link_anonymous(fd: int, path: str) -> None:
    """Give an O_TMPFILE file a name. os.link only uses linkat (which follows /proc's fd link) when given a
    dir fd; without one it calls link(), which refuses. Where linking is refused anyway, copy, then fsync."""
    root = os.open("/", os.O_RDONLY)
    try:
        os.link(f"/proc/self/fd/{fd}", path, src_dir_fd=root, follow_symlinks=True)
        return
    except OSError:
        pass
    finally:
        os.close(root)
    with open(f"/proc/self/fd/{fd}", "rb") as src, open(path, "wb") as dst:
        size = os.fstat(src.fileno()).st_size
        offset = 0
        while offset < size:
            offset += os.copy_file_range(src.fileno(), dst.fileno(), size - offset, offset) or os.sendfile(
                dst.fileno(), src.fileno(), offset, size - offset
            )
        os.fsync(dst.fileno())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
