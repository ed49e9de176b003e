"""diff_checkpoints: each kind of change, tolerances, NaN, dtypes, prefixes, cross-format, selection."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ckpt_tui.core.diff import diff_checkpoints
from ckpt_tui.core.keys import make_rules
from ckpt_tui.errors import UsageError
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.reports import DiffOptions
from tests.helpers import SAMPLES


def diff(tmp: Path, a: object, b: object, **options: object):  # type: ignore[no-untyped-def]
    torch.save(a, tmp / "a.pt")
    torch.save(b, tmp / "b.pt")
    return diff_checkpoints(read_checkpoint(tmp / "a.pt"), read_checkpoint(tmp / "b.pt"), DiffOptions(**options))  # type: ignore[arg-type]


def test_identical_files(tmp_path: Path) -> None:
    report = diff_checkpoints(read_checkpoint(SAMPLES / "training.pth"), read_checkpoint(SAMPLES / "training.pth"))
    assert report.identical and len(report.tensors) == 28 and all(t.metrics.bit_identical for t in report.tensors)  # type: ignore[union-attr]


def test_every_kind_of_change(tmp_path: Path) -> None:
    base = {
        "same": torch.ones(3),
        "moved": torch.ones(4),
        "reshaped": torch.ones(2, 3),
        "cast": torch.ones(2),
        "gone": torch.ones(1),
    }
    new = {
        "same": torch.ones(3),
        "moved": torch.tensor([1.0, 1.0, 1.5, 1.0]),
        "reshaped": torch.ones(3, 2),
        "cast": torch.ones(2, dtype=torch.float16),
        "added": torch.ones(1),
    }
    report = diff(tmp_path, {"epoch": 3, "lr": 1e-3, "w": base}, {"epoch": 4, "lr": 1e-3, "w": new})
    status = {t.key: t.status for t in report.tensors}
    assert status == {"w.same": "equal", "w.moved": "changed", "w.reshaped": "shape", "w.cast": "equal"}
    assert [t.key for t in report.dtype_changes] == ["w.cast"]
    assert report.only_a == ("w.gone",) and report.only_b == ("w.added",)
    assert [(v.path, v.a, v.b) for v in report.values] == [("epoch", "3 (int)", "4 (int)")]
    moved = next(t for t in report.tensors if t.key == "w.moved").metrics
    assert moved is not None and moved.mismatched == 1 and moved.max_abs == 0.5 and moved.mean_abs == 0.125
    assert moved.max_rel == 0.5 / 1.5 and moved.rel_l2 == pytest.approx(0.25)
    assert not report.identical


def test_tolerances_like_assert_close(tmp_path: Path) -> None:
    a, b = {"w": torch.tensor([1.0, 100.0])}, {"w": torch.tensor([1.001, 100.05])}
    assert not diff(tmp_path, a, b).identical
    assert not diff(tmp_path, a, b, atol=1e-3).identical  # 0.05 > 1e-3
    assert diff(tmp_path, a, b, atol=1e-3, rtol=1e-3).identical  # 0.05 <= 1e-3 + 1e-3 * 100.05
    assert diff(tmp_path, a, b, atol=0.06).identical


def test_nan_in_the_same_place_is_equal(tmp_path: Path) -> None:
    nan = float("nan")
    assert diff(tmp_path, {"w": torch.tensor([1.0, nan])}, {"w": torch.tensor([1.0, nan])}).identical
    report = diff(tmp_path, {"w": torch.tensor([nan, 1.0])}, {"w": torch.tensor([1.0, nan])})
    assert report.tensors[0].metrics.mismatched == 2  # type: ignore[union-attr]
    inf = float("inf")
    assert diff(tmp_path, {"w": torch.tensor([inf, -0.0])}, {"w": torch.tensor([inf, 0.0])}).identical


def test_integers_and_bool_exactly(tmp_path: Path) -> None:
    big = 2**60
    report = diff(
        tmp_path,
        {"i": torch.tensor([big]), "b": torch.tensor([True])},
        {"i": torch.tensor([big + 1]), "b": torch.tensor([False])},
    )
    assert {t.key: t.metrics.mismatched for t in report.tensors} == {"i": 1, "b": 1}  # type: ignore[union-attr]


def test_bf16_and_fp8_compare_by_value(tmp_path: Path) -> None:
    x = torch.tensor([0.5, 1.0, -2.0])
    report = diff(tmp_path, {"w": x.bfloat16(), "f": x.to(torch.float8_e4m3fn)}, {"w": x, "f": x})
    assert report.tensors[0].status == "equal" and report.tensors[1].status == "equal"


def test_prefixes_are_normalised() -> None:
    a, b = read_checkpoint(SAMPLES / "dataparallel.pth"), read_checkpoint(SAMPLES / "training.pth")
    raw = diff_checkpoints(a, b)
    assert len(raw.only_a) == 9 and raw.hint and "--strip-module" in raw.hint
    assert diff_checkpoints(a, b, DiffOptions(rules=make_rules(strip_module=True))).identical
    compiled = read_checkpoint(SAMPLES / "compiled.pth")
    assert diff_checkpoints(compiled, b, DiffOptions(key_a="model", rules=make_rules(strip_wrappers=True))).identical


def test_cross_format_against_safetensors(tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "state_dict.pth")
    save_file({k: v.contiguous() for k, v in state.items()}, tmp_path / "m.safetensors", metadata={"format": "pt"})
    training = read_checkpoint(SAMPLES / "training.pth")
    report = diff_checkpoints(training, read_checkpoint(tmp_path / "m.safetensors"))
    assert report.scope_a == "['model_state_dict']" and report.identical


def test_only_exclude_and_bad_key(tmp_path: Path) -> None:
    a, b = {"x.w": torch.ones(1), "y.w": torch.ones(1)}, {"x.w": torch.zeros(1), "y.w": torch.ones(1)}
    assert not diff(tmp_path, a, b).identical
    assert diff(tmp_path, a, b, only="^y").identical and diff(tmp_path, a, b, exclude="^x").identical
    with pytest.raises(UsageError, match="no container at key 'nope'"):
        diff(tmp_path, a, b, key_a="nope")
