"""Soak: gunicorn workers killed with SIGKILL during writes, many times;
no acknowledged write may be lost and no row may be partial.

Run by hand::

    python benchmarks/soak_sigkill.py                       # 100 kills, SQLite
    python benchmarks/soak_sigkill.py --kills 20 --database \\
        postgresql+psycopg://postgres@127.0.0.1:5432/test

``--database`` names a PostgreSQL server (through any of its databases): the
run gets a database of its own there, created and dropped by the script
(the default is a fresh SQLite file).

gunicorn serves the example project (2 ``gthread`` workers); writer
threads create tasks with unique titles while a worker is SIGKILLed every
quarter of a second or so (and replaced by the master). Afterwards: every
task answered 201 is stored; every stored task was either acknowledged or
got no answer (the worker died after the commit); every row is complete.
The figures (acknowledged, stored, unanswered, refused, server errors) are
printed. The same check runs with 10 kills in the test suite
(``tests/reliability/test_rel_faults.py``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from reliability.rel_fixtures import Taskman, scratch_database  # noqa: E402
from reliability.test_rel_faults import (  # noqa: E402
    check_no_acknowledged_write_lost,
    kill_during_writes,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="a PostgreSQL server (any database URL of it); default: SQLite",
    )
    args = parser.parse_args()
    directory = Path(tempfile.mkdtemp(prefix="findig-sigkill-"))
    try:
        with scratch_database(args.database, directory, "sigkill") as url:
            project = Taskman(url).prepare()
            started = time.monotonic()
            with project.gunicorn(log=directory / "gunicorn.log") as server:
                seen = kill_during_writes(project, server, args.kills, args.writers)
            counts: dict[str, object] = dict(
                check_no_acknowledged_write_lost(project, seen)
            )
            counts["seconds"] = round(time.monotonic() - started, 1)
            counts["database"] = "sqlite" if args.database is None else "postgresql"
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(counts, indent=2))
    print("OK: every acknowledged write is stored; no partial row")


if __name__ == "__main__":
    main()
