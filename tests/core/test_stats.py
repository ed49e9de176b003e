"""Statistics: every dtype, NaN/Inf, views, chunking, cancellation; the fp8/fp4 tables against torch."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from ckpt_tui.core import stats as stats_module
from ckpt_tui.core.decode import table
from ckpt_tui.core.stats import compute_stats
from ckpt_tui.core.stats_torch import compute_stats_torch
from ckpt_tui.errors import Cancelled
from ckpt_tui.formats import read_checkpoint

SMALL_FLOATS = ["float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu"]


@pytest.mark.parametrize("dtype", SMALL_FLOATS)
def test_fp8_tables_match_torch(dtype: str) -> None:
    expected = torch.arange(256, dtype=torch.uint8).view(getattr(torch, dtype)).float().numpy()
    np.testing.assert_array_equal(table(dtype), expected)  # NaNs in the same places count as equal


def test_fp4_table_matches_the_format() -> None:
    values = [0, 0.5, 1, 1.5, 2, 3, 4, 6]
    np.testing.assert_array_equal(table("float4_e2m1fn_x2"), np.array(values + [-v for v in values], np.float32))


def reference(t: torch.Tensor) -> dict[str, float]:
    x = (t.to(torch.complex128).abs() if t.is_complex() else t.double()).reshape(-1)
    x = x[torch.isfinite(x)]
    return {"min": x.min().item(), "max": x.max().item(), "mean": x.mean().item(), "std": x.std(unbiased=False).item()}


CASES = {
    "float32": lambda g: torch.randn(64, 33, generator=g),
    "float64": lambda g: torch.randn(10, generator=g, dtype=torch.float64) * 1e150,
    "float16": lambda g: torch.randn(300, generator=g).half(),
    "bfloat16": lambda g: torch.randn(7, 9, generator=g).bfloat16(),
    "float8_e4m3fn": lambda g: torch.randn(50, generator=g).to(torch.float8_e4m3fn),
    "float8_e5m2": lambda g: torch.randn(50, generator=g).to(torch.float8_e5m2),
    "int64": lambda g: torch.tensor([-(2**62), 3, 2**62]),
    "uint8": lambda g: torch.randint(0, 255, (40,), generator=g, dtype=torch.uint8),
    "int32": lambda g: torch.randint(-1000, 1000, (5, 5), generator=g, dtype=torch.int32),
    "bool": lambda g: torch.rand(30, generator=g) > 0.5,
    "complex64": lambda g: torch.randn(12, generator=g, dtype=torch.complex64),
    "view": lambda g: torch.randn(20, 30, generator=g)[2:18:3, ::4],
    "scalar": lambda g: torch.tensor(-2.5),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_stats_match_a_float64_reference(tmp_path: Path, name: str) -> None:
    tensor = CASES[name](torch.Generator().manual_seed(1))
    torch.save({"t": tensor}, tmp_path / "t.pt")
    info = read_checkpoint(tmp_path / "t.pt").tensors["t"]
    for stats in (compute_stats(info), compute_stats_torch(info, "cpu", 16, None, None)):
        ref = reference(tensor)
        assert stats.min == pytest.approx(ref["min"]) and stats.max == pytest.approx(ref["max"])
        assert stats.mean == pytest.approx(ref["mean"], rel=1e-9, abs=1e-12)
        assert stats.std == pytest.approx(ref["std"], rel=1e-9, abs=1e-12)
        assert stats.zero_count == int((tensor == 0).sum())
        assert stats.histogram is not None and sum(stats.histogram.counts) == tensor.numel()
    assert compute_stats(info).preview  # some values to show


def test_int64_extremes_stay_exact(tmp_path: Path) -> None:
    torch.save({"t": torch.tensor([-(2**62) - 1, 2**62 + 1])}, tmp_path / "t.pt")
    stats = compute_stats(read_checkpoint(tmp_path / "t.pt").tensors["t"])
    assert stats.min == -(2**62) - 1 and stats.max == 2**62 + 1


def test_nan_and_inf_are_counted_not_averaged(tmp_path: Path) -> None:
    t = torch.tensor([1.0, float("nan"), 3.0, float("inf"), float("-inf"), 0.0])
    torch.save({"t": t, "all_nan": torch.full((3,), float("nan")), "empty": torch.zeros(0, 5)}, tmp_path / "t.pt")
    tensors = read_checkpoint(tmp_path / "t.pt").tensors
    stats = compute_stats(tensors["t"])
    assert (stats.nan_count, stats.inf_count, stats.finite) == (1, 2, 3)
    assert (stats.min, stats.max, stats.mean) == (0.0, 3.0, pytest.approx(4 / 3))
    assert stats.zero_count == 1
    nan_only = compute_stats(tensors["all_nan"])
    assert nan_only.nan_count == 3 and nan_only.mean is None and nan_only.histogram is None
    empty = compute_stats(tensors["empty"])
    assert empty.numel == 0 and empty.min is None and empty.preview == ()


def test_chunks_progress_and_cancel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_module, "CHUNK_ELEMENTS", 100)
    t = torch.arange(1000, dtype=torch.float32).reshape(10, 100)
    torch.save({"t": t}, tmp_path / "t.pt")
    info = read_checkpoint(tmp_path / "t.pt").tensors["t"]
    seen: list[int] = []
    stats = compute_stats(info, progress=lambda done, total: seen.append(done))
    assert seen == list(range(100, 1001, 100))
    assert stats.mean == pytest.approx(499.5) and stats.std == pytest.approx(math.sqrt((1000**2 - 1) / 12))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        compute_stats(info, cancel=cancel)


def test_quantized_stats_are_dequantized(tmp_path: Path) -> None:
    q = torch.quantize_per_tensor(torch.tensor([0.0, 0.5, 1.0, 1.5]), 0.5, 3, torch.quint8)
    torch.save({"q": q}, tmp_path / "q.pt")
    stats = compute_stats(read_checkpoint(tmp_path / "q.pt").tensors["q"])
    assert (stats.min, stats.max, stats.mean) == (0.0, 1.5, 0.75)


@pytest.mark.cuda
def test_stats_on_cuda_match_cpu(tmp_path: Path) -> None:
    torch.save({"t": torch.randn(1000, 100)}, tmp_path / "t.pt")
    info = read_checkpoint(tmp_path / "t.pt").tensors["t"]
    cpu, gpu = compute_stats(info), compute_stats(info, "cuda")
    assert gpu.mean == pytest.approx(cpu.mean) and gpu.std == pytest.approx(cpu.std) and gpu.max == cpu.max
