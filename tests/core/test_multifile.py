"""Checkpoints bigger than one file: DCP directories, shard sets, Trainer directories, TorchScript archives."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

from ckpt_tui import check_loads
from ckpt_tui.cli import main
from ckpt_tui.converters.convert import ConvertOptions, convert
from ckpt_tui.core.diff import diff_checkpoints
from ckpt_tui.core.layout import detect_framework, find_optimizers, find_state_dict
from ckpt_tui.core.summary import summarize
from ckpt_tui.core.tensors import load_tensor
from ckpt_tui.errors import CkptError
from ckpt_tui.formats import read_checkpoint
from tests.helpers import SAMPLES, same_bits

dcp = pytest.importorskip("torch.distributed.checkpoint")


def dcp_state() -> dict[str, object]:
    gen = torch.Generator().manual_seed(0)
    return {"model": {"encoder.weight": torch.randn(4, 3, generator=gen), "head.bias": torch.ones(5).bfloat16()},
            "step": 12, "tag": "run-1"}  # fmt: skip


@pytest.fixture
def dcp_dir(tmp_path: Path) -> Path:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save(dcp_state(), checkpoint_id=str(tmp_path / "dcp"))
    return tmp_path / "dcp"


def test_dcp_directory_reads_as_one_checkpoint(dcp_dir: Path) -> None:
    ckpt = read_checkpoint(dcp_dir)
    state = dcp_state()
    assert ckpt.format == "dcp" and set(ckpt.tensors) == {"model.encoder.weight", "model.head.bias"}
    assert ckpt.root.child("step").value == 12 and ckpt.root.child("tag").value == "run-1"  # type: ignore[union-attr]
    for key, tensor in state["model"].items():  # type: ignore[attr-defined]
        assert same_bits(load_tensor(ckpt.tensors[f"model.{key}"]), tensor)
    assert detect_framework(ckpt) == "torch.distributed.checkpoint directory"
    assert not [n for n in ckpt.notices if n.severity == "warning"]


def test_dcp_converts_and_diffs_identical_to_torch_save(dcp_dir: Path, tmp_path: Path) -> None:
    convert(read_checkpoint(dcp_dir), ConvertOptions(str(tmp_path / "dcp.safetensors"), all_tensors=True))
    torch.save(dcp_state(), tmp_path / "same.pt")
    assert diff_checkpoints(read_checkpoint(dcp_dir), read_checkpoint(tmp_path / "same.pt")).identical
    from safetensors.torch import load_file

    loaded = load_file(tmp_path / "dcp.safetensors")
    assert torch.equal(loaded["model.encoder.weight"], dcp_state()["model"]["encoder.weight"])  # type: ignore[index]
    assert main(["inspect", "--json", str(dcp_dir)]) == 0


def test_hostile_dcp_metadata_runs_nothing(dcp_dir: Path, tmp_path: Path) -> None:
    import pickle

    marker = tmp_path / "MARKER"

    class Payload:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return os.system, (f"touch {marker}",)

    (dcp_dir / ".metadata").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(CkptError):
        read_checkpoint(dcp_dir)
    assert main(["inspect", str(dcp_dir)]) == 2
    assert not marker.exists()


def make_shards(tmp_path: Path) -> Path:
    convert(read_checkpoint(SAMPLES / "state_dict.pth"),
            ConvertOptions(str(tmp_path / "model.safetensors"), max_shard_size=600))  # fmt: skip
    return tmp_path / "model.safetensors.index.json"


def test_shard_set_reads_as_one_state_dict(tmp_path: Path) -> None:
    index = make_shards(tmp_path)
    for path in (index, tmp_path):
        ckpt = read_checkpoint(path)
        assert ckpt.format == "sharded-safetensors" and set(ckpt.tensors) == set(torch.load(SAMPLES / "state_dict.pth"))
        assert not [n for n in ckpt.notices if n.code == "shard-consistency"]
    assert diff_checkpoints(read_checkpoint(index), read_checkpoint(SAMPLES / "state_dict.pth")).identical
    assert main(["inspect", "--strict", str(index)]) == 0


def test_shard_set_inconsistencies_are_notices_and_fail_strict(tmp_path: Path) -> None:
    index = make_shards(tmp_path)
    doc = json.loads(index.read_text())
    first = next(iter(doc["weight_map"]))
    del doc["weight_map"][first]
    doc["weight_map"]["ghost.weight"] = next(iter(doc["weight_map"].values()))
    doc["metadata"]["total_size"] += 1
    index.write_text(json.dumps(doc))
    messages = [n.message for n in summarize(read_checkpoint(index)).notices if n.code == "shard-consistency"]
    assert any(f"'{first}' is in" in m and "not in the weight_map" in m for m in messages)
    assert any("'ghost.weight'" in m and "does not contain it" in m for m in messages)
    assert any("total_size" in m for m in messages)
    assert main(["inspect", "--strict", str(index)]) == 1
    os.remove(tmp_path / doc["weight_map"]["ghost.weight"])
    assert any("cannot be read" in n.message for n in read_checkpoint(index).notices)


def test_torch_bin_shards(tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "state_dict.pth")
    keys = list(state)
    parts = {"pytorch_model-00001-of-00002.bin": keys[:4], "pytorch_model-00002-of-00002.bin": keys[4:]}
    for name, part in parts.items():
        torch.save({k: state[k] for k in part}, tmp_path / name)
    weight_map = {k: name for name, part in parts.items() for k in part}
    (tmp_path / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    ckpt = read_checkpoint(tmp_path)
    assert ckpt.format == "sharded-torch" and list(ckpt.tensors) == keys


def test_trainer_directory_is_one_checkpoint_with_parts(tmp_path: Path) -> None:
    directory = tmp_path / "checkpoint-10"
    directory.mkdir()
    training = torch.load(SAMPLES / "training.pth", weights_only=False)
    shutil.copy(SAMPLES / "model.safetensors", directory / "model.safetensors")
    torch.save(training["optimizer_state_dict"], directory / "optimizer.pt")
    torch.save(training["scheduler_state_dict"], directory / "scheduler.pt")
    torch.save({"cpu": torch.get_rng_state()}, directory / "rng_state.pth")
    (directory / "trainer_state.json").write_text(json.dumps({"global_step": 10, "log_history": [{"loss": 1.5}]}))
    (directory / "config.json").write_text(json.dumps({"hidden": 16}))
    ckpt = read_checkpoint(directory)
    assert [k for k, _ in ckpt.root.children] == ["model", "config", "optimizer", "rng_state", "scheduler",
                                                  "trainer_state"]  # fmt: skip
    assert detect_framework(ckpt) == "Hugging Face Trainer checkpoint"
    assert find_state_dict(ckpt).path == ("model",)  # type: ignore[union-attr]
    assert [o.path for o in find_optimizers(ckpt)] == [("optimizer",)]
    assert ckpt.find(("trainer_state", "global_step")).value == 10  # type: ignore[union-attr]
    assert check_loads(ckpt, "sample_checkpoints.models:TinyNet", device="meta").ok


def test_empty_directory_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path)]) == 2
    assert "no checkpoint in it" in capsys.readouterr().err


def test_torchscript_archive_lists_parameters(tmp_path: Path) -> None:
    torch.jit.script(torch.nn.Linear(2, 3)).save(str(tmp_path / "ts.pt"))
    ckpt = read_checkpoint(tmp_path / "ts.pt")
    assert ckpt.format == "torchscript" and set(ckpt.tensors) == {"weight", "bias"}
    assert all(n.severity == "info" for n in ckpt.notices)


async def test_app_opens_a_dcp_directory(dcp_dir: Path) -> None:
    from ckpt_tui.tui.app import CkptApp
    from ckpt_tui.tui.widgets.tensor_detail import TensorDetail

    app = CkptApp(read_checkpoint(dcp_dir))
    async with app.run_test(size=(120, 30)) as pilot:
        await pilot.press("right", "down", "right", "down")  # model > encoder > weight
        await pilot.pause(0.4)
        await app.workers.wait_for_complete()
        await pilot.pause()
        detail = app.screen.query_one(TensorDetail)
        assert detail.current is not None and detail.current.key in detail.computed
