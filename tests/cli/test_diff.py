"""`ckpt-tui diff`: exit codes, the JSON document, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ckpt_tui.cli import main
from tests.helpers import SAMPLES


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_identical_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "diff", str(SAMPLES / "state_dict.pth"), str(SAMPLES / "model.safetensors"))
    assert code == 0 and out.rstrip().endswith("identical")


def test_differences_exit_1_with_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "state_dict.pth")
    state["head.weight"] = state["head.weight"] * 2
    torch.save(state, tmp_path / "ft.pth")
    code, out, _ = run(capsys, "diff", "--json", str(SAMPLES / "state_dict.pth"), str(tmp_path / "ft.pth"))
    doc = json.loads(out)
    assert code == 1 and doc["schema_version"] == 1 and doc["identical"] is False
    assert doc["counts"] == {
        "compared": 9,
        "equal": 8,
        "changed": 1,
        "nonfinite": 0,
        "shape_changes": 0,
        "dtype_changes": 0,
        "only_in_a": 0,
        "only_in_b": 0,
        "values_changed": 0,
    }
    changed = [t for t in doc["tensors"] if t["status"] == "changed"]
    assert [t["key"] for t in changed] == ["head.weight"]
    metrics = changed[0]["metrics"]
    assert metrics["rel_l2"] == pytest.approx(1.0) and metrics["cosine"] == pytest.approx(1)
    code, out, _ = run(
        capsys, "diff", "--json", "--rtol", "1.5", str(SAMPLES / "state_dict.pth"), str(tmp_path / "ft.pth")
    )
    assert code == 0 and json.loads(out)["identical"]


def test_text_lists_changes_by_relative_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "state_dict.pth")
    state["head.weight"] = state["head.weight"] * 1.01
    state["encoder.0.bias"] = state["encoder.0.bias"] * 3
    torch.save(state, tmp_path / "ft.pth")
    code, out, _ = run(capsys, "diff", str(SAMPLES / "state_dict.pth"), str(tmp_path / "ft.pth"))
    assert code == 1 and out.index("encoder.0.bias") < out.index("head.weight")
    assert "9 tensors compared (exact): 7 equal, 2 changed" in out


@pytest.mark.parametrize("argv", [["--rtol", "-1"], ["--only", "("], ["--key", "nope"]])
def test_bad_arguments_exit_2(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run(capsys, "diff", *argv, str(SAMPLES / "state_dict.pth"), str(SAMPLES / "state_dict.pth"))
    assert code == 2 and out == "" and err.count("\n") == 1


def test_missing_file_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "diff", str(SAMPLES / "state_dict.pth"), "nope.pth")
    assert code == 2 and "nope.pth: no such file" in err
