"""`ckpt-tui check CKPT --model pkg.module:Class`: does it load? Exit 0 yes, 1 no (the report says why), 2 bad input."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from ckpt_tui.commands._common import add_key_rules, key_rules
from ckpt_tui.commands._output import console, emit_json
from ckpt_tui.errors import CkptError, ExitCode, UsageError


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "check",
        help="check that a checkpoint loads into a model class (for CI: exit codes, --json, --junit)",
        description="Build the model on the device (meta allocates nothing), load the checkpoint's state dict and "
        "report missing/unexpected keys, shape and dtype mismatches, tie conflicts; optionally run a forward pass. "
        "Exit 0: loads cleanly; 1: it does not; 2: bad input.",
    )
    p.add_argument("checkpoint", nargs="?", help="checkpoint file (or use --manifest)")
    p.add_argument("--model", metavar="pkg.module:Class", help="model class, or a function returning a module")
    p.add_argument("--kwargs", metavar="JSON", help="keyword arguments for the model, as a JSON object")
    p.add_argument("--device", default="cpu", help="cpu, cuda[:N] or meta (builds and checks without memory)")
    p.add_argument(
        "--strict",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="missing/unexpected keys and dtype changes fail the check (default: --strict)",
    )
    p.add_argument("--key", help="the state dict's key path in the checkpoint (default: detected)")
    add_key_rules(p)
    p.add_argument("--forward", metavar="SHAPE", help="run one forward pass on random input, e.g. 4,8 or 2x16:long")
    p.add_argument("--path", action="append", default=[], metavar="DIR", help="import the model from DIR too")
    p.add_argument("--manifest", metavar="TOML", help="run every [[check]] in a TOML file, in one process")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (one test case per check)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.render.check import check_renderable, checks_json, junit_xml

    specs = manifest_specs(args.manifest) if args.manifest else [spec_from_args(args)]
    reports, errors = [], []
    for name, spec in specs:
        try:
            reports.append(run_spec(spec))
        except CkptError as e:
            if not args.manifest:
                raise
            errors.append((name, str(e)))
    if args.junit:
        write_junit(args.junit, junit_xml(reports, errors))
    if args.json:
        emit_json(checks_json(reports, errors))
    else:
        out = console()
        for report in reports:
            out.print(check_renderable(report))
        for name, error in errors:
            print(f"ckpt-tui: error: {name}: {error}", file=sys.stderr)
    if errors:
        return ExitCode.BAD_INPUT
    return ExitCode.OK if all(r.ok for r in reports) else ExitCode.FAILED


def spec_from_args(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    if not args.checkpoint or not args.model:
        raise UsageError("check needs a checkpoint and --model pkg.module:Class (or --manifest FILE)")
    spec = {
        "checkpoint": args.checkpoint,
        "model": args.model,
        "kwargs": args.kwargs,
        "device": args.device,
        "strict": args.strict,
        "key": args.key,
        "rules": key_rules(args),
        "forward": args.forward,
        "paths": args.path,
    }
    return args.checkpoint, spec


def run_spec(spec: dict[str, Any]) -> Any:
    from ckpt_tui.core.check import check_loads
    from ckpt_tui.core.user_model import parse_kwargs, parse_shape

    kwargs = spec["kwargs"] if isinstance(spec["kwargs"], dict) else parse_kwargs(spec["kwargs"])
    return check_loads(
        spec["checkpoint"],
        spec["model"],
        kwargs=kwargs,
        device=spec["device"],
        strict=spec["strict"],
        key=spec["key"],
        rules=spec["rules"],
        forward=parse_shape(spec["forward"]),
        paths=spec["paths"],
    )


def manifest_specs(path: str) -> list[tuple[str, dict[str, Any]]]:
    """[[check]] tables: checkpoint, model, and optionally kwargs, device, strict, key, forward, path and the
    key-rule fields strip_module, strip_wrappers, strip_prefix, add_prefix, rename. Paths are relative to the file."""
    import tomllib

    from ckpt_tui.core.keys import make_rules

    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the manifest: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: invalid TOML: {e}") from None
    checks = document.get("check")
    if not isinstance(checks, list) or not checks:
        raise UsageError(f"{path}: expected one or more [[check]] tables")
    base = os.path.dirname(os.path.abspath(path))
    specs = []
    for i, c in enumerate(checks, 1):
        if "checkpoint" not in c or "model" not in c:
            raise UsageError(f"{path}: check {i} needs 'checkpoint' and 'model'")
        rules = make_rules(
            c.get("strip_module", False),
            c.get("strip_wrappers", False),
            c.get("strip_prefix", []),
            c.get("add_prefix", ""),
            c.get("rename", []),
        )
        spec = {
            "checkpoint": os.path.join(base, c["checkpoint"]),
            "model": c["model"],
            "kwargs": c.get("kwargs", {}),
            "device": c.get("device", "cpu"),
            "strict": c.get("strict", True),
            "key": c.get("key"),
            "rules": rules,
            "forward": c.get("forward"),
            "paths": [os.path.join(base, p) for p in c.get("path", [])] + [base],
        }
        specs.append((c.get("name", f"{c['checkpoint']} -> {c['model']}"), spec))
    return specs


def write_junit(path: str, xml: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(xml)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
