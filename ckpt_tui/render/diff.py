"""A DiffReport as text (counts, then changes by relative error) and as a JSON document."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from ckpt_tui.render import JSON_SCHEMA_VERSION, printable
from ckpt_tui.render.tensor import format_number
from ckpt_tui.reports import DiffReport, PairMetrics, TensorDiff

MAX_LISTED = 200


def tolerance_text(report: DiffReport) -> str:
    o = report.options
    return "exact" if not (o.rtol or o.atol) else f"rtol={o.rtol:g}, atol={o.atol:g}"


def diff_renderable(report: DiffReport) -> RenderableType:
    head = Text()
    head.append("A ", style="bold")
    head.append(printable(f"{report.a}  {report.scope_a}") + "\n")
    head.append("B ", style="bold")
    head.append(printable(f"{report.b}  {report.scope_b}") + "\n")
    equal = sum(1 for t in report.tensors if t.status == "equal")
    head.append(
        f"{len(report.tensors):,} tensors compared ({tolerance_text(report)}): {equal:,} equal, "
        f"{len(report.changed):,} changed ({len(report.nonfinite):,} NaN/Inf), "
        f"{len(report.shape_changes):,} shape changes, "
        f"{len(report.dtype_changes):,} dtype changes · {len(report.only_a):,} only in A · "
        f"{len(report.only_b):,} only in B · {len(report.values):,} values changed"
    )
    parts: list[RenderableType] = [head]
    if report.hint:
        parts.append(Text(printable(f"hint: {report.hint}"), style="yellow"))
    parts += _key_lists(report)
    parts += _nonfinite_lines(report)
    if report.changed:
        parts.append(_changed_table(report.changed))
    if report.values:
        parts.append(_values_table(report))
    verdict = "identical" if report.identical else "different"
    parts.append(Text(verdict, style="bold green" if report.identical else "bold red"))
    return Group(*parts)


def _key_lists(report: DiffReport) -> list[RenderableType]:
    out: list[RenderableType] = []
    for title, keys in (("only in A", report.only_a), ("only in B", report.only_b)):
        if keys:
            shown = "\n".join(f"  {printable(k)}" for k in keys[:MAX_LISTED])
            more = f"\n  … {len(keys) - MAX_LISTED} more" if len(keys) > MAX_LISTED else ""
            out.append(Text(f"{title}:\n{shown}{more}"))
    for title, pairs in (
        ("tied in A, stored once in B", report.tied_a),
        ("tied in B, stored once in A", report.tied_b),
    ):
        if pairs:
            shown = "\n".join(f"  {printable(k)} = {printable(kept)}" for k, kept in pairs[:MAX_LISTED])
            out.append(Text(f"{title} (not a difference):\n{shown}", style="dim"))
    changed = [t for t in report.tensors if t.status == "shape" or t.dtype_changed]
    if changed:
        text = Text("shape / dtype changes:")
        for t in changed[:MAX_LISTED]:
            text.append("\n" + printable(f"  {t.key}  {t.a.dtype} {list(t.a.shape)} → {t.b.dtype} {list(t.b.shape)}"))
        out.append(text)
    return out


def _nonfinite_lines(report: DiffReport) -> list[RenderableType]:
    if not report.nonfinite:
        return []
    text = Text("NaN/Inf changes:", style="bold red")
    for t in report.nonfinite[:MAX_LISTED]:
        assert t.metrics is not None
        text.append("\n" + printable(f"  {t.key}  {nonfinite_text(t.metrics)}"), style="red")
    return [text]


def nonfinite_text(m: PairMetrics) -> str:
    parts = [
        f"{n:,} {what}"
        for n, what in (
            (m.nan_introduced, "NaN introduced"),
            (m.nan_removed, "NaN removed"),
            (m.inf_introduced, "Inf introduced"),
            (m.inf_removed, "Inf removed"),
        )
        if n
    ]
    return ", ".join(parts)


def _changed_table(changed: list[TensorDiff]) -> Table:
    table = Table(
        title="changed tensors: NaN/Inf changes first, then by relative L2 error", title_justify="left", show_edge=False
    )
    table.add_column("tensor", no_wrap=True)
    for column in ("max |a-b|", "mean |a-b|", "max rel", "rel L2", "cosine", "outside tol"):
        table.add_column(column, justify="right", no_wrap=True)
    for t in changed[:MAX_LISTED]:
        m = t.metrics
        assert m is not None
        table.add_row(
            Text(printable(t.key)),
            format_number(m.max_abs),
            format_number(m.mean_abs),
            format_number(m.max_rel),
            format_number(m.rel_l2),
            format_number(m.cosine),
            f"{m.mismatched:,} / {m.numel:,}",
        )
    if len(changed) > MAX_LISTED:
        table.add_row(f"… {len(changed) - MAX_LISTED} more", *[""] * 6)
    return table


def _values_table(report: DiffReport) -> Table:
    table = Table(title="non-tensor values", title_justify="left", show_edge=False)
    for column in ("path", "A", "B"):
        table.add_column(column)
    for v in report.values[:MAX_LISTED]:
        table.add_row(*(Text(printable(x if x is not None else "—")) for x in (v.path, v.a, v.b)))
    return table


def diff_json(report: DiffReport) -> dict[str, Any]:
    o = report.options
    return {
        "schema_version": JSON_SCHEMA_VERSION,
        "a": {"path": report.a, "scope": list(report.scope_path_a)},
        "b": {"path": report.b, "scope": list(report.scope_path_b)},
        "tolerance": {"rtol": o.rtol, "atol": o.atol},
        "identical": report.identical,
        "hint": report.hint,
        "counts": {
            "compared": len(report.tensors),
            "equal": sum(1 for t in report.tensors if t.status == "equal"),
            "changed": len(report.changed),
            "nonfinite": len(report.nonfinite),
            "shape_changes": len(report.shape_changes),
            "dtype_changes": len(report.dtype_changes),
            "only_in_a": len(report.only_a),
            "only_in_b": len(report.only_b),
            "values_changed": len(report.values),
        },
        "only_in_a": list(report.only_a),
        "only_in_b": list(report.only_b),
        "tied_in_a": [{"key": k, "tied_to": kept} for k, kept in report.tied_a],
        "tied_in_b": [{"key": k, "tied_to": kept} for k, kept in report.tied_b],
        "tensors": [_tensor_json(t) for t in report.tensors],
        "values": [{"path": v.path, "a": v.a, "b": v.b} for v in report.values],
    }


def _tensor_json(t: TensorDiff) -> dict[str, Any]:
    return {
        "key": t.key,
        "status": t.status,
        "a": {"dtype": t.a.dtype, "shape": list(t.a.shape)},
        "b": {"dtype": t.b.dtype, "shape": list(t.b.shape)},
        "metrics": None if t.metrics is None else _metrics_json(t.metrics),
    }


def _metrics_json(m: PairMetrics) -> dict[str, Any]:
    def num(x: float | None) -> float | str | None:
        return x if x is None or abs(x) != float("inf") else ("inf" if x > 0 else "-inf")

    return {
        "numel": m.numel,
        "outside_tolerance": m.mismatched,
        "max_abs": num(m.max_abs),
        "mean_abs": num(m.mean_abs),
        "max_rel": num(m.max_rel),
        "rel_l2": num(m.rel_l2),
        "cosine": num(m.cosine),
        "bit_identical": m.bit_identical,
        "nan_introduced": m.nan_introduced,
        "nan_removed": m.nan_removed,
        "inf_introduced": m.inf_introduced,
        "inf_removed": m.inf_removed,
    }
