"""The layering in tests/layers.toml, checked on every import statement of every module, and no import cycles."""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = tomllib.loads((ROOT / "tests" / "layers.toml").read_text())


def modules() -> dict[str, Path]:
    """Every module by dotted name; the writers' folder converters/ is installed as ckpt_tui.converters."""
    found = {}
    for base, package in ((ROOT / "ckpt_tui", "ckpt_tui"), (ROOT / "converters", "ckpt_tui.converters")):
        for path in sorted(base.rglob("*.py")):
            relative = path.relative_to(base).with_suffix("").parts
            if relative[0] == "converters" and package == "ckpt_tui":  # the symlink to converters/
                continue
            name = ".".join((package, *relative)).removesuffix(".__init__")
            found[name] = path
    return found


def part_of(module: str) -> str | None:
    best = None
    for part, names in LAYERS["parts"].items():
        for name in names:
            if (module == name or module.startswith(name + ".")) and (best is None or len(name) > len(best[1])):
                best = (part, name)
    return best[0] if best else None


def imports(module: str, source: str, known: set[str], is_package: bool = False) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in `source`, at any depth; `from p import m` names p.m if a module."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                target = f"{base}.{alias.name}"
                yield node.lineno, target if target in known else base


def violations(module: str, source: str, known: set[str], is_package: bool = False) -> list[str]:
    part = part_of(module)
    forbidden = set(LAYERS["forbidden"].get(part, ()))
    found = []
    for line, target in imports(module, source, known, is_package):
        into = part_of(target) if target.startswith("ckpt_tui") else target.split(".")[0]
        if into in forbidden:
            found.append(f"{module}:{line}: {part} imports {target} ({into})")
    return found


MODULES = modules()


def test_every_module_belongs_to_a_declared_part() -> None:
    undeclared = [m for m in MODULES if part_of(m) is None or (part_of(m) == "api" and m != "ckpt_tui")]
    assert not undeclared, "add these to tests/layers.toml: " + ", ".join(undeclared)


def test_no_import_crosses_a_forbidden_arrow() -> None:
    known = set(MODULES)
    found = [v for m, p in MODULES.items() for v in violations(m, p.read_text(), known, p.name == "__init__.py")]
    assert not found, "\n".join(found)


def test_a_planted_violation_is_caught() -> None:
    known = set(MODULES)
    hidden = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ckpt_tui.render import printable\n"
    local = "def f():\n    import textual.app\n    from ..converters import convert\n"
    assert violations("ckpt_tui.formats.planted", hidden, known) == [
        "ckpt_tui.formats.planted:3: formats imports ckpt_tui.render (render)"
    ]
    assert violations("ckpt_tui.core.planted", local, known) == [
        "ckpt_tui.core.planted:2: core imports textual.app (textual)",
        "ckpt_tui.core.planted:3: core imports ckpt_tui.converters.convert (converters)",
    ]
    assert violations("ckpt_tui.core.planted", "import numpy, torch\n", known) == []


def test_no_import_cycle_between_modules() -> None:
    known = set(MODULES)
    graph = {
        m: {t for _, t in imports(m, p.read_text(), known, p.name == "__init__.py") if t in known and t != m}
        for m, p in MODULES.items()
    }
    cycles = [sorted(c) for c in strongly_connected(graph) if len(c) > 1]
    assert not cycles, cycles
    assert [sorted(c) for c in strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) if len(c) > 1] == [
        ["a", "b", "c"]
    ]


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's components, iteratively."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                out.append(component)
    return out
