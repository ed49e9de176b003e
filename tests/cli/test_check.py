"""`ckpt-tui check`: exit codes, JSON, JUnit, manifests, and the README's CI example, run as written."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from xml.etree import ElementTree

import pytest

from ckpt_tui.cli import main
from tests.helpers import SAMPLES

REPO = SAMPLES.parent
TINY = "sample_checkpoints.models:TinyNet"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "check", str(SAMPLES / "training.pth"), "--model", TINY)[0] == 0
    assert run(capsys, "check", str(SAMPLES / "training.pth"), "--model", TINY, "--kwargs", '{"classes": 3}')[0] == 1
    code, _, err = run(capsys, "check", str(SAMPLES / "training.pth"), "--model", "nope:X")
    assert code == 2 and err.count("\n") == 1
    assert run(capsys, "check", str(SAMPLES / "training.pth"), "--model", TINY, "--kwargs", "[1]")[0] == 2
    assert run(capsys, "check", str(SAMPLES / "training.pth"))[0] == 2


def test_json_and_junit(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    junit = tmp_path / "check.xml"
    code, out, _ = run(
        capsys, "check", str(SAMPLES / "dataparallel.pth"), "--model", TINY, "--json", "--junit", str(junit)
    )
    doc = json.loads(out)
    assert code == 1 and doc["schema_version"] == 1 and doc["ok"] is False
    check = doc["checks"][0]
    assert len(check["unexpected"]) == 9 and "--strip-module" in check["hint"]
    suites = ElementTree.parse(junit).getroot()
    cases = suites.findall("./testsuite/testcase")
    assert suites.tag == "testsuites" and len(cases) == 8
    assert [c.get("name") for c in cases if c.find("failure") is not None] == [
        "keys matched",
        "no missing keys",
        "no unexpected keys",
        "load_state_dict",
    ]


def test_manifest_runs_several_checks(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    manifest = tmp_path / "checks.toml"
    manifest.write_text(f"""
[[check]]
checkpoint = "{SAMPLES / "training.pth"}"
model = "{TINY}"
device = "meta"

[[check]]
name = "dp stripped"
checkpoint = "{SAMPLES / "dataparallel.pth"}"
model = "{TINY}"
strip_wrappers = true
forward = "2,8"

[[check]]
checkpoint = "{SAMPLES / "training.pth"}"
model = "sample_checkpoints.models:tiny_net_wide"
""")
    code, out, _ = run(capsys, "check", "--manifest", str(manifest), "--json", "--junit", str(tmp_path / "j.xml"))
    doc = json.loads(out)
    assert code == 1 and [c["ok"] for c in doc["checks"]] == [True, True, False]
    assert len(ElementTree.parse(tmp_path / "j.xml").getroot().findall("testsuite")) == 3
    manifest.write_text(
        manifest.read_text() + f'\n[[check]]\ncheckpoint = "{SAMPLES / "training.pth"}"\nmodel = "gone:X"\n'
    )
    code, out, err = run(capsys, "check", "--manifest", str(manifest), "--json")
    assert code == 2 and json.loads(out)["errors"][0]["error"].startswith("cannot import 'gone'")


def test_readme_ci_example_runs_as_written(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"<!-- ci-example -->\n```yaml\n(.*?)```", readme, re.S)
    assert block, "README has a CI example block"
    commands = [line.split("run:", 1)[1].strip() for line in block.group(1).splitlines() if "run: ckpt-tui" in line]
    assert commands
    monkeypatch.chdir(REPO)
    for command in commands:
        argv = [a.replace("check.xml", str(tmp_path / "check.xml")) for a in shlex.split(command)[1:]]
        assert run(capsys, *argv)[0] == 0, command
