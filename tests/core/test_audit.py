"""`audit` on checkpoints written by real training loops: the verdict and every finding's code and severity."""

from __future__ import annotations

import copy
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ckpt_tui.core.audit import audit
from ckpt_tui.reports import AuditReport, FindingCode, FindingSeverity, Part, Verdict
from tests.core import training_runs as runs

C, E, W, I = FindingCode, FindingSeverity.ERROR, FindingSeverity.WARNING, FindingSeverity.INFO  # noqa: E741
JUST_FINISHED = (C.EPOCH_CONVENTION, I, "epoch")  # the plain loop saves the index of the epoch it finished
UNDECIDED = (C.EPOCH_CONVENTION, I, "epoch")  # the same code, explaining the convention (no scheduler to tell)


def found(report: AuditReport) -> list[tuple[FindingCode, FindingSeverity, str]]:
    return sorted((f.code, f.severity, f.subject) for f in report.findings)


@pytest.fixture(scope="module")
def plain() -> tuple[dict[str, Any], float]:
    return runs.train_plain()


@pytest.fixture(scope="module")
def plain_path(plain: tuple[dict[str, Any], float], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return runs.save(plain[0], tmp_path_factory.mktemp("plain") / "full.pth")


def test_a_plain_loop_saving_everything_is_resumable(plain_path: Path) -> None:
    report = audit(plain_path)
    assert report.verdict is Verdict.RESUMABLE and report.ok(strict=True)
    assert found(report) == [JUST_FINISHED]
    assert "ckpt['epoch'] + 1" in report.findings[0].fix
    assert all(p.found for p in report.parts if p.part is not Part.RNG_CUDA)
    assert (report.epoch, report.step) == (1, 6) and report.lr == pytest.approx(0.0025)
    assert {m.name for m in report.metrics} == {"loss", "best"}


MISSING = {
    "model_state_dict": (Verdict.INCOMPLETE, [(C.MODEL_MISSING, E, "model"), JUST_FINISHED]),
    "optimizer_state_dict": (Verdict.INCOMPLETE, [(C.OPTIMIZER_MISSING, E, "optimizer"), JUST_FINISHED]),
    # the optimizer's param_groups carry 'initial_lr': a scheduler was attached, and its state is gone
    "scheduler_state_dict": (Verdict.INCOMPLETE, [(C.SCHEDULER_MISSING, E, "scheduler"), UNDECIDED]),
    "epoch+global_step": (Verdict.INCOMPLETE, [(C.PROGRESS_MISSING, E, "progress")]),
    "epoch": (Verdict.RESUMABLE, []),  # the step says where to restart
    "best_val_loss": (Verdict.RESUMABLE, [(C.BEST_METRIC_MISSING, I, "best-metric"), JUST_FINISHED]),
    "rng_states.torch": (Verdict.RESUMABLE, [(C.RNG_MISSING, W, "torch"), JUST_FINISHED]),
    "rng_states.numpy": (Verdict.RESUMABLE, [(C.RNG_MISSING, W, "numpy"), JUST_FINISHED]),
    "rng_states.python": (Verdict.RESUMABLE, [(C.RNG_MISSING, W, "python"), JUST_FINISHED]),
    "scaler": (Verdict.RESUMABLE, [(C.SCALER_MISSING, I, "scaler"), JUST_FINISHED]),
    "config": (Verdict.RESUMABLE, [(C.HYPERPARAMETERS_MISSING, I, "config"), JUST_FINISHED]),
}  # fmt: skip


@pytest.mark.parametrize("missing", list(MISSING))
def test_each_missing_part_is_named(missing: str, plain: tuple[dict[str, Any], float], tmp_path: Path) -> None:
    ckpt = copy.copy(plain[0])
    ckpt["rng_states"] = dict(ckpt["rng_states"])
    for key in missing.split("+"):
        outer, _, inner = key.partition(".")
        del (ckpt[outer] if inner else ckpt)[inner or outer]
    report = audit(runs.save(ckpt, tmp_path / "partial.pth"))
    verdict, expected = MISSING[missing]
    assert (report.verdict, found(report)) == (verdict, sorted(expected))
    assert report.ok() is (verdict is Verdict.RESUMABLE)


def test_strict_fails_on_warnings(plain: tuple[dict[str, Any], float], tmp_path: Path) -> None:
    ckpt = {k: v for k, v in plain[0].items() if k != "rng_states"}
    report = audit(runs.save(ckpt, tmp_path / "no-rng.pth"))
    assert report.verdict is Verdict.RESUMABLE and report.ok() and not report.ok(strict=True)
    assert [f.subject for f in report.findings if f.code is C.RNG_MISSING] == ["torch", "numpy", "python"]


def test_resuming_from_a_resumable_checkpoint_reproduces_the_next_loss(
    plain: tuple[dict[str, Any], float], plain_path: Path
) -> None:
    assert audit(plain_path).verdict is Verdict.RESUMABLE
    runs.seed_all(1234)  # a fresh process would start from other RNG states and other weights
    resumed = runs.Run()
    resumed.restore(torch.load(plain_path, weights_only=False))
    assert resumed.step() == plain[1]  # the same float, bit for bit


def test_resuming_without_the_rng_states_does_not(plain: tuple[dict[str, Any], float], plain_path: Path) -> None:
    """The negative control: the resume test can fail, and the rng-missing warning is about something real."""
    runs.seed_all(1234)
    resumed = runs.Run()
    ckpt = torch.load(plain_path, weights_only=False)
    resumed.model.load_state_dict(ckpt["model_state_dict"])
    resumed.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
    resumed.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
    resumed.scaler.load_state_dict(ckpt["scaler"])
    assert resumed.step() != plain[1]


def test_dataparallel_save_names_the_prefix_and_the_strip_command(tmp_path: Path) -> None:
    ckpt, _ = runs.train_plain(wrap=True)
    report = audit(runs.save(ckpt, tmp_path / "dp.pth"))
    assert (report.verdict, found(report)) == (
        Verdict.RESUMABLE,
        sorted([(C.WRAPPER_PREFIX, W, "module."), JUST_FINISHED]),
    )
    assert "ckpt-tui convert --strip-module" in report.findings[0].fix


def test_whole_module_pickle_is_weights_only_and_names_the_classes(tmp_path: Path) -> None:
    report = audit(runs.save(runs.make_model(), tmp_path / "whole.pth"))
    assert report.verdict is Verdict.WEIGHTS_ONLY and not report.ok()
    assert found(report) == sorted([
        (C.OPTIMIZER_MISSING, E, "optimizer"),
        (C.PROGRESS_MISSING, E, "progress"),
        (C.PICKLED_OBJECT, W, "torch.nn.modules.container.Sequential"),
    ])  # fmt: skip
    assert "model.state_dict()" in next(f.fix for f in report.findings if f.code is C.PICKLED_OBJECT)


def test_cuda_saved_file_lists_devices_and_the_missing_cuda_rng(
    plain: tuple[dict[str, Any], float], tmp_path: Path
) -> None:
    report = audit(runs.save_on_cuda(plain[0], tmp_path / "gpu.pth"))
    assert (report.verdict, found(report)) == (
        Verdict.RESUMABLE,
        sorted([(C.SAVED_ON_CUDA, W, "cuda:3"), (C.RNG_MISSING, W, "cuda"), JUST_FINISHED]),
    )
    assert "map_location" in next(f.fix for f in report.findings if f.code is C.SAVED_ON_CUDA)
    states = [torch.zeros(16, dtype=torch.uint8)] * 2  # what torch.cuda.get_rng_state_all() returns on two GPUs
    ckpt = dict(plain[0], rng_states=dict(plain[0]["rng_states"], cuda=states))
    report = audit(runs.save_on_cuda(ckpt, tmp_path / "gpu-rng.pth"))
    assert found(report) == sorted([(C.SAVED_ON_CUDA, W, "cuda:3"), JUST_FINISHED])
    assert report.part(Part.RNG_CUDA).value == "2 devices"


def test_state_dict_or_torchscript_alone_is_weights_only(tmp_path: Path) -> None:
    from tests.helpers import SAMPLES

    torch.jit.script(runs.make_model()).save(tmp_path / "scripted.pt")
    for path in (SAMPLES / "state_dict.pth", SAMPLES / "model.safetensors", tmp_path / "scripted.pt"):
        report = audit(path)
        assert (report.verdict, found(report)) == (
            Verdict.WEIGHTS_ONLY,
            sorted([(C.OPTIMIZER_MISSING, E, "optimizer"), (C.PROGRESS_MISSING, E, "progress")]),
        ), path


@pytest.fixture(scope="module")
def lightning_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("pytorch_lightning")
    return runs.train_lightning(tmp_path_factory.mktemp("lightning"))


def test_lightning_checkpoint(lightning_ckpt: Path) -> None:
    report = audit(lightning_ckpt)
    assert report.verdict is Verdict.RESUMABLE and report.framework == "PyTorch Lightning checkpoint"
    assert found(report) == sorted([
        (C.RNG_MISSING, W, "torch"), (C.RNG_MISSING, W, "numpy"), (C.RNG_MISSING, W, "python"),  # Lightning saves none
        (C.SCALER_MISSING, I, "scaler"),
        (C.EPOCH_CONVENTION, I, "epoch"),
    ])  # fmt: skip
    convention = next(f for f in report.findings if f.code is C.EPOCH_CONVENTION)
    assert "restarts at epoch 1" in convention.evidence and "ckpt_path" in convention.fix
    assert (report.epoch, report.step) == (0, 2) and report.part(Part.BEST_METRIC).found


def test_lightning_counters_edited_by_hand_are_inconsistent(lightning_ckpt: Path, tmp_path: Path) -> None:
    ckpt = torch.load(lightning_ckpt, weights_only=False)
    ckpt["epoch"], ckpt["global_step"] = 5, 7
    report = audit(runs.save(ckpt, tmp_path / "edited.ckpt"))
    assert report.verdict is Verdict.INCOMPLETE
    assert (C.LOOP_COUNTERS_MISMATCH, E, "loops") in found(report)
    assert (C.OPTIMIZER_STEP_MISMATCH, W, "optimizer") in found(report)


@pytest.fixture(scope="module")
def trainer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    return runs.train_hf_trainer(tmp_path_factory.mktemp("hf"))


def test_hf_trainer_checkpoint_directory(trainer_dir: Path) -> None:
    report = audit(trainer_dir)
    assert report.verdict is Verdict.RESUMABLE and report.framework == "Hugging Face Trainer checkpoint"
    assert found(report) == sorted([
        (C.SCALER_MISSING, I, "scaler"),  # fp32 training: the Trainer writes no scaler.pt
        (C.BEST_METRIC_MISSING, I, "best-metric"),  # no evaluation: best_metric is null
        (C.EPOCH_CONVENTION, I, "epoch"),
    ])  # fmt: skip
    assert (report.epoch, report.step, report.lr) == (1.0, 2, 0.0)
    assert report.part(Part.RNG_TORCH).where == "['rng_state']['cpu']"


def test_hf_trainer_scheduler_from_another_moment(trainer_dir: Path, tmp_path: Path) -> None:
    import shutil

    copied = Path(shutil.copytree(trainer_dir, tmp_path / "checkpoint-2"))
    sched = torch.load(copied / "scheduler.pt")
    sched["last_epoch"], sched["_last_lr"] = 1, [2.5e-05, 2.5e-05]
    torch.save(sched, copied / "scheduler.pt")
    report = audit(copied)
    assert report.verdict is Verdict.INCOMPLETE
    assert found(report) == sorted([
        (C.SCHEDULER_LR_MISMATCH, E, "scheduler"),
        (C.SCHEDULER_POSITION_MISMATCH, W, "scheduler"),
        (C.SCALER_MISSING, I, "scaler"),
        (C.BEST_METRIC_MISSING, I, "best-metric"),
        (C.EPOCH_CONVENTION, I, "epoch"),
    ])  # fmt: skip


def test_optimizer_of_another_model_is_a_mismatch(plain: tuple[dict[str, Any], float], tmp_path: Path) -> None:
    other = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 1))
    optimizer = torch.optim.Adam(other.parameters(), lr=0.01)
    other(torch.randn(2, 4)).sum().backward()
    optimizer.step()
    ckpt = dict(plain[0], optimizer_state_dict=optimizer.state_dict())
    report = audit(runs.save(ckpt, tmp_path / "mixed.pth"))
    assert report.verdict is Verdict.INCOMPLETE
    assert (C.OPTIMIZER_MODEL_MISMATCH, E, "optimizer") in found(report)


def test_stats_find_non_finite_values(plain: tuple[dict[str, Any], float], tmp_path: Path) -> None:
    ckpt = copy.copy(plain[0])
    ckpt["model_state_dict"] = {k: v.clone() for k, v in ckpt["model_state_dict"].items()}
    ckpt["model_state_dict"]["0.weight"][0, 0] = math.nan
    path = runs.save(ckpt, tmp_path / "nan.pth")
    assert audit(path).verdict is Verdict.RESUMABLE  # no tensor bytes are read without stats
    report = audit(path, stats=True)
    assert report.verdict is Verdict.INCOMPLETE and report.stats_checked
    assert (C.NON_FINITE, E, "model_state_dict.0.weight") in found(report)


def test_recorded_versions_against_the_installed_ones(plain: tuple[dict[str, Any], float], tmp_path: Path) -> None:
    ckpt = dict(plain[0], torch_version="99.1.0", config={"transformers_version": "0.1.0", "lr": 0.01})
    report = audit(runs.save(ckpt, tmp_path / "versions.pth"))
    assert (C.VERSION_MISMATCH, W, "torch") in found(report)  # newer than installed
    assert (C.VERSION_MISMATCH, I, "transformers") in found(report)  # older: migrated on load


def test_audit_reads_only_one_element_counters(plain_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ckpt_tui.core import stats, tensors

    read: list[str] = []
    original = tensors.read_array
    for module in (tensors, stats):  # stats holds its own reference
        monkeypatch.setattr(module, "read_array", lambda info: read.append(info.key) or original(info))
    audit(plain_path)
    assert read and all(key.endswith(".step") for key in read)  # Adam's counters, 4 bytes each
    read.clear()
    audit(plain_path, stats=True)
    assert "model_state_dict.0.weight" in read and "optimizer_state_dict.state.0.exp_avg" in read  # --stats


def test_audit_imports_neither_torch_nor_textual(plain_path: Path) -> None:
    code = (
        "import sys; from ckpt_tui import audit; r = audit(sys.argv[1]); "
        "assert 'torch' not in sys.modules and 'textual' not in sys.modules, sorted(sys.modules); print(r.verdict)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(plain_path)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "resumable"


def test_dcp_directory(tmp_path: Path) -> None:
    import warnings

    dcp = pytest.importorskip("torch.distributed.checkpoint")
    from torch.distributed.checkpoint.state_dict import get_state_dict

    runs.seed_all(0)
    run = runs.Run()
    run.step()
    model, optimizer = get_state_dict(run.model, run.optimizer)  # optimizer state keyed by parameter name
    state = {"model": model, "optim": optimizer, "sched": run.scheduler.state_dict(), "epoch": 0, "step": 1,
             "rng": torch.get_rng_state()}  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save(state, checkpoint_id=str(tmp_path / "dcp"))
    report = audit(tmp_path / "dcp")
    assert report.verdict is Verdict.RESUMABLE and report.framework == "torch.distributed.checkpoint directory"
    assert found(report) == sorted([
        (C.RNG_MISSING, W, "numpy"), (C.RNG_MISSING, W, "python"),
        (C.SCALER_MISSING, I, "scaler"), (C.BEST_METRIC_MISSING, I, "best-metric"),
        (C.HYPERPARAMETERS_MISSING, I, "config"), (C.EPOCH_CONVENTION, I, "epoch"),
    ])  # fmt: skip


@pytest.mark.cuda
def test_a_real_cuda_run_with_its_cuda_rng_states(plain: tuple[dict[str, Any], float], tmp_path: Path) -> None:
    def to_cuda(obj: Any) -> Any:
        if isinstance(obj, torch.Tensor):
            return obj.cuda() if obj.dtype != torch.uint8 else obj  # RNG states stay on the CPU, as torch keeps them
        return {k: to_cuda(v) for k, v in obj.items()} if isinstance(obj, dict) else obj

    ckpt = to_cuda(plain[0])
    ckpt["rng_states"] = dict(ckpt["rng_states"], cuda=torch.cuda.get_rng_state_all())
    report = audit(runs.save(ckpt, tmp_path / "cuda.pth"))
    assert report.part(Part.RNG_CUDA).found and report.verdict is Verdict.RESUMABLE
    assert found(report) == sorted([(C.SAVED_ON_CUDA, W, "cuda:0"), JUST_FINISHED])
