"""The vocabulary: what a checkpoint holds, as plain frozen data. No torch, no I/O.

A `Checkpoint` is a tree of `Entry` nodes. Tensors are `TensorInfo` records that say where their bytes live
(`Storage`) without holding any of them; classes named by the file that we do not know become opaque entries that
show their name and pickled state, and are never imported.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cached_property
from operator import itemgetter

from ckpt_tui.dtypes import itemsize

Key = str | int | float | bool | None | tuple[object, ...]


class Kind(StrEnum):
    MAPPING = "mapping"
    SEQUENCE = "sequence"
    TENSOR = "tensor"
    VALUE = "value"
    OPAQUE = "opaque"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"


class CheckpointFormat(StrEnum):
    """What a checkpoint was read as (`Checkpoint.format`)."""

    SAFETENSORS = "safetensors"
    TORCH_ZIP = "torch-zip"
    TORCHSCRIPT = "torchscript"
    TORCH_LEGACY = "torch-legacy"
    PICKLE = "pickle"
    SHARDED_SAFETENSORS = "sharded-safetensors"
    SHARDED_TORCH = "sharded-torch"
    DCP = "dcp"
    DIRECTORY = "directory"
    UNSAFE = "torch (unsafe load)"

    @property
    def is_sharded(self) -> bool:
        return self in (CheckpointFormat.SHARDED_SAFETENSORS, CheckpointFormat.SHARDED_TORCH)


class NoticeCode(StrEnum):
    """Every kind of `Notice`; a new notice is a new member here."""

    UNKNOWN_GLOBAL = "unknown-global"
    TORCHSCRIPT_CLASS = "torchscript-class"
    TORCHSCRIPT = "torchscript"
    REPRESENTATION = "representation"
    LEGACY_FORMAT = "legacy-format"
    PLAIN_PICKLE = "plain-pickle"
    SAFETENSORS_METADATA = "safetensors-metadata"
    SAFETENSORS_ALIAS = "safetensors-alias"  # tied names stored once, read back from __metadata__
    SHARDS = "shards"
    SHARD_CONSISTENCY = "shard-consistency"
    LAYOUT = "layout"
    DCP = "dcp"
    DCP_METADATA = "dcp-metadata"
    UNSAFE_LOAD = "unsafe-load"
    SHARED_STORAGE = "shared-storage"
    WRAPPER_PREFIX = "wrapper-prefix"
    NON_FINITE = "non-finite"


class StorageSource(StrEnum):
    """`Storage.member` sentinels for tensors that are not a byte range of a file: torch must materialise them."""

    UNSAFE = "<loaded by --unsafe>"
    DCP = "<torch.distributed.checkpoint>"


class Marker(StrEnum):
    """Names the readers give to structure that is not in the file as such."""

    CYCLE = "cycle"  # type_name of a value standing for a recursive reference
    MODULE_STATE = "__state__"  # the key under which a pickled nn.Module keeps its non-tensor fields


@dataclass(frozen=True, slots=True)
class Storage:
    """A run of bytes in a file holding `numel` elements of `dtype`.

    `member` names a zip member when the offset is relative to it (resolved lazily: torch zips keep members
    uncompressed, so this is a byte range of the file too); otherwise `offset` is absolute in `file`.
    """

    file: str
    key: str
    dtype: str
    numel: int
    device: str = "cpu"
    member: str | None = None
    offset: int = 0

    @property
    def nbytes(self) -> int:
        return self.numel * itemsize(self.dtype)


@dataclass(frozen=True, slots=True)
class Quantization:
    scheme: str
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """Everything needed to read one tensor later; nothing read yet."""

    key: str
    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    storage: Storage
    storage_offset: int = 0
    requires_grad: bool = False
    is_parameter: bool = False
    quantization: Quantization | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * itemsize(self.dtype)

    @property
    def device(self) -> str:
        return self.storage.device

    @property
    def is_contiguous(self) -> bool:
        return self.stride == contiguous_strides(self.shape) or self.numel <= 1

    @property
    def byte_offset(self) -> int:
        """Offset of the first element within the storage, in bytes."""
        return self.storage_offset * itemsize(self.dtype)

    @property
    def extent(self) -> int:
        """Elements of the storage this view spans, from `storage_offset` (0 for an empty tensor)."""
        span = 1
        for n, s in zip(self.shape, self.stride, strict=True):
            if n == 0:
                return 0
            span += (n - 1) * s
        return span


def contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= max(n, 1)
    return tuple(reversed(strides))


@dataclass(frozen=True, slots=True)
class ArrayValue:
    """A numpy array found in the pickle (its bytes are in the pickle itself, so they are kept)."""

    dtype: str
    shape: tuple[int, ...]
    data: bytes | tuple[object, ...]
    fortran_order: bool = False


@dataclass(frozen=True, slots=True)
class GlobalRef:
    """A class or function named by the file and used as a value (e.g. Lightning's `hparams_type`)."""

    module: str
    name: str

    @property
    def qualname(self) -> str:
        return f"{self.module}.{self.name}"


@dataclass(frozen=True, slots=True)
class OpaqueRecipe:
    """How an opaque object was pickled, so that a writer can pickle it again exactly (never running it).

    `called`: built by calling the class (REDUCE) rather than `cls.__new__` (NEWOBJ). `spread_state`: its dict
    state is shown as its children (beside "args"/"kwargs"/"items"/"dict_items"); else it is the "state" child.
    `module_view`: a pickled nn.Module shown by parameter name; its pickled layout is not kept.
    """

    cls: GlobalRef
    called: bool = False
    spread_state: bool = False
    module_view: bool = False


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    """A node of the checkpoint's object tree.

    MAPPING and SEQUENCE hold `children`; TENSOR holds a `TensorInfo` in `value`; VALUE holds a plain Python value
    (int, float, complex, str, bool, None, bytes, tuple) or an `ArrayValue`/`GlobalRef`; OPAQUE is an object of a
    class we do not import: `type_name` is its qualified name and `children` its pickled arguments and state.
    """

    kind: Kind
    type_name: str
    value: object = None
    children: tuple[tuple[Key, Entry], ...] = ()
    attrs: tuple[tuple[Key, Entry], ...] = ()  # pickled alongside a container, e.g. a state dict's `_metadata`
    # the global that rebuilt a numpy array or scalar, as the file named it (`numpy.core.multiarray` before numpy 2,
    # `numpy._core.multiarray` after): a writer names it again exactly, so allowlists written for the input still fit
    origin: GlobalRef | None = None
    _index: dict[str, int] | None = field(default=None, init=False, repr=False)

    @property
    def tensor(self) -> TensorInfo:
        """The TensorInfo of a TENSOR entry."""
        if not isinstance(self.value, TensorInfo):
            raise TypeError(f"a {self.kind} entry holds no tensor")
        return self.value

    @property
    def is_container(self) -> bool:
        return self.kind in (Kind.MAPPING, Kind.SEQUENCE, Kind.OPAQUE)

    def child(self, key: Key) -> Entry | None:
        """The child under `key` (or its string form: `0` finds "0" and "0" finds `0`); the first one wins."""
        index = self._index
        if index is None:  # built on first use: a state dict can have 100k children
            keys = list(map(itemgetter(0), self.children))
            if set(map(type, keys)) <= {str}:  # the usual case, in C; assigned last to first, so the first wins
                index = dict(zip(reversed(keys), range(len(keys) - 1, -1, -1), strict=True))
            else:
                index = {}
                for i, k in enumerate(keys):
                    index.setdefault(str(k), i)
            object.__setattr__(self, "_index", index)
        found = index.get(str(key))
        return None if found is None else self.children[found][1]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the reader found that a person should know: an unknown global, a shared storage, a prefix."""

    code: NoticeCode
    severity: Severity
    message: str
    subject: str = ""


@dataclass(frozen=True, eq=False)
class Checkpoint:
    path: str
    format: CheckpointFormat
    root: Entry
    file_size: int
    notices: tuple[Notice, ...] = field(default=())

    @cached_property
    def tensors(self) -> dict[str, TensorInfo]:
        """Every tensor in the checkpoint by dotted key path, in file order; each `info.key` is its key here."""
        out: dict[str, TensorInfo] = {}
        for key, entry in walk_dotted(self.root):
            if entry.kind is Kind.TENSOR:
                info: TensorInfo = entry.value  # type: ignore[assignment]
                out[key] = info if info.key == key else replace(info, key=key)  # a tensor reached by two paths
        return out

    def find(self, path: tuple[Key, ...]) -> Entry | None:
        entry: Entry | None = self.root
        for key in path:
            entry = entry.child(key) if entry is not None else None
        return entry


def walk(root: Entry, prefix: tuple[Key, ...] = ()) -> Iterator[tuple[tuple[Key, ...], Entry]]:
    """Depth-first (path, entry) pairs; a container reachable twice (pickle memo) is visited once."""
    seen: set[int] = set()
    stack: list[tuple[tuple[Key, ...], Entry]] = [(prefix, root)]
    while stack:
        path, entry = stack.pop()
        yield path, entry
        if entry.children and id(entry) not in seen:
            seen.add(id(entry))
            stack.extend([(path + (k,), v) for k, v in reversed(entry.children)])


def walk_dotted(root: Entry) -> Iterator[tuple[str, Entry]]:
    """`walk` with dotted string keys ("encoder.layers.0.weight"), built by concatenation: the fast path."""
    seen: set[int] = set()
    stack: list[tuple[str, Entry]] = [("", root)]
    while stack:
        key, entry = stack.pop()
        yield key, entry
        if entry.children and id(entry) not in seen:
            seen.add(id(entry))
            prefix = key + "." if key else ""
            stack.extend([(f"{prefix}{k}", v) for k, v in reversed(entry.children)])


def tensor_count(entry: Entry, memo: dict[int, int] | None = None) -> int:
    """Tensors below `entry`, counted by path, in time linear in the distinct entries (memo-shared subtrees, which
    a hostile pickle can make exponential in paths, are counted once and multiplied)."""
    memo = {} if memo is None else memo
    stack: list[tuple[Entry, bool]] = [(entry, False)]
    while stack:
        node, done = stack.pop()
        if id(node) in memo:
            continue
        if node.kind is Kind.TENSOR:
            memo[id(node)] = 1
        elif not node.children:
            memo[id(node)] = 0
        elif done:
            memo[id(node)] = sum(memo[id(c)] for _, c in node.children)
        else:  # entry graphs are acyclic (the builder turns cycles into values): children first, then the sum
            stack.append((node, True))
            stack.extend((c, False) for _, c in node.children if id(c) not in memo)
    return memo[id(entry)]


def value_text(value: object, limit: int = 60) -> str:
    """A plain value as short text: arrays by dtype and shape, globals by name, long bytes by length, else its repr
    cut at `limit`. The one rule for the renderers and for the diff's comparisons of non-tensor values."""
    if isinstance(value, ArrayValue):
        return f"array {value.dtype} {list(value.shape)}"
    if isinstance(value, GlobalRef):
        return value.qualname
    if isinstance(value, bytes) and len(value) > 16:
        return f"<{len(value)} bytes>"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
