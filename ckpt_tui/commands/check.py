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
        help="missing/unexpected keys and dtype changes fail the check (default: --strict); --no-strict tolerates "
        "them but still fails when fewer than half of the model's keys (and at least one) are in the checkpoint",
    )
    p.add_argument(
        "--allow-nonfinite",
        action="store_true",
        help="let NaN/Inf in the checkpoint's tensors pass (reported; by default they fail the check)",
    )
    p.add_argument("--key", help="the state dict's key path in the checkpoint (default: detected)")
    add_key_rules(p)
    p.add_argument("--forward", metavar="SHAPE", help="run one forward pass on random input, e.g. 4,8 or 2x16:long")
    p.add_argument("--path", action="append", default=[], metavar="DIR", help="import the model from DIR too")
    p.add_argument("--manifest", metavar="TOML", help="run every [[check]] in a TOML file, in one process")
    p.add_argument("--name", help="the check's name in --json and --junit (default: 'CKPT -> MODEL')")
    p.add_argument("--json", action="store_true", help="print the report as JSON (also when the check cannot run)")
    p.add_argument(
        "--junit", metavar="FILE", help="also write JUnit XML, one test case per check (also when it cannot run)"
    )
    p.set_defaults(run=run)


Spec = dict[str, Any]


def run(args: argparse.Namespace) -> int:
    """Every check that cannot run is an error entry in --json/--junit, and the exit code is 2."""
    from ckpt_tui.errors import exit_code_for

    reports, errors, codes = [], [], []
    for name, spec in _specs(args):
        try:
            if isinstance(spec, CkptError):
                raise spec
            reports.append((name, run_spec(spec)))
        except CkptError as e:
            errors.append((name, str(e)))
            codes.append(exit_code_for(e))
    _emit(args, reports, errors)
    if codes:
        return max(codes)
    return ExitCode.OK if all(r.ok for _, r in reports) else ExitCode.FAILED


def _specs(args: argparse.Namespace) -> list[tuple[str, Spec | CkptError]]:
    """(name, spec) per check; a check whose description is wrong comes as (name, the error)."""
    default = args.name or (f"{args.checkpoint} -> {args.model}" if args.checkpoint else "check")
    try:
        return manifest_specs(args.manifest) if args.manifest else [(default, spec_from_args(args))]
    except CkptError as e:
        return [(args.name or args.manifest or default, e)]


def _emit(args: argparse.Namespace, reports: list[Any], errors: list[tuple[str, str]]) -> None:
    from ckpt_tui.render import printable
    from ckpt_tui.render.check import check_renderable, checks_json, junit_xml

    if args.junit:
        try:
            write_junit(args.junit, junit_xml(reports, errors))
        except CkptError as e:
            errors.append((args.junit, str(e)))
    if args.json:
        emit_json(checks_json(reports, errors))
    else:
        out = console()
        for _, report in reports:
            out.print(check_renderable(report))
    for name, error in errors:
        shown = error if name in error or not args.manifest else f"{name}: {error}"
        print(f"ckpt-tui: error: {printable(shown)}", file=sys.stderr)


def spec_from_args(args: argparse.Namespace) -> Spec:
    if not args.checkpoint or not args.model:
        raise UsageError("check needs a checkpoint and --model pkg.module:Class (or --manifest FILE)")
    return {
        "checkpoint": args.checkpoint,
        "model": args.model,
        "kwargs": args.kwargs,
        "device": args.device,
        "strict": args.strict,
        "key": args.key,
        "rules": key_rules(args),
        "forward": args.forward,
        "paths": args.path,
        "allow_nonfinite": args.allow_nonfinite,
    }


def run_spec(spec: Spec) -> Any:
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
        allow_nonfinite=spec["allow_nonfinite"],
    )


# [[check]] fields and their types; `kwargs` may also be a JSON string, as on the command line
FIELDS: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "checkpoint": (str,),
    "model": (str,),
    "kwargs": (dict, str),
    "device": (str,),
    "strict": (bool,),
    "allow_nonfinite": (bool,),
    "key": (str,),
    "forward": (str,),
    "path": (list,),
    "strip_module": (bool,),
    "strip_wrappers": (bool,),
    "strip_prefix": (list,),
    "add_prefix": (str,),
    "rename": (list,),
}
LISTS_OF_STRINGS = ("path", "strip_prefix", "rename")


def manifest_specs(path: str) -> list[tuple[str, Spec | CkptError]]:
    """[[check]] tables: checkpoint, model, and optionally name, kwargs, device, strict, allow_nonfinite, key,
    forward, path and the key-rule fields strip_module, strip_wrappers, strip_prefix, add_prefix, rename. Paths are
    relative to the file. A table with a missing, unknown or mistyped field is an error for that check only."""
    import tomllib

    try:
        with open(path, "rb") as f:
            document = tomllib.load(f)
    except OSError as e:
        raise UsageError(f"{path}: cannot read the manifest: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: invalid TOML: {e}") from None
    checks = document.get("check")
    if not isinstance(checks, list) or not checks or not all(isinstance(c, dict) for c in checks):
        raise UsageError(f"{path}: expected one or more [[check]] tables")
    base = os.path.dirname(os.path.abspath(path))
    out: list[tuple[str, Spec | CkptError]] = []
    for i, c in enumerate(checks, 1):
        name = c.get("name") if isinstance(c.get("name"), str) else f"{c.get('checkpoint')} -> {c.get('model')}"
        try:
            out.append((name, _manifest_spec(path, i, c, base)))
        except CkptError as e:
            out.append((name, e))
    return out


def _manifest_spec(path: str, i: int, c: dict[str, Any], base: str) -> Spec:
    from ckpt_tui.core.keys import make_rules

    where = f"{path}: check {i}"
    if "checkpoint" not in c or "model" not in c:
        raise UsageError(f"{where} needs 'checkpoint' and 'model'")
    for field_name, value in c.items():
        types = FIELDS.get(field_name)
        if types is None:
            raise UsageError(f"{where}: unknown field {field_name!r} (known: {', '.join(FIELDS)})")
        if not isinstance(value, types) or (field_name in LISTS_OF_STRINGS and not _strings(value)):
            wanted = "a list of strings" if field_name in LISTS_OF_STRINGS else " or ".join(t.__name__ for t in types)
            raise UsageError(f"{where}: {field_name!r} must be {wanted}, got {type(value).__name__} {value!r}")
    rules = make_rules(
        c.get("strip_module", False),
        c.get("strip_wrappers", False),
        c.get("strip_prefix", []),
        c.get("add_prefix", ""),
        c.get("rename", []),
    )
    return {
        "checkpoint": os.path.join(base, c["checkpoint"]),
        "model": c["model"],
        "kwargs": c.get("kwargs", {}),
        "device": c.get("device", "cpu"),
        "strict": c.get("strict", True),
        "key": c.get("key"),
        "rules": rules,
        "forward": c.get("forward"),
        "paths": [os.path.join(base, p) for p in c.get("path", [])] + [base],
        "allow_nonfinite": c.get("allow_nonfinite", False),
    }


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def write_junit(path: str, xml: bytes) -> None:
    try:
        with open(path, "wb") as f:
            f.write(xml)
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror}") from None
