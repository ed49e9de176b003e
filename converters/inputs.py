"""The files a conversion reads, so that no output is ever written over one of them (`--force` or not).

An output "is" an input when it names the same file by any route: the same path, a symlink to it, a hard link
(compared by device and inode, `os.path.samefile`). Every file counts: each shard, the index, each file of a
directory checkpoint, and the files behind symlinked shards.
"""

from __future__ import annotations

import os

from ckpt_tui.errors import UsageError
from ckpt_tui.model import Checkpoint


def input_files(ckpt: Checkpoint) -> list[str]:
    """Every file the checkpoint is read from."""
    files = dict.fromkeys([ckpt.path])
    if os.path.isdir(ckpt.path):
        files |= dict.fromkeys(_files_in(ckpt.path))
    elif ckpt.path.endswith(".json"):
        files |= dict.fromkeys(_index_shards(ckpt.path))
    files |= dict.fromkeys(t.storage.file for t in ckpt.tensors.values())
    return [f for f in files if os.path.exists(f)]


def refuse_outputs_over_inputs(outputs: list[str], inputs: list[str]) -> None:
    """A UsageError (whatever --force says) where writing `outputs` would replace any of `inputs`."""
    for output in outputs:
        if not os.path.exists(output):
            continue
        for source in inputs:
            if os.path.samefile(output, source):
                same = "" if os.path.abspath(output) == os.path.abspath(source) else f" ({source})"
                raise UsageError(f"{output} is an input of this conversion{same}; inputs are never written over")


def links_leaving(ckpt: Checkpoint) -> list[str]:
    """Notices for input files that are symlinks pointing out of the checkpoint's own directory."""
    home = ckpt.path if os.path.isdir(ckpt.path) else os.path.dirname(os.path.abspath(ckpt.path))
    home = os.path.realpath(home)
    out = []
    for path in input_files(ckpt):
        target = os.path.realpath(path)
        if os.path.islink(path) and os.path.dirname(target) != home and not target.startswith(home + os.sep):
            out.append(f"{path} is a symlink to {target}, outside {home}")
    return out


def _files_in(directory: str) -> list[str]:
    return [os.path.join(directory, n) for n in sorted(os.listdir(directory))]


def _index_shards(index: str) -> list[str]:
    from ckpt_tui.formats.sharded import load_json

    try:
        weight_map = load_json(index).get("weight_map", {})
    except Exception:  # noqa: BLE001 - the reader already accepted it; any doubt leaves only the shards it read
        return []
    directory = os.path.dirname(os.path.abspath(index))
    return [os.path.join(directory, str(name)) for name in dict.fromkeys(weight_map.values())]
