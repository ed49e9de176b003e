"""The README lists every `format` value and notice code the program emits, found in the code itself."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SOURCES = sorted((REPO / "ckpt_tui").rglob("*.py"))


def strings_of(node: ast.AST, constants: dict[str, set[str]]) -> set[str]:
    """The string values an argument can take: a literal, a conditional of literals, or a name bound to them."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return {node.value}
    if isinstance(node, ast.IfExp):
        return strings_of(node.body, constants) | strings_of(node.orelse, constants)
    if isinstance(node, ast.Name):
        return constants.get(node.id, set())
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):  # an enum member: Enum.NAME
        return constants.get(f"{node.value.id}.{node.attr}", set())
    return set()


def bound_strings(trees: list[ast.Module]) -> dict[str, set[str]]:
    """name -> strings assigned to it anywhere (module constants, locals, StrEnum members as Class.NAME)."""
    out: dict[str, set[str]] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant):
                        for target in item.targets:
                            if isinstance(target, ast.Name) and isinstance(item.value.value, str):
                                out.setdefault(f"{node.name}.{target.id}", set()).add(item.value.value)
            if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, ast.Name):
                        out.setdefault(target.id, set()).update(strings_of(node.value, {}))
    return out


def emitted() -> tuple[set[str], set[str]]:
    trees = [ast.parse(path.read_text()) for path in SOURCES]
    constants = bound_strings(trees)
    codes, formats = set(), set()
    for tree in trees:
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name == "Notice":
                codes |= strings_of(node.args[0], constants)
            elif name in ("Checkpoint", "build_checkpoint") and len(node.args) > 1:
                formats |= strings_of(node.args[1], constants)
    return codes, formats


def test_readme_lists_every_notice_code_and_format_value() -> None:
    readme = (REPO / "README.md").read_text()
    codes, formats = emitted()
    assert {"shared-storage", "safetensors-alias", "shard-consistency", "unknown-global"} <= codes
    assert {"torch-zip", "safetensors", "sharded-safetensors", "dcp", "directory"} <= formats
    missing = sorted(c for c in codes | formats if f"`{c}`" not in readme)
    assert not missing, f"README.md does not list: {missing}"
