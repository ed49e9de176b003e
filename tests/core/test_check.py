"""check_loads: clean loads, each kind of failure, prefixes, meta, forward passes, ties, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ckpt_tui import check_loads
from ckpt_tui.core.keys import make_rules
from ckpt_tui.errors import DeviceError, ModelImportError, UsageError
from ckpt_tui.reports import KeyHint
from tests.helpers import SAMPLES

TINY = "sample_checkpoints.models:TinyNet"


def test_clean_load_on_cpu_with_forward() -> None:
    report = check_loads(str(SAMPLES / "training.pth"), TINY, forward=((4, 8), "float32"))
    assert report.ok and report.loaded and report.compared == 9
    assert report.forward is not None and report.forward.output_shapes == ((4, 4),)


def test_meta_allocates_nothing_and_still_finds_shape_changes() -> None:
    report = check_loads(str(SAMPLES / "training.pth"), TINY, kwargs={"classes": 10}, device="meta")
    assert not report.ok and not report.loaded
    assert [(m.key, m.checkpoint, m.model) for m in report.shape_mismatches] == [
        ("head.weight", "[4, 16]", "[10, 16]"),
        ("head.bias", "[4]", "[10]"),
    ]


def test_missing_unexpected_and_the_module_hint() -> None:
    report = check_loads(str(SAMPLES / "dataparallel.pth"), TINY)
    assert not report.ok and len(report.missing) == 9 and len(report.unexpected) == 9
    assert report.hint == KeyHint(9, "unexpected keys", "module.")
    assert check_loads(str(SAMPLES / "dataparallel.pth"), TINY, rules=make_rules(strip_wrappers=True)).ok
    assert check_loads(str(SAMPLES / "compiled.pth"), TINY, key="model", rules=make_rules(strip_wrappers=True)).ok


def test_not_strict_tolerates_missing_keys_but_not_shapes(tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "state_dict.pth")
    del state["head.bias"]
    torch.save(state, tmp_path / "partial.pt")
    assert not check_loads(str(tmp_path / "partial.pt"), TINY).ok
    relaxed = check_loads(str(tmp_path / "partial.pt"), TINY, strict=False)
    assert relaxed.ok and relaxed.missing == ("head.bias",)


def test_dtype_surprise(tmp_path: Path) -> None:
    state = {k: v.half() if v.is_floating_point() else v for k, v in torch.load(SAMPLES / "state_dict.pth").items()}
    torch.save(state, tmp_path / "half.pt")
    report = check_loads(str(tmp_path / "half.pt"), TINY)
    assert not report.ok and report.dtype_mismatches[0].checkpoint == "float16"
    assert check_loads(str(tmp_path / "half.pt"), TINY, strict=False).ok


class NaNNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.ones(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.w / 0 * 0


def test_forward_with_nan_fails(tmp_path: Path) -> None:
    torch.save(NaNNet().state_dict(), tmp_path / "nan.pt")
    report = check_loads(str(tmp_path / "nan.pt"), "tests.core.test_check:NaNNet", forward=((3, 2), "float32"))
    assert not report.ok and report.forward is not None and report.forward.nan == 6
    bad = check_loads(str(tmp_path / "nan.pt"), "tests.core.test_check:NaNNet", forward=((3,), "nope"))
    assert not bad.ok and "unknown input dtype" in (bad.forward.error or "")  # type: ignore[union-attr]


def test_tie_conflicts(tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "tied.pth")
    assert check_loads(str(SAMPLES / "tied.pth"), "sample_checkpoints.models:TinyLM").ok
    state["lm_head.weight"] = state["lm_head.weight"].clone() + 1
    torch.save(state, tmp_path / "untied.pt")
    report = check_loads(str(tmp_path / "untied.pt"), "sample_checkpoints.models:TinyLM")
    assert not report.ok and report.tie_conflicts == (("embed.weight", "lm_head.weight"),)


def test_factory_and_bad_input() -> None:
    assert not check_loads(str(SAMPLES / "training.pth"), "sample_checkpoints.models:tiny_net_wide", device="meta").ok
    with pytest.raises(ModelImportError, match="cannot import"):
        check_loads(str(SAMPLES / "training.pth"), "no_such_pkg.models:Net")
    with pytest.raises(ModelImportError, match="has no attribute"):
        check_loads(str(SAMPLES / "training.pth"), "sample_checkpoints.models:Missing")
    with pytest.raises(UsageError):
        check_loads(str(SAMPLES / "training.pth"), "not a target")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error")
def test_cuda_without_gpu() -> None:
    with pytest.raises(DeviceError):
        check_loads(str(SAMPLES / "training.pth"), TINY, device="cuda")


@pytest.mark.cuda
def test_loads_on_cuda() -> None:
    report = check_loads(str(SAMPLES / "training.pth"), TINY, device="cuda", forward=((4, 8), "float32"))
    assert report.ok and report.loaded and report.device == "cuda"
