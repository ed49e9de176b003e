"""Tensor keys grouped by dotted module path, one level at a time (`encoder` -> `layers` -> `3` -> `weight`).

A group holds the tensors below it; its children are computed when asked, in one pass over those tensors, so a
100,000-tensor checkpoint costs nothing until a node is opened and only that node's children are ever built.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod

from ckpt_tui.dtypes import itemsize
from ckpt_tui.model import TensorInfo


@dataclass(frozen=True, eq=False)
class TensorGroup:
    prefix: str  # "" for the root, else "model_state_dict.encoder"
    items: tuple[tuple[str, TensorInfo], ...]  # every tensor below, by full key, in file order

    @property
    def name(self) -> str:
        return self.prefix.rpartition(".")[2]

    @property
    def numel(self) -> int:
        return self._totals[0]

    @property
    def nbytes(self) -> int:
        return self._totals[1]

    @cached_property
    def _totals(self) -> tuple[int, int]:
        """(elements, bytes) in one lean pass: a group label needs both, over up to every tensor."""
        numel_by_dtype: dict[str, int] = {}
        for _, info in self.items:
            numel_by_dtype[info.dtype] = numel_by_dtype.get(info.dtype, 0) + prod(info.shape)
        return sum(numel_by_dtype.values()), sum(n * itemsize(d) for d, n in numel_by_dtype.items())

    def children(self) -> list[TensorGroup | TensorInfo]:
        """Sub-groups and tensors one level down, in order of first appearance."""
        start = len(self.prefix) + 1 if self.prefix else 0
        order: dict[str, list[tuple[str, TensorInfo]] | TensorInfo] = {}
        leaves: list[TensorInfo] = []
        for item in self.items:  # the item tuples are reused: no new objects per tensor for the GC to track
            head, dot, _ = item[0][start:].partition(".")
            if not dot:
                leaves.append(item[1])
                order.setdefault("\0" + head, item[1])
            else:
                bucket = order.setdefault(head, [])
                if isinstance(bucket, list):
                    bucket.append(item)
        out: list[TensorGroup | TensorInfo] = []
        for head, value in order.items():
            if isinstance(value, list):
                out.append(TensorGroup(self.prefix + "." + head if self.prefix else head, tuple(value)))
            else:
                out.append(value)
        return out


def root_group(tensors: dict[str, TensorInfo]) -> TensorGroup:
    return TensorGroup("", tuple(tensors.items()))


def leaf_name(info: TensorInfo, group: TensorGroup) -> str:
    return info.key[len(group.prefix) + 1 :] if group.prefix else info.key
