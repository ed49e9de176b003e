"""The Textual front end. Imported only by `ckpt-tui open` (and `diff` in a terminal)."""
