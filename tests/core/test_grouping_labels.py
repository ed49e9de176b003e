from __future__ import annotations

from ckpt_tui.core.grouping import TensorGroup, root_group
from ckpt_tui.core.labels import friendly_label
from ckpt_tui.formats import read_checkpoint
from ckpt_tui.model import TensorInfo, walk
from tests.helpers import SAMPLES


def test_groups_by_dotted_path_one_level_at_a_time() -> None:
    root = root_group(read_checkpoint(SAMPLES / "state_dict.pth").tensors)
    top = root.children()
    assert [c.prefix for c in top if isinstance(c, TensorGroup)] == ["encoder", "head"]
    encoder = top[0]
    assert isinstance(encoder, TensorGroup) and [c.prefix for c in encoder.children()] == ["encoder.0", "encoder.1"]  # type: ignore[union-attr]
    leaves = encoder.children()[0].children()  # type: ignore[union-attr]
    assert [leaf.key for leaf in leaves if isinstance(leaf, TensorInfo)] == ["encoder.0.weight", "encoder.0.bias"]
    assert encoder.numel == 8 * 16 + 16 + 4 * 16 + 1 and root.numel == 277


def test_friendly_labels_for_training_state() -> None:
    ckpt = read_checkpoint(SAMPLES / "training.pth")
    labels = {p: friendly_label(p, e) for p, e in walk(ckpt.root)}
    assert labels[("rng_states", "torch")] == "torch CPU RNG state, 5056 bytes"
    assert labels[("rng_states", "numpy")] == "numpy RNG state (MT19937)"
    assert labels[("rng_states", "python")] == "Python random state (Mersenne Twister)"
    assert labels[("hyper_parameters",)] == "hyper-parameters"
