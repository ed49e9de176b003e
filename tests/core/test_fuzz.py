"""A short fuzz run in the normal suite: mutated samples either read or fail with a CkptError, quickly.
The long run is `python tests/fuzz_readers.py --seconds N` (results in SECURITY.md)."""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzzing import CORPUS, exercise, mutate

DATA = [p.read_bytes() for p in CORPUS]


@settings(max_examples=300, deadline=2000, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), which=st.integers(0, len(DATA) - 1))
def test_mutated_samples_never_escape(tmp_path: Path, seed: int, which: int) -> None:
    path = tmp_path / "case"
    path.write_bytes(mutate(DATA[which], random.Random(seed), DATA))
    assert exercise(path) in ("ok", "error")  # anything but a CkptError would propagate and fail the test
