"""safetensors: an 8-byte header length, a JSON header, then the data buffer. Only the header is read.

The header is checked as strictly as the reference implementation does: known dtypes, offsets inside the file,
sizes matching shapes, no overlaps and no holes; `__metadata__` is shown (values that hold JSON are decoded).

Aliases: writers that store a tied tensor once (`safetensors.torch.save_model`, ckpt-tui's convert) record each
dropped name in `__metadata__` as `{alias: kept}`. Such a name is shown as a tensor sharing the kept tensor's
storage, as the model it came from had it, so that diff/check/inspect see the checkpoint that was saved. Only an
entry whose value names a tensor stored in this file, and whose key is not itself a stored tensor, is an alias:
the stored tensors are exactly what `safe_open`/`load_file` return (aliases are added, nothing is replaced), and
any other metadata stays a plain string. (`load_model` itself finds ties in the model, not in the metadata.)
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import IO, Any

from ckpt_tui.dtypes import SAFETENSORS_DTYPES, itemsize
from ckpt_tui.errors import InvalidCheckpointError, UnreadableError
from ckpt_tui.formats import source
from ckpt_tui.model import (
    Checkpoint,
    CheckpointFormat,
    Entry,
    Kind,
    Notice,
    NoticeCode,
    Severity,
    Storage,
    TensorInfo,
    contiguous_strides,
)

MAX_HEADER = 100_000_000  # the reference implementation's limit (safetensors' MAX_HEADER_SIZE)


def sniff(head: bytes, size: int) -> bool:
    if len(head) < 9:
        return False
    n = int.from_bytes(head[:8], "little")
    return head[8:9] == b"{" and 2 <= n <= size - 8


def read(path: str, f: IO[bytes], size: int) -> Checkpoint:
    header = _header(path, f, size)
    metadata = header.pop("__metadata__", None)
    base = 8 + int.from_bytes(_read_at(f, 0, 8), "little")
    tensors = [_tensor(path, name, spec, base) for name, spec in header.items()]
    _check_layout(path, tensors, base, size - base)
    children = tuple((t.key, Entry(Kind.TENSOR, "torch.Tensor", t)) for t in tensors)
    notices: list[Notice] = []
    if metadata is not None:
        aliases = _aliases(metadata, tensors)
        children += tuple((t.key, Entry(Kind.TENSOR, "torch.Tensor", t)) for t in aliases)
        children += (("__metadata__", _metadata_entry(path, metadata)),)
        notices.append(
            Notice(NoticeCode.SAFETENSORS_METADATA, Severity.INFO, f"__metadata__ holds {len(metadata)} entries")
        )
        if aliases:
            shown = ", ".join(f"{t.key} = {t.storage.key}" for t in aliases[:4])
            more = f" (+{len(aliases) - 4} more)" if len(aliases) > 4 else ""
            message = f"{len(aliases)} tied names stored once, aliases from __metadata__: {shown}{more}"
            notices.append(Notice(NoticeCode.SAFETENSORS_ALIAS, Severity.INFO, message, aliases[0].key))
    return Checkpoint(
        path, CheckpointFormat.SAFETENSORS, Entry(Kind.MAPPING, "safetensors", None, children), size, tuple(notices)
    )


def _aliases(metadata: Any, tensors: list[TensorInfo]) -> list[TensorInfo]:
    """`{alias: kept}` entries of `__metadata__` as tensors viewing the kept tensor's storage (see the docstring)."""
    if not isinstance(metadata, dict):
        return []
    stored = {t.key: t for t in tensors}
    return [
        replace(stored[kept], key=alias)
        for alias, kept in metadata.items()
        if isinstance(kept, str) and kept in stored and alias not in stored and alias != "__metadata__"
    ]


def read_header(path: str) -> dict[str, Any]:
    """The raw JSON header (with `__metadata__`), validated."""
    with source.open_binary(path) as f:
        return _header(path, f, source.getsize(path))


def _header(path: str, f: IO[bytes], size: int) -> dict[str, Any]:
    n = int.from_bytes(_read_at(f, 0, 8), "little")
    if n > MAX_HEADER or n > size - 8:
        raise InvalidCheckpointError(f"safetensors header claims {n} bytes; the file has {size}", path)
    raw = _read_at(f, 8, n)
    try:
        header = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates)
    except UnicodeDecodeError:
        raise InvalidCheckpointError("safetensors header is not valid UTF-8", path) from None
    except ValueError as e:
        raise InvalidCheckpointError(f"safetensors header is not valid JSON: {e}", path) from None
    if not isinstance(header, dict):
        raise InvalidCheckpointError("safetensors header is not a JSON object", path)
    return header


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"key {k!r} appears twice")
        out[k] = v
    return out


def _tensor(path: str, name: str, spec: Any, base: int) -> TensorInfo:
    def bad(why: str) -> InvalidCheckpointError:
        return InvalidCheckpointError(f"tensor '{name}': {why}", path)

    if not isinstance(spec, dict) or not {"dtype", "shape", "data_offsets"} <= set(spec):
        raise bad("needs dtype, shape and data_offsets")
    dtype = SAFETENSORS_DTYPES.get(spec["dtype"])
    if dtype is None:
        raise bad(f"unsupported dtype {spec['dtype']!r}")
    shape, offsets = spec["shape"], spec["data_offsets"]
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise bad(f"invalid shape {shape!r}")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int and o >= 0 for o in offsets)):
        raise bad(f"invalid data_offsets {offsets!r}")
    begin, end = offsets
    if end - begin != math.prod(shape) * itemsize(dtype):
        needed = math.prod(shape) * itemsize(dtype)
        raise bad(f"data_offsets span {end - begin} bytes but shape {shape} of {dtype} needs {needed}")
    storage = Storage(path, name, dtype, math.prod(shape), "cpu", offset=base + begin)
    return TensorInfo(name, dtype, tuple(shape), contiguous_strides(tuple(shape)), storage)


def _check_layout(path: str, tensors: list[TensorInfo], base: int, buffer_size: int) -> None:
    """Offsets must tile the data buffer exactly: no overlaps, no holes, nothing past the end, nothing after it."""
    cursor = 0
    for t in sorted(tensors, key=lambda t: (t.storage.offset, t.nbytes)):
        begin = t.storage.offset - base
        if begin != cursor:
            why = "overlaps another tensor" if begin < cursor else "leaves a hole before it"
            raise InvalidCheckpointError(f"tensor '{t.key}' {why} in the data buffer", path)
        cursor = begin + t.nbytes
    if cursor > buffer_size:
        raise InvalidCheckpointError(
            f"tensor data runs past the end of the file ({cursor} > {buffer_size} bytes)", path
        )
    if cursor < buffer_size:  # the reference refuses these too (MetadataIncompleteBuffer): room for a polyglot
        raise InvalidCheckpointError(
            f"{buffer_size - cursor} bytes after the last tensor belong to no tensor; safetensors refuses that", path
        )


def _metadata_entry(path: str, metadata: Any) -> Entry:
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise InvalidCheckpointError("__metadata__ must map strings to strings", path)
    return Entry(Kind.MAPPING, "__metadata__", None, tuple((k, _meta_value(v)) for k, v in metadata.items()))


def _meta_value(text: str) -> Entry:
    return Entry(Kind.VALUE, "str", text)


def _read_at(f: IO[bytes], offset: int, n: int) -> bytes:
    f.seek(offset)
    data = f.read(n)
    if len(data) != n:
        raise UnreadableError(f"truncated: wanted {n} bytes at offset {offset}")
    return data
