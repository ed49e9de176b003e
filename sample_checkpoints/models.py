"""The model classes the sample checkpoints were saved from (used by `ckpt-tui check` examples and tests)."""

from __future__ import annotations

import torch
from torch import nn


class TinyNet(nn.Module):
    """A small MLP with a BatchNorm (so the state dict has buffers as well as parameters)."""

    def __init__(self, in_features: int = 8, hidden: int = 16, classes: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(in_features, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class TinyLM(nn.Module):
    """A toy language model whose output projection is tied to its embedding."""

    def __init__(self, vocab: int = 32, dim: int = 8) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.block = nn.Linear(dim, dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        self.lm_head.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.lm_head(torch.relu(self.block(self.embed(tokens))))


def tiny_net_wide() -> nn.Module:
    """A factory for a TinyNet whose head no longer matches the samples (for check examples)."""
    return TinyNet(classes=10)
