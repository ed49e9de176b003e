"""The layering rules, checked in a fresh interpreter: the reader needs no torch, the core no textual."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.helpers import SAMPLES


def modules_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_reading_structure_imports_neither_torch_nor_numpy_nor_textual() -> None:
    loaded = modules_after(
        "import ckpt_tui, ckpt_tui.model, ckpt_tui.formats\n"
        "from ckpt_tui.core.summary import summarize\n"
        f"summarize(ckpt_tui.formats.read_checkpoint({str(SAMPLES / 'training.pth')!r}))"
    )
    assert not {"torch", "numpy", "textual"} & loaded


def test_core_and_converters_never_import_textual() -> None:
    loaded = modules_after(
        "import importlib, pkgutil, ckpt_tui.core, ckpt_tui.converters\n"
        "for pkg in (ckpt_tui.core, ckpt_tui.converters):\n"
        "    for m in pkgutil.iter_modules(pkg.__path__):\n"
        "        importlib.import_module(f'{pkg.__name__}.{m.name}')\n"
        "import ckpt_tui.render.summary, ckpt_tui.cli"
    )
    assert "textual" not in loaded


def test_inspect_json_imports_no_torch() -> None:
    sample = str(SAMPLES / "training.pth")
    loaded = modules_after(
        "import io, contextlib\nfrom ckpt_tui.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): main(['inspect', '--json', {sample!r}])"
    )
    assert not {"torch", "textual", "rich"} & loaded  # rich draws text; JSON needs none of it (25 ms to import)
