"""Run folders made by real producers, tiny and fast: a plain loop, Lightning's ModelCheckpoint, an HF Trainer.

Each returns what the producer itself said (the best checkpoint it chose, the values it saved) for the tests to
compare `runs --json` against.
"""

from __future__ import annotations

import os
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Produced:
    directory: Path
    best: str  # file name of the producer's best checkpoint
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)  # file name -> epoch/step/metrics saved
    latest: str | None = None


def plain_loop(directory: Path, epochs: int = 5, every: int = 2) -> Produced:
    """The PyTorch tutorial loop: periodic ckpt_epoch_NNN.pth, best_model.pth on a new best val_loss, and a
    `latest.pth` symlink to the newest periodic save."""
    import torch

    torch.manual_seed(0)
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 2)
    directory.mkdir(parents=True, exist_ok=True)
    produced = Produced(directory, best="best_model.pth")
    best = float("inf")
    val_losses = [0.9, 0.7, 0.75, 0.5, 0.6][:epochs]
    for epoch, val_loss in enumerate(val_losses, start=1):
        out = model(torch.ones(1, 4)).pow(2).sum()
        out.backward()
        loss = float(out.detach())
        optimizer.step()
        scheduler.step()
        state = {
            "epoch": epoch,
            "global_step": epoch * 10,
            "model_state_dict": model.state_dict(),
            "optimizer_state_dict": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "loss": loss,
            "val_loss": val_loss,
        }
        if epoch % every == 0 or epoch == len(val_losses):
            name = f"ckpt_epoch_{epoch:03d}.pth"
            torch.save(state, directory / name)
            produced.saved[name] = {"epoch": epoch, "step": epoch * 10, "loss": loss, "val_loss": val_loss}
            link = directory / "latest.pth"
            if link.is_symlink():
                link.unlink()
            link.symlink_to(name)
            produced.latest = name
        if val_loss < best:
            best = val_loss
            torch.save(state, directory / "best_model.pth")
            produced.saved["best_model.pth"] = {"epoch": epoch, "step": epoch * 10, "val_loss": val_loss}
    return produced


def lightning_run(directory: Path, epochs: int = 4) -> Produced:
    """Lightning's ModelCheckpoint(save_top_k=2, monitor="val_loss", save_last=True) over tiny epochs."""
    import warnings

    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, _: int) -> Any:
            x, y = batch
            return torch.nn.functional.mse_loss(self.layer(x), y)

        def validation_step(self, batch: Any, _: int) -> None:
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.layer(x), y))

        def configure_optimizers(self) -> Any:
            return torch.optim.SGD(self.parameters(), lr=0.1)

    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    callback = pl.callbacks.ModelCheckpoint(dirpath=directory, save_top_k=2, monitor="val_loss", save_last=True)
    saved: dict[str, dict[str, Any]] = {}

    class Record(pl.Callback):
        def on_save_checkpoint(self, trainer: Any, module: Any, checkpoint: dict[str, Any]) -> None:
            score = trainer.callback_metrics.get("val_loss")
            saved[f"epoch={trainer.current_epoch}-step={trainer.global_step}.ckpt"] = {
                "epoch": trainer.current_epoch,
                "step": trainer.global_step,
                "val_loss": float(score) if score is not None else None,
            }

    trainer = pl.Trainer(
        max_epochs=epochs,
        callbacks=[callback, Record()],
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_train_batches=2,
        limit_val_batches=1,
        accelerator="cpu",
        num_sanity_val_steps=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer.fit(Tiny(), DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    kept = {p.name for p in directory.iterdir()}
    return Produced(
        directory,
        best=os.path.basename(callback.best_model_path),
        saved={k: v for k, v in saved.items() if k in kept},
        latest="last.ckpt",
    )


def trainer_run(directory: Path, steps: int = 8, every: int = 2, limit: int = 2) -> Produced:
    """A Trainer's output folder, written with the Trainer's own pieces: `save_pretrained`, `TrainerState`
    (`log_history`, best metric and checkpoint, `save_to_json`), the optimizer/scheduler/RNG files, and
    `rotate_checkpoints(save_total_limit=...)`. (`Trainer` itself needs `accelerate`, which is not installed.)"""
    import numpy as np
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    from transformers.trainer_callback import TrainerState
    from transformers.trainer_utils import rotate_checkpoints

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=32,
        hidden_size=8,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=16,
        max_position_embeddings=16,
        num_labels=2,
    )
    model = BertForSequenceClassification(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1 - s / steps)
    state = TrainerState()
    eval_losses = {2: 0.69, 4: 0.61, 6: 0.64, 8: 0.66}
    produced = Produced(directory, best="")
    directory.mkdir(parents=True, exist_ok=True)
    for step in range(1, steps + 1):
        inputs = torch.tensor([[step % 32, 3, 1, 2]] * 2)
        out = model(input_ids=inputs, labels=torch.tensor([0, 1]))
        out.loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        state.global_step, state.epoch = step, step / steps
        state.log_history.append(
            {
                "loss": round(float(out.loss.detach()), 4),
                "learning_rate": scheduler.get_last_lr()[0],
                "epoch": state.epoch,
                "step": step,
            }
        )
        if step % every:
            continue
        eval_loss = eval_losses.get(step, 0.7)
        state.log_history.append({"eval_loss": eval_loss, "eval_runtime": 0.01, "epoch": state.epoch, "step": step})
        output = directory / f"checkpoint-{step}"
        if state.best_metric is None or eval_loss < state.best_metric:
            state.best_metric, state.best_global_step = eval_loss, step
        model.save_pretrained(output)
        state.best_model_checkpoint = str(directory / f"checkpoint-{state.best_global_step}")
        torch.save(optimizer.state_dict(), output / "optimizer.pt")
        torch.save(scheduler.state_dict(), output / "scheduler.pt")
        rng = {"python": random.getstate(), "numpy": np.random.get_state(), "cpu": torch.random.get_rng_state()}
        torch.save(rng, output / "rng_state.pth")
        state.save_to_json(str(output / "trainer_state.json"))
        produced.saved[output.name] = {"step": step, "eval_loss": eval_loss, "loss": state.log_history[-2]["loss"]}
        rotate_checkpoints(str(directory), limit, state.best_model_checkpoint, use_mtime=False)
    produced.best = os.path.basename(str(state.best_model_checkpoint))
    produced.saved = {k: v for k, v in produced.saved.items() if (directory / k).exists()}
    return produced


def copy_run(produced: Produced, to: Path) -> Path:
    """A private copy of a module-scoped run, for tests that change it (symlinks are kept as symlinks)."""
    shutil.copytree(produced.directory, to, symlinks=True)
    return to
