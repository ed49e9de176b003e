"""Conversions: round trips for every dtype, views, ties, prefixes, collisions, shards, .pth, atomicity."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn

from ckpt_tui.converters.convert import ConvertOptions, convert
from ckpt_tui.core.keys import make_rules
from ckpt_tui.dtypes import TO_SAFETENSORS
from ckpt_tui.errors import OutputExistsError, UsageError, WriteError
from ckpt_tui.formats import read_checkpoint
from sample_checkpoints.models import TinyNet
from tests.core.test_readers import ALL_DTYPES
from tests.helpers import SAMPLES, same_bits

SAFETENSORS_DTYPES = [d for d in ALL_DTYPES if str(d).removeprefix("torch.") in TO_SAFETENSORS]
REPO = Path(__file__).resolve().parents[2]


def run_convert(source: Path, out: Path, **options: object):  # type: ignore[no-untyped-def]
    return convert(read_checkpoint(source), ConvertOptions(output=str(out), **options))  # type: ignore[arg-type]


def test_every_dtype_and_views_round_trip(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    state = {str(d): (torch.randn(4, 6, generator=gen) * 8).to(d) for d in SAFETENSORS_DTYPES}
    base = torch.arange(48.0).reshape(6, 8)
    state |= {"view.t": base.t(), "view.slice": base[1:5, ::3], "scalar": torch.tensor(1.5), "empty": torch.zeros(0, 3)}
    torch.save(state, tmp_path / "in.pt")
    report = run_convert(tmp_path / "in.pt", tmp_path / "out.safetensors")
    loaded = load_file(tmp_path / "out.safetensors")
    assert report.verified and set(loaded) == set(state)
    for key, tensor in state.items():
        assert same_bits(loaded[key], tensor.contiguous()), key


def test_tied_weights_are_stored_once_with_an_alias(tmp_path: Path) -> None:
    report = run_convert(SAMPLES / "tied.pth", tmp_path / "tied.safetensors")
    assert report.aliases == {"lm_head.weight": "embed.weight"}
    with safe_open(tmp_path / "tied.safetensors", "pt") as f:
        assert set(f.keys()) == {"embed.weight", "block.weight", "block.bias"}
        assert f.metadata()["lm_head.weight"] == "embed.weight"
    assert ("(root)._metadata", "state dict module versions (safetensors has no place for them)") in report.not_carried


def test_dataparallel_training_checkpoint_loads_strict(tmp_path: Path) -> None:
    training = torch.load(SAMPLES / "training.pth", weights_only=False)
    training["model_state_dict"] = nn.DataParallel(TinyNet()).state_dict()
    torch.save(training, tmp_path / "dp.pth")
    report = run_convert(tmp_path / "dp.pth", tmp_path / "dp.safetensors", rules=make_rules(strip_module=True))
    model = TinyNet()
    model.load_state_dict(load_file(tmp_path / "dp.safetensors"), strict=True)
    assert report.scope == "['model_state_dict']" and len(report.renamed) == 9
    with safe_open(tmp_path / "dp.safetensors", "pt") as f:
        meta = f.metadata()
    assert meta["epoch"] == "3" and json.loads(meta["hyper_parameters"])["lr"] == 1e-3
    assert any(path.startswith("optimizer_state_dict.state") for path, _ in report.not_carried)


def test_compiled_wrappers_and_collisions(tmp_path: Path) -> None:
    run_convert(SAMPLES / "compiled.pth", tmp_path / "c.safetensors", rules=make_rules(strip_wrappers=True))
    assert set(load_file(tmp_path / "c.safetensors")) == set(torch.load(SAMPLES / "state_dict.pth"))
    torch.save({"module.w": torch.ones(1), "w": torch.zeros(1)}, tmp_path / "clash.pt")
    with pytest.raises(UsageError, match=r"module.w, w -> w"):
        run_convert(tmp_path / "clash.pt", tmp_path / "clash.safetensors", rules=make_rules(strip_module=True))
    assert not (tmp_path / "clash.safetensors").exists()


def test_dtype_cast_touches_floats_only(tmp_path: Path) -> None:
    run_convert(SAMPLES / "state_dict.pth", tmp_path / "h.safetensors", dtype="fp16")
    loaded, source = load_file(tmp_path / "h.safetensors"), torch.load(SAMPLES / "state_dict.pth")
    assert loaded["head.weight"].dtype == torch.float16 and torch.equal(
        loaded["head.weight"], source["head.weight"].half()
    )
    assert loaded["encoder.1.num_batches_tracked"].dtype == torch.int64


def test_shards_and_index(tmp_path: Path) -> None:
    report = run_convert(
        SAMPLES / "training.pth", tmp_path / "model.safetensors", all_tensors=True, max_shard_size=2000
    )
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert len(report.outputs) > 2 and index["metadata"]["total_size"] == report.bytes_written
    merged = {}
    for name in set(index["weight_map"].values()):
        merged |= load_file(tmp_path / name)
    assert set(merged) == set(index["weight_map"]) == set(read_checkpoint(SAMPLES / "training.pth").tensors)


def test_overwrite_refused_and_input_untouched(tmp_path: Path) -> None:
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        run_convert(SAMPLES / "state_dict.pth", out)
    assert out.read_bytes() == b"precious"
    run_convert(SAMPLES / "state_dict.pth", out, force=True)
    assert load_file(out)
    with pytest.raises(UsageError, match="inputs are never written over"):
        run_convert(SAMPLES / "state_dict.pth", SAMPLES / "state_dict.pth", force=True, to="pth")


def test_interrupted_conversion_leaves_nothing(tmp_path: Path) -> None:
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        options = ConvertOptions(str(tmp_path / "x.safetensors"), all_tensors=True)
        convert(read_checkpoint(SAMPLES / "training.pth"), options, progress=interrupt)
    assert os.listdir(tmp_path) == []


def test_pth_rewrites_keys_everywhere_and_loads_weights_only(tmp_path: Path) -> None:
    model = nn.DataParallel(TinyNet())
    opt = torch.optim.SGD(
        [{"params": list(model.parameters()), "param_names": [n for n, _ in model.named_parameters()]}]
    )
    torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "step": 7}, tmp_path / "dp.pt")
    run_convert(tmp_path / "dp.pt", tmp_path / "out.pt", to="pth", rules=make_rules(strip_module=True))
    loaded = torch.load(tmp_path / "out.pt", weights_only=True)
    assert list(loaded["model"]) == list(TinyNet().state_dict()) and loaded["step"] == 7
    assert "" in loaded["model"]._metadata and "encoder.0" in loaded["model"]._metadata
    assert loaded["optimizer"]["param_groups"][0]["param_names"][0] == "encoder.0.weight"
    TinyNet().load_state_dict(loaded["model"])


def test_pth_refuses_whole_pickled_modules(tmp_path: Path) -> None:
    torch.save({"model": TinyNet()}, tmp_path / "whole.pt")
    with pytest.raises(Exception, match="whole pickled module"):
        run_convert(tmp_path / "whole.pt", tmp_path / "out.pt", to="pth")
    assert not (tmp_path / "out.pt").exists()


def test_legacy_and_safetensors_inputs(tmp_path: Path) -> None:
    run_convert(SAMPLES / "legacy.pth", tmp_path / "l.safetensors")
    assert set(load_file(tmp_path / "l.safetensors")) == set(torch.load(SAMPLES / "legacy.pth"))
    run_convert(SAMPLES / "model.safetensors", tmp_path / "m.safetensors")
    with safe_open(tmp_path / "m.safetensors", "pt") as f:
        assert f.metadata()["source"] == "make_samples.py"


KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {repo!r})
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.converters.convert import ConvertOptions, convert
def die(done, total):
    os.kill(os.getpid(), signal.SIGKILL)
convert(read_checkpoint({src!r}), ConvertOptions({out!r}, all_tensors=True), progress=die)
"""


def test_sigkill_mid_write_leaves_no_output(tmp_path: Path) -> None:
    src = tmp_path / "in.pt"
    torch.save({f"w{i}": torch.randn(256, 256) for i in range(4)}, src)
    before = src.read_bytes()
    outdir = tmp_path / "out"
    outdir.mkdir()
    script = KILL_SCRIPT.format(repo=str(REPO), src=str(src), out=str(outdir / "o.safetensors"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True)
    assert result.returncode == -9
    assert os.listdir(outdir) == [] and src.read_bytes() == before


FULL_DISK_SCRIPT = """
import resource, signal, sys
sys.path.insert(0, {repo!r})
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
from ckpt_tui.cli import main
sys.exit(main(["convert", {src!r}, "-o", {out!r}, "--all"]))
"""


def test_full_disk_is_a_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    src = tmp_path / "in.pt"
    torch.save({"w": torch.randn(512, 512)}, src)
    outdir = tmp_path / "out"
    outdir.mkdir()
    script = FULL_DISK_SCRIPT.format(repo=str(REPO), src=str(src), out=str(outdir / "o.safetensors"))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 2, result.stderr
    assert "nothing was written" in result.stderr and result.stderr.count("\n") == 1
    assert os.listdir(outdir) == []
    assert WriteError.__name__  # the error class that carries this message
