"""What `pip install .` installs: the writers as `ckpt_tui.converters`, never a top-level `converters` package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_the_wheel_installs_the_writers_under_ckpt_tui_only(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "__snapshots__")
    for name in ("ckpt_tui", "converters"):
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=ignore)
    build = "import setuptools.build_meta as b, sys; print(b.build_wheel(sys.argv[1]))"
    out = tmp_path / "dist"
    done = subprocess.run(
        [sys.executable, "-c", build, str(out)], cwd=src, capture_output=True, text=True, check=True
    ).stdout
    names = zipfile.ZipFile(out / done.splitlines()[-1]).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"ckpt_tui"}
    assert "ckpt_tui/converters/convert.py" in names and "ckpt_tui/tui/app.tcss" in names
