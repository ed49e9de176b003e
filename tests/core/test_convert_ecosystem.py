"""Converted files load where the originals did: names, indexes, ties, RNG states, DCP and TorchScript inputs."""

from __future__ import annotations

import json
import pickle
import shutil
import warnings
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from ckpt_tui.cli import main
from ckpt_tui.converters.convert import ConvertOptions, convert, default_output
from ckpt_tui.errors import UsageError
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.reports import OutputFormat
from tests.helpers import SAMPLES, same_bits


def run_convert(source: Path, out: Path | None = None, **options: object):  # type: ignore[no-untyped-def]
    output = str(out) if out else None
    return convert(read_checkpoint(source), ConvertOptions(output=output, **options))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "to", "expected"),
    [
        ("d/pytorch_model.bin", "safetensors", "d/model.safetensors"),
        ("d/pytorch_model.bin.index.json", "safetensors", "d/model.safetensors"),
        ("d/pytorch_model-00001-of-00002.bin", "safetensors", "d/model.safetensors"),
        ("d/diffusion_pytorch_model.bin", "safetensors", "d/diffusion_pytorch_model.safetensors"),
        ("d/model.pth", "safetensors", "d/model.safetensors"),
        ("d/model.safetensors.index.json", "pth", "d/model.converted.pth"),
        ("d/pytorch_model.bin", "pth", "d/pytorch_model.converted.pth"),
    ],
)
def test_default_output_names_follow_the_conventions(source: str, to: str, expected: str) -> None:
    assert default_output(source, to) == expected


def test_default_output_of_a_directory_is_model_safetensors_inside_it(tmp_path: Path) -> None:
    assert default_output(str(tmp_path) + "/", OutputFormat.SAFETENSORS) == str(tmp_path / "model.safetensors")


def test_format_is_an_enum_and_a_bad_one_is_a_usage_error() -> None:
    assert ConvertOptions(to="pth").to is OutputFormat.PTH  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        ConvertOptions(to="gguf")  # type: ignore[arg-type]


def test_sharded_output_passes_our_own_strict_inspect(tmp_path: Path) -> None:
    report = run_convert(SAMPLES / "tied.pth", tmp_path / "model.safetensors", max_shard_size=300)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    assert report.aliases and not set(report.aliases) & set(index["weight_map"])  # aliases stay in the metadata
    assert main(["inspect", "--strict", str(tmp_path / "model.safetensors.index.json")]) == 0


def test_none_is_json_null_and_sparse_parts_are_reported(tmp_path: Path) -> None:
    torch.save({"sd": {"w": torch.eye(3).to_sparse(), "b": torch.ones(2)}, "best": None}, tmp_path / "in.pt")
    report = run_convert(tmp_path / "in.pt", tmp_path / "out.safetensors", key="sd")
    with safe_open(tmp_path / "out.safetensors", "pt") as f:
        assert f.metadata()["best"] == "null"
    assert not report.not_carried
    assert any(n.startswith("sd.w: a sparse_coo tensor") and "w.indices" in n for n in report.notices)


@pytest.fixture(scope="module")
def dcp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    dcp = pytest.importorskip("torch.distributed.checkpoint")
    directory = tmp_path_factory.mktemp("dcp") / "ckpt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dcp.save({"model": {"w": torch.arange(6.0).reshape(2, 3)}, "milestones": [3, 6, {"gamma": 0.5}], "step": 4},
                 checkpoint_id=str(directory))  # fmt: skip
    return directory


def test_dcp_directory_converts_to_pth_with_its_lists(dcp_dir: Path, tmp_path: Path) -> None:
    run_convert(dcp_dir, tmp_path / "out.pth", to="pth")
    loaded = torch.load(tmp_path / "out.pth", weights_only=True)
    assert loaded["milestones"] == [3, 6, {"gamma": 0.5}] and loaded["step"] == 4
    assert torch.equal(loaded["model"]["w"], torch.arange(6.0).reshape(2, 3))
    run_convert(dcp_dir, tmp_path / "out.safetensors", all_tensors=True)
    with safe_open(tmp_path / "out.safetensors", "pt") as f:
        assert json.loads(f.metadata()["milestones"]) == [3, 6, {"gamma": 0.5}]


def test_torchscript_is_refused_for_pth_not_written_unloadable(tmp_path: Path) -> None:
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(tmp_path / "ts.pt"))
    with pytest.raises(UsageError, match="TorchScript"):
        run_convert(tmp_path / "ts.pt", tmp_path / "out.pth", to="pth")
    assert not (tmp_path / "out.pth").exists()


def numpy_allowlist() -> list[object]:
    """torch's documented way to load numpy values with weights_only=True (as transformers' Trainer does)."""
    import numpy as np

    dtypes = [type(np.dtype(t)) for t in (np.float64, np.float32, np.int64, np.int32, np.uint32, np.bool_)]
    return [np._core.multiarray._reconstruct, np._core.multiarray.scalar, np.ndarray, np.dtype, *dtypes]


def test_every_sample_converts_into_what_loads_where_it_did(tmp_path: Path) -> None:
    """.pth output loads with weights_only=True exactly where the input did; where the input did not (training.pth
    holds an argparse.Namespace), the conversion is refused rather than launder it."""
    for sample in ("state_dict.pth", "training.pth", "tied.pth", "legacy.pth", "dataparallel.pth", "compiled.pth"):
        with torch.serialization.safe_globals(numpy_allowlist()):
            try:
                original = repr(torch.load(SAMPLES / sample, weights_only=True))
            except pickle.UnpicklingError:
                with pytest.raises(UsageError, match="argparse.Namespace"):
                    run_convert(SAMPLES / sample, tmp_path / f"{sample}.pth", to="pth")
            else:
                run_convert(SAMPLES / sample, tmp_path / f"{sample}.pth", to="pth")
                assert repr(torch.load(tmp_path / f"{sample}.pth", weights_only=True)) == original, sample
        run_convert(SAMPLES / sample, tmp_path / f"{sample}.safetensors", all_tensors=True)
        assert load_file(tmp_path / f"{sample}.safetensors")


# -- real producers ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tied_gpt2(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(vocab_size=64, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                     tie_word_embeddings=True)  # fmt: skip
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    directory = tmp_path_factory.mktemp("gpt2")
    torch.save(model.state_dict(), directory / "pytorch_model.bin")  # what save_pretrained wrote before safetensors
    config.save_pretrained(directory)
    return directory, model


def test_tied_gpt2_bin_converts_into_what_from_pretrained_loads_strictly(
    tied_gpt2: tuple[Path, torch.nn.Module], tmp_path: Path
) -> None:
    import transformers

    source, model = tied_gpt2
    report = run_convert(source / "pytorch_model.bin")  # default name: model.safetensors next to it
    assert report.outputs == (str(source / "model.safetensors"),)
    assert report.aliases == {"lm_head.weight": "transformer.wte.weight"}
    target = tmp_path / "converted"
    target.mkdir()
    shutil.copy(source / "model.safetensors", target)
    shutil.copy(source / "config.json", target)
    loaded, info = transformers.GPT2LMHeadModel.from_pretrained(target, output_loading_info=True)
    assert not any(info.values()), info  # no missing, unexpected or mismatched keys
    assert loaded.lm_head.weight.data_ptr() == loaded.transformer.wte.weight.data_ptr()
    for key, tensor in model.state_dict().items():
        assert same_bits(loaded.state_dict()[key], tensor), key


def test_tied_gpt2_loads_strictly_with_safetensors_load_model(tied_gpt2: tuple[Path, torch.nn.Module]) -> None:
    import transformers
    from safetensors.torch import load_model

    source, model = tied_gpt2
    path = source / "strict.safetensors"
    run_convert(source / "pytorch_model.bin", path)
    fresh = transformers.GPT2LMHeadModel(model.config)  # type: ignore[attr-defined]
    missing, unexpected = load_model(fresh, path, strict=True)
    assert not missing and not unexpected
    assert same_bits(fresh.lm_head.weight, model.lm_head.weight)  # type: ignore[union-attr, arg-type]


def test_trainer_resumes_from_a_converted_rng_state(tmp_path: Path) -> None:
    """Trainer's own _save_rng_state/_load_rng_state (torch.load weights_only=True under its numpy allowlist)."""
    trainer_module = pytest.importorskip("transformers.trainer")
    from transformers.training_args import ParallelMode

    trainer = SimpleNamespace(args=SimpleNamespace(world_size=1, process_index=0,
                                                   parallel_mode=ParallelMode.NOT_DISTRIBUTED))  # fmt: skip
    saved, resumed = tmp_path / "saved", tmp_path / "resumed"
    saved.mkdir()
    resumed.mkdir()
    trainer_module.Trainer._save_rng_state(trainer, str(saved))
    run_convert(saved / "rng_state.pth", resumed / "rng_state.pth", to="pth")
    expected = torch.rand(3)
    trainer_module.Trainer._load_rng_state(trainer, str(resumed))
    assert torch.equal(torch.rand(3), expected)
