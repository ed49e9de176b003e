"""`audit`: can training resume from this checkpoint, and what will bite when it does?

Reads structure only: the parts are located by `layout` and `audit_parts`, the optimizer is matched to the model's
parameters by shape, and only one-element counters (optimizer `step`, Lightning scores) are read from the file.
`stats=True` reads every floating tensor once, in chunks, to find NaN/Inf.

The verdict: **weights-only** when the file holds no training state at all (no optimizer, scheduler, counters,
RNG or scaler state); otherwise **resumable** unless a finding is an error, then **incomplete-or-inconsistent**.
A weights-only file is told so with two errors (optimizer, progress); the finer missing-part findings would be
noise there and are left out.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence

from ckpt_tui.core.audit_checks import (
    counters,
    learning_rate,
    missing_parts,
    optimizer_coverage,
    optimizer_missing,
    progress_missing,
)
from ckpt_tui.core.audit_parts import Parts, find_parts
from ckpt_tui.core.audit_pitfalls import (
    cuda_tensors,
    epoch_convention,
    lightning_counters,
    non_finite,
    pickled_objects,
    prefixes,
    versions,
)
from ckpt_tui.core.layout import detect_framework, tensors_under
from ckpt_tui.model import Checkpoint, Kind, TensorInfo
from ckpt_tui.reports import (
    SEVERITY_ORDER,
    AuditReport,
    Finding,
    FindingCode,
    FindingSeverity,
    FoundPart,
    Metric,
    Part,
    Verdict,
)

Progress = Callable[[int, int], None]


def audit(
    checkpoint: Checkpoint | str | os.PathLike[str],
    stats: bool = False,
    device: str = "cpu",
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
) -> AuditReport:
    """Audit a checkpoint (a `Checkpoint`, or a path read safely) for resuming training."""
    if not isinstance(checkpoint, Checkpoint):
        from ckpt_tui.formats import read_checkpoint

        checkpoint = read_checkpoint(checkpoint)
    ckpt = checkpoint
    parts = find_parts(ckpt)
    model = _model_tensors(ckpt, parts)
    on_cuda = any(t.device.startswith("cuda") for t in ckpt.tensors.values())
    training = bool(parts.optimizers or parts.schedulers or parts.epoch or parts.step or parts.rng or parts.scaler)
    findings: list[Finding] = []
    if parts.model is None:
        why = "there are no weights to resume from"
        fix = "save {'model': model.state_dict(), ...}; or point ckpt-tui at the weights file"
        findings.append(Finding(FindingCode.MODEL_MISSING, FindingSeverity.ERROR, "no model state dict", why, fix,
                                "model"))  # fmt: skip
    if training:
        findings += missing_parts(parts, on_cuda)
        findings += optimizer_coverage(parts, model) if parts.optimizers and model else []
        findings += counters(parts) + lightning_counters(ckpt) + epoch_convention(ckpt, parts)
    elif parts.model is not None:
        findings += [optimizer_missing(), progress_missing()]
    mappings = [p.entry for p in [parts.model, *parts.optimizers] if p is not None and p.entry.kind is Kind.MAPPING]
    findings += (
        pickled_objects(ckpt, {id(e) for e in mappings}) + cuda_tensors(ckpt) + prefixes(ckpt, model) + versions(parts)
    )
    notes: list[str] = []
    if stats:
        found, notes = non_finite(ckpt, device, progress, cancel)
        findings += found
    return _report(ckpt, parts, findings, training, stats, notes)


def _model_tensors(ckpt: Checkpoint, parts: Parts) -> dict[str, TensorInfo]:
    if parts.model is None:
        return {}
    if not parts.model.path and ckpt.root.kind is Kind.MAPPING:
        return ckpt.tensors  # the root is the state dict: reuse the checkpoint's (cached) index
    return tensors_under(parts.model.entry)


def _report(
    ckpt: Checkpoint, parts: Parts, findings: list[Finding], training: bool, stats: bool, notes: list[str]
) -> AuditReport:
    findings.sort(key=lambda f: SEVERITY_ORDER.index(f.severity))
    errors = any(f.severity is FindingSeverity.ERROR for f in findings)
    if parts.model is not None and not training:
        verdict = Verdict.WEIGHTS_ONLY
    else:
        verdict = Verdict.INCOMPLETE if errors else Verdict.RESUMABLE
    metrics = [Metric(n, v, w) for n, v, w in parts.metrics]
    if parts.best is not None:
        metrics.append(Metric("best", parts.best[0], parts.best[1]))
    return AuditReport(
        ckpt.path,
        str(ckpt.format),
        detect_framework(ckpt),
        verdict,
        tuple(findings),
        found_parts(parts),
        parts.epoch[0] if parts.epoch else None,
        parts.step[0] if parts.step else None,
        learning_rate(parts),
        tuple(metrics),
        stats,
        tuple(notes),
    )


def found_parts(parts: Parts) -> tuple[FoundPart, ...]:
    def at(located: object) -> str:
        return getattr(located, "label", "")

    rng = {kind: ", ".join(where) for kind, where in parts.rng.items()}
    return (
        FoundPart(Part.MODEL, at(parts.model)),
        FoundPart(Part.OPTIMIZER, ", ".join(o.label for o in parts.optimizers), _count(parts.optimizers)),
        FoundPart(Part.SCHEDULER, ", ".join(s.label for s in parts.schedulers), _count(parts.schedulers)),
        FoundPart(Part.EPOCH, parts.epoch[1] if parts.epoch else "", f"{parts.epoch[0]:g}" if parts.epoch else ""),
        FoundPart(Part.STEP, parts.step[1] if parts.step else "", str(parts.step[0]) if parts.step else ""),
        FoundPart(Part.BEST_METRIC, parts.best[1] if parts.best else "", f"{parts.best[0]:g}" if parts.best else ""),
        FoundPart(Part.RNG_TORCH, rng.get("torch", "")),
        FoundPart(Part.RNG_CUDA, rng.get("cuda", ""), _count(parts.rng.get("cuda", []), "device")),
        FoundPart(Part.RNG_NUMPY, rng.get("numpy", "")),
        FoundPart(Part.RNG_PYTHON, rng.get("python", "")),
        FoundPart(Part.SCALER, at(parts.scaler)),
        FoundPart(Part.HYPERPARAMETERS, at(parts.hparams)),
    )


def _count(items: Sequence[object], noun: str = "") -> str:
    return f"{len(items)} {noun}{'s' if len(items) != 1 else ''}".strip() if len(items) > 1 else ""
