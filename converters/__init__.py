"""The write side: safetensors and .pth writers, sharding, atomic writes. Uses the core, never the UI."""
