"""Regenerate the sample checkpoints: `python sample_checkpoints/make_samples.py [OUT_DIR]`.

Each file is a few KB and shows one layout the tool must handle; see sample_checkpoints/README.md.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from sample_checkpoints.models import TinyLM, TinyNet  # noqa: E402


def trained_net() -> tuple[TinyNet, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler, float]:
    torch.manual_seed(0)
    model = TinyNet()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    x, y = torch.randn(32, 8), torch.randint(0, 4, (32,))
    loss = torch.tensor(0.0)
    for _ in range(3):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler, loss.item()


def training_checkpoint() -> dict[str, object]:
    model, optimizer, scheduler, loss = trained_net()
    np.random.seed(0)
    random.seed(0)
    hparams = argparse.Namespace(lr=1e-3, batch_size=32, epochs=10, arch="TinyNet", hidden=16)
    return {
        "epoch": 3,
        "global_step": 3,
        "model_state_dict": model.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "scheduler_state_dict": scheduler.state_dict(),
        "loss": loss,
        "best_val_accuracy": np.float64(0.8125),
        "rng_states": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        "hyper_parameters": hparams,
        "torch_version": torch.__version__,
    }


def write_samples(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model, *_ = trained_net()
    state = model.state_dict()
    torch.save(state, out / "state_dict.pth")
    torch.save(training_checkpoint(), out / "training.pth")
    torch.save(nn.DataParallel(model).state_dict(), out / "dataparallel.pth")
    torch.save({"model": torch.compile(model).state_dict(), "step": 3}, out / "compiled.pth")
    torch.manual_seed(0)
    torch.save(TinyLM().state_dict(), out / "tied.pth")
    torch.save(state, out / "legacy.pth", _use_new_zipfile_serialization=False)
    save_file(
        {k: v.contiguous() for k, v in state.items()},
        out / "model.safetensors",
        metadata={"format": "pt", "source": "make_samples.py"},
    )


if __name__ == "__main__":
    write_samples(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
