"""torch.distributed.checkpoint directories: `.metadata` (a pickle) plus `*.distcp` data files.

torch reads `.metadata` with a plain `pickle.load`; here it goes through the restricted unpickler like any pickle.
Tensors are listed from the metadata (key, dtype, size, chunks with their file, offset and length); their data is
loaded on demand through torch's own DCP reader, given this safely parsed metadata (core/dcp_load.py). Non-tensor
items are small `torch.save` blobs inside the data files: they are read with the same safe reader, in memory.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ckpt_tui.dtypes import ITEMSIZE
from ckpt_tui.errors import InvalidCheckpointError, UnreadableError, UnsupportedFormatError
from ckpt_tui.formats import source
from ckpt_tui.formats._entries import EntryBuilder
from ckpt_tui.formats._pickled import no_storages, unpickle
from ckpt_tui.formats._records import DType, Opaque
from ckpt_tui.formats._risk import notice_for_global
from ckpt_tui.model import (
    Checkpoint,
    CheckpointFormat,
    Entry,
    Key,
    Kind,
    Notice,
    NoticeCode,
    Severity,
    Storage,
    StorageSource,
    TensorInfo,
    contiguous_strides,
)

DCP_MODULES = ("torch.distributed.checkpoint.", "pathlib.")
MAX_VALUE_BLOB = 16 << 20


@dataclass(frozen=True, slots=True)
class Chunk:
    offsets: tuple[int, ...]
    sizes: tuple[int, ...]
    file: str
    offset: int
    length: int
    transformed: bool = False  # compressed or otherwise transformed on save: its length is not its raw size


@dataclass(frozen=True, slots=True)
class DcpTensor:
    fqn: str
    dtype: str
    size: tuple[int, ...]
    chunks: tuple[Chunk, ...]


@dataclass(frozen=True, slots=True)
class DcpLayout:
    tensors: dict[str, DcpTensor]
    values: dict[str, Chunk]  # non-tensor items: where their torch.save blob lies
    paths: dict[str, tuple[Key, ...]]  # fqn -> original nesting (planner_data)
    unknown_globals: dict[str, int]


def is_dcp_dir(path: str) -> bool:
    return source.isfile(source.join(path, ".metadata"))


@lru_cache(maxsize=4)
def read_layout(directory: str, mtime_ns: int = 0) -> DcpLayout:
    meta_path = os.path.join(directory, ".metadata")
    with open(meta_path, "rb") as f:
        raw, unpickler = unpickle(f, meta_path, no_storages, ".metadata")
    try:
        return _layout(directory, raw, unpickler.unknown_globals)
    except (AttributeError, TypeError, ValueError, KeyError) as e:
        raise InvalidCheckpointError(f"not a torch.distributed.checkpoint .metadata ({e})", meta_path) from None


def _layout(directory: str, raw: Any, unknown: dict[str, int]) -> DcpLayout:
    if not (isinstance(raw, Opaque) and raw.qualname == "torch.distributed.checkpoint.metadata.Metadata"):
        raise ValueError(f"its root is {getattr(raw, 'qualname', type(raw).__name__)}, not a DCP Metadata record")
    fields = _state(raw)
    where: dict[tuple[str, tuple[int, ...] | None], Chunk] = {}
    for index, info in (fields.get("storage_data") or {}).items():
        idx, si = _state(index), _state(info)
        offsets = tuple(idx["offset"]) if idx.get("offset") is not None else None
        path = str(si["relative_path"])
        if os.path.isabs(path) or ".." in path.split("/"):
            raise InvalidCheckpointError(f"data file {path!r} lies outside the checkpoint directory", directory)
        transformed = bool(si.get("transform_descriptors"))
        chunk = Chunk(offsets or (), (), path, int(si["offset"]), int(si["length"]), transformed)
        _check_in_file(directory, chunk)
        where[(str(idx["fqn"]), offsets)] = chunk
    tensors, values = {}, {}
    shared: set[int] = set()
    for fqn, item in (fields.get("state_dict_metadata") or {}).items():
        if isinstance(item, Opaque) and item.name == "TensorStorageMetadata":
            tensors[fqn] = _tensor(fqn, _state(item), where, shared)
        elif (fqn, None) in where:
            values[fqn] = where[(fqn, None)]
    planner = fields.get("planner_data") or {}
    paths = {k: tuple(v) if isinstance(v, tuple | list) else (k,) for k, v in planner.items()}
    return DcpLayout(tensors, values, paths, unknown)


def _check_in_file(directory: str, chunk: Chunk) -> None:
    size = _file_size(os.path.join(directory, chunk.file))
    if chunk.offset < 0 or chunk.length < 0 or (size is not None and chunk.offset + chunk.length > size):
        raise InvalidCheckpointError(
            f"a chunk at {chunk.offset}+{chunk.length} runs past the end of {chunk.file!r} ({size} bytes)", directory
        )


@lru_cache(maxsize=256)
def _file_size(path: str) -> int | None:
    try:
        return os.path.getsize(path)
    except OSError:
        return None  # a missing data file is found when its tensor is read


def _check_chunks(fqn: str, dtype: str, size: tuple[int, ...], chunks: list[Chunk]) -> None:
    """Chunks lie inside the tensor and add up to it, and each data range holds at least its raw bytes: a
    metadata file cannot claim terabytes that its data files do not hold."""
    total = 0
    for c in chunks:
        if len(c.sizes) != len(size) or any(
            o < 0 or n < 0 or o + n > d for o, n, d in zip(c.offsets, c.sizes, size, strict=True)
        ):
            raise ValueError(f"{fqn}: chunk at {c.offsets} of size {c.sizes} lies outside the tensor {size}")
        numel = _numel(c.sizes)
        if not c.transformed and c.length < numel * ITEMSIZE.get(dtype, 1):
            raise ValueError(f"{fqn}: chunk at {c.offsets} holds {c.length} bytes for {numel} elements")
        total += numel
    if total != _numel(size):
        raise ValueError(f"{fqn}: its chunks hold {total} elements but the tensor has {_numel(size)}")


def _tensor(fqn: str, state: dict[str, Any], where: dict[tuple[str, Any], Chunk], shared: set[int]) -> DcpTensor:
    props = _state(state["properties"])
    dtype = props.get("dtype") if isinstance(props, dict) else None
    if dtype is None and isinstance(state["properties"].state, tuple):
        dtype = state["properties"].state[0]
    if not isinstance(dtype, DType):
        raise ValueError(f"{fqn}: no dtype")
    chunks = []
    listed = state.get("chunks") or []
    if id(listed) in shared:  # torch never shares one chunk list between tensors; through the memo it multiplies
        raise ValueError(f"{fqn}: its chunk list is shared with another tensor (memo-shared metadata)")
    shared.add(id(listed))
    for chunk in listed:
        c = _state(chunk)
        offsets, sizes = tuple(c["offsets"]), tuple(c["sizes"])
        located = where.get((fqn, offsets))
        if located is None:
            raise ValueError(f"{fqn}: chunk at {offsets} has no data file")
        chunks.append(Chunk(offsets, sizes, located.file, located.offset, located.length, located.transformed))
    size = tuple(int(d) for d in state["size"])
    _check_chunks(fqn, dtype.name, size, chunks)
    return DcpTensor(fqn, dtype.name, size, tuple(chunks))


def _state(obj: Any) -> dict[str, Any]:
    """An opaque dataclass's fields (pickled as BUILD state, or a (dict, slots) pair)."""
    state = obj.state if isinstance(obj, Opaque) else obj
    if isinstance(state, tuple) and len(state) == 2 and isinstance(state[1], dict):
        state = {**(state[0] or {}), **state[1]}
    return state if isinstance(state, dict) else {}


def read(directory: str) -> Checkpoint:
    if source.is_url(directory):  # torch's DCP reader, which reads its data, takes local directories only
        message = "DCP directories are read locally only (torch reads their data): download it"
        raise UnsupportedFormatError(message, directory)
    st = os.stat(os.path.join(directory, ".metadata"))
    layout = read_layout(directory, st.st_mtime_ns)
    tree: dict[Key, Any] = {}
    for fqn, t in layout.tensors.items():
        storage = Storage(directory, fqn, t.dtype, _numel(t.size), "cpu", member=StorageSource.DCP.value)
        info = TensorInfo(fqn, t.dtype, t.size, contiguous_strides(t.size), storage)
        _place(tree, layout.paths.get(fqn, (fqn,)), Entry(Kind.TENSOR, "torch.Tensor", info))
    for fqn, chunk in layout.values.items():
        _place(tree, layout.paths.get(fqn, (fqn,)), _value(directory, chunk))
    known = [name for name in layout.unknown_globals if name.startswith(DCP_MODULES)]
    notices = [notice_for_global(name, n) for name, n in layout.unknown_globals.items() if name not in known]
    if known:
        notices.append(
            Notice(
                NoticeCode.DCP_METADATA,
                Severity.INFO,
                f"{len(known)} DCP metadata classes read without "
                "importing them (torch itself unpickles .metadata with plain pickle.load)",
            )
        )
    sharded = [t for t in layout.tensors.values() if len(t.chunks) > 1]
    files = {c.file for t in layout.tensors.values() for c in t.chunks} | {c.file for c in layout.values.values()}
    notices.append(
        Notice(
            NoticeCode.DCP,
            Severity.INFO,
            f"torch.distributed.checkpoint: {len(layout.tensors)} tensors in "
            f"{len(files)} data files; {len(sharded)} tensors split into several chunks",
        )
    )
    size = sum(os.path.getsize(os.path.join(directory, f)) for f in files if os.path.exists(os.path.join(directory, f)))
    return Checkpoint(directory, CheckpointFormat.DCP, _entry(tree), size + st.st_size, tuple(notices))


def _numel(size: tuple[int, ...]) -> int:
    n = 1
    for d in size:
        n *= d
    return n


def _place(tree: dict[Key, Any], path: tuple[Key, ...], entry: Entry) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            return
    node[path[-1]] = entry


def _entry(tree: dict[Key, Any]) -> Entry:
    children = tuple((k, v if isinstance(v, Entry) else _entry(v)) for k, v in tree.items())
    return Entry(Kind.MAPPING, "dict", None, children)


def _value(directory: str, chunk: Chunk) -> Entry:
    """A non-tensor item: its torch.save blob, read with the safe reader in memory."""
    path = os.path.join(directory, chunk.file)
    if chunk.length > MAX_VALUE_BLOB:
        return Entry(Kind.VALUE, "bytes", f"<{chunk.length} bytes in {chunk.file}>")
    try:
        with open(path, "rb") as f:
            f.seek(chunk.offset)
            blob = f.read(chunk.length)
        with zipfile.ZipFile(io.BytesIO(blob)) as archive:
            name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
            raw, unpickler = unpickle(io.BytesIO(archive.read(name)), path, no_storages)
    except (OSError, StopIteration, zipfile.BadZipFile, UnreadableError) as e:
        return Entry(Kind.VALUE, "unreadable", f"<cannot read {chunk.file}@{chunk.offset}: {e}>")
    return EntryBuilder(no_storages, path).build(raw)
