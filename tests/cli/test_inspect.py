"""`ckpt-tui inspect` in-process: output, JSON schema, exit codes, one-line errors on bad input."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest
import torch

from ckpt_tui.cli import main
from tests.helpers import SAMPLES


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_inspect_training_checkpoint_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "inspect", str(SAMPLES / "training.pth"))
    assert code == 0 and err == ""
    assert "training checkpoint" in out
    assert "state dict at ['model_state_dict']: 277 parameters" in out
    assert "optimizer  ['optimizer_state_dict']" in out
    assert "hyper_parameters" in out and "argparse.Namespace" in out


def test_inspect_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "inspect", "--json", str(SAMPLES / "training.pth"))
    doc = json.loads(out)
    assert code == 0 and doc["schema_version"] == 1
    assert {
        "path",
        "format",
        "framework",
        "file_size",
        "tensor_count",
        "element_count",
        "tensor_bytes",
        "bytes_by_dtype",
        "top_level",
        "state_dict",
        "optimizers",
        "schedulers",
        "notices",
        "tensors",
    } <= set(doc)
    assert doc["state_dict"] == {"path": ["model_state_dict"], "parameters": 277}
    tensor = next(t for t in doc["tensors"] if t["key"] == "model_state_dict.head.weight")
    assert tensor == {
        "key": "model_state_dict.head.weight",
        "dtype": "float32",
        "shape": [4, 16],
        "stride": [16, 1],
        "nbytes": 256,
        "device": "cpu",
        "storage": tensor["storage"],
        "parameter": False,
    }
    assert doc["tensor_count"] == len(doc["tensors"]) == 28


def test_wrapper_prefix_notice_names_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "inspect", "--json", str(SAMPLES / "dataparallel.pth"))
    notices = [n for n in json.loads(out)["notices"] if n["code"] == "wrapper-prefix"]
    assert len(notices) == 1 and "'module.'" in notices[0]["message"] and "--strip-module" in notices[0]["message"]
    _, out, _ = run(capsys, "inspect", "--json", str(SAMPLES / "compiled.pth"))
    assert any("'_orig_mod.'" in n["message"] for n in json.loads(out)["notices"])


def bad_inputs(tmp: Path) -> dict[str, Path]:
    good = (SAMPLES / "state_dict.pth").read_bytes()
    (tmp / "empty.pt").write_bytes(b"")
    (tmp / "truncated.pt").write_bytes(good[: len(good) // 2])
    (tmp / "random.pt").write_bytes(os.urandom(4096))
    (tmp / "corrupt.pt").write_bytes(b"\x80\x02}q\x00(X\x01\x00\x00\x00a" + b"\xff" * 50)
    with zipfile.ZipFile(tmp / "notckpt.zip", "w") as z:
        z.writestr("hello.txt", "hi")
    (tmp / "adir").mkdir()
    return {
        "missing": tmp / "missing.pt",
        "directory": tmp / "adir",
        "empty": tmp / "empty.pt",
        "truncated": tmp / "truncated.pt",
        "random": tmp / "random.pt",
        "corrupt": tmp / "corrupt.pt",
        "notckpt": tmp / "notckpt.zip",
    }


@pytest.mark.parametrize("case", ["missing", "directory", "empty", "truncated", "random", "corrupt", "notckpt"])
def test_bad_input_one_line_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str) -> None:
    path = bad_inputs(tmp_path)[case]
    code, out, err = run(capsys, "inspect", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("ckpt-tui: error: ") and str(path) in err
    assert "Traceback" not in err


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "inspect")
    assert code == 2 and err.count("\n") == 1 and "path" in err and "(see ckpt-tui inspect --help)" in err
    code, _, err = run(capsys)
    assert code == 2 and err.rstrip().endswith("(see ckpt-tui --help)")
    code, _, err = run(capsys, "inspect", "--device", "tpu", str(SAMPLES / "training.pth"))
    assert code == 2 and "unknown device 'tpu'" in err


def test_unsafe_warns_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "inspect", "--unsafe", str(SAMPLES / "training.pth"))
    assert code == 0 and "RUNS CODE" not in out
    assert "warning: --unsafe" in err and "code inside the file will run" in err
    assert "model_state_dict" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_gpu_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "inspect", "--unsafe", "--device", "cuda", str(SAMPLES / "training.pth"))
    assert code == 2 and "CUDA is not available" in err
