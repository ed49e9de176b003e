"""`ckpt-tui audit CKPT`: can training resume from it? Exit 0 resumable, 1 not (the findings say why), 2 bad input."""

from __future__ import annotations

import argparse

from ckpt_tui.commands._common import add_device, open_checkpoint
from ckpt_tui.commands._output import console, emit_json
from ckpt_tui.errors import ExitCode


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "audit",
        help="can training resume from this checkpoint? verdict, findings and fixes (for CI: exit codes, --junit)",
        description="Check that a training checkpoint holds what resuming needs (model, optimizer, scheduler, "
        "epoch/step, RNG states, scaler, best metric, config), that its counters and optimizer state agree with "
        "each other and with the model, and name the pitfalls (pickled modules, CUDA tensors, wrapper prefixes, "
        "versions). Reads no tensor data unless --stats. Exit 0: resumable; 1: not (or warnings under --strict); "
        "2: bad input.",
    )
    p.add_argument("checkpoint", help="checkpoint file or directory (Trainer checkpoint-N/, DCP, shard set)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one test case per finding)")
    p.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    p.add_argument("--stats", action="store_true", help="read every floating tensor to find NaN/Inf (chunked)")
    add_device(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.commands._progress import progress_bar
    from ckpt_tui.commands.check import write_junit
    from ckpt_tui.core.audit import audit
    from ckpt_tui.render.audit import audit_json, audit_junit, audit_renderable

    ckpt = open_checkpoint(args.checkpoint, device=args.device)
    if args.stats:
        with progress_bar("checking values") as update:
            report = audit(ckpt, stats=True, device=args.device, progress=update)
    else:
        report = audit(ckpt)
    if args.junit:
        write_junit(args.junit, audit_junit(report, args.strict))
    if args.json:
        emit_json(audit_json(report, args.strict))
    else:
        console().print(audit_renderable(report))
    return ExitCode.OK if report.ok(args.strict) else ExitCode.FAILED
