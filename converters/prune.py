"""Prune a run folder: plan first (what would go, what is kept and why), delete only when asked.

Deletion is the one destructive act in ckpt-tui, so the rules are few and strict. Never deleted:
- the run's best checkpoint (by `--metric/--mode` when given) and the producer's own best, and with `keep_best`
  every checkpoint the producer kept as a best (files named best*, Lightning's top-k, the Trainer's best one);
- the latest checkpoint, every target of a symlink in the folder, and the symlinks themselves;
- the newest complete checkpoint (last in training order, and newest by mtime), and the last `keep_last`;
- anything being written or that is not a checkpoint (the run's skipped entries are never in a plan);
- a member that is a symlink (its target is never followed) or that resolves outside the folder.
When acting, each planned path is checked again: a path that changed since the plan (grew, was rewritten, became a
symlink) or is read-only is not deleted and is reported; the others are still handled. A Trainer `checkpoint-N/`
folder is removed whole.
"""

from __future__ import annotations

import os
import shutil
import stat

from ckpt_tui.core.runs import stamp_of
from ckpt_tui.reports import Kept, Planned, PrunePlan, PruneResult, RunMember, RunReport


def plan_prune(report: RunReport, keep_last: int, keep_best: bool = False) -> PrunePlan:
    """What `apply_prune` would delete: every member not protected by a rule (see the module docstring)."""
    if keep_last < 1:
        raise ValueError("keep_last must be at least 1")
    delete, keep = [], []
    for member in report.members:
        reasons = protections(report, member, keep_last, keep_best)
        if reasons:
            keep.append(Kept(member.path, tuple(reasons)))
        else:
            reason = f"older than the last {keep_last}" + ("" if member.best else ", not the best")
            delete.append(Planned(member.path, member.size, member.is_dir, stamp_of(member.path), reason))
    return PrunePlan(report.directory, tuple(delete), tuple(keep))


def protections(report: RunReport, member: RunMember, keep_last: int, keep_best: bool) -> list[str]:
    """Why `member` must be kept (empty: it may go)."""
    members = list(report.members)
    reasons = []
    if member.best:
        reasons.append(f"best ({report.best.rule if report.best else ''})")
    if report.producer_best is not None and member.path == report.producer_best.path and not member.best:
        reasons.append(f"the producer's best ({report.producer_best.rule})")
    if keep_best and member.declared_best:
        reasons.append("kept by the producer as a best")
    if member.latest:
        reasons.append(f"latest ({report.latest.rule if report.latest else ''})")
    if member.links:
        reasons.append("target of symlink " + ", ".join(member.links))
    if member is members[-1] or member.mtime >= max(m.mtime for m in members):
        reasons.append("newest complete checkpoint")
    if member in members[-keep_last:]:
        reasons.append(f"one of the last {keep_last}")
    if member.symlink is not None or os.path.islink(member.path):
        reasons.append("a symlink (its target is never followed)")
    if not _inside(report.directory, member.path):
        reasons.append("outside the run folder")
    return reasons


def apply_prune(plan: PrunePlan) -> PruneResult:
    """Delete what `plan` lists, each path checked again first; errors are collected, not raised."""
    deleted, failed = [], []
    for item in plan.delete:
        problem = _still_safe(plan.directory, item)
        if problem is None:
            problem = _delete(item)
        if problem is None:
            deleted.append(item.path)
        else:
            failed.append((item.path, problem))
    return PruneResult(plan, tuple(deleted), tuple(failed))


def _still_safe(directory: str, item: Planned) -> str | None:
    try:
        st = os.lstat(item.path)
    except FileNotFoundError:
        return "no longer exists"
    if stat.S_ISLNK(st.st_mode):
        return "became a symlink since the plan; not followed"
    if not _inside(directory, item.path):
        return "resolves outside the run folder"
    if stamp_of(item.path) != item.stamp:
        return "changed since the plan (being written?); kept"
    read_only = _read_only(item.path)
    if read_only:
        return f"read-only ({read_only}); kept"
    return None


def _read_only(path: str) -> str | None:
    """The first file without any write permission bit: deleting it would override what its owner said."""
    paths = [path]
    if os.path.isdir(path):
        paths += [os.path.join(root, f) for root, dirs, files in os.walk(path) for f in files + dirs]
    for p in paths:
        mode = os.lstat(p).st_mode
        if not stat.S_ISLNK(mode) and not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
            return os.path.relpath(p, os.path.dirname(path))
    return None


def _delete(item: Planned) -> str | None:
    errors: list[str] = []
    try:
        if item.is_dir:  # onerror, not onexc: Python 3.11 has only the former
            shutil.rmtree(item.path, onerror=lambda _f, p, e: errors.append(f"{p}: {e[1]}"))
        else:
            os.unlink(item.path)
    except OSError as e:
        errors.append(str(e.strerror or e))
    return "; ".join(errors) or None


def _inside(directory: str, path: str) -> bool:
    root = os.path.realpath(directory)
    return os.path.commonpath([root, os.path.realpath(path)]) == root and os.path.realpath(path) != root
