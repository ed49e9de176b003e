"""`ckpt-tui inspect PATH`: what a checkpoint holds, as text for people or `--json` for scripts."""

from __future__ import annotations

import argparse
from typing import Any

from ckpt_tui.commands._common import add_device, add_unsafe, open_checkpoint
from ckpt_tui.commands._output import console, emit_json
from ckpt_tui.core.devices import needs_values
from ckpt_tui.errors import ExitCode
from ckpt_tui.model import Checkpoint, NoticeCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "inspect",
        help="print a checkpoint's structure (no tensor data is read)",
        description="Print a checkpoint's structure without reading tensor data or running its code.",
    )
    p.add_argument("path", help="checkpoint file")
    p.add_argument("--json", action="store_true", help="machine-readable output (see README: JSON schema)")
    p.add_argument("--stats", action="store_true", help="also read every tensor, one at a time, for its statistics")
    p.add_argument("--strict", action="store_true", help="exit 1 when a shard set is inconsistent (see notices)")
    add_device(p)
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.core.summary import summarize
    from ckpt_tui.render.summary import summary_json, summary_renderable

    if args.stats:
        needs_values(args.device, "--stats")
    ckpt = open_checkpoint(args.path, args.unsafe, args.device)
    summary = summarize(ckpt)
    stats = all_stats(ckpt, args.device) if args.stats else None
    if args.json:
        document = summary_json(summary, ckpt)
        if stats is not None:
            from ckpt_tui.render.tensor import stats_json

            for row in document["tensors"]:
                row["stats"] = stats_json(stats[row["key"]]) if row["key"] in stats else None
        emit_json(document)
    else:
        out = console()
        out.print(summary_renderable(summary))
        if stats is not None:
            from ckpt_tui.render.stats_table import stats_table

            out.print(stats_table(stats))
    inconsistent = any(n.code == NoticeCode.SHARD_CONSISTENCY for n in summary.notices)
    return ExitCode.FAILED if args.strict and inconsistent else ExitCode.OK


def all_stats(ckpt: Checkpoint, device: str) -> dict[str, Any]:
    """Stats of every tensor that has values (meta tensors have none), with a progress bar on stderr."""
    from ckpt_tui.commands._progress import progress_bar
    from ckpt_tui.core.stats import compute_stats

    tensors = [(k, t) for k, t in ckpt.tensors.items() if t.device != "meta"]
    total, done, out = sum(t.nbytes for _, t in tensors), 0, {}
    with progress_bar("statistics") as update:
        for key, info in tensors:
            out[key] = compute_stats(info, device)
            done += info.nbytes
            update(done, total)
    return out
