"""Where a checkpoint's bytes come from: a local path, or a URL read by byte ranges through fsspec.

Every reader asks this module, never `os` or `open` directly, so a checkpoint in object storage (`s3://`, `gs://`,
`hf://`, `https://`) needs no second reader: opening it fetches what opening a local file reads — the zip's end
record and directory and `data.pkl`, or a safetensors header, or an index — by range requests, and tensor data is
fetched one storage at a time when asked for. The traffic is counted (`TRAFFIC`) so every verb can report it.

fsspec and its backends (s3fs, gcsfs, huggingface_hub) are optional: `pip install 'ckpt-tui[remote]'`. Credentials
and endpoints come from the backends' usual configuration (environment, profiles; `AWS_ENDPOINT_URL` for
S3-compatible stores).
"""

from __future__ import annotations

import io
import os
import posixpath
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import IO, Any

from ckpt_tui.errors import UnreadableError, UsageError

REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "hf", "http", "https", "az", "abfs", "abfss", "memory")
BUFFER = 64 << 10  # one request reads at least this much: a header, a zip end record, in one round trip
EXTRA = "pip install 'ckpt-tui[remote]'"


@dataclass
class Traffic:
    """Bytes fetched and requests made for remote reads by this process (local reads are not counted)."""

    bytes: int = 0
    requests: int = 0

    def add(self, nbytes: int) -> None:
        with _LOCK:
            self.bytes += nbytes
            self.requests += 1

    def as_json(self) -> dict[str, int]:
        return {"bytes_fetched": self.bytes, "requests": self.requests}


_LOCK = threading.Lock()
TRAFFIC = Traffic()


def is_url(path: str) -> bool:
    scheme, sep, _ = path.partition("://")
    return bool(sep) and scheme.lower() in REMOTE_SCHEMES


@lru_cache(maxsize=16)
def _filesystem(protocol: str) -> Any:
    try:
        import fsspec
    except ImportError:
        raise UsageError(f"reading {protocol}:// URLs needs fsspec: {EXTRA}") from None
    try:
        return fsspec.filesystem(protocol)
    except (ImportError, ValueError) as e:
        raise UsageError(f"reading {protocol}:// URLs needs its fsspec backend ({e}): {EXTRA}") from None


def _split(url: str) -> tuple[Any, str]:
    protocol = url.partition("://")[0].lower()
    fs = _filesystem(protocol)
    return fs, fs._strip_protocol(url)


def _remote_error(url: str, error: Exception) -> UnreadableError:
    if isinstance(error, FileNotFoundError):
        return UnreadableError("no such object", url)
    if isinstance(error, PermissionError):
        return UnreadableError(f"access denied ({error})", url)
    return UnreadableError(f"cannot read from the object store: {type(error).__name__}: {error}", url)


def _remote(call: Any, url: str, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except UsageError:
        raise
    except Exception as e:  # noqa: BLE001 - a backend's errors are its own types (botocore, aiohttp, ...)
        raise _remote_error(url, e) from None


class RangeReader(io.RawIOBase):
    """A seekable, read-only file over a remote object: each read is one range request."""

    def __init__(self, url: str, size: int) -> None:
        self.url, self.size, self.position = url, size, 0
        self._fs, self._path = _split(url)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self.size - self.position)
        if want <= 0:
            return 0
        data = read_range(self.url, self.position, want, self._fs, self._path)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)


def read_range(url: str, start: int, length: int, fs: Any = None, path: str | None = None) -> bytes:
    """`length` bytes of a remote object from `start`: one request, counted."""
    if fs is None or path is None:
        fs, path = _split(url)
    data: bytes = _remote(fs.cat_file, url, path, start=start, end=start + length)
    TRAFFIC.add(len(data))
    return data


def open_binary(path: str) -> IO[bytes]:
    """A seekable binary file: the local file itself, or a buffered range reader over the object."""
    if not is_url(path):
        return open(path, "rb")
    return io.BufferedReader(RangeReader(path, getsize(path)), buffer_size=BUFFER)


def getsize(path: str) -> int:
    if not is_url(path):
        return os.path.getsize(path)
    fs, inner = _split(path)
    return int(_remote(fs.size, path, inner))


def version(path: str) -> tuple[int, int]:
    """(size, modification stamp): what caches of a file's directory are keyed by."""
    if not is_url(path):
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    return getsize(path), 0


def isdir(path: str) -> bool:
    if not is_url(path):
        return os.path.isdir(path)
    if path.lower().startswith(("http://", "https://")):  # asking would fetch the page to list its links
        return path.endswith("/")
    fs, inner = _split(path)
    return bool(_remote(fs.isdir, path, inner))


def isfile(path: str) -> bool:
    if not is_url(path):
        return os.path.isfile(path)
    fs, inner = _split(path)
    return bool(_remote(fs.isfile, path, inner))


def exists(path: str) -> bool:
    if not is_url(path):
        return os.path.exists(path)
    fs, inner = _split(path)
    return bool(_remote(fs.exists, path, inner))


def listdir(path: str) -> list[str]:
    """The names in a directory (or under a prefix), without the path."""
    if not is_url(path):
        return os.listdir(path)
    fs, inner = _split(path)
    entries = _remote(fs.ls, path, inner, detail=False)
    return [posixpath.basename(str(e).rstrip("/")) for e in entries if str(e).rstrip("/") != inner.rstrip("/")]


def getmtime(path: str) -> float:
    if not is_url(path):
        return os.path.getmtime(path)
    fs, inner = _split(path)
    info = _remote(fs.info, path, inner)
    stamp = info.get("LastModified") or info.get("mtime") or info.get("updated")
    return float(stamp.timestamp()) if hasattr(stamp, "timestamp") else float(stamp or 0)


def join(base: str, *names: str) -> str:
    return posixpath.join(base, *names) if is_url(base) else os.path.join(base, *names)


def dirname(path: str) -> str:
    return posixpath.dirname(path.rstrip("/")) if is_url(path) else os.path.dirname(os.path.abspath(path))


def basename(path: str) -> str:
    return posixpath.basename(path.rstrip("/")) if is_url(path) else os.path.basename(path)


def abspath(path: str) -> str:
    return path if is_url(path) else os.path.abspath(path)


def islink(path: str) -> bool:
    return False if is_url(path) else os.path.islink(path)


def realpath(path: str) -> str:
    return path if is_url(path) else os.path.realpath(path)


def stamp(path: str) -> tuple[int, int]:
    """(bytes, newest modification in ns) of a file, or of every file under a folder (links not followed)."""
    if is_url(path):
        fs, inner = _split(path)
        if not isdir(path):
            return getsize(path), int(getmtime(path) * 1e9)
        return int(_remote(fs.du, path, inner)), 0  # object stores have no folder times
    if not os.path.isdir(path):
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns
    size, newest = 0, os.stat(path).st_mtime_ns
    for root, _, files in os.walk(path):
        for f in files:
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            size, newest = size + st.st_size, max(newest, st.st_mtime_ns)
    return size, newest
