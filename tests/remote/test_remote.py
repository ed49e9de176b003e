"""Checkpoints in object storage, read by range requests against a real S3-compatible server (moto) on localhost."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from ckpt_tui.cli import main
from ckpt_tui.core.tensors import load_tensor
from ckpt_tui.formats import read_checkpoint, source
from tests.helpers import SAMPLES, same_bits
from tests.remote.conftest import CountingProxy


def upload(local: Path, bucket: str, key: str) -> str:
    import s3fs

    s3fs.S3FileSystem(skip_instance_cache=True).put(str(local), f"{bucket}/{key}", recursive=local.is_dir())
    return f"s3://{bucket}/{key}"


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64 MB in eight tensors with a training checkpoint's scalars beside them."""
    path = tmp_path_factory.mktemp("big") / "big.pth"
    torch.manual_seed(0)
    model = {f"layer{i}.weight": torch.randn(1024, 2048) for i in range(8)}
    torch.save({"model": model, "epoch": 7, "loss": 0.25}, path)
    return path


def listing(path: str) -> dict[str, tuple[str, tuple[int, ...], tuple[int, ...], int]]:
    return {k: (t.dtype, t.shape, t.stride, t.storage_offset) for k, t in read_checkpoint(path).tensors.items()}


def test_a_remote_checkpoint_lists_as_the_local_one_from_its_pickle_and_directory(
    s3_server: CountingProxy, bucket: str, big_checkpoint: Path
) -> None:
    url = upload(big_checkpoint, bucket, "run/big.pth")
    s3_server.reset()
    before = source.TRAFFIC.as_json()
    assert listing(url) == listing(str(big_checkpoint))
    fetched = source.TRAFFIC.bytes - before["bytes_fetched"]
    size = big_checkpoint.stat().st_size
    assert fetched <= 1 << 20, fetched  # the pickle, the directory and a buffer's worth: not the tensors
    assert s3_server.sent <= fetched + 64 << 10, s3_server.sent  # the server agrees, headers included
    assert s3_server.sent < size // 50


def test_remote_tensor_data_is_bit_identical_and_fetched_one_storage_at_a_time(
    s3_server: CountingProxy, bucket: str, big_checkpoint: Path
) -> None:
    url = upload(big_checkpoint, bucket, "run/big2.pth")
    remote, local = read_checkpoint(url), read_checkpoint(str(big_checkpoint))
    s3_server.reset()
    key = "model.layer3.weight"
    assert same_bits(load_tensor(remote.tensors[key]), load_tensor(local.tensors[key]))
    one_tensor = local.tensors[key].nbytes
    assert one_tensor <= s3_server.sent < one_tensor + (1 << 20)


def test_remote_safetensors_and_shard_sets_open_from_their_headers(
    s3_server: CountingProxy, bucket: str, tmp_path: Path
) -> None:
    shards = tmp_path / "model"
    shards.mkdir()
    save_file({"a": torch.randn(512, 1024)}, shards / "model-00001-of-00002.safetensors")
    save_file({"b": torch.randn(512, 1024)}, shards / "model-00002-of-00002.safetensors")
    weight_map = {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}
    (shards / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    url = upload(shards, bucket, "hf/model")
    s3_server.reset()
    assert listing(url) == listing(str(shards))
    assert listing(url + "/model.safetensors.index.json") == listing(str(shards))
    assert s3_server.sent < (1 << 20)  # two headers and an index, not 4 MB of tensors


def test_cli_on_a_url_reports_its_traffic(
    s3_server: CountingProxy, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = upload(SAMPLES / "training.pth", bucket, "samples/training.pth")
    assert main(["inspect", "--json", url]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["path"] == url
    assert document["remote"]["requests"] >= 1 and document["remote"]["bytes_fetched"] > 0
    assert main(["inspect", url]) == 0
    assert "fetched" in capsys.readouterr().err


def test_diff_local_against_remote_and_convert_from_remote_agree_bit_for_bit(
    s3_server: CountingProxy, bucket: str, big_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = upload(big_checkpoint, bucket, "run/big3.pth")
    assert main(["diff", str(big_checkpoint), url, "--no-tui"]) == 0
    capsys.readouterr()
    assert main(["convert", url, "-o", str(tmp_path / "remote.safetensors")]) == 0
    assert main(["convert", str(big_checkpoint), "-o", str(tmp_path / "local.safetensors")]) == 0
    capsys.readouterr()
    assert (tmp_path / "remote.safetensors").read_bytes() == (tmp_path / "local.safetensors").read_bytes()


def test_a_missing_object_is_a_one_line_error(
    s3_server: CountingProxy, bucket: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["inspect", f"s3://{bucket}/nothing/here.pth"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "here.pth" in err


def test_a_scheme_without_its_backend_names_the_extra(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("fsspec")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("gcsfs is installed")
    assert main(["inspect", "gs://bucket/model.pth"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ckpt-tui[remote]" in err


def test_local_paths_are_untouched_by_the_remote_layer() -> None:
    assert not source.is_url(str(SAMPLES / "training.pth"))
    assert not source.is_url("C:\\models\\x.pth") and not source.is_url("weird://x")
    assert source.is_url("s3://b/k") and source.is_url("hf://org/repo/model.safetensors")
    assert os.path.exists(SAMPLES / "training.pth")


def test_a_remote_prefix_lists_as_a_run(
    s3_server: CountingProxy, bucket: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    run.mkdir()
    for epoch, loss in enumerate((0.9, 0.4, 0.6)):
        torch.save({"epoch": epoch, "loss": loss, "model": {"w": torch.full((1024, 1024), float(epoch))}},
                   run / f"ckpt_epoch_{epoch:03d}.pth")  # fmt: skip
    url = upload(run, bucket, "runs/exp1")
    s3_server.reset()
    assert main(["runs", "--json", url]) == 0
    document = json.loads(capsys.readouterr().out)
    rows = {c["name"]: (c["epoch"], c["metrics"]["loss"]) for c in document["checkpoints"]}
    assert rows == {"ckpt_epoch_000.pth": (0, 0.9), "ckpt_epoch_001.pth": (1, 0.4), "ckpt_epoch_002.pth": (2, 0.6)}
    assert document["best"]["path"].endswith("ckpt_epoch_001.pth")
    assert s3_server.sent < 1 << 20  # pickles and directories (a buffer's worth each), not 12 MB of weights
