"""Soak: the example project under continuous load for minutes, sampling
the resident memory (RSS) and open file descriptors of gunicorn's master and
workers; their growth must stay under 10 %.

Run by hand (``apt-get install wrk``)::

    python benchmarks/soak_memory.py                 # 10 minutes
    python benchmarks/soak_memory.py --minutes 2

gunicorn serves the project with 2 ``gthread`` workers on a fresh SQLite
database; ``wrk`` loads it with reads and, one request in ten, writes
(``benchmarks/load_wrk.py``'s script). After a warm-up (a tenth of the run,
at least 20 s), RSS and file descriptors are sampled every ``--every``
seconds; growth is the last sample against the first, for the workers'
total RSS and for each process's descriptors. Workers are not recycled
(no ``--max-requests``), so a leak would show.
"""

from __future__ import annotations

import argparse
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

from load_wrk import _SCRIPT  # noqa: E402
from reliability.rel_fixtures import Taskman, http_request  # noqa: E402


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


def soak(minutes: float, every: float, write_every: int = 10) -> dict[str, Any]:
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    duration = int(minutes * 60)
    warm_up = max(20, duration // 10)
    directory = Path(tempfile.mkdtemp(prefix="findig-soak-"))
    samples: list[dict[str, Any]] = []
    try:
        project = Taskman(f"sqlite:///{directory / 'soak.sqlite3'}").prepare()
        server = project.gunicorn(log=directory / "gunicorn.log")
        with server:
            ids = []
            for index in range(50):
                answer = http_request(
                    server.port,
                    "POST",
                    "/tasks/",
                    json.dumps({"title": f"seed {index}", "due": "2030-01-01"}),
                    {"Content-Type": "application/json", **project.auth()},
                )
                ids.append(json.loads(answer.body)["id"])
            script = directory / "soak.lua"
            script.write_text(
                _SCRIPT
                % {
                    "token": project.tokens["alice"],
                    "write_every": write_every,
                    "ids": ", ".join(map(str, ids)),
                }
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
    first, last = samples[0], samples[-1]
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every", type=float, default=10)
    args = parser.parse_args()
    figures = soak(args.minutes, args.every)
    print(json.dumps(figures, indent=2))
    over = {k: v for k, v in figures["growth"].items() if v >= 10}
    if over or figures["workers_restarted"]:
        print(f"FAILED: growth of 10 % or more: {over}")
        sys.exit(1)
    print("OK: RSS and file descriptors grew less than 10 %")


if __name__ == "__main__":
    main()
