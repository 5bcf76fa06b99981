#!/usr/bin/env python
"""How long ``import findig``, ``findig --help`` and ``manage.py --help`` take.

Each command runs in a fresh interpreter, several times, interleaved; the
figure is the median wall time. For scale, the same is measured for a bare
interpreter, for ``import werkzeug`` (the floor of any Werkzeug application:
Werkzeug's package imports its server, test client and wrappers), for an
application's import (``from findig.json import App``), and for SQLAlchemy
and Alembic (what ``--help`` must not import).

Bytecode is cached in a temporary directory (``PYTHONPYCACHEPREFIX``), as
it is for an installed package, and each command runs once untimed first.
Before timing, each command is run once in-process with an import audit;
the table lists which of Werkzeug, SQLAlchemy, Alembic and passlib it
imported. The run stops if ``--help`` imports SQLAlchemy or Alembic
(``tests/test_cli_startup.py`` asserts the whole budget).

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

#: Packages a command is audited for.
HEAVY = ("alembic", "passlib", "sqlalchemy", "werkzeug")

#: The repository's ``manage.py`` (it serves ``examples/taskman_project``).
REPO_MANAGE = Path(__file__).resolve().parent.parent / "manage.py"

_AUDIT = (
    "import runpy, sys\n"
    "args = {args!r}\n"
    "try:\n"
    "    if args[0] == '-c':\n"
    "        sys.argv = ['-c']\n"
    "        exec(compile(args[1], '<string>', 'exec'), {{'__name__': '__main__'}})\n"
    "    elif args[0] == '-m':\n"
    "        sys.argv = [args[1], *args[2:]]\n"
    "        runpy.run_module(args[1], run_name='__main__', alter_sys=True)\n"
    "    else:\n"
    "        sys.argv = list(args)\n"
    "        sys.path.insert(0, __import__('os').path.dirname(args[0]) or '.')\n"
    "        runpy.run_path(args[0], run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "found = sorted({{m.partition('.')[0] for m in sys.modules}} & set({heavy!r}))\n"
    "print('IMPORTED:' + ','.join(found))\n"
)


def imported_packages(
    args: list[str], cwd: Path, env: dict[str, str] | None = None
) -> list[str]:
    """Run ``python *args*`` once in a fresh interpreter and return which of
    :data:`HEAVY` it imported.

    :param args: The interpreter's arguments: ``["-c", code]``,
        ``["-m", module, ...]`` or ``[script, ...]``.
    :param cwd: The working directory.
    :param env: The environment (default: this process's).
    :raises RuntimeError: if the audit did not complete.
    """
    result = subprocess.run(
        [sys.executable, "-c", _AUDIT.format(args=args, heavy=HEAVY)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith("IMPORTED:")]
    if not lines:
        raise RuntimeError(f"audit of {args!r} failed:\n{result.stderr}")
    found = lines[-1][len("IMPORTED:") :]
    return found.split(",") if found else []


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(
        argv,
        cwd=cwd,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=60,
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        # Bytecode is cached (outside the source tree), as in an installed
        # package: PYTHONDONTWRITEBYTECODE would time the compiler instead.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        env.pop("FINDIG_SETTINGS_MODULE", None)  # each manage.py sets its own
        subprocess.run(
            [sys.executable, "-m", "findig.project.cli", "startproject", "benchsite"],
            cwd=root,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
        project = root / "benchsite"
        # name -> (interpreter arguments, working directory)
        commands: dict[str, tuple[list[str], Path]] = {
            "python -c pass": (["-c", "pass"], project),
            "import werkzeug (floor)": (["-c", "import werkzeug"], project),
            "import findig": (["-c", "import findig"], project),
            "from findig.json import App": (
                ["-c", "from findig.json import App"],
                project,
            ),
            "import sqlalchemy, alembic": (
                ["-c", "import sqlalchemy, alembic.command"],
                project,
            ),
            "findig --help": (["-m", "findig.project.cli", "--help"], project),
            "manage.py --help (new)": (["manage.py", "--help"], project),
            "manage.py --help (taskman)": (
                [str(REPO_MANAGE), "--help"],
                REPO_MANAGE.parent,
            ),
        }
        imported = {
            name: imported_packages(args, cwd, env)
            for name, (args, cwd) in commands.items()
        }
        for name, found in imported.items():
            if "--help" in name and {"sqlalchemy", "alembic"} & set(found):
                sys.exit(f"{name} imported {', '.join(found)}: it must not")
        for args, cwd in commands.values():  # warm the bytecode cache
            _run([sys.executable, *args], cwd, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        names = list(commands)
        for round_ in range(options.rounds):
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                args, cwd = commands[name]
                times[name].append(_run([sys.executable, *args], cwd, env))

    print(f"Python {sys.version.split()[0]} on {sys.platform}, {os.cpu_count()} CPUs")
    print(f"median of {options.rounds} runs (wall time, fresh interpreter)")
    print(f"  {'command':<28} {'median':>9}  imports ({', '.join(HEAVY)})")
    for name, values in times.items():
        packages = ", ".join(imported[name]) or "-"
        median = statistics.median(values) * 1000
        print(f"  {name:<28} {median:6.1f} ms  {packages}")


if __name__ == "__main__":
    main()
