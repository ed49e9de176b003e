"""Long fuzz run of the readers: `python tests/fuzz_readers.py --seconds 600`. Prints cases, outcomes, escapes.

Any exception other than CkptError is an escape (a traceback a user would see), and so is a case that runs past
--case-timeout seconds (a hang). The result of the latest long run is in SECURITY.md.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.fuzzing import CORPUS, exercise, mutate  # noqa: E402


class Hang(Exception):
    pass


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--case-timeout", type=int, default=10)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    corpus = [p.read_bytes() for p in CORPUS]
    outcomes: Counter[str] = Counter()
    escapes: list[str] = []

    def alarm(signum: int, frame: object) -> None:
        raise Hang

    signal.signal(signal.SIGALRM, alarm)
    deadline = time.monotonic() + args.seconds
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "case"
        while time.monotonic() < deadline:
            path.write_bytes(mutate(rng.choice(corpus), rng, corpus))
            signal.alarm(args.case_timeout)
            try:
                outcomes[exercise(path)] += 1
            except Hang:
                escapes.append(f"hang after {args.case_timeout}s (case {sum(outcomes.values()) + len(escapes)})")
                (Path(tmp).parent / f"hang-{len(escapes)}.bin").write_bytes(path.read_bytes())
            except Exception:  # noqa: BLE001 - what we are looking for
                escapes.append(traceback.format_exc(limit=8))
                (Path(tmp).parent / f"escape-{len(escapes)}.bin").write_bytes(path.read_bytes())
            finally:
                signal.alarm(0)
    cases = sum(outcomes.values()) + len(escapes)
    print(
        f"{cases} cases in {args.seconds:.0f} s (seed {args.seed}): {outcomes['ok']} read, "
        f"{outcomes['error']} clean errors, {len(escapes)} escapes"
    )
    for escape in escapes[:10]:
        print("---\n" + escape)
    return 1 if escapes else 0


if __name__ == "__main__":
    raise SystemExit(main())
