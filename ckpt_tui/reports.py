"""What the verbs return: plain data that the CLI, the app and the renderers read, with the options they echo.

The core and the writers build these; render/ and tui/ print them without importing the machinery that made them.
Closed vocabularies are StrEnums: each member is its own string, so JSON output is the plain value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ckpt_tui.model import CheckpointFormat, Entry, Key, Notice, TensorInfo

Progress = Callable[[int, int], None]
"""`progress(done, total)`, in bytes or items, called from the computing thread."""


class DiffStatus(StrEnum):
    EQUAL = "equal"
    CHANGED = "changed"
    NONFINITE = "nonfinite"  # NaN/Inf introduced or removed: a change of its own kind, whatever the tolerance
    SHAPE = "shape"  # shapes differ: not compared


class Naming(StrEnum):
    """How an optimizer's parameter ids got their names."""

    PARAM_NAMES = "param_names"
    INFERRED = "inferred"
    REFUSED = "refused"
    NONE = "none"


class OutputFormat(StrEnum):
    """What `convert` writes."""

    SAFETENSORS = "safetensors"
    PTH = "pth"


@dataclass(frozen=True, slots=True)
class Located:
    path: tuple[Key, ...]
    entry: Entry

    @property
    def label(self) -> str:
        return "".join(f"[{k!r}]" for k in self.path) or "(root)"


RESERVED_WRAPPERS = ("_orig_mod.", "_fsdp_wrapped_module.", "_checkpoint_wrapped_module.")  # torch's own names


@dataclass(frozen=True, slots=True)
class KeyRules:
    strip: tuple[str, ...] = ()  # prefixes removed (see strip_component: where depends on the prefix)
    renames: tuple[tuple[str, str], ...] = ()  # (regex, replacement)
    add_prefix: str = ""

    @property
    def is_identity(self) -> bool:
        return not (self.strip or self.renames or self.add_prefix)

    def apply(self, key: str) -> str:
        for prefix in self.strip:
            key = strip_component(key, prefix)
        for pattern, replacement in self.renames:
            key = re.sub(pattern, replacement, key)
        return self.add_prefix + key


def strip_component(key: str, prefix: str) -> str:
    """`module.x` -> `x` but `a.module.x` stays (as consume_prefix_in_state_dict_if_present); a name torch reserves
    for a wrapper goes wherever the wrapped submodule sits: `a._orig_mod.b` -> `a.b`."""
    if key.startswith(prefix):
        key = key[len(prefix) :]
    return key.replace("." + prefix, ".") if prefix in RESERVED_WRAPPERS else key


@dataclass(frozen=True, slots=True)
class TopLevelItem:
    key: Key
    entry: Entry  # render/ describes it


@dataclass(frozen=True, slots=True)
class Summary:
    path: str
    format: CheckpointFormat
    framework: str
    file_size: int
    tensor_count: int
    element_count: int
    tensor_bytes: int
    bytes_by_dtype: dict[str, int]
    top_level: tuple[TopLevelItem, ...]  # the first TOP_LEVEL_SHOWN
    top_level_total: int
    state_dict: Located | None
    state_dict_params: int
    optimizers: tuple[Located, ...]
    schedulers: tuple[Located, ...]
    notices: tuple[Notice, ...]


@dataclass(frozen=True, slots=True)
class Histogram:
    edges: tuple[float, ...]  # bins + 1 edges
    counts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class TensorStats:
    key: str
    dtype: str
    numel: int
    finite: int  # elements that entered min/max/mean/std
    min: float | None
    max: float | None
    mean: float | None
    std: float | None
    nan_count: int
    inf_count: int
    zero_count: int
    histogram: Histogram | None
    preview: tuple[tuple[float | complex | bool | int, ...], ...]  # rows of a 2-D slice (one row for 1-D)
    of_magnitude: bool = False  # complex tensors: stats are of |z|

    @property
    def zero_fraction(self) -> float:
        return self.zero_count / self.numel if self.numel else 0.0


@dataclass(frozen=True, slots=True)
class PairMetrics:
    numel: int
    mismatched: int  # elements outside tolerance
    max_abs: float
    mean_abs: float
    max_rel: float  # inf where b is 0 and a is not
    rel_l2: float  # ‖a-b‖ / ‖a‖ (inf when a is all zeros and b is not)
    cosine: float | None  # None when either side is all zeros
    bit_identical: bool
    nan_introduced: int = 0  # elements NaN in b and not in a
    nan_removed: int = 0  # NaN in a and not in b
    inf_introduced: int = 0  # ±Inf in b and not in a
    inf_removed: int = 0

    @property
    def nonfinite_changed(self) -> bool:
        return bool(self.nan_introduced or self.nan_removed or self.inf_introduced or self.inf_removed)


@dataclass(frozen=True, slots=True)
class DiffOptions:
    rtol: float = 0.0
    atol: float = 0.0
    key_a: str | None = None
    key_b: str | None = None
    rules: KeyRules = field(default_factory=KeyRules)
    only: str | None = None
    exclude: str | None = None


@dataclass(frozen=True, slots=True)
class TensorDiff:
    key: str
    status: DiffStatus
    a: TensorInfo
    b: TensorInfo
    metrics: PairMetrics | None

    @property
    def dtype_changed(self) -> bool:
        return self.a.dtype != self.b.dtype


@dataclass(frozen=True, slots=True)
class ValueChange:
    path: str
    a: str | None  # None: only in B
    b: str | None  # None: only in A


@dataclass(frozen=True, slots=True)
class DiffReport:
    a: str
    b: str
    scope_a: str  # "(root)" or the state dict's location
    scope_b: str
    options: DiffOptions
    only_a: tuple[str, ...]
    only_b: tuple[str, ...]
    tensors: tuple[TensorDiff, ...]  # every pair present on both sides, in A's order
    values: tuple[ValueChange, ...]
    hint: str | None = None  # what a wrapper prefix on one side says about the keys only on the other
    scope_path_a: tuple[Key, ...] = ()  # the same locations as key paths
    scope_path_b: tuple[Key, ...] = ()
    tied_a: tuple[tuple[str, str], ...] = ()  # (key only in A, the key it is tied to in A, present in B)
    tied_b: tuple[tuple[str, str], ...] = ()

    @property
    def changed(self) -> list[TensorDiff]:
        """Changed tensors: NaN/Inf changes first, then the largest relative error first."""
        found = [t for t in self.tensors if t.status in (DiffStatus.CHANGED, DiffStatus.NONFINITE)]
        return sorted(
            found, key=lambda t: (t.status is not DiffStatus.NONFINITE, -(t.metrics.rel_l2 if t.metrics else 0.0))
        )

    @property
    def nonfinite(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.status is DiffStatus.NONFINITE]

    @property
    def shape_changes(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.status is DiffStatus.SHAPE]

    @property
    def dtype_changes(self) -> list[TensorDiff]:
        return [t for t in self.tensors if t.dtype_changed]

    @property
    def identical(self) -> bool:
        return not (self.only_a or self.only_b or self.values or self.dtype_changes) and all(
            t.status is DiffStatus.EQUAL for t in self.tensors
        )


MIN_MATCHED = 0.5  # check --no-strict: at least this fraction of the model's state dict keys must come from the file


class ItemStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    TOLERATED = "tolerated"  # found, and let pass by a flag (--no-strict, --allow-nonfinite)
    SKIPPED = "skipped"  # did not run (load_state_dict on meta): neither passed nor failed


@dataclass(frozen=True, slots=True)
class Mismatch:
    key: str
    checkpoint: str
    model: str


@dataclass(frozen=True, slots=True)
class NonFinite:
    key: str
    nan: int
    inf: int


@dataclass(frozen=True, slots=True)
class ForwardResult:
    input_shape: tuple[int, ...]
    output_shapes: tuple[tuple[int, ...], ...]
    nan: int
    inf: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CheckItem:
    name: str
    status: ItemStatus
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status is not ItemStatus.FAILED


@dataclass(frozen=True)
class LoadReport:
    checkpoint: str
    model: str
    device: str
    strict: bool
    scope: tuple[Key, ...]  # the state dict's key path in the checkpoint; () is the root
    compared: int  # model keys present in the checkpoint under their own name
    expected: int = 0  # the model's state dict keys
    missing: tuple[str, ...] = ()
    unexpected: tuple[str, ...] = ()
    shape_mismatches: tuple[Mismatch, ...] = ()
    dtype_mismatches: tuple[Mismatch, ...] = ()
    tie_conflicts: tuple[tuple[str, ...], ...] = ()
    ties_compared: int = 0  # tie groups with two names or more in the checkpoint
    tied: tuple[tuple[str, str], ...] = ()  # (model key absent from the file, the tied key that fills it)
    non_persistent: tuple[str, ...] = ()  # file keys naming a buffer the model does not persist
    uninitialised: tuple[str, ...] = ()
    nonfinite: tuple[NonFinite, ...] = ()
    finite_checked: int = 0  # floating tensors read for NaN/Inf
    allow_nonfinite: bool = False
    loaded: bool = False  # load_state_dict ran (real devices only)
    loaded_count: int = 0  # tensors it was given
    load_error: str | None = None
    forward: ForwardResult | None = None
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def matched(self) -> int:
        """Model keys that get a value from the checkpoint (directly or through a tie)."""
        return self.compared + len(self.tied)

    @property
    def needed(self) -> int:
        return max(1, math.ceil(MIN_MATCHED * self.expected))

    @property
    def scope_label(self) -> str:
        return "".join(f"[{k!r}]" for k in self.scope) or "(root)"

    def checks(self) -> list[CheckItem]:
        """One item per check (JUnit test cases); `strict` decides whether key and dtype differences fail."""
        items = [
            self._matched_item(),
            _item("no missing keys", self.missing, _keys(self.missing), self.strict),
            _item("no unexpected keys", self.unexpected, _keys(self.unexpected), self.strict),
            _compared("shapes match", self.compared, "no key in common")
            or _item("shapes match", self.shape_mismatches, _mismatches(self.shape_mismatches), True),
            _compared("dtypes match", self.compared, "no key in common")
            or _item("dtypes match", self.dtype_mismatches, _mismatches(self.dtype_mismatches), self.strict),
            _compared("tied parameters agree", self.ties_compared, "no tied parameter stored under two names")
            or _item("tied parameters agree", self.tie_conflicts, "; ".join(" = ".join(g) for g in self.tie_conflicts)),
            self._finite_item(),
            self._load_item(),
        ]
        if self.forward is not None:
            f = self.forward
            ok = f.error is None and not (f.nan or f.inf)
            detail = f.error or f"output {', '.join(map(str, f.output_shapes))}; {f.nan} NaN, {f.inf} Inf"
            if self.loaded and not self.loaded_count:
                detail += " (on the model's initial weights: nothing was loaded)"
            items.append(CheckItem("forward pass is finite", ItemStatus.PASSED if ok else ItemStatus.FAILED, detail))
        return items

    def _matched_item(self) -> CheckItem:
        tied = f" ({len(self.tied)} through tied parameters)" if self.tied else ""
        detail = f"{self.matched} of {self.expected} model keys found in the checkpoint{tied}"
        if self.matched < self.needed:
            return CheckItem("keys matched", ItemStatus.FAILED, f"{detail}; at least {self.needed} needed")
        return CheckItem("keys matched", ItemStatus.PASSED, detail)

    def _finite_item(self) -> CheckItem:
        name = "checkpoint tensors are finite"
        if self.nonfinite:
            detail = "; ".join(f"{n.key}: {n.nan} NaN, {n.inf} Inf" for n in self.nonfinite[:10])
            return CheckItem(name, ItemStatus.TOLERATED if self.allow_nonfinite else ItemStatus.FAILED, detail)
        if not self.finite_checked:
            return CheckItem(name, ItemStatus.SKIPPED, "no floating tensor with data to read")
        return CheckItem(name, ItemStatus.PASSED, f"{self.finite_checked} floating tensors read")

    def _load_item(self) -> CheckItem:
        if self.load_error is not None:
            return CheckItem("load_state_dict", ItemStatus.FAILED, self.load_error)
        if not self.loaded:
            return CheckItem("load_state_dict", ItemStatus.SKIPPED, f"not run on {self.device}")
        if not self.loaded_count:
            return CheckItem("load_state_dict", ItemStatus.FAILED, "ran, but no tensor matched: nothing was loaded")
        return CheckItem("load_state_dict", ItemStatus.PASSED, f"ran: {self.loaded_count} tensors loaded")

    @property
    def ok(self) -> bool:
        return all(item.passed for item in self.checks())


def _compared(name: str, count: int, why: str) -> CheckItem | None:
    """A check over nothing did not happen: skipped, not passed."""
    return None if count else CheckItem(name, ItemStatus.SKIPPED, why)


def _item(name: str, found: Sequence[object], detail: str, fails: bool = True) -> CheckItem:
    if not found:
        return CheckItem(name, ItemStatus.PASSED)
    return CheckItem(name, ItemStatus.FAILED if fails else ItemStatus.TOLERATED, detail)


def _keys(keys: tuple[str, ...]) -> str:
    return ", ".join(keys[:10]) + (f" (+{len(keys) - 10} more)" if len(keys) > 10 else "")


def _mismatches(items: tuple[Mismatch, ...]) -> str:
    return "; ".join(f"{m.key}: checkpoint {m.checkpoint}, model {m.model}" for m in items[:10])


@dataclass(frozen=True, slots=True)
class ParamGroup:
    index: int
    hyper: tuple[tuple[str, Entry], ...]  # lr, betas, weight_decay, ...
    params: tuple[Key, ...]


@dataclass(frozen=True, slots=True)
class ParamState:
    param_id: Key
    name: str | None
    group: int
    state: tuple[tuple[str, Entry], ...]  # step, exp_avg, exp_avg_sq, momentum_buffer, ...
    nbytes: int


@dataclass(frozen=True, slots=True)
class OptimizerReport:
    located: Located
    groups: tuple[ParamGroup, ...]
    params: tuple[ParamState, ...]
    naming: Naming
    naming_note: str
    optimizer_bytes: int
    model_bytes: int
    unmatched: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class ConvertReport:
    source: str
    outputs: tuple[str, ...]
    to: OutputFormat
    scope: str
    tensors_written: int
    bytes_written: int
    aliases: dict[str, str]
    renamed: dict[str, str]
    metadata: tuple[str, ...]  # keys carried into __metadata__
    not_carried: tuple[tuple[str, str], ...]
    verified: bool
    cast: str | None
    notices: tuple[str, ...] = ()  # carried, but not as they were; inputs that are symlinks leaving their directory
    unsafe_globals: tuple[str, ...] = ()  # --to pth --carry-unsafe-globals: what the output names that can run code


# audit: can training resume from a checkpoint (core/audit.py)


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


# --- runs (core/runs.py) and prune (converters/prune.py) ---

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
    format: CheckpointFormat
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
    verdict: str | None = None  # the resume audit's verdict (resumable, weights-only, ...); None: not audited
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


@dataclass(frozen=True, slots=True)
class Stamp:
    """What a cached read is valid for: the member's size and newest mtime."""

    size: int
    mtime_ns: int


PRUNE_SCHEMA = "ckpt-tui.prune/1"


@dataclass(frozen=True, slots=True)
class Planned:
    path: str
    size: int
    is_dir: bool
    stamp: Stamp
    reason: str


@dataclass(frozen=True, slots=True)
class Kept:
    path: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PrunePlan:
    directory: str
    delete: tuple[Planned, ...]
    keep: tuple[Kept, ...]

    @property
    def freed(self) -> int:
        return sum(p.size for p in self.delete)


@dataclass(frozen=True, slots=True)
class PruneResult:
    plan: PrunePlan
    deleted: tuple[str, ...]
    failed: tuple[tuple[str, str], ...]  # (path, why it was not deleted)

    @property
    def freed(self) -> int:
        done = set(self.deleted)
        return sum(p.size for p in self.plan.delete if p.path in done)
