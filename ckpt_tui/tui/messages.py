"""App-level messages: what happened in a worker, with the data, never a widget."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from ckpt_tui.model import Checkpoint
from ckpt_tui.reports import DiffReport, Histogram, LoadReport, OptimizerReport, TensorStats


@dataclass
class Progressed(Message):
    """The one progress message: `done` of `total` of the work on `key`; a newer one replaces it in the queue."""

    key: str
    done: int
    total: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, Progressed) and message.key == self.key


@dataclass
class WorkFailed(Message):
    """Sent to the widget that started a worker that failed (the app has already shown the error)."""

    title: str
    error: str
    group: str = ""  # the worker's group, so that a widget with several kinds of work knows which failed


@dataclass
class StatsComputed(Message):
    stats: TensorStats


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
class CheckFinished(Message):
    report: LoadReport


@dataclass
class OtherCheckpointRead(Message):
    ckpt: Checkpoint


@dataclass
class OptimizerMapped(Message):
    reports: list[tuple[OptimizerReport, dict[int, float]]]  # each optimizer with its groups' steps
