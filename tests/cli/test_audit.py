"""`ckpt-tui audit`: exit codes, --strict, text for people, JSON for scripts, JUnit for CI, --stats."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree

import pytest
import torch

from ckpt_tui.cli import main
from tests.helpers import SAMPLES

REPO = SAMPLES.parent


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def training() -> dict[str, object]:
    return torch.load(SAMPLES / "training.pth", weights_only=False)  # our own sample


def test_exit_codes(capsys: pytest.CaptureFixture[str], training: dict[str, object], tmp_path: Path) -> None:
    assert run(capsys, "audit", str(SAMPLES / "training.pth"))[0] == 0
    assert run(capsys, "audit", "--strict", str(SAMPLES / "training.pth"))[0] == 0  # info findings only
    assert run(capsys, "audit", str(SAMPLES / "state_dict.pth"))[0] == 1
    torch.save({k: v for k, v in training.items() if k != "rng_states"}, tmp_path / "no-rng.pth")
    assert run(capsys, "audit", str(tmp_path / "no-rng.pth"))[0] == 0
    assert run(capsys, "audit", "--strict", str(tmp_path / "no-rng.pth"))[0] == 1
    code, out, err = run(capsys, "audit", str(tmp_path / "missing.pth"))
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("ckpt-tui: error:")
    assert run(capsys, "audit", "--device", "tpu", str(SAMPLES / "training.pth"))[0] == 2


def test_text_is_verdict_first_then_findings_by_severity_with_fixes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    code, out, _ = run(capsys, "audit", "sample_checkpoints/dataparallel.pth")
    assert code == 1
    assert out == (
        "WEIGHTS-ONLY  sample_checkpoints/dataparallel.pth  (state dict, torch-zip)\n"
        "no epoch, step or metrics recorded\n"
        "2 errors · 1 warning · 0 info\n"
        "errors\n"
        "  ✗ optimizer-missing [optimizer]: no optimizer state dict\n"
        "      why: Adam-like optimizers restart cold: moments at zero, bias correction from step 1 (a loss spike)\n"
        "      fix: save {'optimizer': optimizer.state_dict()}; on resume: "
        "optimizer.load_state_dict(ckpt['optimizer'])\n"
        "  ✗ progress-missing [progress]: no epoch or step counter\n"
        "      why: the loop cannot know where to restart: epochs or steps are trained twice, schedules restart\n"
        "      fix: save {'epoch': epoch, 'step': global_step} and start the loop from them\n"
        "warnings\n"
        "  ! wrapper-prefix [module.]: 9 of 9 state dict keys carry the wrapper prefix 'module.'\n"
        "      why: load_state_dict into the unwrapped model reports every key missing and unexpected\n"
        "      fix: ckpt-tui convert --strip-module sample_checkpoints/dataparallel.pth; or in code: "
        "torch.nn.modules.utils.consume_prefix_in_state_dict_if_present(state_dict, 'module.')\n"
        "parts: model ✓ · optimizer – · scheduler – · epoch – · step – · best-metric – · rng-torch – · rng-cuda – "
        "· rng-numpy – · rng-python – · scaler – · hyperparameters –\n"
        "values not read: --stats checks every tensor for NaN/Inf\n"
    )


def test_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "audit", "--json", str(SAMPLES / "training.pth"))
    doc = json.loads(out)
    assert code == 0 and doc["schema_version"] == 1
    assert set(doc) == {
        "schema_version", "path", "format", "framework", "verdict", "ok", "strict", "counts", "epoch", "step", "lr",
        "metrics", "parts", "findings", "stats_checked", "notes",
    }  # fmt: skip
    assert doc["verdict"] == "resumable" and doc["ok"] is True
    assert doc["counts"] == {"error": 0, "warning": 0, "info": 2}
    assert (doc["epoch"], doc["step"]) == (3, 3)
    assert {f["code"] for f in doc["findings"]} == {"scaler-missing", "epoch-convention"}
    assert set(doc["findings"][0]) == {"code", "severity", "subject", "evidence", "why", "fix"}
    assert {p["part"]: p["found"] for p in doc["parts"]}["rng-numpy"] is True


def test_junit_one_case_per_finding(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junit = tmp_path / "audit.xml"
    assert run(capsys, "audit", str(SAMPLES / "dataparallel.pth"), "--junit", str(junit))[0] == 1
    cases = ElementTree.parse(junit).getroot().findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "verdict", "optimizer-missing[optimizer]", "progress-missing[progress]", "wrapper-prefix[module.]",
    ]  # fmt: skip
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert failed == ["verdict", "optimizer-missing[optimizer]", "progress-missing[progress]"]
    run(capsys, "audit", "--strict", str(SAMPLES / "dataparallel.pth"), "--junit", str(junit))
    cases = ElementTree.parse(junit).getroot().findall("./testsuite/testcase")
    assert cases[-1].find("failure") is not None  # the warning fails under --strict


def test_stats_flag_finds_nan(capsys: pytest.CaptureFixture[str], training: dict[str, object], tmp_path: Path) -> None:
    model = {k: v.clone() for k, v in training["model_state_dict"].items()}  # type: ignore[attr-defined]
    next(iter(model.values())).view(-1)[0] = float("inf")
    torch.save(dict(training, model_state_dict=model), tmp_path / "inf.pth")
    assert run(capsys, "audit", str(tmp_path / "inf.pth"))[0] == 0
    code, out, _ = run(capsys, "audit", "--stats", "--json", str(tmp_path / "inf.pth"))
    doc = json.loads(out)
    assert code == 1 and doc["verdict"] == "incomplete-or-inconsistent" and doc["stats_checked"] is True
    assert [f["code"] for f in doc["findings"] if f["severity"] == "error"] == ["non-finite"]


def test_untrusted_names_are_escaped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    torch.save({"w": torch.ones(2), "loss\x1b[2J[bold red]x": 1.0, "epoch": 1}, tmp_path / "evil.pth")
    _, out, _ = run(capsys, "audit", str(tmp_path / "evil.pth"))
    assert "\x1b" not in out and "\\x1b[2J" in out
