"""`ckpt-tui runs` and `ckpt-tui prune`: JSON schemas, text, exit codes, nothing deleted without --yes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ckpt_tui.cli import main
from tests.run_producers import Produced, copy_run, plain_loop

MEMBER_FIELDS = {"path", "format", "size", "mtime", "epoch", "step", "metrics", "best", "latest", "resume", "sources"}


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Produced:
    return plain_loop(tmp_path_factory.mktemp("plain") / "run")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_runs_json_schema_and_values(plain: Produced, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "runs", str(plain.directory), "--json")
    document = json.loads(out)
    assert code == 0 and err == "" and document["schema"] == "ckpt-tui.runs/1"
    rows = {os.path.basename(c["path"]): c for c in document["checkpoints"]}
    for name, saved in plain.saved.items():
        assert MEMBER_FIELDS <= set(rows[name])
        assert (rows[name]["epoch"], rows[name]["step"]) == (saved["epoch"], saved["step"])
        assert rows[name]["metrics"]["val_loss"] == saved["val_loss"]
        assert rows[name]["sources"]["metrics"]["val_loss"] == "checkpoint:val_loss"
    assert os.path.basename(document["best"]["path"]) == plain.best
    assert (document["best"]["metric"], document["best"]["mode"]) == ("val_loss", "min")
    assert os.path.basename(document["latest"]["path"]) == plain.latest
    assert [r["best"] for r in rows.values()].count(True) == 1
    assert rows[str(plain.latest)]["links"] == ["latest.pth"] and rows[str(plain.latest)]["latest"]


def test_runs_text(plain: Produced, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "runs", str(plain.directory))
    assert code == 0
    best_line = next(line for line in out.splitlines() if "best_model.pth" in line and "torch-zip" in line)
    assert best_line.lstrip().startswith("★")
    assert "ckpt_epoch_005.pth <- latest.pth" in out and "★ best   best_model.pth (min val_loss = 0.5)" in out


def test_runs_bad_input_exit_2(plain: Produced, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "runs", str(tmp_path / "missing"))[0] == 2
    code, _, err = run(capsys, "runs", str(plain.directory / "best_model.pth"))
    assert code == 2 and "not a folder" in err and err.count("\n") == 1
    assert run(capsys, "runs", str(plain.directory), "--mode", "max")[0] == 2


def test_prune_plans_without_yes_and_deletes_with_it(
    plain: Produced, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = copy_run(plain, tmp_path / "run")
    before = sorted(os.listdir(directory))
    code, out, _ = run(capsys, "prune", str(directory), "--keep-last", "1", "--json")
    document = json.loads(out)
    assert code == 0 and document["schema"] == "ckpt-tui.prune/1" and not document["applied"]
    assert {os.path.basename(d["path"]) for d in document["delete"]} == {"ckpt_epoch_002.pth", "ckpt_epoch_004.pth"}
    assert sorted(os.listdir(directory)) == before
    code, out, _ = run(capsys, "prune", str(directory), "--keep-last", "1")
    assert code == 0 and "nothing deleted (add --yes to delete)" in out
    code, out, _ = run(capsys, "prune", str(directory), "--keep-last", "1", "--yes", "--json")
    document = json.loads(out)
    assert code == 0 and document["applied"] and len(document["deleted"]) == 2 and document["freed"] > 0
    assert sorted(os.listdir(directory)) == ["best_model.pth", "ckpt_epoch_005.pth", "latest.pth"]


def test_prune_exit_1_when_some_deletions_fail(
    plain: Produced, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = copy_run(plain, tmp_path / "run")
    (directory / "ckpt_epoch_002.pth").chmod(0o444)
    code, out, _ = run(capsys, "prune", str(directory), "--keep-last", "1", "--yes")
    assert code == 1 and "read-only" in out and "1 deleted, 1 not deleted" in out
    assert not (directory / "ckpt_epoch_004.pth").exists()


def test_prune_usage_errors(plain: Produced, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "prune", str(plain.directory), "--keep-last", "0")[0] == 2
    assert run(capsys, "prune", str(plain.directory))[0] == 2  # --keep-last is required


def test_runs_json_imports_neither_torch_nor_textual(plain: Produced) -> None:
    from tests.test_import_hygiene import modules_after

    loaded = modules_after(
        "import io, contextlib\nfrom ckpt_tui.cli import main\n"
        f"with contextlib.redirect_stdout(io.StringIO()): main(['runs', '--json', {str(plain.directory)!r}])"
    )
    assert not {"torch", "textual"} & loaded


def test_open_routes_a_run_folder_to_the_run_view(
    plain: Produced, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ckpt_tui.tui.app import CkptApp

    opened: list[tuple[object, object]] = []
    monkeypatch.setattr(CkptApp, "run", lambda self: opened.append((self.ckpt, self.run_dir)))
    monkeypatch.setattr("ckpt_tui.commands.open_app.is_terminal", lambda: True)  # off a terminal, open prints
    assert run(capsys, "open", str(plain.directory))[0] == 0
    assert opened[-1] == (None, str(plain.directory))
    one = tmp_path / "trainer-dir"
    one.mkdir()
    (one / "model.pth").write_bytes((plain.directory / "best_model.pth").read_bytes())
    (one / "optimizer.pt").write_bytes((plain.directory / "best_model.pth").read_bytes())
    assert run(capsys, "open", str(one))[0] == 0
    ckpt, run_dir = opened[-1]
    assert run_dir is None and getattr(ckpt, "path", None) == str(one)  # a training directory is one checkpoint
