"""The CLI names the flag that fixes what the core reports as data (a setting, a remedy, a key hint, a notice)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from ckpt_tui.errors import OutputExistsError, Remedy, Setting, UsageError
from ckpt_tui.render.hints import error_text
from tests.helpers import SAMPLES


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_core_says_what_is_wrong_and_the_cli_which_flag_fixes_it() -> None:
    exists = OutputExistsError("o.safetensors exists", remedy=Remedy.FORCE)
    assert "--" not in str(exists) and "--" not in str(UsageError("must be positive", setting=Setting.MAX_SHARD_SIZE))
    assert error_text(exists) == "o.safetensors exists; use --force to replace it"
    assert (
        error_text(UsageError("must be positive", setting=Setting.MAX_SHARD_SIZE))
        == "--max-shard-size must be positive"
    )


def test_existing_output_names_force(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "convert", str(SAMPLES / "state_dict.pth"), "-o", str(out))
    assert code == 2 and err.rstrip().endswith("exists; use --force to replace it")
    code, _, err = run(capsys, "convert", str(SAMPLES / "state_dict.pth"), "-o", str(out), "--max-shard-size", "0")
    assert code == 2 and "--max-shard-size must be positive" in err


def test_wrapper_prefix_hints_name_the_strip_flag(capsys: pytest.CaptureFixture[str]) -> None:
    dp = str(SAMPLES / "dataparallel.pth")
    code, out, _ = run(capsys, "diff", "--json", dp, str(SAMPLES / "state_dict.pth"))
    assert code == 1 and json.loads(out)["hint"] == "all 9 keys only in A carry 'module.' — use --strip-module"
    code, out, _ = run(capsys, "inspect", "--json", dp)
    messages = [n["message"] for n in json.loads(out)["notices"] if n["code"] == "wrapper-prefix"]
    assert messages and messages[0].endswith(f"strip it with: ckpt-tui convert --strip-module {dp}")
