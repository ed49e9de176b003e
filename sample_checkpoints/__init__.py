"""Small sample checkpoints (regenerate with `python sample_checkpoints/make_samples.py`) and their models."""
