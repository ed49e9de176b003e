"""What `audit` returns: a verdict on resuming, the parts found, and findings with evidence, reason and fix.

Plain data: render/ and the app read it without importing the audit's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Verdict(StrEnum):
    RESUMABLE = "resumable"
    WEIGHTS_ONLY = "weights-only"  # fine for inference or fine-tuning, not for resuming
    INCOMPLETE = "incomplete-or-inconsistent"


class FindingSeverity(StrEnum):
    """error: resuming from it is wrong; warning: it resumes but differs or breaks elsewhere; info: worth knowing."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


class Part(StrEnum):
    MODEL = "model"
    OPTIMIZER = "optimizer"
    SCHEDULER = "scheduler"
    EPOCH = "epoch"
    STEP = "step"
    BEST_METRIC = "best-metric"
    RNG_TORCH = "rng-torch"
    RNG_CUDA = "rng-cuda"
    RNG_NUMPY = "rng-numpy"
    RNG_PYTHON = "rng-python"
    SCALER = "scaler"
    HYPERPARAMETERS = "hyperparameters"


class FindingCode(StrEnum):
    MODEL_MISSING = "model-missing"
    OPTIMIZER_MISSING = "optimizer-missing"
    SCHEDULER_MISSING = "scheduler-missing"
    PROGRESS_MISSING = "progress-missing"
    BEST_METRIC_MISSING = "best-metric-missing"
    RNG_MISSING = "rng-missing"
    SCALER_MISSING = "scaler-missing"
    HYPERPARAMETERS_MISSING = "hyperparameters-missing"
    OPTIMIZER_MODEL_MISMATCH = "optimizer-model-mismatch"
    OPTIMIZER_PARTIAL = "optimizer-partial"
    OPTIMIZER_STEP_MISMATCH = "optimizer-step-mismatch"
    SCHEDULER_POSITION_MISMATCH = "scheduler-position-mismatch"
    SCHEDULER_LR_MISMATCH = "scheduler-lr-mismatch"
    LOOP_COUNTERS_MISMATCH = "loop-counters-mismatch"
    EPOCH_CONVENTION = "epoch-convention"
    PICKLED_OBJECT = "pickled-object"
    SAVED_ON_CUDA = "saved-on-cuda"
    WRAPPER_PREFIX = "wrapper-prefix"
    NON_FINITE = "non-finite"
    VERSION_MISMATCH = "version-mismatch"


SEVERITY_ORDER = (FindingSeverity.ERROR, FindingSeverity.WARNING, FindingSeverity.INFO)


@dataclass(frozen=True, slots=True)
class Finding:
    code: FindingCode
    severity: FindingSeverity
    evidence: str  # what was found, with the values
    why: str  # why it matters when resuming
    fix: str  # the line of code or the ckpt-tui command
    subject: str = ""  # the part, key or package it is about


@dataclass(frozen=True, slots=True)
class FoundPart:
    part: Part
    where: str  # a key path label, or "" when absent
    value: str = ""  # a short description: "3", "Adam, 2 groups", "StepLR"

    @property
    def found(self) -> bool:
        return bool(self.where)


@dataclass(frozen=True, slots=True)
class Metric:
    name: str
    value: float
    where: str


@dataclass(frozen=True, slots=True)
class AuditReport:
    path: str
    format: str
    framework: str
    verdict: Verdict
    findings: tuple[Finding, ...]  # errors first, then warnings, then infos
    parts: tuple[FoundPart, ...]
    epoch: float | None = None
    step: int | None = None
    lr: float | None = None
    metrics: tuple[Metric, ...] = ()
    stats_checked: bool = False
    notes: tuple[str, ...] = field(default=())  # what could not be checked, and why

    def count(self, severity: FindingSeverity) -> int:
        return sum(1 for f in self.findings if f.severity is severity)

    @property
    def resumable(self) -> bool:
        return self.verdict is Verdict.RESUMABLE

    def ok(self, strict: bool = False) -> bool:
        """Resumable, and under `strict` without warnings."""
        return self.resumable and not (strict and self.count(FindingSeverity.WARNING))

    def part(self, part: Part) -> FoundPart:
        return next(p for p in self.parts if p.part is part)
