"""A run: a folder of checkpoints as one timeline -> `RunReport` (order, values with sources, best, latest).

Members are the folder's checkpoints one level down: files in any format the readers take, and folders that are
one checkpoint (a DCP directory, a shard set, a Trainer `checkpoint-N/`). Each is read by the safe lazy reader
(structure and scalars only). Not members, listed as skipped with the reason: hidden and temporary names
(`.tmp`, `.part`...), zips whose central directory is missing (still being written), `checkpoint-N/` folders without
`trainer_state.json` (the Trainer writes it last), files that are not checkpoints, dangling symlinks.

Order: by step, then epoch, then name, then mtime (members without a step after those with one).
Best: Lightning's `ModelCheckpoint` `best_model_path`, else the Trainer's `best_model_checkpoint`, else the newest
file named `best*`, else the first of min `val_loss`, max `val_acc`, min `eval_loss`, min `loss` found.
Latest: the target of a `latest*`/`last*` symlink, else a file named `last.*`/`latest.*`, else the last in order.
"""

from __future__ import annotations

import os
import re
from dataclasses import replace

from ckpt_tui.core.run_pick import declared_best_paths, pick_best, pick_latest, producer_best
from ckpt_tui.core.run_scalars import read_scalars, resume_parts
from ckpt_tui.errors import CkptError
from ckpt_tui.formats import dcp, read_checkpoint, sharded, source
from ckpt_tui.model import Checkpoint
from ckpt_tui.reports import Pick, RunMember, RunReport, Skipped, Stamp

TEMP_SUFFIXES = (".tmp", ".temp", ".part", ".partial", ".incomplete", ".lock", ".crdownload", "~")
TEMP_NAME = re.compile(r"\.tmp[._-]?\w*$|^tmp", re.IGNORECASE)
NOT_CHECKPOINTS = (".json", ".yaml", ".yml", ".txt", ".log", ".md", ".csv", ".png", ".jpg", ".toml", ".py", ".out")
TRAINER_DIR = re.compile(r"^checkpoint-\d+$")


MemberCache = dict[str, tuple[Stamp, RunMember | Skipped]]


def is_one_checkpoint_dir(path: str) -> bool:
    """A folder that is itself one checkpoint: DCP, a shard set, a Trainer/training directory, a model folder
    (weights with a config.json, or a weights file alone)."""
    try:
        names = set(source.listdir(path))
    except OSError:
        return False
    if dcp.is_dcp_dir(path) or sharded.find_index(path) or sharded.is_trainer_dir(path):
        return True
    weights = sharded.weights_file(path)
    if weights is None:
        return False
    others = [n for n in names if source.join(path, n) != weights and _maybe_checkpoint_file(path, n)]
    return "config.json" in names or not others  # a model folder, not a run that has a model.pth in it


def _maybe_checkpoint_file(directory: str, name: str) -> bool:
    if name.startswith(".") or name.lower().endswith(NOT_CHECKPOINTS + TEMP_SUFFIXES):
        return False
    return source.isfile(source.join(directory, name))


def is_run_dir(path: str) -> bool:
    """A folder that is not itself one checkpoint and holds at least one entry that may be one (nothing read)."""
    if not source.isdir(path) or is_one_checkpoint_dir(path):
        return False
    return any(reason is None for _, _, reason in _entries(source.abspath(path)))


def read_run(
    directory: str, metric: str | None = None, mode: str | None = None, cache: MemberCache | None = None
) -> RunReport:
    """The run in `directory`; `metric`/`mode` choose the best by that metric instead of the producer's choice.

    `cache` (path -> read) lets a watcher re-read only what changed since its last call.
    """
    directory = source.abspath(directory)
    members, skipped = _collect(directory, {} if cache is None else cache)
    ordered = sorted(members, key=_training_order)
    best, latest = pick_best(ordered, metric, mode), pick_latest(ordered)
    declared = declared_best_paths(ordered)
    marked = [replace(m, best=_is(best, m), latest=_is(latest, m), declared_best=m.path in declared) for m in ordered]
    return RunReport(directory, tuple(marked), tuple(skipped), best, latest, producer_best(ordered))


def _is(pick: Pick | None, member: RunMember) -> bool:
    return pick is not None and pick.path == member.path


def _collect(directory: str, cache: MemberCache) -> tuple[list[RunMember], list[Skipped]]:
    """The folder's members and skipped entries; symlinks to members become names on them."""
    members: list[RunMember] = []
    skipped: list[Skipped] = []
    links: list[tuple[str, str]] = []
    for name, path, reason in _entries(directory):
        if reason is not None:
            skipped.append(Skipped(path, reason))
        elif source.islink(path) and _link_target(directory, path) is not None:
            links.append((name, path))
        else:
            found = _read_cached(path, name, cache)
            if isinstance(found, RunMember):
                members.append(found)
            else:
                skipped.append(found)
    return _link_aliases(directory, members, skipped, links)


def _entries(directory: str) -> list[tuple[str, str, str | None]]:
    """(name, path, why it is skipped or None) for each entry of the folder."""
    try:
        names = sorted(source.listdir(directory))
    except OSError as e:
        from ckpt_tui.errors import UnreadableError

        raise UnreadableError(f"cannot list the folder: {e.strerror}", directory) from None
    claimed = _shards_claimed(directory, names)
    return [(n, source.join(directory, n), _skip_reason(directory, n, claimed)) for n in names]


def _skip_reason(directory: str, name: str, claimed: dict[str, str]) -> str | None:
    path = source.join(directory, name)
    if name.startswith(".") or name.lower().endswith(TEMP_SUFFIXES) or TEMP_NAME.search(name):
        return "temporary or hidden name (a write in progress?)"
    if name in claimed:
        return f"a shard of {claimed[name]}"
    if source.islink(path) and not source.exists(path):
        return f"dangling symlink -> {os.readlink(path)}"
    if source.isdir(path):
        if TRAINER_DIR.match(name) and not source.exists(source.join(path, "trainer_state.json")):
            return "no trainer_state.json yet (the Trainer writes it last: being written?)"
        return None if is_one_checkpoint_dir(path) else "a folder with no checkpoint in it"
    if name.lower().endswith(NOT_CHECKPOINTS) and not name.endswith(".index.json"):
        return "not a checkpoint (by its extension)"
    return None


def _shards_claimed(directory: str, names: list[str]) -> dict[str, str]:
    """Files named by a shard index in this folder belong to that shard set, not to the run on their own."""
    claimed: dict[str, str] = {}
    for name in names:
        if name.endswith(".index.json"):
            try:
                weight_map = sharded.load_json(source.join(directory, name)).get("weight_map", {})
            except (CkptError, AttributeError):
                continue
            claimed.update(
                {str(f): name for f in weight_map.values() if isinstance(f, str)}
                if isinstance(weight_map, dict)
                else {}
            )
    return claimed


def _read_cached(path: str, name: str, cache: MemberCache) -> RunMember | Skipped:
    stamp = stamp_of(path)
    hit = cache.get(path)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    found = read_member(path, name, stamp)
    cache[path] = (stamp, found)
    return found


def read_member(path: str, name: str, stamp: Stamp | None = None) -> RunMember | Skipped:
    """One checkpoint of the run, or why it is not one."""
    stamp = stamp or stamp_of(path)
    try:
        ckpt = read_checkpoint(path)
    except CkptError as e:
        message = str(e.args[0]) if e.args else str(e)
        if "truncated" in message or "central directory" in message:
            return Skipped(path, f"incomplete: {message} (being written?)")
        return Skipped(path, f"not a checkpoint: {message}")
    scalars = read_scalars(ckpt, name)
    return RunMember(
        verdict=_verdict(ckpt),
        path=path,
        name=name,
        format=ckpt.format,
        size=stamp.size,
        mtime=stamp.mtime_ns / 1e9,
        is_dir=source.isdir(path),
        epoch=scalars.epoch,
        step=scalars.step,
        metrics=scalars.metrics,
        resume=resume_parts(ckpt),
        symlink=source.realpath(path) if source.islink(path) else None,
        lightning=scalars.lightning,
        trainer_best=scalars.trainer_best,
    )


def _verdict(ckpt: Checkpoint) -> str | None:
    """The resume audit's verdict (no tensor data beyond one-element counters); None when it cannot be made."""
    from ckpt_tui.core.audit import audit

    try:
        return str(audit(ckpt).verdict)
    except CkptError:
        return None


def stamp_of(path: str) -> Stamp:
    """Size and newest mtime of a file, or of every file under a folder (symlinks inside are not followed)."""
    return Stamp(*source.stamp(path))


def _link_target(directory: str, link: str) -> str | None:
    """The target of a symlink when it is another entry of this folder (an alias), else None."""
    target = source.realpath(link)
    if os.path.dirname(target) == source.realpath(directory) and source.exists(target):
        return source.join(directory, os.path.basename(target))
    return None


def _link_aliases(
    directory: str, members: list[RunMember], skipped: list[Skipped], links: list[tuple[str, str]]
) -> tuple[list[RunMember], list[Skipped]]:
    """Symlinks to members become names on those members (latest.pth -> ckpt_epoch_010.pth)."""
    by_path = {m.path: m for m in members}
    for name, path in links:
        target = _link_target(directory, path)
        member = by_path.get(target or "")
        if member is None:
            skipped.append(Skipped(path, f"symlink to {os.path.basename(target or '')}, which is not a checkpoint"))
            continue
        by_path[member.path] = replace(member, links=(*member.links, name))
    return [by_path[m.path] for m in members], skipped


def _training_order(m: RunMember) -> tuple[object, ...]:
    step, epoch = m.step.value if m.step else 0, m.epoch.value if m.epoch else 0
    return (m.step is None, step, m.epoch is None, epoch, m.name, m.mtime)
