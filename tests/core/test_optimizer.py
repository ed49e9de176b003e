"""Optimizer state mapped back to parameter names: saved names, inference by order and shape, refusal."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ckpt_tui.core.optimizer import optimizer_reports
from ckpt_tui.formats import read_checkpoint
from sample_checkpoints.models import TinyNet
from tests.helpers import SAMPLES


def names(path: Path) -> tuple[str, list[str | None]]:
    report = optimizer_reports(read_checkpoint(path))[0]
    return report.naming, [p.name for p in report.params]


def test_inferred_from_order_and_shapes() -> None:
    naming, found = names(SAMPLES / "training.pth")
    expected = [n for n, _ in TinyNet().named_parameters()]
    assert naming == "inferred" and found == expected


def test_saved_param_names_win(tmp_path: Path) -> None:
    model = TinyNet()
    names_ = [n for n, _ in model.named_parameters()]
    opt = torch.optim.SGD([{"params": list(model.parameters()), "param_names": names_}], lr=0.1, momentum=0.9)
    model(torch.randn(4, 8)).sum().backward()
    opt.step()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.pt")
    naming, found = names(tmp_path / "c.pt")
    assert naming == "param_names" and found[0] == "encoder.0.weight"


def save_with_frozen(path: Path, frozen: nn.Module, model: TinyNet) -> Path:
    frozen.requires_grad_(False)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad])
    model(torch.randn(4, 8)).sum().backward()
    opt.step()
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict()}, path)
    return path


def test_frozen_parameters_with_telling_shapes_are_skipped(tmp_path: Path) -> None:
    model = TinyNet()
    naming, found = names(save_with_frozen(tmp_path / "c.pt", model.head, model))
    assert naming == "inferred" and found == [
        "encoder.0.weight",
        "encoder.0.bias",
        "encoder.1.weight",
        "encoder.1.bias",
    ]


def test_frozen_parameters_with_repeating_shapes_leave_only_those_unnamed(tmp_path: Path) -> None:
    model = TinyNet()  # encoder.0.bias, encoder.1.weight and encoder.1.bias are all [16]
    report = optimizer_reports(read_checkpoint(save_with_frozen(tmp_path / "c.pt", model.encoder[0], model)))[0]
    assert [p.name for p in report.params] == [None, None, "head.weight", "head.bias"]
    assert report.naming == "inferred" and "2 of 4 ambiguous" in report.naming_note


def test_refused_when_no_parameter_can_be_told(tmp_path: Path) -> None:
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 4))
    opt = torch.optim.Adam(model[1].parameters())  # which of the three identical layers? the shapes cannot say
    model(torch.randn(2, 4)).sum().backward()
    opt.step()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.pt")
    report = optimizer_reports(read_checkpoint(tmp_path / "c.pt"))[0]
    assert report.naming == "refused" and "ambiguous" in report.naming_note


def test_refused_when_shapes_disagree(tmp_path: Path) -> None:
    model, other = TinyNet(), nn.Linear(3, 300)
    opt = torch.optim.Adam(other.parameters())
    other(torch.randn(2, 3)).sum().backward()
    opt.step()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.pt")
    report = optimizer_reports(read_checkpoint(tmp_path / "c.pt"))[0]
    assert report.naming == "refused" and "do not fit" in report.naming_note
    assert all(p.name is None for p in report.params)
    assert report.optimizer_bytes == 2 * 4 * (300 * 3 + 300) + 2 * 4  # exp_avg + exp_avg_sq, plus two steps


def test_decay_and_no_decay_groups_are_named_group_by_group(tmp_path: Path) -> None:
    """Trainer-style groups: weights in one, biases in the other; each group in model order, the groups interleaved."""
    model = nn.Sequential(nn.Linear(8, 16), nn.LayerNorm(16), nn.Linear(16, 16), nn.Linear(16, 4))
    named = list(model.named_parameters())
    decay = [n for n, p in named if p.dim() > 1]
    groups = [
        {"params": [p for n, p in named if n in decay], "weight_decay": 0.01},
        {"params": [p for n, p in named if n not in decay], "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups, lr=1e-3)
    model(torch.randn(2, 8)).sum().backward()
    opt.step()
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, tmp_path / "c.pt")
    report = optimizer_reports(read_checkpoint(tmp_path / "c.pt"))[0]
    assert report.naming == "inferred" and "group by group" in report.naming_note
    assert [p.name for p in report.params] == decay + [n for n, _ in named if n not in decay]
    assert [p.group for p in report.params] == [0] * len(decay) + [1] * (len(named) - len(decay))


def test_hugging_face_trainer_directory_names_every_parameter(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from ckpt_tui.core.optimizer import group_steps
    from tests.hf_trainer import expected_names, write_trainer_checkpoint

    out = write_trainer_checkpoint(tmp_path / "checkpoint-1")
    report = optimizer_reports(read_checkpoint(out))[0]  # model.safetensors: its keys are sorted by name
    decay, no_decay = expected_names(out)
    assert report.naming == "inferred", report.naming_note
    assert [p.name for p in report.params] == decay + no_decay
    assert group_steps(report) == {0: 1.0, 1: 1.0}
