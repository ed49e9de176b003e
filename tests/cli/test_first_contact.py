"""The newcomer's first minutes: files that are not checkpoints, usage mistakes, devices, closed pipes, labels."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch

from ckpt_tui.cli import main
from ckpt_tui.formats import read_checkpoint
from tests.helpers import SAMPLES

ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _keras(path: Path) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", "{}")
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")


def _pt2(path: Path) -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.lin(x)

    torch.export.save(torch.export.export(Net(), (torch.randn(1, 2),)), str(path))


def _tar(path: Path) -> None:
    with tarfile.open(path, "w") as t:
        data = b"weights"
        info = tarfile.TarInfo("run/model.pth")
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))


def _npz(path: Path) -> None:
    import numpy as np

    with open(path, "wb") as f:
        np.savez(f, a=np.zeros(3))


FOREIGN = {
    "lfs.bin": (
        lambda p: p.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:4d7a\nsize 123\n"),
        "git lfs pull",
    ),
    "page.bin": (lambda p: p.write_text("<!DOCTYPE html>\n<html><body>Sign in</body></html>"), "failed download"),
    "model.onnx": (lambda p: p.write_bytes(b"\x08\x07\x12\x07pytorch\x1a\x052.13.0"), "ONNX"),
    "weights.h5": (lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64)), "HDF5"),
    "model.keras": (_keras, "Keras"),
    "program.pt2": (_pt2, "torch.export"),
    "ckpt.pth.tar": (_tar, "tar xf"),
    "model.gguf": (lambda p: p.write_bytes(b"GGUF\x03\x00\x00\x00" + bytes(32)), "GGUF"),
    "arrays.npz": (_npz, "NumPy"),
}


@pytest.mark.parametrize("name", sorted(FOREIGN))
def test_files_that_are_not_checkpoints_are_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str
) -> None:
    make, expected = FOREIGN[name]
    path = tmp_path / name
    make(path)
    code, out, err = run(capsys, "inspect", str(path))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and expected in err, err
    assert "unrecognised format" not in err


def test_one_file_of_a_dcp_directory_says_open_the_directory(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "__0_0.distcp").write_bytes(os.urandom(256))
    (tmp_path / ".metadata").write_bytes(b"\x80\x04N.")
    code, _, err = run(capsys, "inspect", str(tmp_path / "__0_0.distcp"))
    assert code == 2 and "open the directory" in err


def test_a_tensorflow_saved_model_directory_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "saved_model.pb").write_bytes(b"\x08\x01")
    (tmp_path / "variables").mkdir()
    code, _, err = run(capsys, "inspect", str(tmp_path))
    assert code == 2 and "TensorFlow SavedModel" in err


def test_a_real_checkpoint_keeps_its_own_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A torch zip with a problem of its own is not renamed into something else."""
    data = (SAMPLES / "state_dict.pth").read_bytes()
    path = tmp_path / "cut.pth"
    path.write_bytes(data[: len(data) // 2])
    code, _, err = run(capsys, "inspect", str(path))
    assert code == 2 and "truncated" in err


def test_unknown_verb_is_named_with_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "frobnicate", "x")
    assert code == 2 and err.count("\n") == 1
    assert "unknown command 'frobnicate'" in err and "inspect" in err and "diff" in err


def test_a_path_is_still_opened_without_a_verb(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, str(tmp_path / "missing.pth"))
    assert code == 2 and "no such file" in err


def test_a_mistyped_flag_points_at_the_verbs_own_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "inspect", "--jsn", str(SAMPLES / "training.pth"))
    assert code == 2 and "unrecognized arguments: --jsn" in err and "(see ckpt-tui inspect --help)" in err
    code, _, err = run(capsys, "diff", str(SAMPLES / "training.pth"), str(SAMPLES / "training.pth"), "--rtl", "1")
    assert code == 2 and "(see ckpt-tui diff --help)" in err


@pytest.mark.parametrize("extra", [[], ["--stats"], ["--json"], ["--json", "--stats"]])
def test_a_closed_pipe_is_not_a_failure(extra: list[str]) -> None:
    """`inspect ... | head -1` exits 0 whatever the verb prints, like every well-behaved filter."""
    script = (
        "import subprocess, sys\n"
        f"p = subprocess.Popen([sys.executable, '-m', 'ckpt_tui', 'inspect', *{extra!r}, sys.argv[1]],"
        " stdout=subprocess.PIPE, stderr=subprocess.PIPE)\n"
        "p.stdout.readline(); p.stdout.close()\n"
        "err = p.stderr.read(); print(p.wait()); sys.stderr.write(err.decode())\n"
    )
    big = str(SAMPLES / "training.pth")
    done = subprocess.run([sys.executable, "-c", script, big], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "0", done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("device", ["mps", "xpu", "xpu:1"])
def test_accelerators_torch_knows_are_accepted_and_checked(capsys: pytest.CaptureFixture[str], device: str) -> None:
    if torch.accelerator.current_accelerator() is not None:
        pytest.skip("this machine has an accelerator")
    code, _, err = run(capsys, "inspect", "--stats", "--device", device, str(SAMPLES / "training.pth"))
    assert code == 2 and "unknown device" not in err
    assert f"{device.split(':')[0].upper()} is not available here" in err


def test_stats_on_meta_is_refused_at_argument_time(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "inspect", "--stats", "--device", "meta", str(SAMPLES / "training.pth"))
    assert code == 2 and out == "" and "meta device holds none" in err and "model_state_dict" not in err


def test_released_model_directories_open_as_their_state_dict(tmp_path: Path) -> None:
    """GPT-2 (one file + config + generation config) and BERT (shards + config) open alike: keys as saved."""
    transformers = pytest.importorskip("transformers")
    gpt2 = transformers.GPT2LMHeadModel(
        transformers.GPT2Config(n_embd=8, n_layer=1, n_head=2, vocab_size=16, n_positions=8)
    )
    gpt2.generation_config.max_length = 8  # writes generation_config.json beside the weights
    gpt2.save_pretrained(tmp_path / "gpt2")
    bert = transformers.BertModel(
        transformers.BertConfig(
            hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8, vocab_size=16,
            max_position_embeddings=8,
        )
    )  # fmt: skip
    bert.save_pretrained(tmp_path / "bert", max_shard_size="1KB")
    assert (tmp_path / "gpt2" / "generation_config.json").exists()
    assert (tmp_path / "bert" / "model.safetensors.index.json").exists()
    from safetensors.torch import load_file

    gpt2_dir = read_checkpoint(tmp_path / "gpt2")
    assert set(gpt2_dir.tensors) == set(load_file(tmp_path / "gpt2" / "model.safetensors"))
    bert_dir = read_checkpoint(tmp_path / "bert")
    assert set(bert_dir.tensors) == set(bert.state_dict())
    for ckpt in (gpt2_dir, bert_dir):
        assert not any("training directory" in n.message for n in ckpt.notices)
        assert any(n.message.startswith("a model directory") for n in ckpt.notices)


def test_accelerate_save_state_parts_are_read_or_said(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1)
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    torch.save(optimizer.state_dict(), tmp_path / "optimizer.bin")
    torch.save(scheduler.state_dict(), tmp_path / "scheduler.bin")
    torch.save({"step": 3, "torch_manual_seed": torch.get_rng_state()}, tmp_path / "random_states_0.pkl")
    (tmp_path / "notes.txt").write_text("hello")
    ckpt = read_checkpoint(tmp_path)
    parts = {str(k) for k, _ in ckpt.root.children}
    assert {"model", "optimizer", "scheduler", "random_states_0"} <= parts
    skipped = [n.message for n in ckpt.notices if n.message.startswith("not read")]
    assert skipped == ["not read (not a known part of a checkpoint): notes.txt"]


def test_one_files_unknown_globals_are_one_notice(tmp_path: Path) -> None:
    """A Trainer's training_args.bin names many classes: one grouped warning, not one per class."""
    import pickletools  # noqa: F401 - the pickle below is built by hand, never loaded

    from tests.helpers import write_torch_zip

    classes = [("transformers.training_args", "TrainingArguments"), ("transformers.trainer_utils", "IntervalStrategy")]
    body = b"".join(f"c{m}\n{n}\n".encode() + b")\x81" for m, n in classes)
    write_torch_zip(tmp_path / "training_args.bin", b"\x80\x02(" + body + b"l.")
    write_torch_zip(tmp_path / "optimizer.pt", b"\x80\x02}q\x00.")
    ckpt = read_checkpoint(tmp_path)
    unknown = [n for n in ckpt.notices if n.code == "unknown-global"]
    assert len(unknown) == 1
    assert "training_args.bin: 2 globals" in unknown[0].message
    assert "TrainingArguments" in unknown[0].message and "IntervalStrategy" in unknown[0].message


@pytest.mark.parametrize(
    ("qualname", "wording"),
    [
        ("posix.system", "runs shell commands"),
        ("posix.getcwd", "reads files, the environment"),
        ("os.remove", "deletes files"),
        ("io.open", "opens, creates or truncates files"),
        ("builtins.eval", "evaluate code"),
    ],
)
def test_danger_wording_fits_the_function(qualname: str, wording: str) -> None:
    from ckpt_tui.formats._risk import notice_for_global

    notice = notice_for_global(qualname, 1)
    assert wording in notice.message
    if qualname == "posix.getcwd":
        assert "shell" not in notice.message


def _fake_python(tmp_path: Path, version: str) -> Path:
    """A `python3` that reports an old version and would fail loudly if asked to make a venv."""
    fake = tmp_path / "python-old"
    fake.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *version_info*) echo {version}; exit 0;; esac\n'
        'echo "fake python asked to: $*" >&2; exit 99\n'
    )
    fake.chmod(0o755)
    return fake


def test_make_refuses_an_old_python_before_creating_anything(tmp_path: Path) -> None:
    fake = _fake_python(tmp_path, "3.10")
    venv = tmp_path / "venv"
    done = subprocess.run(
        ["make", "-s", "-C", str(ROOT), f"PY={fake}", f"VENV={venv}", "setup"], capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "needs Python 3.11 or newer" in done.stderr and "3.10" in done.stderr
    assert "fake python asked to" not in done.stderr and not venv.exists()


EVIL = ["\x1b]52;c;SGVsbG8=\x07", "\x1b]0;title\x07", "\x1b]8;;http://x\x07a\x1b]8;;\x07", "\x9b31m", "\u202eevil"]
MARKUP = "[bold red]markup[/]"


@pytest.fixture(scope="module")
def hostile_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two checkpoints whose keys and values hold terminal escapes, C1 controls, bidi overrides and Rich markup."""
    root = tmp_path_factory.mktemp("hostile")
    paths = []
    for n in (1, 2):
        sd = {f"layer{i}.{e}.weight": torch.full((2, 2), float(n)) for i, e in enumerate([*EVIL, MARKUP])}
        extra = {"epoch": n, "note\x1b[31m": f"v{n}\x1b]52;c;AAAA\x07", "hp": {"name": f"\u202e{MARKUP}\x9b2J"}}
        torch.save({"model_state_dict": sd, **extra}, root / f"evil{n}.pth")
        paths.append(root / f"evil{n}.pth")
    return paths[0], paths[1]


@pytest.mark.parametrize(
    "verb",
    [
        ["inspect"],
        ["inspect", "--json"],
        ["inspect", "--stats"],
        ["inspect", "--json", "--stats"],
        ["diff"],
        ["diff", "--json"],
        ["check", "--model", "sample_checkpoints.models:TinyNet", "--device", "meta"],
        ["check", "--json", "--model", "sample_checkpoints.models:TinyNet", "--device", "meta"],
    ],
)
def test_nothing_from_the_file_reaches_the_terminal_raw(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, hostile_pair: tuple[Path, Path],
    verb: list[str],
) -> None:  # fmt: skip
    monkeypatch.chdir(ROOT)
    a, b = hostile_pair
    paths = [str(a), str(b)] if verb[0] == "diff" else [str(a)]
    argv = [verb[0], *paths, *verb[1:]] if verb[0] != "diff" else [*verb, *paths]
    if verb[0] == "diff":
        argv.append("--no-tui")
    _, out, err = run(capsys, *argv)
    for stream in (out, err):
        assert "\x1b" not in stream and "\x07" not in stream
        assert not any("\x80" <= c <= "\x9f" or c in "\u202e\u2066\u2067\u2068\u2069" for c in stream)
    if "--json" in verb:
        import json

        assert json.loads(out)  # still valid JSON, the escapes being \\u sequences inside its strings
        assert "\\u202e" in out or "\\u009b" in out


@pytest.mark.parametrize("verb", [["inspect", "--json"], ["diff", "--json", "--no-tui"]])
def test_del_in_an_otherwise_ascii_file_is_escaped_in_json(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, verb: list[str]
) -> None:
    # JSON output skips its escaping pass when the text is ASCII; DEL is ASCII, and terminals act on it
    path = tmp_path / "del.pth"
    torch.save({"w\x7f": torch.ones(2), "note": "x\x7fy"}, path)
    argv = [verb[0], str(path), *([str(path)] if verb[0] == "diff" else []), *verb[1:]]
    _, out, _ = run(capsys, *argv)
    assert "\x7f" not in out and "\\u007f" in out


def test_a_run_folder_given_to_a_one_checkpoint_verb_points_at_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for epoch in range(2):
        torch.save({"epoch": epoch, "model": {"w": torch.ones(2)}}, tmp_path / f"ckpt_epoch_{epoch:03d}.pth")
    code, _, err = run(capsys, "inspect", str(tmp_path))
    assert code == 2 and err.count("\n") == 1
    assert "a folder of checkpoints (a run)" in err and "ckpt-tui runs" in err
