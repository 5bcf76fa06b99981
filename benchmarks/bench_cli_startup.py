#!/usr/bin/env python
"""How long ``findig --help`` and ``manage.py --help`` take to start.

Each command runs in a fresh interpreter, several times, interleaved; the
figure is the median wall time. For scale, the same is measured for a bare
interpreter and for an interpreter that only imports SQLAlchemy and Alembic
(what ``--help`` must not import). Before timing, each help command is run
once with an import audit: the run stops if SQLAlchemy or Alembic was
imported.

Usage::

    python benchmarks/bench_cli_startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

AUDIT = (
    "import runpy, sys\n"
    "sys.argv = {argv!r}\n"
    "try:\n"
    "    runpy.run_{kind}({target!r}, run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "heavy = sorted({{m.split('.')[0] for m in sys.modules}}"
    " & {{'sqlalchemy', 'alembic'}})\n"
    "print('HEAVY:' + ','.join(heavy))\n"
)


def _run(argv: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv,
        cwd=cwd,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )
    return time.perf_counter() - start


def _heavy_imports(kind: str, target: str, argv: list[str], cwd: Path) -> str:
    code = AUDIT.format(argv=argv, kind=kind, target=target)
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith("HEAVY:")]
    return lines[-1][len("HEAVY:") :] if lines else "(audit failed)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        subprocess.run(
            [sys.executable, "-m", "findig.project.cli", "startproject", "benchsite"],
            cwd=root,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        project = root / "benchsite"
        env_python = sys.executable
        commands = {
            "python -c pass": [env_python, "-c", "pass"],
            "import sqlalchemy, alembic": [
                env_python,
                "-c",
                "import sqlalchemy, alembic.command",
            ],
            "findig --help": [env_python, "-m", "findig.project.cli", "--help"],
            "manage.py --help": [env_python, "manage.py", "--help"],
        }
        audits = {
            "findig --help": ("module", "findig.project.cli", ["findig", "--help"]),
            "manage.py --help": (
                "path",
                "manage.py",
                ["manage.py", "--help"],
            ),
        }
        for name, (kind, target, argv) in audits.items():
            heavy = _heavy_imports(kind, target, argv, project)
            if heavy:
                sys.exit(f"{name} imported {heavy}: it must not")
        times: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_ in range(options.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(_run(commands[name], project))

    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    print(f"median of {options.rounds} runs (wall time, fresh interpreter)")
    for name, values in times.items():
        print(f"  {name:<28} {statistics.median(values) * 1000:7.1f} ms")
    print("--help imports neither SQLAlchemy nor Alembic.")


if __name__ == "__main__":
    main()
