"""The audit's pitfalls: framework counters, the epoch convention, pickled objects, CUDA tensors, wrapper prefixes,
non-finite values (only when statistics are asked for) and library versions."""

from __future__ import annotations

import shlex
import threading
from collections import Counter
from collections.abc import Callable
from importlib import metadata

from ckpt_tui.core.audit_parts import Parts, scalar
from ckpt_tui.core.keys import wrapper_prefixes
from ckpt_tui.dtypes import FLOATING
from ckpt_tui.errors import CkptError
from ckpt_tui.model import Checkpoint, Entry, Key, Kind, Marker, TensorInfo
from ckpt_tui.reports import Finding, FindingCode, FindingSeverity

E, W, I = FindingSeverity.ERROR, FindingSeverity.WARNING, FindingSeverity.INFO  # noqa: E741
C = FindingCode
OPTIM = "torch.optim."
FIT_LOOP = ("loops", "fit_loop")
AUTO_STEPS = ("epoch_loop.automatic_optimization.optim_progress", "optimizer", "step", "total", "completed")
MANUAL_STEPS = ("epoch_loop.manual_optimization.optim_step_progress", "total", "completed")


def lightning_counters(ckpt: Checkpoint) -> list[Finding]:
    """Lightning writes `epoch`/`global_step` and its loops' progress in one call: they must agree."""
    loop = ckpt.find(FIT_LOOP)
    if loop is None:
        return []
    completed = _at(loop, ("epoch_progress", "current", "completed"))
    steps = [s for s in (_at(loop, AUTO_STEPS), _at(loop, MANUAL_STEPS)) if s is not None]
    epoch, step = scalar(ckpt.root.child("epoch")), scalar(ckpt.root.child("global_step"))
    bad = []
    if completed is not None and epoch is not None and completed != epoch:
        bad.append(f"epoch = {epoch:g} but fit_loop epoch_progress completed = {completed:g}")
    if steps and step is not None and sum(steps) != step:
        bad.append(f"global_step = {step:g} but the fit loop counted {sum(steps):g} optimizer steps")
    if not bad:
        return []
    why = "trainer.fit(ckpt_path=...) restores the loops: the run resumes at a different point than the file says"
    fix = "re-save with trainer.save_checkpoint(path); do not edit 'epoch'/'global_step' by hand"
    return [Finding(C.LOOP_COUNTERS_MISMATCH, E, "; ".join(bad), why, fix, "loops")]


def _at(entry: Entry, path: tuple[str, ...]) -> float | None:
    for key in path:
        child = entry.child(key)
        if child is None:
            return None
        entry = child
    return scalar(entry)


def epoch_convention(ckpt: Checkpoint, parts: Parts) -> list[Finding]:
    """Is `epoch` the epoch just finished or the next one to run? Say what can be told, and how."""
    if parts.epoch is None:
        return []
    epoch, where = parts.epoch
    if parts.framework == "lightning":
        processed = _at(ckpt.root, (*FIT_LOOP, "epoch_progress", "current", "processed"))
        evidence = f"Lightning {where} = {epoch:g} counts completed epochs (trainer.current_epoch)"
        if processed is not None and processed > epoch:
            evidence += f"; epoch {epoch:g} itself was processed: the fit loop restarts at epoch {processed:g}"
        fix = f"trainer.fit(model, ckpt_path={ckpt.path!r}): the loops restore the position; don't add 1"
        return [Finding(C.EPOCH_CONVENTION, I, evidence, "Lightning decides the restart epoch itself", fix, "epoch")]
    if parts.framework == "hf-trainer":
        evidence = f"Trainer {where} = {epoch:g} is fractional progress (epochs done), global_step is the position"
        fix = f"trainer.train(resume_from_checkpoint={ckpt.path!r})"
        return [Finding(C.EPOCH_CONVENTION, I, evidence, "the Trainer skips the batches already seen", fix, "epoch")]
    return [_plain_epoch(epoch, where, parts)]


def _plain_epoch(epoch: float, where: str, parts: Parts) -> Finding:
    last = scalar(parts.schedulers[0].entry.child("last_epoch")) if parts.schedulers else None
    steps = parts.step[0] if parts.step else None
    why = "saving the finished epoch's index and using it as the next one trains that epoch twice (or skips one)"
    if last is not None and last != steps and last == epoch + 1:
        evidence = f"{where} = {epoch:g} and the scheduler stepped {last:g} times: it is the epoch just finished"
        return Finding(C.EPOCH_CONVENTION, I, evidence, why, "start_epoch = ckpt['epoch'] + 1", "epoch")
    if last is not None and last != steps and last == epoch:
        evidence = f"{where} = {epoch:g} and the scheduler stepped {last:g} times: it counts finished epochs"
        return Finding(C.EPOCH_CONVENTION, I, evidence, why, "start_epoch = ckpt['epoch'] (no + 1)", "epoch")
    evidence = f"{where} = {epoch:g}: nothing in the file tells whether it is the epoch finished or the next one"
    fix = "save {'epoch': epoch + 1} after an epoch ends and resume with range(ckpt['epoch'], epochs)"
    return Finding(C.EPOCH_CONVENTION, I, evidence, why, fix, "epoch")


def pickled_objects(ckpt: Checkpoint, skip: set[int]) -> list[Finding]:
    """Whole nn.Modules (and optimizer/scheduler objects) pickled instead of their state dicts: the outermost ones.
    `skip`: ids of entries not to descend into (the state dict and optimizer mappings: 100k tensors, no objects)."""
    found: list[tuple[str, str]] = []
    seen: set[int] = set()  # entries shared through the pickle memo are visited once (2**60 paths otherwise)
    stack: list[tuple[tuple[Key, ...], Entry]] = [((), ckpt.root)]
    while stack:
        path, entry = stack.pop()
        if id(entry) in seen:
            continue
        seen.add(id(entry))
        if entry.kind is Kind.OPAQUE and (
            entry.child(Marker.MODULE_STATE) is not None or entry.type_name.startswith(OPTIM)
        ):
            found.append(("".join(f"[{k!r}]" for k in path) or "(root)", entry.type_name))
            continue
        if entry.kind is not Kind.TENSOR and id(entry) not in skip:
            stack.extend((path + (k,), e) for k, e in reversed(entry.children) if k != Marker.MODULE_STATE)
    if not found:
        return []
    named = ", ".join(f"{where}: {cls}" for where, cls in found[:5])
    why = "torch.load(weights_only=True) refuses it, and loading it needs the same classes at the same import paths"
    fix = f"torch.save(model.state_dict(), path); for the weights now: ckpt-tui convert {shlex.quote(ckpt.path)}"
    return [Finding(C.PICKLED_OBJECT, W, f"whole objects pickled: {named}", why, fix, found[0][1])]


def cuda_tensors(ckpt: Checkpoint) -> list[Finding]:
    devices = Counter(t.device for t in ckpt.tensors.values() if t.device.startswith("cuda"))
    if not devices:
        return []
    listed = ", ".join(f"{n} on {d}" for d, n in sorted(devices.items()))
    why = "torch.load without map_location needs those devices: it fails on a machine without them"
    fix = "torch.load(path, map_location='cpu') (ckpt-tui: --device cpu); save with .cpu() or map_location in mind"
    return [Finding(C.SAVED_ON_CUDA, W, f"tensors saved on CUDA: {listed}", why, fix, ",".join(sorted(devices)))]


def prefixes(ckpt: Checkpoint, model: dict[str, TensorInfo]) -> list[Finding]:
    out = []
    for prefix, count in wrapper_prefixes(model).items():
        flag = "--strip-module" if prefix == "module." else "--strip-wrappers"
        evidence = f"{count} of {len(model)} state dict keys carry the wrapper prefix '{prefix}'"
        why = "load_state_dict into the unwrapped model reports every key missing and unexpected"
        fix = (
            f"ckpt-tui convert {flag} {shlex.quote(ckpt.path)}; or in code: "
            f"torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(state_dict, '{prefix}')"
        )
        out.append(Finding(C.WRAPPER_PREFIX, W, evidence, why, fix, prefix))
    return out


def versions(parts: Parts) -> list[Finding]:
    out = []
    for recorded, where, dists in parts.versions:
        installed = _installed(dists)
        if installed is None:
            evidence = f"{where} = {recorded}; {dists[0]} is not installed here"
            fix = f"pip install {dists[0]}=={recorded}"
            out.append(Finding(C.VERSION_MISMATCH, I, evidence, "resuming needs it", fix, dists[0]))
            continue
        mine, theirs = _release(installed[1]), _release(recorded)
        if theirs[:2] == mine[:2]:
            continue
        newer = theirs > mine
        evidence = f"{where} = {recorded}; installed {installed[0]} {installed[1]}"
        why = (
            "written by a newer version: loading may fail or miss state"
            if newer
            else "older format: it is migrated on load"
        )
        fix = f"pip install {installed[0]}=={recorded}" if newer else "nothing needed; re-save to upgrade the file"
        out.append(Finding(C.VERSION_MISMATCH, W if newer else I, evidence, why, fix, installed[0]))
    return out


def _installed(dists: tuple[str, ...]) -> tuple[str, str] | None:
    for dist in dists:
        try:
            return dist, metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _release(version: str) -> tuple[int, ...]:
    out = []
    for part in version.split("+")[0].split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        out.append(int(digits))
    return tuple(out)


def non_finite(
    ckpt: Checkpoint,
    device: str,
    progress: Callable[[int, int], None] | None,
    cancel: threading.Event | None,
) -> tuple[list[Finding], list[str]]:
    """NaN/Inf in any floating tensor, one tensor at a time in chunks (the stats code); notes what was skipped.
    `progress(done, total)` is in bytes."""
    from ckpt_tui.core.stats import non_finite_counts

    floating = [t for t in ckpt.tensors.values() if t.dtype in FLOATING]
    bad, skipped, done, total = [], [], 0, sum(t.nbytes for t in floating)
    for info in floating:
        try:
            nan, inf = non_finite_counts(info, device, cancel)
        except CkptError as e:
            if cancel is not None and cancel.is_set():
                raise
            skipped.append(f"{info.key}: {e}")
            continue
        if nan or inf:
            bad.append(f"{info.key} ({nan} NaN, {inf} Inf)")
        done += info.nbytes
        if progress:
            progress(done, total)
    notes = [f"{len(skipped)} tensors not checked for NaN/Inf: {skipped[0]}"] if skipped else []
    if not bad:
        return [], notes
    evidence = f"{len(bad)} tensors hold non-finite values: {', '.join(bad[:5])}"
    why = "training resumed from NaN/Inf weights or moments stays NaN"
    fix = "resume from an earlier checkpoint (ckpt-tui diff OLD NEW shows where the values went bad)"
    return [Finding(C.NON_FINITE, E, evidence, why, fix, bad[0].split(" (")[0])], notes
