"""`open` off a terminal prints `inspect`; `serve` needs its extra and says so in one line."""

from __future__ import annotations

import sys

import pytest

from ckpt_tui.cli import main
from tests.helpers import SAMPLES


def test_open_with_stdout_not_a_terminal_prints_inspect(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["open", str(SAMPLES / "training.pth")]) == 0
    out, err = capsys.readouterr()
    assert "model_state_dict" in out and "\x1b[" not in out
    assert "not a terminal" in err and "inspect" in err


def test_serve_without_textual_serve_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "textual_serve.server", None)  # import fails as if not installed
    assert main(["serve", str(SAMPLES / "training.pth")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ckpt-tui[serve]" in err


def test_serve_refuses_a_bad_port_and_an_unreadable_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", str(SAMPLES / "training.pth"), "--port", "0"]) == 2
    assert main(["serve", str(SAMPLES / "no-such.pth")]) == 2
    assert capsys.readouterr().err.count("ckpt-tui: error:") == 2


def test_serve_runs_the_app_by_absolute_path() -> None:
    import argparse

    from ckpt_tui.commands.serve import serve_command

    command = serve_command(argparse.Namespace(path="sample_checkpoints/x y.pth", device="cpu", unsafe=False))
    assert command.startswith(sys.executable) and "-m ckpt_tui open" in command and "'/" in command


def test_open_a_run_folder_off_a_terminal_prints_the_run(capsys: pytest.CaptureFixture[str], tmp_path) -> None:  # type: ignore[no-untyped-def]
    import shutil

    for epoch in (1, 2):
        shutil.copy(SAMPLES / "training.pth", tmp_path / f"epoch{epoch}.pth")
    assert main(["open", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "`runs`" in err and "epoch1.pth" in out
