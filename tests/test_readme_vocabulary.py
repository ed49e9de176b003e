"""The README lists every `format` value and notice code the program emits: the closed vocabularies in model.py
(every Notice and Checkpoint is typed with them, mypy-checked)."""

from __future__ import annotations

from pathlib import Path

from ckpt_tui.model import CheckpointFormat, NoticeCode

REPO = Path(__file__).resolve().parent.parent


def test_readme_lists_every_notice_code_and_format_value() -> None:
    readme = (REPO / "README.md").read_text()
    values = [c.value for c in NoticeCode] + [f.value for f in CheckpointFormat]
    assert "safetensors-alias" in values and "directory" in values
    missing = sorted(v for v in values if f"`{v}`" not in readme)
    assert not missing, f"README.md does not list: {missing}"
