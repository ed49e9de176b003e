"""Files that are not PyTorch checkpoints but land where checkpoints should be: named, with what to do.

Consulted only after a read has failed, so it never changes what a checkpoint reads as; it turns "unrecognised
format" into "a Git LFS pointer: run `git lfs pull`". Identification is by content (magic bytes, zip member names);
a file's name is used only where the content is arbitrary bytes (one `.distcp` file of a DCP directory).
"""

from __future__ import annotations

import os
import tarfile
import zipfile

from ckpt_tui.errors import CkptError, UnsupportedFormatError

# (magic at offset 0, what it is and what to do)
_MAGIC = (
    (b"version https://git-lfs", "is a Git LFS pointer, not the file itself: run `git lfs pull` to fetch it"),
    (b"\x89HDF\r\n\x1a\n", "is an HDF5 file (Keras/TensorFlow .h5 weights), not a PyTorch checkpoint"),
    (b"GGUF", "is a GGUF file (llama.cpp), not a PyTorch checkpoint; `gguf-dump` reads it"),
    (b"\x93NUMPY", "is a NumPy .npy array, not a PyTorch checkpoint; `numpy.load` reads it"),
)
_HTML = (b"<!doctype html", b"<html", b"<?xml", b"<head", b"<!--")
# torch.save's legacy tar format (0.1.x): these members and no others
_LEGACY_TAR = {"sys_info", "pickle", "storages", "tensors"}


def explain(path: str, head: bytes, error: CkptError) -> CkptError:
    """A clearer error for a file or directory that is something else; `error` itself when it is not."""
    kind = _identify(path, head)
    return UnsupportedFormatError(kind, path) if kind else error


def _identify(path: str, head: bytes) -> str | None:
    if os.path.isdir(path):
        return _identify_directory(path)
    if path.endswith(".distcp"):
        return (
            "is one data file of a torch.distributed.checkpoint (DCP) directory: "
            "open the directory that holds it and its .metadata"
        )
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.lstrip()[:16].lower().startswith(_HTML):
        return "is an HTML page, not a checkpoint: probably a failed download (a login or error page); fetch it again"
    if _looks_like_onnx(head):
        return "is an ONNX model, not a PyTorch checkpoint; `onnx.load` or Netron reads it"
    if head.startswith(b"PK"):
        return _identify_zip(path)
    if head[257:262] == b"ustar":
        return _identify_tar(path)
    return None


def _looks_like_onnx(head: bytes) -> bool:
    """ONNX is a protobuf ModelProto: field 1 (ir_version, varint) first, then a producer name a few bytes on."""
    return head[:1] == b"\x08" and any(p in head[:128] for p in (b"pytorch", b"onnx", b"tf2onnx", b"keras2onnx"))


def _identify_zip(path: str) -> str | None:
    names = _zip_names(path)
    if names is None or any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
        return None  # a torch zip whose error is its own
    bare = {n.rpartition("/")[2] for n in names}
    if "archive_format" in bare and any("/models/" in n or n.startswith("models/") for n in names):
        return (
            "is a torch.export program (.pt2), not a checkpoint: load it with torch.export.load "
            "(it holds code as well as weights)"
        )
    if {"config.json", "model.weights.h5"} <= bare:
        return "is a Keras 3 model archive (.keras), not a PyTorch checkpoint"
    if names and all(n.endswith(".npy") for n in names):
        return "is a NumPy .npz archive, not a PyTorch checkpoint; `numpy.load` reads it"
    return None


def _zip_names(path: str) -> list[str] | None:
    try:
        with zipfile.ZipFile(path) as z:
            return z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        return None


def _identify_tar(path: str) -> str | None:
    members = _tar_names(path)
    if members is None or set(members) <= _LEGACY_TAR:
        return None  # torch 0.1's own tar format: the reader's message stands
    shown = ", ".join(members[:3]) + (", …" if len(members) > 3 else "")
    return f"is a tar archive holding files ({shown}), not a checkpoint: extract it (`tar xf`) and open what is inside"


def _tar_names(path: str, limit: int = 8) -> list[str] | None:
    """The first few member names (a tar has no directory: read headers only as far as needed)."""
    try:
        with tarfile.open(path, "r:") as t:
            names = []
            for member in t:
                names.append(member.name)
                if len(names) >= limit:
                    break
            return names
    except (tarfile.TarError, OSError, ValueError, EOFError):
        return None


def _identify_directory(path: str) -> str | None:
    try:
        names = set(os.listdir(path))
    except OSError:
        return None
    if "saved_model.pb" in names:
        return "is a TensorFlow SavedModel directory, not a PyTorch checkpoint"
    if "checkpoint" in names and any(n.endswith(".index") for n in names):
        return "is a TensorFlow checkpoint directory (checkpoint + *.index + *.data-*), not a PyTorch checkpoint"
    if any(n.endswith(".distcp") for n in names) and ".metadata" not in names:
        return "holds .distcp files but no .metadata: an incomplete torch.distributed.checkpoint directory"
    return None
