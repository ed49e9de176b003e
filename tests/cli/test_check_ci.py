"""`check` and `diff` as a CI reads them: JSON on stdout and JUnit on disk whatever happened, validated manifests,
scopes as key arrays, marks that only say ✓ for what happened, `inspect --stats --strict` on NaN."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import torch

from ckpt_tui.cli import main
from tests.helpers import SAMPLES

TINY = "sample_checkpoints.models:TinyNet"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


CANNOT_RUN = {
    "bad path": ["/no/such/file.pt", "--model", TINY],
    "import error": [str(SAMPLES / "training.pth"), "--model", "no_such_pkg.x:Net"],
    "bad kwargs": [str(SAMPLES / "training.pth"), "--model", TINY, "--kwargs", "[1]"],
    "no model": [str(SAMPLES / "training.pth")],
    "bad forward": [str(SAMPLES / "training.pth"), "--model", TINY, "--forward", "a,b"],
}
if not torch.cuda.is_available():
    CANNOT_RUN["bad device"] = [str(SAMPLES / "training.pth"), "--model", TINY, "--device", "cuda:7"]


@pytest.mark.parametrize("case", list(CANNOT_RUN))
def test_json_and_junit_even_when_the_check_cannot_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    junit = tmp_path / "check.xml"
    code, out, err = run(capsys, "check", *CANNOT_RUN[case], "--json", "--junit", str(junit), "--name", "gate")
    doc = json.loads(out)
    assert code == 2 and doc["ok"] is False and doc["checks"] == [] and len(doc["errors"]) == 1
    assert doc["errors"][0]["check"] == "gate" and err.startswith("ckpt-tui: error: ") and err.count("\n") == 1
    suite = ElementTree.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "gate" and suite.get("errors") == "1"
    assert suite.find("testcase/error") is not None


def test_no_strict_dataparallel_is_a_fail_without_false_ticks(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "check", str(SAMPLES / "dataparallel.pth"), "--model", TINY, "--no-strict", "--forward", "4,8"
    )
    assert code == 1 and out.startswith("FAIL")
    lines = out.splitlines()
    assert any(line.strip().startswith("✗ keys matched: 0 of 9 model keys") for line in lines)
    assert any(line.strip().startswith("! no missing keys (tolerated)") for line in lines)
    assert any(line.strip().startswith("✗ load_state_dict: ran, but no tensor matched") for line in lines)
    assert "  - shapes match: no key in common" in lines and "  - dtypes match: no key in common" in lines
    assert not [line for line in lines if line.strip().startswith("✓") and "forward" not in line]


def test_meta_marks_load_state_dict_as_not_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "check", str(SAMPLES / "training.pth"), "--model", TINY, "--device", "meta")
    assert code == 0 and "  - load_state_dict: not run on meta" in out and "✓ load_state_dict" not in out
    run(
        capsys,
        "check",
        str(SAMPLES / "training.pth"),
        "--model",
        TINY,
        "--device",
        "meta",
        "--junit",
        str(tmp_path / "j"),
    )
    case = ElementTree.parse(tmp_path / "j").getroot().find("testsuite/testcase[@name='load_state_dict']")
    assert case is not None and case.find("skipped") is not None


def test_scope_is_a_json_array_of_keys(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "check", str(SAMPLES / "training.pth"), "--model", TINY, "--json")
    assert json.loads(out)["checks"][0]["scope"] == ["model_state_dict"]
    _, out, _ = run(capsys, "diff", str(SAMPLES / "training.pth"), str(SAMPLES / "state_dict.pth"), "--json")
    doc = json.loads(out)
    assert doc["a"]["scope"] == ["model_state_dict"] and doc["b"]["scope"] == [] and doc["identical"]
    _, out, _ = run(capsys, "inspect", str(SAMPLES / "training.pth"), "--json")
    assert json.loads(out)["state_dict"]["path"] == ["model_state_dict"]


def write_manifest(tmp_path: Path, body: str) -> Path:
    manifest = tmp_path / "checks.toml"
    manifest.write_text(body)
    return manifest


def test_manifest_fields_are_validated_per_check(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    good = f'checkpoint = "{SAMPLES / "training.pth"}"\nmodel = "{TINY}"\n'
    manifest = write_manifest(
        tmp_path,
        f'[[check]]\nname = "fine"\n{good}device = "meta"\n'
        f'[[check]]\nname = "string path"\n{good}path = "src"\n'
        f'[[check]]\nname = "typo"\n{good}strip_wrapper = true\n'
        f'[[check]]\nname = "string prefix"\n{good}strip_prefix = "model."\n'
        f'[[check]]\nname = "not a bool"\n{good}strict = "no"\n',
    )
    code, out, err = run(capsys, "check", "--manifest", str(manifest), "--json", "--junit", str(tmp_path / "j.xml"))
    doc = json.loads(out)
    assert code == 2 and [c["name"] for c in doc["checks"]] == ["fine"] and doc["checks"][0]["ok"]
    errors = {e["check"]: e["error"] for e in doc["errors"]}
    assert "'path' must be a list of strings, got str 'src'" in errors["string path"]
    assert "unknown field 'strip_wrapper'" in errors["typo"]
    assert "'strip_prefix' must be a list of strings" in errors["string prefix"]
    assert "'strict' must be bool" in errors["not a bool"]
    names = [s.get("name") for s in ElementTree.parse(tmp_path / "j.xml").getroot().findall("testsuite")]
    assert names == ["fine", "string path", "typo", "string prefix", "not a bool"]


def test_unreadable_manifest_still_gives_json_and_junit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "[[check]\n")
    code, out, _ = run(capsys, "check", "--manifest", str(manifest), "--json", "--junit", str(tmp_path / "j.xml"))
    assert code == 2 and "invalid TOML" in json.loads(out)["errors"][0]["error"]
    assert ElementTree.parse(tmp_path / "j.xml").getroot().find("testsuite/testcase/error") is not None


def test_allow_nonfinite_and_inspect_strict(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "state_dict.pth")
    state["head.bias"][0] = float("nan")
    torch.save(state, tmp_path / "nan.pt")
    code, out, _ = run(capsys, "check", str(tmp_path / "nan.pt"), "--model", TINY)
    assert code == 1 and "✗ checkpoint tensors are finite: head.bias: 1 NaN, 0 Inf" in out
    code, out, _ = run(capsys, "check", str(tmp_path / "nan.pt"), "--model", TINY, "--allow-nonfinite")
    assert code == 0 and "! checkpoint tensors are finite (tolerated)" in out
    assert run(capsys, "inspect", str(tmp_path / "nan.pt"), "--stats")[0] == 0
    code, _, err = run(capsys, "inspect", str(tmp_path / "nan.pt"), "--stats", "--strict")
    assert code == 1 and "head.bias" in err
    assert run(capsys, "inspect", str(SAMPLES / "state_dict.pth"), "--stats", "--strict")[0] == 0


def test_diff_nan_json_and_bf16_dtype_text(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    a = {"w": torch.ones(3), "v": torch.ones(2)}
    torch.save(a, tmp_path / "a.pt")
    torch.save({"w": torch.tensor([1.0, float("nan"), 1.0]), "v": torch.ones(2)}, tmp_path / "b.pt")
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--json")
    doc = json.loads(out)
    assert code == 1 and doc["counts"]["nonfinite"] == 1
    assert doc["tensors"][0]["status"] == "nonfinite" and doc["tensors"][0]["metrics"]["nan_introduced"] == 1
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--no-tui")
    assert "NaN/Inf changes:\n  w  1 NaN introduced" in out
    torch.save({k: v.bfloat16() for k, v in a.items()}, tmp_path / "bf16.pt")
    code, out, _ = run(capsys, "diff", str(tmp_path / "a.pt"), str(tmp_path / "bf16.pt"), "--no-tui")
    assert "shape / dtype changes:\n  w  float32 [3] → bfloat16 [3]\n  v  float32 [2] → bfloat16 [2]\n" in out
    assert "\\n" not in out
