"""Fuzzing, long: schemathesis against the example project's OpenAPI
document with many examples per operation and a random seed.

Run by hand (``pip install schemathesis``)::

    python benchmarks/fuzz_long.py                   # 500 examples a mode
    python benchmarks/fuzz_long.py --examples 2000 --seed 1234

The test suite runs the same thing with 25 derandomized examples
(``tests/reliability/test_rel_fuzz.py``). Every failure (a 5xx, an
undocumented status code or content type, a body not matching its
documented schema) is printed with schemathesis' reproduction.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from reliability.test_rel_fuzz import build_project, fuzz  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    directory = Path(tempfile.mkdtemp(prefix="findig-fuzz-long-"))
    try:
        started = time.monotonic()
        app, project = build_project(directory)
        outcome = fuzz(app, project.auth(), args.examples, seed=seed)
        seconds = time.monotonic() - started
    finally:
        from findig.project.db import dispose_engines

        dispose_engines()
        shutil.rmtree(directory, ignore_errors=True)
    failures = outcome["failures"]
    for failure in failures:
        print(failure, end="\n\n")
    summary = {
        "seed": seed,
        "examples_per_mode": args.examples,
        "operations": outcome["operations"],
        "calls": outcome["calls"],
        "seconds": round(seconds, 1),
        "failures": len(failures),
    }
    print(json.dumps(summary, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
