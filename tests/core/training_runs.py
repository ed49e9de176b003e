"""Checkpoints written by real (tiny, deterministic, CPU) training loops: plain PyTorch, Lightning, HF Trainer layout.

The plain loop saves everything the guides recommend; its batches draw from torch, numpy and Python `random`, and
the model has dropout, so that a resume reproduces the uninterrupted run only if every RNG state is restored.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

EPOCHS, STEPS_PER_EPOCH = 2, 3


def seed_all(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def make_model() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.25), nn.ReLU(), nn.Linear(8, 1))


class Run:
    """Model, Adam, a per-epoch StepLR and a GradScaler: the pieces a plain loop saves and restores."""

    def __init__(self, wrap: bool = False) -> None:
        net = make_model()
        self.model: nn.Module = nn.DataParallel(net) if wrap else net
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.01)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=1, gamma=0.5)
        self.scaler = torch.amp.GradScaler("cpu")

    def step(self) -> float:
        x = torch.randn(8, 4)
        noise = torch.from_numpy(np.random.normal(size=(8, 1)).astype(np.float32))
        y = x.sum(1, keepdim=True) + noise + random.random()
        self.optimizer.zero_grad()
        loss = nn.functional.mse_loss(self.model(x), y)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.item()

    def checkpoint(self, epoch: int, step: int, loss: float, best: float) -> dict[str, Any]:
        """What the guides say to save, as the tutorials save it: `epoch` is the epoch just finished."""
        return {
            "model_state_dict": self.model.state_dict(),
            "optimizer_state_dict": self.optimizer.state_dict(),
            "scheduler_state_dict": self.scheduler.state_dict(),
            "epoch": epoch,
            "global_step": step,
            "loss": loss,
            "best_val_loss": best,
            "rng_states": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
            "scaler": self.scaler.state_dict(),
            "config": {"lr": 0.01, "hidden": 8, "epochs": EPOCHS},
        }

    def restore(self, ckpt: dict[str, Any]) -> None:
        self.model.load_state_dict(ckpt["model_state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer_state_dict"])
        self.scheduler.load_state_dict(ckpt["scheduler_state_dict"])
        self.scaler.load_state_dict(ckpt["scaler"])
        torch.set_rng_state(ckpt["rng_states"]["torch"])
        np.random.set_state(ckpt["rng_states"]["numpy"])
        random.setstate(ckpt["rng_states"]["python"])


def train_plain(wrap: bool = False) -> tuple[dict[str, Any], float]:
    """Train EPOCHS epochs, checkpoint after the last, then run one more step: (checkpoint, that step's loss)."""
    seed_all(0)
    run = Run(wrap)
    step, best, loss = 0, float("inf"), 0.0
    for epoch in range(EPOCHS):
        for _ in range(STEPS_PER_EPOCH):
            loss = run.step()
            step += 1
        best = min(best, loss)
        run.scheduler.step()
        ckpt = copy.deepcopy(run.checkpoint(epoch, step, loss, best))  # state_dict() holds live tensors
    return ckpt, run.step()


def save(obj: object, path: Path) -> Path:
    torch.save(obj, path)
    return path


def save_on_cuda(obj: object, path: Path, device: str = "cuda:3") -> Path:
    """torch.save, with every storage's location written as `device` (how a GPU run's file reads; no GPU needed)."""
    import torch.serialization as serialization

    original = serialization.location_tag
    serialization.location_tag = lambda storage: device  # type: ignore[assignment]
    try:
        torch.save(obj, path)
    finally:
        serialization.location_tag = original
    return path


def train_lightning(directory: Path) -> Path:
    """A tiny LightningModule, one epoch of two batches; the checkpoint its ModelCheckpoint wrote."""
    import warnings

    pl = __import__("pytorch_lightning")

    class Tiny(pl.LightningModule):  # type: ignore[misc,name-defined]
        def __init__(self, hidden: int = 8) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(4, hidden), nn.ReLU(), nn.Linear(hidden, 1))

        def training_step(self, batch: Any, index: int) -> torch.Tensor:
            x, y = batch
            loss = nn.functional.mse_loss(self.net(x), y)
            self.log("train_loss", loss)
            return loss

        def configure_optimizers(self) -> Any:
            optimizer = torch.optim.Adam(self.parameters(), lr=0.01)
            return {"optimizer": optimizer, "lr_scheduler": torch.optim.lr_scheduler.StepLR(optimizer, 1)}

    seed_all(0)
    data = torch.utils.data.TensorDataset(torch.randn(8, 4), torch.randn(8, 1))
    callback = pl.callbacks.ModelCheckpoint(dirpath=directory, monitor="train_loss", filename="last")
    trainer = pl.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[callback],
        default_root_dir=directory,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Tiny(), torch.utils.data.DataLoader(data, batch_size=4))
    return Path(callback.best_model_path)


def train_hf_trainer(directory: Path) -> Path:
    """A `checkpoint-N/` laid out as transformers' Trainer writes it, from a tiny BERT trained two steps.

    Built with the library's own save methods (save_pretrained, TrainerState.save_to_json, the Trainer's decay /
    no-decay param groups and linear schedule): the Trainer itself needs `accelerate`, which is not installed.
    """
    transformers = __import__("transformers")
    from transformers.trainer_callback import TrainerState

    seed_all(0)
    config = transformers.BertConfig(
        vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16,
        max_position_embeddings=16,
    )  # fmt: skip
    model = transformers.BertForSequenceClassification(config)
    decay = [n for n, _ in model.named_parameters() if "bias" not in n and "LayerNorm" not in n]
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=5e-5)
    scheduler = transformers.get_linear_schedule_with_warmup(optimizer, 0, 2)
    state = TrainerState()
    ids, labels = torch.tensor([[1, 2, 3, 4]] * 4), torch.tensor([0, 1, 0, 1])
    for _ in range(2):
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        state.global_step += 1
        state.epoch = state.global_step / 2
        state.log_history.append({"loss": loss.item(), "learning_rate": scheduler.get_last_lr()[0],
                                  "epoch": state.epoch, "step": state.global_step})  # fmt: skip
    out = directory / f"checkpoint-{state.global_step}"
    out.mkdir(parents=True)
    model.save_pretrained(out)
    torch.save(optimizer.state_dict(), out / "optimizer.pt")
    torch.save(scheduler.state_dict(), out / "scheduler.pt")
    rng = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
    torch.save(rng, out / "rng_state.pth")
    state.save_to_json(str(out / "trainer_state.json"))
    return out
