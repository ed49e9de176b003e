"""Prune deletes exactly what its rules say, never a protected path; every rule, read-only, concurrent writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ckpt_tui.converters.prune import apply_prune, plan_prune
from ckpt_tui.core.runs import read_run
from tests.run_producers import Produced, copy_run, lightning_run, plain_loop, trainer_run


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Produced:
    return plain_loop(tmp_path_factory.mktemp("plain") / "run")


def names(paths: object) -> set[str]:
    return {os.path.basename(getattr(p, "path", p)) for p in paths}  # type: ignore[attr-defined]


def plan(run: Path, keep_last: int = 1, keep_best: bool = False, **best: str):  # type: ignore[no-untyped-def]
    return plan_prune(read_run(str(run), best.get("metric"), best.get("mode")), keep_last, keep_best)


def test_plain_loop_deletes_exactly_the_unprotected(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    before = set(os.listdir(run))
    planned = plan(run)
    assert names(planned.delete) == {"ckpt_epoch_002.pth", "ckpt_epoch_004.pth"}
    assert planned.freed == sum((run / n).stat().st_size for n in names(planned.delete))
    assert set(os.listdir(run)) == before  # planning deletes nothing
    result = apply_prune(planned)
    assert names(result.deleted) == names(planned.delete) and not result.failed
    assert set(os.listdir(run)) == {"best_model.pth", "ckpt_epoch_005.pth", "latest.pth"}


def test_keep_last_keeps_the_last_n_in_training_order(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    assert names(plan(run, keep_last=2).delete) == {"ckpt_epoch_002.pth"}
    assert names(plan(run, keep_last=4).delete) == set()


def test_the_best_is_never_deleted_even_by_another_metric(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    planned = plan(run, metric="val_loss", mode="max")  # the worst by val_loss is now "best": kept
    assert names(planned.delete) == {"ckpt_epoch_004.pth"}  # the producer's best_model.pth is still kept
    assert any("best" in r for k in planned.keep if k.path.endswith("ckpt_epoch_002.pth") for r in k.reasons)


def test_latest_link_target_and_the_link_are_never_deleted(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    (run / "latest.pth").unlink()
    (run / "latest.pth").symlink_to("ckpt_epoch_002.pth")  # the link now points at an old checkpoint
    planned = plan(run)
    assert "ckpt_epoch_002.pth" not in names(planned.delete) and "latest.pth" not in names(planned.delete)
    apply_prune(planned)
    assert (run / "latest.pth").resolve() == (run / "ckpt_epoch_002.pth") and (run / "ckpt_epoch_002.pth").exists()


def test_the_newest_complete_checkpoint_is_never_deleted(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    (run / "latest.pth").unlink()
    newest = run / "ckpt_epoch_002.pth"
    os.utime(newest, (newest.stat().st_atime, newest.stat().st_mtime + 100))  # rewritten last
    kept = {os.path.basename(k.path): k.reasons for k in plan(run).keep}
    assert "newest complete checkpoint" in kept["ckpt_epoch_002.pth"]
    assert "newest complete checkpoint" in kept["ckpt_epoch_005.pth"]  # and the last in training order


def test_checkpoints_being_written_are_never_in_a_plan(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    whole = (run / "ckpt_epoch_002.pth").read_bytes()
    (run / "ckpt_epoch_006.pth").write_bytes(whole[:300])  # partial zip: no central directory yet
    (run / "ckpt_epoch_007.pth.tmp").write_bytes(whole)
    (run / "checkpoint-800").mkdir()
    (run / "checkpoint-800" / "optimizer.pt").write_bytes(whole)
    result = apply_prune(plan(run))
    assert not {"ckpt_epoch_006.pth", "ckpt_epoch_007.pth.tmp", "checkpoint-800"} & names(result.plan.delete)
    assert (run / "ckpt_epoch_006.pth").exists() and (run / "ckpt_epoch_007.pth.tmp").exists()
    assert (run / "checkpoint-800" / "optimizer.pt").exists()


def test_nothing_outside_the_folder_is_deleted(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    outside = tmp_path / "outside"
    outside.mkdir()
    torch.save({"epoch": 0, "model": {"w": torch.ones(1)}}, outside / "old.pth")
    (run / "ckpt_epoch_000.pth").symlink_to(outside / "old.pth")
    (outside / "checkpoint-1").mkdir()
    (run / "checkpoint-1").symlink_to(outside / "checkpoint-1", target_is_directory=True)
    planned = plan(run)
    assert "ckpt_epoch_000.pth" not in names(planned.delete)
    apply_prune(planned)
    assert (outside / "old.pth").exists() and (run / "ckpt_epoch_000.pth").is_symlink()


def test_a_trainer_checkpoint_folder_is_removed_whole(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    produced = trainer_run(tmp_path / "run", limit=3)
    assert sorted(os.listdir(produced.directory)) == ["checkpoint-4", "checkpoint-6", "checkpoint-8"]
    result = apply_prune(plan(produced.directory))
    assert names(result.deleted) == {"checkpoint-6"} and not result.failed
    assert sorted(os.listdir(produced.directory)) == ["checkpoint-4", "checkpoint-8"]  # the best and the newest


def test_lightning_keep_best_keeps_the_top_k(tmp_path: Path) -> None:
    pytest.importorskip("pytorch_lightning")
    produced = lightning_run(tmp_path / "run")
    assert names(plan(produced.directory).delete) == {"epoch=2-step=6.ckpt"}  # top-2's other member
    assert names(plan(produced.directory, keep_best=True).delete) == set()
    result = apply_prune(plan(produced.directory))
    assert sorted(os.listdir(produced.directory)) == sorted(["epoch=3-step=8.ckpt", "last.ckpt"])
    assert names(result.deleted) == {"epoch=2-step=6.ckpt"}


def test_a_read_only_file_is_reported_and_the_others_still_go(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    planned = plan(run)
    (run / "ckpt_epoch_002.pth").chmod(0o444)
    result = apply_prune(planned)
    assert [(os.path.basename(p), e.startswith("read-only")) for p, e in result.failed] == [
        ("ckpt_epoch_002.pth", True)
    ]
    assert names(result.deleted) == {"ckpt_epoch_004.pth"}
    assert (run / "ckpt_epoch_002.pth").exists() and not (run / "ckpt_epoch_004.pth").exists()


def test_a_file_written_during_prune_is_not_deleted(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    planned = plan(run)
    with open(run / "ckpt_epoch_004.pth", "ab") as f:  # the trainer rewrites it after the plan was made
        f.write(b"\0" * 10)
    torch.save({"epoch": 6}, run / "ckpt_epoch_006.pth")  # and a new one appears
    result = apply_prune(planned)
    failed = dict((os.path.basename(p), e) for p, e in result.failed)
    assert "changed since the plan" in failed["ckpt_epoch_004.pth"]
    assert names(result.deleted) == {"ckpt_epoch_002.pth"}
    assert (run / "ckpt_epoch_004.pth").exists() and (run / "ckpt_epoch_006.pth").exists()


def test_a_path_swapped_for_a_symlink_after_the_plan_is_not_followed(plain: Produced, tmp_path: Path) -> None:
    run = copy_run(plain, tmp_path / "run")
    planned = plan(run)
    victim = tmp_path / "victim.pth"
    victim.write_bytes(b"keep me")
    (run / "ckpt_epoch_002.pth").unlink()
    (run / "ckpt_epoch_002.pth").symlink_to(victim)
    result = apply_prune(planned)
    assert victim.read_bytes() == b"keep me"
    assert any(p.endswith("ckpt_epoch_002.pth") for p, _ in result.failed)


def test_keep_last_must_keep_one(plain: Produced) -> None:
    with pytest.raises(ValueError):
        plan(plain.directory, keep_last=0)
