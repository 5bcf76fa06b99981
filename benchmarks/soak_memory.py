"""Soak: the example project under continuous load for minutes, sampling
the resident memory (RSS) and open file descriptors of gunicorn's master and
workers; their growth must stay under 10 %.

Run by hand (``apt-get install wrk``)::

    python benchmarks/soak_memory.py                 # 10 minutes
    python benchmarks/soak_memory.py --minutes 2
    python benchmarks/soak_memory.py --database \\
        postgresql+psycopg://postgres@127.0.0.1:5432/test

gunicorn serves the project with 2 ``gthread`` workers on a fresh SQLite
database (or, with ``--database``, a database of its own on that PostgreSQL
server, dropped afterwards); ``wrk`` loads it with reads and, one request in ten, writes
(``benchmarks/load_wrk.py``'s script). After a warm-up (a tenth of the run,
at least 20 s), RSS and file descriptors are sampled every ``--every``
seconds; growth is the last sample against the first, for the workers'
total RSS and for each process's descriptors. Workers are not recycled
(no ``--max-requests``), so a leak would show. The growth over the second
half (the last sample against the middle one) is printed too: a cache
filling up (SQLite keeps up to 2 MiB of pages per connection) grows and
then levels off, a leak keeps growing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))

from load_wrk import write_script  # noqa: E402
from reliability.rel_fixtures import Taskman, scratch_database  # noqa: E402


def rss_kib(pid: int) -> int:
    """The resident set size of *pid*, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def open_fds(pid: int) -> int:
    """How many file descriptors *pid* has open."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def sample(master: int, workers: set[int]) -> dict[str, Any]:
    return {
        "t": time.monotonic(),
        "master_rss_kib": rss_kib(master),
        "workers_rss_kib": sum(rss_kib(pid) for pid in workers),
        "master_fds": open_fds(master),
        "workers_fds": sum(open_fds(pid) for pid in workers),
    }


def growth(first: float, last: float) -> float:
    return (last - first) / first if first else 0.0


def soak(
    minutes: float, every: float, write_every: int = 10, database: str | None = None
) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    duration = int(minutes * 60)
    warm_up = max(20, duration // 10)
    directory = Path(tempfile.mkdtemp(prefix="findig-soak-"))
    samples: list[dict[str, Any]] = []
    try:
        with contextlib.ExitStack() as stack:
            url = stack.enter_context(scratch_database(database, directory, "soak"))
            project = Taskman(url).prepare()
            server = stack.enter_context(
                project.gunicorn(log=directory / "gunicorn.log")
            )
            script = write_script(
                directory / "soak.lua",
                project,
                project.seed_tasks(server.port),
                write_every,
            )
            workers = server.worker_pids()
            load = subprocess.Popen(
                [
                    "wrk",
                    "-t1",
                    "-c8",
                    f"-d{duration + warm_up}s",
                    "--timeout",
                    "10s",
                    "-s",
                    str(script),
                    f"http://127.0.0.1:{server.port}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                time.sleep(warm_up)
                end = time.monotonic() + duration
                while time.monotonic() < end:
                    samples.append(sample(server.pid, workers))
                    time.sleep(min(every, max(0.0, end - time.monotonic())))
                samples.append(sample(server.pid, workers))
                restarted = server.worker_pids() != workers
                output, _ = load.communicate(timeout=duration + warm_up + 60)
            finally:
                if load.poll() is None:
                    load.kill()
                    load.wait()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    first, middle, last = samples[0], samples[len(samples) // 2], samples[-1]
    statuses = json.loads(output.split("STATUSES ", 1)[1].splitlines()[0])
    return {
        "minutes": minutes,
        "samples": len(samples),
        "requests": sum(statuses.values()),
        "statuses": statuses,
        "workers_restarted": restarted,
        "first": {k: v for k, v in first.items() if k != "t"},
        "last": {k: v for k, v in last.items() if k != "t"},
        "growth": {
            key: round(growth(first[key], last[key]) * 100, 2)
            for key in first
            if key != "t"
        },
        "growth_second_half": {
            key: round(growth(middle[key], last[key]) * 100, 2)
            for key in first
            if key != "t"
        },
        "workers_rss_kib_series": [s["workers_rss_kib"] for s in samples],
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=10)
    parser.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="a PostgreSQL server (any database URL of it); default: SQLite",
    )
    args = parser.parse_args()
    figures = soak(args.minutes, args.every, database=args.database)
    print(json.dumps(figures, indent=2))
    over = {k: v for k, v in figures["growth"].items() if v >= 10}
    if over or figures["workers_restarted"]:
        print(f"FAILED: growth of 10 % or more: {over}")
        sys.exit(1)
    print("OK: RSS and file descriptors grew less than 10 %")


if __name__ == "__main__":
    main()
