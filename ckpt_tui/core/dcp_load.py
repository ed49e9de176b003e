"""One tensor of a torch.distributed.checkpoint directory, through torch's own DCP reader.

torch's FileSystemReader would unpickle `.metadata` with plain `pickle.load`; this reader is given metadata rebuilt
from the safe parse instead (formats/dcp.py), so only tensor chunks are read by torch (with weights_only=True).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from ckpt_tui.errors import InvalidCheckpointError
from ckpt_tui.formats.dcp import DcpTensor, read_layout
from ckpt_tui.model import TensorInfo


def load_dcp_tensor(info: TensorInfo) -> Any:
    import torch
    from torch.distributed.checkpoint.state_dict_loader import load as dcp_load

    directory = info.storage.file
    layout = read_layout(directory, os.stat(os.path.join(directory, ".metadata")).st_mtime_ns)
    tensor = layout.tensors.get(info.storage.key)
    if tensor is None:
        raise InvalidCheckpointError(f"'{info.storage.key}' is not a tensor of this DCP checkpoint", directory)
    target = {tensor.fqn: torch.empty(tensor.size, dtype=getattr(torch, tensor.dtype))}
    try:
        with warnings.catch_warnings():  # "assuming the intent is to load in a single process": it is
            warnings.simplefilter("ignore", UserWarning)
            dcp_load(target, storage_reader=_reader(directory, tensor))
    except Exception as e:  # noqa: BLE001 - torch's reader raises many kinds of errors on a damaged chunk
        raise InvalidCheckpointError(f"cannot read '{tensor.fqn}': {type(e).__name__}: {e}", directory) from None
    return target[tensor.fqn]


def _reader(directory: str, tensor: DcpTensor) -> Any:
    import torch
    from torch.distributed.checkpoint.filesystem import FileSystemReader, _StorageInfo
    from torch.distributed.checkpoint.metadata import (
        ChunkStorageMetadata,
        Metadata,
        MetadataIndex,
        TensorProperties,
        TensorStorageMetadata,
    )

    chunks = [ChunkStorageMetadata(torch.Size(c.offsets), torch.Size(c.sizes)) for c in tensor.chunks]
    properties = TensorProperties(dtype=getattr(torch, tensor.dtype))
    metadata = Metadata(
        state_dict_metadata={tensor.fqn: TensorStorageMetadata(properties, torch.Size(tensor.size), chunks)},
        storage_data={
            MetadataIndex(tensor.fqn, torch.Size(c.offsets), i): _StorageInfo(c.file, c.offset, c.length)
            for i, c in enumerate(tensor.chunks)
        },
    )

    class SafeMetadataReader(FileSystemReader):
        def read_metadata(self) -> Metadata:
            return metadata

    return SafeMetadataReader(directory)
