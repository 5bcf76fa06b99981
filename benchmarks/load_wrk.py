"""Load: ``wrk`` against gunicorn (2 ``gthread`` workers) serving the example
project (``examples/taskman_project``) on a fresh database.

Run by hand (``apt-get install wrk``)::

    python benchmarks/load_wrk.py                    # 60 s of reads, SQLite
    python benchmarks/load_wrk.py --mix write --duration 20
    python benchmarks/load_wrk.py --database \\
        postgresql+psycopg://postgres@127.0.0.1:5432/test

``--database`` names a PostgreSQL server (through any of its databases): the
run gets a database of its own there, created and dropped by the script
(the default is a fresh SQLite file).

``--mix read`` requests ``GET /tasks/?limit=20`` and ``GET /tasks/<id>``
(half each) with a bearer token; ``--mix write`` sends one ``POST /tasks/``
in ten. The script prints wrk's latency distribution (p50/p90/p99), the
requests per second, socket errors, and every status code counted by a Lua
script, and exits non-zero on any socket error or unexpected status (reads:
200 only; writes: 200 and 201).

Every request goes to 127.0.0.1; the server is stopped by its PID.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from reliability.rel_fixtures import Taskman, scratch_database  # noqa: E402

_SCRIPT = r"""
local token = "%(token)s"
local write_every = %(write_every)d
local ids = {%(ids)s}
local n = 0
local threads = {}
counts = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

request = function()
  n = n + 1
  local headers = {["Authorization"] = "Bearer " .. token}
  if write_every > 0 and n %% write_every == 0 then
    headers["Content-Type"] = "application/json"
    return wrk.format("POST", "/tasks/", headers,
      '{"title": "load ' .. n .. '", "due": "2030-01-01"}')
  end
  if n %% 2 == 0 then
    return wrk.format("GET", "/tasks/?limit=20", headers)
  end
  return wrk.format("GET", "/tasks/" .. ids[(n %% #ids) + 1], headers)
end

response = function(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, count in pairs(c) do
      total[status] = (total[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(total) do
    table.insert(parts, string.format('"%%d": %%d', status, count))
  end
  io.write("STATUSES {" .. table.concat(parts, ", ") .. "}\n")
  io.write(string.format("P99_US %%d\n", latency:percentile(99)))
  io.write(string.format("P50_US %%d\n", latency:percentile(50)))
  io.write(string.format("MAX_US %%d\n", latency.max))
  io.write(string.format("ERRORS %%d %%d %%d %%d %%d\n", summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
"""


def write_script(
    path: Path, project: Taskman, ids: list[int], write_every: int
) -> Path:
    """Write the Lua script that makes wrk's requests (one ``POST /tasks/``
    every *write_every* requests, none for 0; reads of *ids* otherwise)."""
    path.write_text(
        _SCRIPT
        % {
            "token": project.tokens["alice"],
            "write_every": write_every,
            "ids": ", ".join(map(str, ids)),
        }
    )
    return path


def run(
    duration: int,
    mix: str,
    connections: int,
    threads: int,
    database: str | None = None,
) -> dict[str, Any]:
    """Serve the project, seed it, run wrk; return the figures.

    :param database: A PostgreSQL server's URL, or ``None`` for SQLite (see
        :func:`~reliability.rel_fixtures.scratch_database`).
    """
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")
    directory = Path(tempfile.mkdtemp(prefix="findig-load-"))
    try:
        with scratch_database(database, directory, "load") as url:
            project = Taskman(url).prepare()
            with project.gunicorn(log=directory / "gunicorn.log") as server:
                script = write_script(
                    directory / "load.lua",
                    project,
                    project.seed_tasks(server.port),
                    10 if mix == "write" else 0,
                )
                result = subprocess.run(
                    [
                        "wrk",
                        f"-t{threads}",
                        f"-c{connections}",
                        f"-d{duration}s",
                        "--latency",
                        "--timeout",
                        "10s",
                        "-s",
                        str(script),
                        f"http://127.0.0.1:{server.port}",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=duration + 60,
                )
                workers_alive = server.alive() and len(server.worker_pids()) == 2
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    output = result.stdout
    if "STATUSES" not in output:
        sys.exit(f"wrk failed:\n{result.stdout}\n{result.stderr}")
    statuses = json.loads(re.search(r"STATUSES (\{.*\})", output).group(1))  # type: ignore[union-attr]
    errors = [int(x) for x in re.search(r"ERRORS (.*)", output).group(1).split()]  # type: ignore[union-attr]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    return {
        "database": "sqlite" if database is None else "postgresql",
        "mix": mix,
        "duration_s": duration,
        "connections": connections,
        "requests": sum(statuses.values()),
        "requests_per_s": rps,
        "p50_ms": int(re.search(r"P50_US (\d+)", output).group(1)) / 1000,  # type: ignore[union-attr]
        "p99_ms": int(re.search(r"P99_US (\d+)", output).group(1)) / 1000,  # type: ignore[union-attr]
        "max_ms": int(re.search(r"MAX_US (\d+)", output).group(1)) / 1000,  # type: ignore[union-attr]
        "statuses": statuses,
        "socket_errors": dict(
            zip(["connect", "read", "write", "status", "timeout"], errors, strict=True)
        ),
        "workers_alive": workers_alive,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "wrk": output,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=60)
    parser.add_argument("--mix", choices=["read", "write"], default="read")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--database",
        default=None,
        metavar="URL",
        help="a PostgreSQL server (any database URL of it); default: SQLite",
    )
    args = parser.parse_args()
    figures = run(
        args.duration, args.mix, args.connections, args.threads, args.database
    )
    print(figures.pop("wrk"))
    print(json.dumps(figures, indent=2))
    expected = {"200"} if args.mix == "read" else {"200", "201"}
    unexpected = {s: n for s, n in figures["statuses"].items() if s not in expected}
    socket_errors = sum(
        n for kind, n in figures["socket_errors"].items() if kind != "status"
    )
    if unexpected or socket_errors or not figures["workers_alive"]:
        print(
            f"FAILED: unexpected statuses {unexpected}, socket errors {socket_errors}"
        )
        sys.exit(1)
    print("OK: no socket error, no unexpected status")


if __name__ == "__main__":
    main()
