"""App-level messages: what happened in a worker, with the data, never a widget."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ckpt_tui.core.stats import TensorStats


@dataclass
class StatsComputed(Message):
    stats: TensorStats


@dataclass
class StatsFailed(Message):
    key: str
    error: str


@dataclass
class StatsProgressed(Message):
    key: str
    done: int
    total: int
