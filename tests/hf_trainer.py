"""A Hugging Face Trainer checkpoint directory from a tiny BERT, with the optimizer built the way Trainer builds it
(decay / no-decay groups from `Trainer.get_decay_parameter_names`), one real AdamW step and a LinearLR schedule."""

from __future__ import annotations

import json
from pathlib import Path


def write_trainer_checkpoint(out: Path) -> Path:
    import torch
    from transformers import BertConfig, BertModel, Trainer

    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
    )
    model = BertModel(config)
    decay = Trainer.get_decay_parameter_names(None, model)  # type: ignore[arg-type]  # uses no state
    groups = [
        {"params": [p for n, p in model.named_parameters() if n in decay], "weight_decay": 0.01},
        {"params": [p for n, p in model.named_parameters() if n not in decay], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=5e-4)
    scheduler = torch.optim.lr_scheduler.LinearLR(optimizer, 1.0, 0.1, total_iters=10)
    output = model(input_ids=torch.randint(0, 50, (2, 8)))
    (output.last_hidden_state.sum() + output.pooler_output.sum()).backward()
    optimizer.step()
    scheduler.step()
    model.save_pretrained(out)
    torch.save(optimizer.state_dict(), out / "optimizer.pt")
    torch.save(scheduler.state_dict(), out / "scheduler.pt")
    (out / "trainer_state.json").write_text(json.dumps({"global_step": 1, "epoch": 0.1, "log_history": []}))
    return out


def expected_names(out: Path) -> tuple[list[str], list[str]]:
    """The decay and no-decay groups' parameter names, in the model's order."""
    from transformers import BertConfig, BertModel, Trainer

    model = BertModel(BertConfig.from_pretrained(out))
    decay = Trainer.get_decay_parameter_names(None, model)  # type: ignore[arg-type]
    names = [n for n, _ in model.named_parameters()]
    return [n for n in names if n in decay], [n for n in names if n not in decay]
