"""Runs made by real producers read back as the producer saved them: values, sources, best, latest, skips."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ckpt_tui.core.runs import MemberCache, is_one_checkpoint_dir, read_run
from ckpt_tui.reports import Source
from tests.run_producers import Produced, copy_run, lightning_run, plain_loop, trainer_run


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Produced:
    return plain_loop(tmp_path_factory.mktemp("plain") / "run")


@pytest.fixture(scope="module")
def lightning(tmp_path_factory: pytest.TempPathFactory) -> Produced:
    pytest.importorskip("pytorch_lightning")
    return lightning_run(tmp_path_factory.mktemp("lightning") / "run")


@pytest.fixture(scope="module")
def trainer(tmp_path_factory: pytest.TempPathFactory) -> Produced:
    pytest.importorskip("transformers")
    return trainer_run(tmp_path_factory.mktemp("trainer") / "run")


def by_name(produced: Produced) -> dict[str, object]:
    return {m.name: m for m in read_run(str(produced.directory)).members}


def test_plain_loop_values_best_latest(plain: Produced) -> None:
    report = read_run(str(plain.directory))
    members = {m.name: m for m in report.members}
    assert set(members) == set(plain.saved)  # latest.pth is a name on its target, not a row
    for name, saved in plain.saved.items():
        m = members[name]
        assert m.epoch is not None and m.epoch.value == saved["epoch"] and m.epoch.source is Source.CHECKPOINT
        assert m.step is not None and m.step.value == saved["step"] and m.step.detail == "global_step"
        assert m.metrics["val_loss"].value == saved["val_loss"] and m.metrics["val_loss"].detail == "val_loss"
        assert m.resume == {"model": True, "optimizer": True, "scheduler": True, "rng": False, "scaler": False}
    assert report.best is not None and os.path.basename(report.best.path) == plain.best
    assert report.latest is not None and os.path.basename(report.latest.path) == plain.latest
    assert members[str(plain.latest)].links == ("latest.pth",) and members[str(plain.latest)].latest
    assert [m.name for m in report.members if m.best] == [plain.best]
    assert members["ckpt_epoch_002.pth"].metrics["lr"].source is Source.OPTIMIZER


def test_lightning_values_and_the_callbacks_best(lightning: Produced) -> None:
    report = read_run(str(lightning.directory))
    members = {m.name: m for m in report.members}
    assert set(lightning.saved) <= set(members) and "last.ckpt" in members
    for name, saved in lightning.saved.items():
        m = members[name]
        assert (m.epoch and m.epoch.value, m.step and m.step.value) == (saved["epoch"], saved["step"])
        assert m.metrics["val_loss"].value == pytest.approx(saved["val_loss"])
        assert m.metrics["val_loss"].source is Source.LIGHTNING
    assert report.best is not None and os.path.basename(report.best.path) == lightning.best
    assert (report.best.metric, report.best.mode) == ("val_loss", "min")
    assert report.best.rule.startswith("Lightning")
    assert report.latest is not None and os.path.basename(report.latest.path) == "last.ckpt"


def test_trainer_values_and_its_best(trainer: Produced) -> None:
    report = read_run(str(trainer.directory))
    members = {m.name: m for m in report.members}
    assert set(members) == set(trainer.saved)
    for name, saved in trainer.saved.items():
        m = members[name]
        assert m.is_dir and m.format == "directory"
        assert m.step is not None and m.step.value == saved["step"] and m.step.source is Source.TRAINER_STATE
        assert m.metrics["eval_loss"].value == saved["eval_loss"] and m.metrics["loss"].value == saved["loss"]
        assert m.metrics["eval_loss"].detail.startswith("log_history[")
        assert m.resume["rng"] and m.resume["optimizer"] and m.resume["scheduler"]
    assert report.best is not None and os.path.basename(report.best.path) == trainer.best
    assert (report.best.metric, report.best.mode) == ("eval_loss", "min")
    assert report.latest is not None and report.latest.path == report.members[-1].path


def test_a_folder_that_is_one_checkpoint_is_a_member_and_not_a_run(trainer: Produced) -> None:
    one = trainer.directory / trainer.best
    assert is_one_checkpoint_dir(str(one)) and not is_one_checkpoint_dir(str(trainer.directory))


def test_in_progress_and_non_checkpoints_are_skipped_with_reasons(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    whole = (run / "ckpt_epoch_002.pth").read_bytes()
    (run / "ckpt_epoch_006.pth").write_bytes(whole[: len(whole) // 2])  # a torch.save still writing
    (run / "ckpt_epoch_007.pth.tmp").write_bytes(whole)
    (run / ".ckpt_epoch_008.pth").write_bytes(whole)
    (run / "notes.txt").write_text("lr 0.1")
    (run / "events.bin").write_bytes(b"\x00garbage" * 10)
    (run / "checkpoint-900").mkdir()
    (run / "checkpoint-900" / "model.safetensors").write_bytes(b"")
    (run / "old.pth").symlink_to(run / "gone.pth")
    report = read_run(str(run))
    assert {m.name for m in report.members} == set(plain.saved)
    reasons = {os.path.basename(s.path): s.reason for s in report.skipped}
    assert reasons["ckpt_epoch_006.pth"].startswith("incomplete")
    assert "temporary" in reasons["ckpt_epoch_007.pth.tmp"] and "temporary" in reasons[".ckpt_epoch_008.pth"]
    assert "extension" in reasons["notes.txt"] and reasons["events.bin"].startswith("not a checkpoint")
    assert "trainer_state.json" in reasons["checkpoint-900"] and "dangling" in reasons["old.pth"]


def test_any_mix_of_formats_and_links_outside(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    run = tmp_path / "run"
    run.mkdir()
    save_file({"w": torch.ones(2)}, str(run / "step_100.safetensors"))
    torch.save({"epoch": 3, "model": {"w": torch.ones(2)}, "val_acc": torch.tensor(0.75)}, run / "e3.pt")
    torch.save({"epoch": 4, "model": {"w": torch.ones(2)}, "val_acc": torch.tensor(0.5)}, run / "e4.pt")
    elsewhere = tmp_path / "elsewhere.pt"
    torch.save({"epoch": 9, "model": {"w": torch.ones(2)}}, elsewhere)
    (run / "shared.pt").symlink_to(elsewhere)
    report = read_run(str(run))
    members = {m.name: m for m in report.members}
    assert members["step_100.safetensors"].format == "safetensors"
    assert members["step_100.safetensors"].step is not None
    assert members["step_100.safetensors"].step.source is Source.FILE_NAME
    assert members["e3.pt"].metrics["val_acc"].value == 0.75  # a one-element tensor: four bytes read
    assert members["shared.pt"].symlink == str(elsewhere)
    assert report.best is not None and report.best.path.endswith("e3.pt") and report.best.rule == "max val_acc"
    chosen = read_run(str(run), metric="val_acc", mode="min")
    assert chosen.best is not None and chosen.best.path.endswith("e4.pt")


def test_file_names_say_epoch_step_and_metrics(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for name in ("epoch=3-step=400-val_loss=0.25.ckpt", "model_epoch_010.pth", "checkpoint_step1000.pt"):
        torch.save({"model": {"w": torch.ones(1)}}, run / name)
    members = {m.name: m for m in read_run(str(run)).members}
    first = members["epoch=3-step=400-val_loss=0.25.ckpt"]
    assert (first.epoch.value, first.step.value, first.metrics["val_loss"].value) == (3, 400, 0.25)  # type: ignore[union-attr]
    assert first.metrics["val_loss"].source is Source.FILE_NAME
    assert members["model_epoch_010.pth"].epoch.value == 10  # type: ignore[union-attr]
    assert members["checkpoint_step1000.pt"].step.value == 1000  # type: ignore[union-attr]


def test_the_cache_rereads_only_what_changed(plain: Produced, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ckpt_tui.core.runs as runs

    run = copy_run(plain, tmp_path / "run")
    cache: MemberCache = {}
    read_run(str(run), cache=cache)
    reads: list[str] = []
    real = runs.read_checkpoint
    monkeypatch.setattr(runs, "read_checkpoint", lambda p: reads.append(p) or real(p))
    read_run(str(run), cache=cache)
    assert reads == []
    torch.save({"epoch": 6, "model": {}}, run / "ckpt_epoch_006.pth")
    assert len(read_run(str(run), cache=cache).members) == len(plain.saved) + 1
    assert [os.path.basename(p) for p in reads] == ["ckpt_epoch_006.pth"]


def test_drift_is_the_relative_l2_change_and_flags_new_nans(tmp_path: Path) -> None:
    from ckpt_tui.core.drift import drift_between
    from ckpt_tui.formats import read_checkpoint

    torch.manual_seed(0)
    a = {"enc.weight": torch.randn(64, 32), "enc.bias": torch.randn(32), "head.weight": torch.randn(8, 64)}
    b = {k: v + 0.01 * torch.randn_like(v) for k, v in a.items()}
    b["head.weight"][0, 0] = float("nan")
    torch.save({"model": a, "epoch": 1}, tmp_path / "a.pt")
    torch.save({"model": b, "epoch": 2}, tmp_path / "b.pt")
    drift = drift_between(read_checkpoint(tmp_path / "a.pt"), read_checkpoint(tmp_path / "b.pt"))
    finite = [(a[k].double(), b[k].double()) for k in a]
    mask = [torch.isfinite(y) for _, y in finite]
    dd = sum(float(((y - x)[m] ** 2).sum()) for (x, y), m in zip(finite, mask, strict=True))
    aa = sum(float((x[m] ** 2).sum()) for (x, _), m in zip(finite, mask, strict=True))
    assert drift.rel_l2 == pytest.approx((dd / aa) ** 0.5, rel=1e-9) and drift.compared == 3
    enc = torch.cat([(b[k] - a[k]).flatten() for k in ("enc.weight", "enc.bias")]).norm()
    enc_a = torch.cat([a[k].flatten() for k in ("enc.weight", "enc.bias")]).norm()
    assert drift.modules["enc"] == pytest.approx(float(enc / enc_a), rel=1e-6)
    assert (drift.nonfinite_a, drift.nonfinite_b, drift.introduced_nonfinite) == (0, 1, True)
    first = drift_between(None, read_checkpoint(tmp_path / "b.pt"))
    assert first.rel_l2 is None and first.nonfinite_b == 1


def test_which_folders_are_runs(plain: Produced, trainer: Produced, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from ckpt_tui.core.runs import is_run_dir

    assert is_run_dir(str(plain.directory)) and is_run_dir(str(trainer.directory))
    assert not is_run_dir(str(trainer.directory / trainer.best))  # a Trainer checkpoint-N/ is one checkpoint
    model_dir = tmp_path / "released"
    model_dir.mkdir()
    save_file({"w": torch.ones(2)}, str(model_dir / "model.safetensors"))
    (model_dir / "README.md").write_text("a model")
    assert not is_run_dir(str(model_dir))  # a model folder opens as its state dict
    torch.save({"epoch": 1, "model": {"w": torch.ones(2)}}, model_dir / "ckpt_epoch_001.pth")
    assert is_run_dir(str(model_dir))
    assert not is_run_dir(str(plain.directory / "best_model.pth"))


def test_a_shard_set_in_the_folder_is_one_member(tmp_path: Path) -> None:
    import json

    from safetensors.torch import save_file

    run = tmp_path / "run"
    run.mkdir()
    save_file({"a": torch.ones(2)}, str(run / "model-00001-of-00002.safetensors"))
    save_file({"b": torch.ones(2)}, str(run / "model-00002-of-00002.safetensors"))
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (run / "model.safetensors.index.json").write_text(json.dumps(index))
    torch.save({"epoch": 1, "model": {"a": torch.ones(2)}}, run / "ckpt_epoch_001.pth")
    (run / "tmp-checkpoint-20").mkdir()  # the Trainer's staging folder, renamed when whole
    report = read_run(str(run))
    assert {m.name: m.format for m in report.members} == {
        "model.safetensors.index.json": "sharded-safetensors",
        "ckpt_epoch_001.pth": "torch-zip",
    }
    reasons = {os.path.basename(s.path): s.reason for s in report.skipped}
    assert reasons["model-00001-of-00002.safetensors"] == "a shard of model.safetensors.index.json"
    assert "temporary" in reasons["tmp-checkpoint-20"]


def test_each_checkpoint_carries_its_resume_verdict(tmp_path: Path) -> None:
    """The audit's verdict per row: a full training checkpoint resumes, a bare state dict holds weights only."""
    import shutil

    from tests.helpers import SAMPLES

    shutil.copy(SAMPLES / "training.pth", tmp_path / "epoch_1.pth")
    shutil.copy(SAMPLES / "state_dict.pth", tmp_path / "weights.pth")
    verdicts = {m.name: m.verdict for m in read_run(str(tmp_path)).members}
    assert verdicts == {"epoch_1.pth": "resumable", "weights.pth": "weights-only"}
