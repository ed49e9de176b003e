"""The audit's checks on located parts: what is missing, whether the counters agree, whether the optimizer covers
the model. Each returns findings; none reads tensor bytes except one-element counters."""

from __future__ import annotations

import math
from collections import Counter

from ckpt_tui.core.audit_parts import Parts, optimizer_step, scalar
from ckpt_tui.core.optimizer import BUFFER_NAMES
from ckpt_tui.dtypes import FLOATING
from ckpt_tui.model import Entry, Kind, TensorInfo
from ckpt_tui.reports import Finding, FindingCode, FindingSeverity, Located

E, W, I = FindingSeverity.ERROR, FindingSeverity.WARNING, FindingSeverity.INFO  # noqa: E741
C = FindingCode
MOMENTS = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq", "momentum_buffer", "square_avg", "acc_delta", "sum", "exp_inf")
RNG_CODE = {
    "torch": ("torch CPU", "torch.set_rng_state(ckpt['rng_torch'])", "'rng_torch': torch.get_rng_state()"),
    "cuda": ("torch CUDA (one per device)", "torch.cuda.set_rng_state_all(ckpt['rng_cuda'])",
             "'rng_cuda': torch.cuda.get_rng_state_all()"),
    "numpy": ("numpy", "np.random.set_state(ckpt['rng_numpy'])", "'rng_numpy': np.random.get_state()"),
    "python": ("Python random", "random.setstate(ckpt['rng_python'])", "'rng_python': random.getstate()"),
}  # fmt: skip


def missing_parts(parts: Parts, on_cuda: bool) -> list[Finding]:
    """Findings for absent parts of a checkpoint that holds some training state."""
    out = []
    if not parts.optimizers:
        out.append(optimizer_missing())
    if parts.epoch is None and parts.step is None:
        out.append(progress_missing())
    if not parts.schedulers:
        out.append(_scheduler_missing(parts))
    for kind, (label, restore, save) in RNG_CODE.items():
        if kind not in parts.rng and (kind != "cuda" or on_cuda):
            why = "data order, augmentation and dropout draw different numbers than the uninterrupted run would"
            out.append(Finding(C.RNG_MISSING, W, f"no {label} RNG state", why, f"save {{{save}}}; on resume: {restore}",
                               kind))  # fmt: skip
    if parts.scaler is None:
        why = "with AMP fp16 a fresh GradScaler restarts at scale 65536 and skips steps until it settles again"
        fix = "if you train with AMP: save {'scaler': scaler.state_dict()}; on resume: scaler.load_state_dict(...)"
        out.append(Finding(C.SCALER_MISSING, I, "no GradScaler state", why, fix, "scaler"))
    if parts.best is None:
        why = "early stopping and 'save best' compare against the best value so far; it restarts at infinity"
        fix = "save {'best_metric': best_val_loss} and restore it before the loop"
        out.append(Finding(C.BEST_METRIC_MISSING, I, "no best metric (best_*)", why, fix, "best-metric"))
    if parts.hparams is None:
        why = "the model and optimizer must be rebuilt with the same settings before their states load"
        fix = "save {'config': vars(args)} (or Lightning's self.save_hyperparameters())"
        out.append(Finding(C.HYPERPARAMETERS_MISSING, I, "no hyper-parameters or config", why, fix, "config"))
    return out


def optimizer_missing() -> Finding:
    why = "Adam-like optimizers restart cold: moments at zero, bias correction from step 1 (a loss spike)"
    fix = "save {'optimizer': optimizer.state_dict()}; on resume: optimizer.load_state_dict(ckpt['optimizer'])"
    return Finding(C.OPTIMIZER_MISSING, E, "no optimizer state dict", why, fix, "optimizer")


def progress_missing() -> Finding:
    why = "the loop cannot know where to restart: epochs or steps are trained twice, schedules restart"
    fix = "save {'epoch': epoch, 'step': global_step} and start the loop from them"
    return Finding(C.PROGRESS_MISSING, E, "no epoch or step counter", why, fix, "progress")


def _scheduler_missing(parts: Parts) -> Finding:
    attached = any(_group_has(o.entry, "initial_lr") for o in parts.optimizers)
    fix = "save {'scheduler': scheduler.state_dict()}; on resume: scheduler.load_state_dict(ckpt['scheduler'])"
    if attached:
        evidence = "no LR scheduler state, but the optimizer's param_groups carry 'initial_lr': a scheduler was used"
        why = "a new scheduler restarts its schedule: the learning rate jumps back to its initial value"
        return Finding(C.SCHEDULER_MISSING, E, evidence, why, fix, "scheduler")
    evidence = "no LR scheduler state (and no 'initial_lr' in param_groups: none seems to have been attached)"
    return Finding(C.SCHEDULER_MISSING, I, evidence, "only matters if the run uses a scheduler", fix, "scheduler")


def _group_has(optimizer: Entry, key: str) -> bool:
    groups = optimizer.child("param_groups")
    return any(g.child(key) is not None for _, g in (groups.children if groups else ()))


def optimizer_coverage(parts: Parts, model: dict[str, TensorInfo]) -> list[Finding]:
    """Every optimizer state buffer matches a model parameter in shape (by name when the optimizer saved names, as
    a multiset of shapes otherwise: groups may list parameters in any order); counts agree, per group in the
    evidence. One pass over the state, no name inference: this runs when the app opens a checkpoint."""
    params = {k: t for k, t in model.items() if t.dtype in FLOATING and not k.endswith(BUFFER_NAMES)}
    ids, shapes, named, groups = 0, [], [], list[int]()
    for located in parts.optimizers:
        state = located.entry.child("state") or Entry(Kind.MAPPING, "dict")
        for _, group in (located.entry.child("param_groups") or Entry(Kind.SEQUENCE, "list")).children:
            pids = [e.value for _, e in (group.child("params") or Entry(Kind.SEQUENCE, "list")).children]
            names = [str(e.value) for _, e in (group.child("param_names") or Entry(Kind.SEQUENCE, "list")).children]
            ids, groups = ids + len(pids), [*groups, len(pids)]
            for i, pid in enumerate(pids):
                shape = _moment_shape(state.child(pid))  # type: ignore[arg-type]
                if shape is not None:
                    shapes.append(shape)
                    named.append((names[i] if len(names) == len(pids) else None, shape))
    evidence = f"{ids} optimizer parameters in groups of {groups}, {len(shapes)} with state; model: {len(params)}"
    wrong = [f"{n}: not in the model" for n, _ in named if n is not None and n not in params]
    wrong += [f"{n}: state {list(s)} vs model {list(params[n].shape)}" for n, s in named if n in params and
              params[n].shape != s]  # fmt: skip
    extra = Counter(shapes) - Counter(t.shape for t in params.values())
    if wrong or extra or ids > len(params):
        detail = "; ".join(wrong[:3]) or f"state shapes with no model parameter: {[list(s) for s in list(extra)[:3]]}"
        why = "optimizer.load_state_dict fails, or pairs moments with the wrong parameters"
        fix = "save the optimizer together with the model it was built for: optimizer.state_dict() at the same moment"
        return [Finding(C.OPTIMIZER_MODEL_MISMATCH, E, f"{evidence}; {detail}", why, fix, "optimizer")]
    if ids < len(params):
        why = "parameters outside the optimizer are not trained when resumed (fine if they are frozen on purpose)"
        fix = "check that the left-out parameters are meant to be frozen (requires_grad=False)"
        return [Finding(C.OPTIMIZER_PARTIAL, I, evidence, why, fix, "optimizer")]
    return []


def _moment_shape(state: Entry | None) -> tuple[int, ...] | None:
    for name, entry in state.children if state else ():
        if name in MOMENTS and entry.kind is Kind.TENSOR:
            return entry.tensor.shape
    return None


def counters(parts: Parts) -> list[Finding]:
    """The optimizer's step, the scheduler's position and lr against the checkpoint's epoch/step."""
    out = []
    step = parts.step[0] if parts.step else None
    opt_step = optimizer_step(parts.optimizers[0]) if parts.optimizers else None
    if step is not None and opt_step is not None and int(opt_step) != step:
        why = "the optimizer and the loop were saved at different moments, or steps were skipped (AMP, accumulation)"
        fix = "save the counters and the states in the same torch.save call, right after optimizer.step()"
        evidence = f"optimizer 'step' {opt_step:g}, checkpoint {parts.step[1]} = {step}"  # type: ignore[index]
        out.append(Finding(C.OPTIMIZER_STEP_MISMATCH, W, evidence, why, fix, "optimizer"))
    for i, sched in enumerate(parts.schedulers):
        optimizer = parts.optimizers[i] if len(parts.optimizers) == len(parts.schedulers) else None
        out += _scheduler_checks(sched, optimizer, parts, opt_step)
    return out


def _scheduler_checks(sched: Located, optimizer: Located | None, parts: Parts, opt_step: float | None) -> list[Finding]:
    out = []
    last = scalar(sched.entry.child("last_epoch"))
    epoch = parts.epoch[0] if parts.epoch else None
    steps = {s for s in (parts.step[0] if parts.step else None, opt_step) if s is not None}
    per_epoch = parts.framework != "hf-trainer" and epoch is not None  # the Trainer steps it per optimizer step
    if last is not None and (epoch is not None or parts.framework == "hf-trainer"):  # else per-epoch is unknowable
        if not (per_epoch and last in (epoch, epoch + 1)) and last not in steps:  # type: ignore[operator]
            evidence = f"scheduler {sched.label} last_epoch = {last:g}; epoch = {epoch}, steps = {sorted(steps)}"
            why = "a scheduler that is neither at the epoch nor at the step resumes at the wrong point of its schedule"
            fix = "step the scheduler once per epoch or once per optimizer step, and save it with the counters"
            out.append(Finding(C.SCHEDULER_POSITION_MISMATCH, W, evidence, why, fix, "scheduler"))
    if optimizer is not None:
        out += _lr_check(sched, optimizer)
    return out


def _lr_check(sched: Located, optimizer: Located) -> list[Finding]:
    last_lr = sched.entry.child("_last_lr")
    groups = optimizer.entry.child("param_groups")
    if last_lr is None or groups is None or len(last_lr.children) != len(groups.children):
        return []
    pairs = [(scalar(a), scalar(g.child("lr"))) for (_, a), (_, g) in zip(last_lr.children, groups.children,
                                                                           strict=True)]  # fmt: skip
    bad = [(i, a, b) for i, (a, b) in enumerate(pairs) if a is not None and b is not None and
           not math.isclose(a, b, rel_tol=1e-6, abs_tol=0.0)]  # fmt: skip
    if not bad:
        return []
    i, a, b = bad[0]
    evidence = f"scheduler _last_lr[{i}] = {a:g} but optimizer param_groups[{i}]['lr'] = {b:g}"
    why = "the two states come from different moments or runs: the learning rate after resuming is not the saved one"
    fix = "save optimizer.state_dict() and scheduler.state_dict() together, after scheduler.step()"
    return [Finding(C.SCHEDULER_LR_MISMATCH, E, evidence, why, fix, "scheduler")]


def learning_rate(parts: Parts) -> float | None:
    for located in parts.optimizers[:1]:
        groups = located.entry.child("param_groups")
        if groups is not None and groups.children:
            return scalar(groups.children[0][1].child("lr"))
    return None
