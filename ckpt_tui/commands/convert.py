"""`ckpt-tui convert IN`: strip wrapper prefixes, write safetensors (or .pth); streamed, verified, atomic."""

from __future__ import annotations

import argparse
import sys

from ckpt_tui.commands._common import add_key_rules, add_unsafe, key_rules, open_checkpoint
from ckpt_tui.commands._output import console, emit_json
from ckpt_tui.errors import ExitCode
from ckpt_tui.reports import OutputFormat

CARRY_HELP = (
    "--to pth: copy objects whose classes torch.load(weights_only=True) refuses (they can RUN CODE when loaded); "
    "the output is then no safer than the input"
)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "convert",
        help="write the model state dict as safetensors (or the checkpoint as .pth), keys rewritten",
        description="Convert a checkpoint: by default its model state dict to safetensors next to it "
        "(model.pth -> model.safetensors, pytorch_model.bin -> model.safetensors). Streams tensor bytes, writes "
        "atomically, verifies by reading back, and reports everything it could not carry. Never overwrites without "
        "--force; never writes over an input file.",
    )
    p.add_argument("path", help="input checkpoint")
    p.add_argument("-o", "--output", help="output file (default: next to the input)")
    p.add_argument("--to", choices=[f.value for f in OutputFormat], default="safetensors", help="output format")
    p.add_argument("--key", help="the state dict to write (a key path, e.g. model_state_dict); default: detected")
    p.add_argument("--all", dest="all_tensors", action="store_true", help="write every tensor, keyed by dotted path")
    add_key_rules(p)
    p.add_argument("--dtype", choices=("bf16", "fp16", "fp32"), help="cast floating tensors (never ints or bools)")
    p.add_argument("--max-shard-size", metavar="SIZE", help="shard the output (e.g. 5GB) with an index.json")
    p.add_argument("--force", action="store_true", help="replace existing outputs (never an input)")
    p.add_argument("--no-verify", action="store_true", help="skip reading the output back")
    p.add_argument("--carry-unsafe-globals", action="store_true", help=CARRY_HELP)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    add_unsafe(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ckpt_tui.commands._progress import progress_bar
    from ckpt_tui.converters.convert import convert
    from ckpt_tui.converters.options import ConvertOptions
    from ckpt_tui.converters.shards import parse_size
    from ckpt_tui.render import printable
    from ckpt_tui.render.convert import convert_json, convert_renderable

    ckpt = open_checkpoint(args.path, args.unsafe, one_shot=args.one_shot)
    options = ConvertOptions(
        output=args.output,
        to=OutputFormat(args.to),
        key=args.key,
        all_tensors=args.all_tensors,
        rules=key_rules(args),
        dtype=args.dtype,
        max_shard_size=parse_size(args.max_shard_size) if args.max_shard_size else None,
        force=args.force,
        verify=not args.no_verify,
        carry_unsafe_globals=args.carry_unsafe_globals,
    )
    with progress_bar("converting") as update:
        report = convert(ckpt, options, progress=update)
    if report.unsafe_globals:
        print(
            "ckpt-tui: warning: --carry-unsafe-globals: the output names "
            + printable(", ".join(report.unsafe_globals))
            + "; loading it with torch.load(weights_only=False) can run code: it is no safer than the input",
            file=sys.stderr,
        )
    if args.json:
        emit_json(convert_json(report))
    else:
        console().print(convert_renderable(report))
    return ExitCode.OK
