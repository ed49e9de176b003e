"""App-level messages: what happened in a worker, with the data, never a widget."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ckpt_tui.model import Checkpoint
from ckpt_tui.reports import DiffReport, Histogram, LoadReport, TensorStats


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


@dataclass
class DiffComputed(Message):
    report: DiffReport


@dataclass
class DiffDetailComputed(Message):
    key: str
    stats_a: TensorStats | None
    stats_b: TensorStats | None
    differences: Histogram | None


@dataclass
class WorkFailed(Message):
    title: str
    error: str


@dataclass
class CheckFinished(Message):
    report: LoadReport


@dataclass
class OtherCheckpointRead(Message):
    ckpt: Checkpoint
