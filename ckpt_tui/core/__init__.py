"""Pure operations on checkpoints: checkpoint(s) in, report dataclass out. Never prints, never imports textual."""
