"""The explicit opt-in: `torch.load(weights_only=False)`, which runs code from the file. Only `--unsafe` gets here.

The loaded objects are turned into the same `Entry` tree as the safe reader builds; their tensors live in this
process (registered below) rather than in the file, so `load_tensor` serves them from memory.
"""

from __future__ import annotations

import os
from typing import Any

from ckpt_tui.errors import CkptError, UnreadableError
from ckpt_tui.model import (
    Checkpoint,
    CheckpointFormat,
    Entry,
    Key,
    Kind,
    Marker,
    Notice,
    NoticeCode,
    Severity,
    Storage,
    StorageSource,
    TensorInfo,
)

_LIVE: dict[tuple[str, str], Any] = {}
PRIMITIVES = (str, int, float, bool, complex, bytes, type(None))


def read_unsafe(path: str, device: str = "cpu") -> Checkpoint:
    import torch

    from ckpt_tui.core.devices import torch_device
    from ckpt_tui.formats import read_checkpoint

    target = torch_device(device)
    try:
        with open(path, "rb") as f:
            is_zip = f.read(4) == b"PK\x03\x04"
        obj = torch.load(path, map_location=target, weights_only=False, mmap=is_zip)
    except CkptError:
        raise
    except Exception as e:  # noqa: BLE001 - arbitrary code ran; any failure is the file's
        try:
            read_checkpoint(path)  # prefer the safe reader's precise message where it has one
        except CkptError as safe_error:
            raise safe_error from None
        raise UnreadableError(f"torch.load failed: {type(e).__name__}: {e}", path) from None
    root = _LiveBuilder(path).build(obj, ())
    notice = Notice(
        NoticeCode.UNSAFE_LOAD, Severity.WARNING, "loaded with torch.load(weights_only=False): code in the file ran"
    )
    return Checkpoint(path, CheckpointFormat.UNSAFE, root, os.stat(path).st_size, (notice,))


def live_tensor(info: TensorInfo) -> Any:
    return _LIVE[(info.storage.file, info.storage.key)]


class _LiveBuilder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.memo: dict[int, Entry] = {}

    def build(self, obj: Any, path: tuple[Key, ...]) -> Entry:
        import torch

        if isinstance(obj, PRIMITIVES):
            return Entry(Kind.VALUE, type(obj).__name__, obj)
        if id(obj) in self.memo:
            return self.memo[id(obj)]
        if isinstance(obj, torch.Tensor):
            entry = Entry(Kind.TENSOR, "torch.Tensor", self._tensor(obj, path))
        elif isinstance(obj, dict):
            entry = self._container(Kind.MAPPING, obj, obj.items(), path)
        elif isinstance(obj, list | tuple | set | frozenset):
            entry = self._container(Kind.SEQUENCE, obj, enumerate(obj), path)
        elif isinstance(obj, torch.nn.Module):
            entry = self._container(Kind.OPAQUE, obj, obj.state_dict(keep_vars=True).items(), path)
        elif hasattr(obj, "__dict__"):
            entry = self._container(Kind.OPAQUE, obj, vars(obj).items(), path)
        else:
            entry = Entry(Kind.VALUE, _qualname(obj), repr(obj))
        self.memo[id(obj)] = entry
        return entry

    def _container(self, kind: Kind, obj: Any, pairs: Any, path: tuple[Key, ...]) -> Entry:
        self.memo[id(obj)] = Entry(Kind.VALUE, Marker.CYCLE.value, "<recursive reference>")
        children = []
        for k, v in pairs:
            key = k if isinstance(k, str | int | float | bool | type(None)) else repr(k)
            children.append((key, self.build(v, (*path, key))))
        return Entry(kind, _qualname(obj), None, tuple(children))

    def _tensor(self, t: Any, path: tuple[Key, ...]) -> TensorInfo:
        import torch

        key = f"live:{len(_LIVE)}"
        _LIVE[(self.path, key)] = t
        dtype = str(t.dtype).removeprefix("torch.")
        storage = Storage(self.path, key, dtype, t.numel(), str(t.device), member=StorageSource.UNSAFE.value)
        stride = tuple(t.stride()) if t.layout == torch.strided else tuple([1] * t.dim())
        return TensorInfo(
            ".".join(map(str, path)),
            dtype,
            tuple(t.shape),
            stride,
            storage,
            0,
            bool(t.requires_grad),
            isinstance(t, torch.nn.Parameter),
        )


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return cls.__name__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
