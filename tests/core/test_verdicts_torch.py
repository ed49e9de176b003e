"""check/diff verdicts on files from plain torch (DataParallel, torch.compile, NaN-poisoned weights) and Lightning,
each compared with what torch's own loading says (consume_prefix_in_state_dict_if_present, load_state_dict)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present

from ckpt_tui import check_loads
from ckpt_tui.core.diff import DiffOptions, diff_checkpoints
from ckpt_tui.core.keys import make_rules, rename_keys
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.reports import ItemStatus
from sample_checkpoints.models import TinyNet
from tests.helpers import SAMPLES

TINY = "sample_checkpoints.models:TinyNet"
OUTER = "tests.core.test_verdicts_torch:Outer"


class Outer(nn.Module):
    """A model with a submodule really named `module`: DataParallel makes its keys `module.module.*`."""

    def __init__(self) -> None:
        super().__init__()
        self.module = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.module(x))


class Nested(nn.Module):
    """`module` deeper in the tree: DataParallel makes `module.enc.module.weight`."""

    def __init__(self) -> None:
        super().__init__()
        self.enc = Outer()


def torch_verdict(model: nn.Module, state: dict[str, Any]) -> bool:
    """What load_state_dict(strict=True) says."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError:
        return False
    return True


def test_no_strict_never_passes_what_loaded_nothing(tmp_path: Path) -> None:
    report = check_loads(str(SAMPLES / "dataparallel.pth"), TINY, strict=False, forward=((4, 8), "float32"))
    items = {c.name: c for c in report.checks()}
    assert not report.ok and report.matched == 0
    assert items["keys matched"].status is ItemStatus.FAILED
    assert items["no missing keys"].status is ItemStatus.TOLERATED  # not a ✓: nine keys are missing
    assert items["load_state_dict"].status is ItemStatus.FAILED and "nothing" in items["load_state_dict"].detail
    state = torch.load(SAMPLES / "state_dict.pth")
    torch.save({k: v for i, (k, v) in enumerate(state.items()) if i < 4}, tmp_path / "few.pt")  # 4 of 9 keys
    assert not check_loads(str(tmp_path / "few.pt"), TINY, strict=False).ok
    torch.save({k: v for i, (k, v) in enumerate(state.items()) if i < 5}, tmp_path / "most.pt")  # 5 of 9: tolerated
    most = check_loads(str(tmp_path / "most.pt"), TINY, strict=False)
    assert most.ok and most.needed == 5 and most.loaded_count == 5


def test_meta_does_not_claim_load_state_dict_ran() -> None:
    report = check_loads(str(SAMPLES / "training.pth"), TINY, device="meta")
    load = [c for c in report.checks() if c.name == "load_state_dict"][0]
    assert report.ok and load.status is ItemStatus.SKIPPED and not report.loaded


def test_real_dataparallel_with_a_submodule_named_module(tmp_path: Path) -> None:
    wrapped = nn.DataParallel(Outer())
    state = wrapped.state_dict()
    assert list(state)[0] == "module.module.weight"
    torch.save(state, tmp_path / "dp.pt")
    report = check_loads(str(tmp_path / "dp.pt"), OUTER, rules=make_rules(strip_module=True))
    torch_state = OrderedDict(state)
    consume_prefix_in_state_dict_if_present(torch_state, "module.")
    assert report.ok and torch_verdict(Outer(), torch_state)
    assert report.hint is None
    raw = check_loads(str(tmp_path / "dp.pt"), OUTER, device="meta")
    assert not raw.ok and raw.hint == "all 4 unexpected keys carry 'module.' — use --strip-module"


def test_strip_module_keeps_a_submodule_named_module_inside_a_key() -> None:
    keys = {"encoder.module.weight": 1, "module.head.bias": 2}
    state = OrderedDict(keys)
    consume_prefix_in_state_dict_if_present(state, "module.")
    assert (
        rename_keys(keys, make_rules(strip_module=True)) == dict(state) == {"encoder.module.weight": 1, "head.bias": 2}
    )
    assert rename_keys({"encoder.x": 1}, make_rules(strip_prefix=["encoder"])) == {"x": 1}
    assert rename_keys({"a.encoder.x": 1}, make_rules(strip_prefix=["encoder"])) == {"a.encoder.x": 1}


def test_torch_compile_prefixes_on_the_model_and_on_a_submodule(tmp_path: Path) -> None:
    """The keys torch.compile's OptimizedModule gives (`_orig_mod.`), on the model and on a submodule; built by hand
    (importing dynamo costs seconds)."""
    state = TinyNet().state_dict()
    whole = {f"_orig_mod.{k}": v for k, v in state.items()}
    part = {k.replace("encoder.", "encoder._orig_mod.", 1): v for k, v in state.items()}
    for name, keys in (("whole", whole), ("part", part)):
        torch.save(keys, tmp_path / f"{name}.pt")
        report = check_loads(str(tmp_path / f"{name}.pt"), TINY, rules=make_rules(strip_wrappers=True))
        stripped = {k.replace("_orig_mod.", ""): v for k, v in keys.items()}
        assert report.ok and torch_verdict(TinyNet(), stripped)


def test_nonfinite_weights_fail_by_default(tmp_path: Path) -> None:
    state = torch.load(SAMPLES / "state_dict.pth")
    state["head.weight"][0, 0] = float("nan")
    state["head.bias"][1] = float("inf")
    torch.save(state, tmp_path / "nan.pt")
    assert torch_verdict(TinyNet(), state)  # torch loads it without a word
    for device in ("cpu", "meta"):
        report = check_loads(str(tmp_path / "nan.pt"), TINY, device=device)
        assert not report.ok and [(n.key, n.nan, n.inf) for n in report.nonfinite] == [
            ("head.weight", 1, 0),
            ("head.bias", 0, 1),
        ]
    allowed = check_loads(str(tmp_path / "nan.pt"), TINY, allow_nonfinite=True)
    finite = [c for c in allowed.checks() if c.name == "checkpoint tensors are finite"][0]
    assert allowed.ok and finite.status is ItemStatus.TOLERATED
    clean = check_loads(str(SAMPLES / "state_dict.pth"), TINY)
    assert clean.ok and clean.finite_checked == 8  # the floating tensors; num_batches_tracked is an int


def test_diff_reports_nan_as_its_own_change_and_first(tmp_path: Path) -> None:
    a = {"big": torch.zeros(4), "poisoned": torch.ones(4), "inf": torch.ones(2)}
    b = {"big": torch.full((4,), 5.0), "poisoned": torch.tensor([1.0, float("nan"), 1.0, 1.0]), "inf": torch.ones(2)}
    b["inf"][0] = float("-inf")
    torch.save(a, tmp_path / "a.pt")
    torch.save(b, tmp_path / "b.pt")
    report = diff_checkpoints(read_checkpoint(tmp_path / "a.pt"), read_checkpoint(tmp_path / "b.pt"))
    assert [t.key for t in report.changed] == ["poisoned", "inf", "big"]
    assert [t.status for t in report.changed] == ["nonfinite", "nonfinite", "changed"]
    poisoned = report.changed[0].metrics
    assert poisoned is not None and (poisoned.nan_introduced, poisoned.nan_removed) == (1, 0)
    back = diff_checkpoints(read_checkpoint(tmp_path / "b.pt"), read_checkpoint(tmp_path / "a.pt"))
    assert {t.key: (t.metrics.nan_removed, t.metrics.inf_removed) for t in back.nonfinite} == {  # type: ignore[union-attr]
        "poisoned": (1, 0),
        "inf": (0, 1),
    }
    same_nan = diff_checkpoints(read_checkpoint(tmp_path / "b.pt"), read_checkpoint(tmp_path / "b.pt"))
    assert same_nan.identical
    tolerant = diff_checkpoints(
        read_checkpoint(tmp_path / "a.pt"), read_checkpoint(tmp_path / "b.pt"), DiffOptions(atol=1e9)
    )
    assert [t.key for t in tolerant.changed] == ["poisoned", "inf"]  # no tolerance forgives a NaN


def test_diff_ties_in_a_plain_torch_file(tmp_path: Path) -> None:
    from sample_checkpoints.models import TinyLM

    model = TinyLM()
    torch.save(model.state_dict(), tmp_path / "both.pt")
    once = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    torch.save(once, tmp_path / "once.pt")
    report = diff_checkpoints(read_checkpoint(tmp_path / "both.pt"), read_checkpoint(tmp_path / "once.pt"))
    assert report.identical and report.tied_a == (("lm_head.weight", "embed.weight"),)
    untied = dict(once) | {"lm_head.weight": model.lm_head.weight.detach().clone()}
    torch.save(untied, tmp_path / "untied.pt")
    torch.save(once | {"other": torch.zeros(1)}, tmp_path / "other.pt")
    assert diff_checkpoints(read_checkpoint(tmp_path / "untied.pt"), read_checkpoint(tmp_path / "other.pt")).only_a


@pytest.fixture(scope="module")
def lightning_ckpts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A LightningModule holding the model as `model` and one as `net`, trained one step each, as saved."""
    from torch.utils.data import DataLoader, TensorDataset

    lightning = pytest.importorskip("pytorch_lightning")
    root = tmp_path_factory.mktemp("lightning")
    out = {}
    for attribute in ("model", "net"):
        module = _lit_module(lightning, attribute)
        data = DataLoader(TensorDataset(torch.randn(8, 8), torch.randint(0, 4, (8,))), batch_size=4)
        trainer = lightning.Trainer(
            max_epochs=1,
            limit_train_batches=1,
            enable_progress_bar=False,
            logger=False,
            enable_checkpointing=False,
            enable_model_summary=False,
            default_root_dir=str(root),
            accelerator="cpu",
        )
        trainer.fit(module, data)
        trainer.save_checkpoint(root / f"{attribute}.ckpt")
        out[attribute] = root / f"{attribute}.ckpt"
    return out


def _lit_module(lightning: Any, attribute: str) -> Any:
    class Lit(lightning.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            setattr(self, attribute, TinyNet())

        def training_step(self, batch: Any, _: int) -> torch.Tensor:
            x, y = batch
            return nn.functional.cross_entropy(getattr(self, attribute)(x), y)

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    return Lit()


@pytest.mark.parametrize("attribute", ["model", "net"])
def test_lightning_prefix_hint_and_strip(lightning_ckpts: dict[str, Path], attribute: str) -> None:
    path = lightning_ckpts[attribute]
    raw = check_loads(str(path), TINY, device="meta")
    assert not raw.ok and raw.hint == f"all 9 unexpected keys carry '{attribute}.' — use --strip-prefix {attribute}."
    assert not check_loads(str(path), TINY, strict=False, device="meta").ok  # nothing matched: never a pass
    report = check_loads(str(path), TINY, rules=make_rules(strip_prefix=[attribute]))
    state = torch.load(path, weights_only=True)["state_dict"]
    stripped = {k.removeprefix(f"{attribute}."): v for k, v in state.items()}
    assert report.ok and report.scope == ("state_dict",) and torch_verdict(TinyNet(), stripped)


def test_a_shard_set_reads_aliases_without_listing_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Aliases stay in a shard's metadata; the index lists only stored names, and inspect --strict accepts it."""
    import json

    from safetensors.torch import save_file

    from ckpt_tui.cli import main

    embed = torch.randn(8, 4)
    save_file(
        {"embed.weight": embed}, str(tmp_path / "model-00001-of-00002.safetensors"), {"lm_head.weight": "embed.weight"}
    )
    save_file({"block.weight": torch.ones(4, 4)}, str(tmp_path / "model-00002-of-00002.safetensors"))
    weight_map = {
        "embed.weight": "model-00001-of-00002.safetensors",
        "block.weight": "model-00002-of-00002.safetensors",
    }
    index = {"metadata": {"total_size": embed.nbytes + 64}, "weight_map": weight_map}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    ckpt = read_checkpoint(tmp_path)
    assert set(ckpt.tensors) == {"embed.weight", "lm_head.weight", "block.weight"}
    assert ckpt.tensors["lm_head.weight"].storage == ckpt.tensors["embed.weight"].storage
    assert main(["inspect", str(tmp_path), "--strict"]) == 0, capsys.readouterr().out


def test_strip_module_rewrites_metadata_and_optimizer_names_as_torch_does(tmp_path: Path) -> None:
    from ckpt_tui.cli import main

    wrapped = nn.DataParallel(Nested())
    optimizer = torch.optim.SGD(wrapped.parameters(), lr=0.1)
    state = wrapped.state_dict()
    torch.save({"model": state, "optimizer": optimizer.state_dict()}, tmp_path / "dp.pt")
    assert (
        main(["convert", str(tmp_path / "dp.pt"), "-o", str(tmp_path / "out.pt"), "--to", "pth", "--strip-module"]) == 0
    )
    written = torch.load(tmp_path / "out.pt", weights_only=True)["model"]
    expected = OrderedDict(state)
    expected._metadata = state._metadata  # type: ignore[attr-defined]
    consume_prefix_in_state_dict_if_present(expected, "module.")
    assert (
        list(written)
        == list(expected)
        == [
            "enc.module.weight",
            "enc.module.bias",
            "enc.head.weight",
            "enc.head.bias",
        ]
    )
    assert dict(written._metadata) == dict(expected._metadata)  # type: ignore[attr-defined]
    assert torch_verdict(Nested(), written)
