"""The safe reader against torch.load(weights_only=False): same keys, shapes, dtypes, values; nothing run."""

from __future__ import annotations

import argparse
import collections
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ckpt_tui.core.layout import find_optimizers, find_state_dict
from ckpt_tui.core.summary import summarize
from ckpt_tui.core.tensors import load_tensor
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import ArrayValue, Kind
from tests.helpers import SAMPLES, data_pkl_of, flatten_tensors, same_bits, write_torch_zip

ALL_DTYPES = [
    torch.float64,
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.float8_e4m3fn,
    torch.float8_e5m2,
    torch.float8_e4m3fnuz,
    torch.float8_e5m2fnuz,
    torch.float8_e8m0fnu,
    torch.complex64,
    torch.complex128,
    torch.bool,
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint16,
    torch.uint32,
    torch.uint64,
]


def assert_matches_torch(path: Path) -> None:
    ckpt = read_checkpoint(path)
    expected = flatten_tensors(torch.load(path, weights_only=False))
    assert list(ckpt.tensors) == list(expected)
    for key, info in ckpt.tensors.items():
        assert info.dtype == str(expected[key].dtype).removeprefix("torch."), key
        assert info.shape == tuple(expected[key].shape), key
        assert same_bits(load_tensor(info), expected[key]), key


@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*.pth")))
def test_samples_match_torch_load(name: str) -> None:
    assert_matches_torch(SAMPLES / name)


def test_every_dtype_reads_bit_identical(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(0)
    state = {str(d): (torch.randn(3, 5, generator=gen) * 4).to(d) for d in ALL_DTYPES}
    torch.save(state, tmp_path / "dtypes.pt")
    assert_matches_torch(tmp_path / "dtypes.pt")


def test_views_offsets_strides_and_shared_storage(tmp_path: Path) -> None:
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    state = {"base": base, "row": base[2], "col": base[:, 3], "t": base.t(), "slice": base[1:4, 2:9:3]}
    torch.save(state, tmp_path / "views.pt")
    assert_matches_torch(tmp_path / "views.pt")
    ckpt = read_checkpoint(tmp_path / "views.pt")
    assert ckpt.tensors["col"].stride == (10,) and ckpt.tensors["col"].storage_offset == 3
    shared = [n for n in summarize(ckpt).notices if n.code == "shared-storage"]
    assert len(shared) == 1 and "5 tensors share one storage" in shared[0].message


def test_zero_dim_empty_parameter_and_containers(tmp_path: Path) -> None:
    state = {
        "scalar": torch.tensor(3.5),
        "empty": torch.zeros(0, 4),
        "param": nn.Parameter(torch.ones(2)),
        "size": torch.Size([2, 3]),
        "device": torch.device("cuda", 1),
        "dtype": torch.bfloat16,
        "set": {1, 2},
        "tuple": (1, "a", None),
        "bytes": b"\x00\xff",
        "nested": [[{"x": torch.ones(1)}]],
        "ns": argparse.Namespace(lr=0.1, name="run"),
        "complex": 1 + 2j,
    }
    torch.save(state, tmp_path / "misc.pt")
    assert_matches_torch(tmp_path / "misc.pt")
    root = read_checkpoint(tmp_path / "misc.pt").root
    values = {k: e.value for k, e in root.children if e.kind is Kind.VALUE}
    assert values["size"] == (2, 3) and values["device"] == "cuda:1" and values["dtype"] == "torch.bfloat16"
    assert values["bytes"] == b"\x00\xff" and values["complex"] == 1 + 2j
    assert read_checkpoint(tmp_path / "misc.pt").tensors["param"].is_parameter
    ns = root.child("ns")
    assert ns is not None and ns.kind is Kind.OPAQUE and ns.type_name == "argparse.Namespace"
    assert {k: e.value for k, e in ns.children} == {"lr": 0.1, "name": "run"}
    assert sorted(e.value for _, e in root.child("set").children) == [1, 2]  # type: ignore[union-attr]


def test_state_dict_metadata_is_kept_as_attribute(tmp_path: Path) -> None:
    torch.save(nn.Linear(2, 2).state_dict(), tmp_path / "sd.pt")
    root = read_checkpoint(tmp_path / "sd.pt").root
    assert root.type_name == "collections.OrderedDict"
    assert [k for k, _ in root.attrs] == ["_metadata"]
    assert [k for k, _ in root.children] == ["weight", "bias"]


@pytest.mark.parametrize("numpy_module", [b"numpy._core", b"numpy.core"])
def test_numpy_values_under_both_module_names(tmp_path: Path, numpy_module: bytes) -> None:
    torch.save({"acc": np.float64(0.25), "n": np.int32(7), "arr": np.arange(4, dtype=np.uint32)}, tmp_path / "np.pt")
    data = data_pkl_of(tmp_path / "np.pt").replace(b"numpy._core", numpy_module)
    path = write_torch_zip(tmp_path / "np2.pt", data)
    root = read_checkpoint(path).root
    assert root.child("acc").value == 0.25 and root.child("acc").type_name == "numpy.float64"  # type: ignore[union-attr]
    assert root.child("n").value == 7  # type: ignore[union-attr]
    arr = root.child("arr").value  # type: ignore[union-attr]
    assert isinstance(arr, ArrayValue) and arr.shape == (4,) and np.frombuffer(arr.data, "<u4").tolist() == [0, 1, 2, 3]


def test_quantized_and_sparse_are_shown_as_what_they_are(tmp_path: Path) -> None:
    q = torch.quantize_per_tensor(torch.tensor([0.5, 1.0]), 0.5, 2, torch.qint8)
    torch.save({"q": q, "sparse": torch.eye(3).to_sparse()}, tmp_path / "qs.pt")
    ckpt = read_checkpoint(tmp_path / "qs.pt")
    info = ckpt.tensors["q"]
    assert info.dtype == "qint8" and info.quantization is not None and info.quantization.scale == 0.5
    assert same_bits(load_tensor(info), q)
    sparse = ckpt.root.child("sparse")
    assert sparse is not None and sparse.type_name == "torch.sparse_coo tensor"
    indices = load_tensor(ckpt.tensors["sparse.indices"])
    assert torch.equal(indices, torch.eye(3).to_sparse().indices())


def test_tensors_saved_on_cuda_read_on_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.serialization, "location_tag", lambda storage: "cuda:0")
    torch.save({"w": torch.arange(4.0)}, tmp_path / "cuda.pt")
    monkeypatch.undo()
    info = read_checkpoint(tmp_path / "cuda.pt").tensors["w"]
    assert info.device == "cuda:0"
    assert torch.equal(load_tensor(info, "cpu"), torch.arange(4.0))


class Hyper:
    """Stands in for omegaconf/Lightning hyper-parameter objects: a class the reader must not import."""

    def __init__(self) -> None:
        self.lr = 0.01
        self.mask = torch.ones(3)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.register_buffer("scale", torch.full((2,), 2.0))


def test_whole_pickled_module_and_opaque_objects_show_their_tensors(tmp_path: Path) -> None:
    torch.save({"model": Net(), "hparams": Hyper()}, tmp_path / "whole.pt")
    ckpt = read_checkpoint(tmp_path / "whole.pt")
    assert {"model.fc.weight", "model.fc.bias", "model.scale", "hparams.mask"} <= set(ckpt.tensors)
    model = ckpt.root.child("model")
    assert model is not None and model.kind is Kind.OPAQUE and model.type_name.endswith("Net")
    notices = {n.subject for n in ckpt.notices if n.code == "unknown-global"}
    assert any(s.endswith(".Net") for s in notices) and any(s.endswith(".Hyper") for s in notices)
    expected = torch.load(tmp_path / "whole.pt", weights_only=False)
    assert torch.equal(load_tensor(ckpt.tensors["model.fc.weight"]), expected["model"].fc.weight)


def test_legacy_format_matches(tmp_path: Path) -> None:
    base = torch.arange(10, dtype=torch.float64)
    torch.save(
        {"a": base, "view": base[3:7], "h": torch.ones(2, dtype=torch.float16)},
        tmp_path / "legacy.pt",
        _use_new_zipfile_serialization=False,
    )
    assert read_checkpoint(tmp_path / "legacy.pt").format == "torch-legacy"
    assert_matches_torch(tmp_path / "legacy.pt")


def test_training_checkpoint_layout() -> None:
    ckpt = read_checkpoint(SAMPLES / "training.pth")
    located = find_state_dict(ckpt)
    assert located is not None and located.path == ("model_state_dict",)
    assert [o.path for o in find_optimizers(ckpt)] == [("optimizer_state_dict",)]
    hp = ckpt.root.child("hyper_parameters")
    assert hp is not None and hp.type_name == "argparse.Namespace" and hp.child("lr").value == 1e-3  # type: ignore[union-attr]


def test_safetensors_header_only() -> None:
    ckpt = read_checkpoint(SAMPLES / "model.safetensors")
    expected = torch.load(SAMPLES / "state_dict.pth")
    assert set(ckpt.tensors) == set(expected)
    for key, info in ckpt.tensors.items():
        assert torch.equal(load_tensor(info), expected[key])
    meta = ckpt.root.child("__metadata__")
    assert meta is not None and meta.child("format").value == "pt"  # type: ignore[union-attr]


def test_plain_pickle_is_shown(tmp_path: Path) -> None:
    (tmp_path / "plain.pkl").write_bytes(pickle.dumps({"a": [1, 2], "od": collections.OrderedDict(x=1)}))
    ckpt = read_checkpoint(tmp_path / "plain.pkl")
    assert ckpt.format == "pickle" and ckpt.root.child("a") is not None


@pytest.mark.parametrize("fmt", ["zip", "legacy"])
def test_os_system_payload_is_shown_not_run(tmp_path: Path, fmt: str) -> None:
    marker = tmp_path / "MARKER"

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            import os

            return os.system, (f"touch {marker}",)

    torch.save(
        {"w": torch.ones(2), "evil": Payload()}, tmp_path / "evil.pt", _use_new_zipfile_serialization=(fmt == "zip")
    )
    ckpt = read_checkpoint(tmp_path / "evil.pt")
    evil = ckpt.root.child("evil")
    assert evil is not None and evil.kind is Kind.OPAQUE and evil.type_name in ("posix.system", "os.system")
    assert any(n.code == "unknown-global" and "system" in n.subject for n in ckpt.notices)
    assert not marker.exists()


@pytest.mark.parametrize("cls", [collections.OrderedDict, collections.Counter])
def test_a_mapping_class_saved_as_a_value_is_named_as_the_file_names_it(tmp_path: Path, cls: type) -> None:
    # it was shown as ckpt_tui's own stand-in (ckpt_tui.formats._builders.OpaqueDict)
    path = tmp_path / "cls.pt"
    torch.save({"factory": cls}, path)
    assert torch.load(path, weights_only=True)["factory"] is cls
    entry = read_checkpoint(path).root.child("factory")
    assert entry is not None and entry.value.qualname == f"collections.{cls.__name__}"  # type: ignore[union-attr]
