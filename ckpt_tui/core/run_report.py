"""The run's report: plain frozen data that `core/runs.py` produces and render/TUI read (no I/O here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

RUNS_SCHEMA = "ckpt-tui.runs/1"
RESUME_PARTS = ("model", "optimizer", "scheduler", "rng", "scaler")


class Source(StrEnum):
    """Where a value was found."""

    CHECKPOINT = "checkpoint"  # a scalar in the checkpoint (the detail says which key path)
    TRAINER_STATE = "trainer_state"  # trainer_state.json: global_step, epoch, log_history, best_*
    LIGHTNING = "lightning"  # Lightning's ModelCheckpoint callback state
    FILE_NAME = "file_name"  # epoch=3-step=400, _epoch_010, checkpoint-500, val_loss=0.12
    OPTIMIZER = "optimizer"  # param_groups[0].lr


@dataclass(frozen=True, slots=True)
class Sourced:
    """A value with where it came from: `source` is the kind, `detail` the key path or file-name part."""

    value: float | int
    source: Source
    detail: str = ""

    @property
    def where(self) -> str:
        return f"{self.source}:{self.detail}" if self.detail else str(self.source)


@dataclass(frozen=True, slots=True)
class Pick:
    """The run's best or latest checkpoint and the rule that chose it."""

    path: str
    rule: str  # e.g. "lightning ModelCheckpoint", "trainer_state.json best_model_checkpoint", "min val_loss"
    metric: str | None = None
    mode: str | None = None  # "min" | "max"
    value: float | None = None


@dataclass(frozen=True, eq=False)
class RunMember:
    """One checkpoint of the run (a file, or a directory that is one checkpoint)."""

    path: str
    name: str  # relative to the run directory
    format: str
    size: int
    mtime: float
    is_dir: bool
    epoch: Sourced | None
    step: Sourced | None
    metrics: dict[str, Sourced]
    resume: dict[str, bool]
    symlink: str | None = None  # the link's target when the member itself is a symlink (to outside the run)
    links: tuple[str, ...] = ()  # names of symlinks in the run directory that point here (latest.pth, ...)
    best: bool = False
    latest: bool = False
    declared_best: bool = False  # the producer kept it as a best (best*.pth, Lightning's top-k, Trainer's best)
    nonfinite: int | None = None  # NaN/Inf elements in the model weights; None: not computed
    lightning: dict[str, object] = field(default_factory=dict)  # monitor, mode, best_model_path, ... (if any)
    trainer_best: tuple[str, float | None, str | None] | None = None  # best_model_checkpoint, best_metric, metric


@dataclass(frozen=True, slots=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True, eq=False)
class RunReport:
    directory: str
    members: tuple[RunMember, ...]  # in training order
    skipped: tuple[Skipped, ...]
    best: Pick | None
    latest: Pick | None
    producer_best: Pick | None = None  # the producer's own choice, kept even when --metric picks another best

    def member(self, path: str) -> RunMember | None:
        return next((m for m in self.members if m.path == path), None)

    @property
    def metric_names(self) -> list[str]:
        return list(dict.fromkeys(name for m in self.members for name in m.metrics))


@dataclass(frozen=True)
class Drift:
    a: str | None
    b: str
    rel_l2: float | None  # None: nothing comparable (first checkpoint, or no common floating tensor)
    modules: dict[str, float] = field(default_factory=dict)  # module (key without its last part) -> rel L2
    nonfinite_a: int = 0
    nonfinite_b: int = 0
    compared: int = 0  # tensor pairs

    @property
    def introduced_nonfinite(self) -> bool:
        return self.nonfinite_b > self.nonfinite_a
