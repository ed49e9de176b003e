"""What the zip and legacy readers share: run the safe unpickler, build entries, gather notices."""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable
from dataclasses import replace
from typing import IO, Any, NoReturn

from ckpt_tui.errors import CkptError, InvalidCheckpointError, UnreadableError
from ckpt_tui.formats._entries import EntryBuilder, colliding_keys
from ckpt_tui.formats._records import StorageRef
from ckpt_tui.formats._risk import notice_for_global
from ckpt_tui.formats._unpickler import AllowList, PersistentLoad, SafeUnpickler, fast_load
from ckpt_tui.model import (
    Checkpoint,
    CheckpointFormat,
    Kind,
    Notice,
    NoticeCode,
    Severity,
    Storage,
    TensorInfo,
    walk_dotted,
)

UNPICKLE_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    ValueError,
    TypeError,
    AttributeError,
    IndexError,
    KeyError,
    UnicodeDecodeError,
    OverflowError,
    RecursionError,
    struct.error,
)


def unpickle(f: IO[bytes], path: str, persistent_load: PersistentLoad, what: str = "pickle") -> tuple[Any, AllowList]:
    """One pickle from `f` (read_checkpoint pauses the cyclic GC around this: it halves the time on 100k tensors).

    A whole in-memory pickle (a BytesIO at its start) tries the C unpickler first (`fast_load`: only if its scan
    vouches for the pickle, with no error on the way); the pure-Python one reads everything else."""
    if isinstance(f, io.BytesIO) and f.tell() == 0:
        fast = fast_load(f.getvalue(), persistent_load)
        if fast is not None:
            return fast
    unpickler = SafeUnpickler(f, persistent_load)
    try:
        return unpickler.load(), unpickler
    except CkptError:
        raise
    except UNPICKLE_ERRORS as e:
        raise UnreadableError(f"corrupt {what}: {_one_line(e)}", path) from None
    except MemoryError:
        raise InvalidCheckpointError(f"{what} asks for more memory than is available", path) from None


def no_storages(pid: Any) -> NoReturn:
    raise pickle.UnpicklingError("this pickle may not reference tensor storages")


def build_checkpoint(
    path: str,
    fmt: CheckpointFormat,
    size: int,
    raw: Any,
    to_storage: Callable[[StorageRef], Storage],
    unpickler: AllowList,
    notices: list[Notice],
) -> Checkpoint:
    builder = EntryBuilder(to_storage, path)
    root = builder.build(raw)
    found = [notice_for_global(name, n) for name, n in unpickler.unknown_globals.items()]
    found += [
        Notice(
            NoticeCode.UNKNOWN_GLOBAL,
            Severity.INFO,
            f"{name}: read as torch reads it, but outside torch.load(weights_only=True)'s allowlist (torch refuses "
            "this file unless it is allowlisted)",
            name,
        )
        for name in unpickler.off_allowlist
    ]
    found += [Notice(NoticeCode.REPRESENTATION, Severity.INFO, note) for note in sorted(builder.notes)]
    checkpoint = Checkpoint(path, fmt, root, size, tuple(notices + found))
    # the cached `tensors`: gathered while building (collisions checked there), else walked here, with the check
    checkpoint.__dict__["tensors"] = builder.tensors if builder.tensors is not None else _tensors_by_key(checkpoint)
    return checkpoint


def _tensors_by_key(ckpt: Checkpoint) -> dict[str, TensorInfo]:
    """`Checkpoint.tensors`, refusing two tensors whose dotted keys collide (see `colliding_keys`)."""
    out: dict[str, TensorInfo] = {}
    for key, entry in walk_dotted(ckpt.root):
        if entry.kind is Kind.TENSOR:
            info: TensorInfo = entry.value  # type: ignore[assignment]
            info = info if info.key == key else replace(info, key=key)
            if key in out and out[key] != info:
                raise colliding_keys(key, ckpt.path)
            out[key] = info
    return out


def _one_line(error: BaseException) -> str:
    if isinstance(error, KeyError):
        return f"it refers to memo entry {error} before storing it"
    text = str(error).splitlines()[0] if str(error) else ""
    return (text if len(text) > 12 else f"{type(error).__name__} {text}".strip())[:200]
