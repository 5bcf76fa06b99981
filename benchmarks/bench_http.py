#!/usr/bin/env python
"""Benchmark Findig over HTTP against raw Werkzeug, Flask and Falcon.

The apps of ``_apps.py`` (the ones ``bench_core.py`` calls in-process) are
each served by their own gunicorn (2 workers, ``sync`` then ``gthread``
worker class) on a free port of 127.0.0.1, and loaded by ``wrk`` with the
scenarios of ``bench_core.py``. The figures are requests per second and the
99th percentile of latency, each the median over interleaved rounds: round
*k* runs every scenario, and every framework within it, in an order rotated
by *k*.

Usage::

    python benchmarks/bench_http.py                  # 3 rounds x 5 s, ~9 minutes
    python benchmarks/bench_http.py --quick          # 1 round x 2 s, ~2 minutes
    python benchmarks/bench_http.py --worker-classes gthread --scenarios get-item

Before any load, every server is asked every scenario once and the answers
are compared (status code, JSON body, ``Location``); the run stops if they
differ. A wrk run that meets a socket error (connect, read, write, timeout)
or an unexpected status (any status of 400 or more where the scenario
expects 2xx; anything but such a status for the 404 scenario) fails the
benchmark, as does a worker that died or was replaced during the load.

``wrk`` and the servers share the machine: on a small one (2 cores here)
the load generator takes CPU from the server, so requests per second are
lower than a separate client machine would measure. Compare ratios within
one run.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from _apps import FRAMEWORKS
from bench_core import (
    _BY_KEY,
    REFERENCE,
    SCENARIOS,
    Reply,
    Scenario,
    _load_average,
    _positive,
    _rotate,
    add_selection_options,
    check_replies,
    machine_lines,
)

__all__ = [
    "WORKER_CLASSES",
    "Measurement",
    "Server",
    "WrkError",
    "format_table",
    "main",
    "run_wrk",
    "verify",
]

BENCHMARKS = Path(__file__).resolve().parent
REPO = BENCHMARKS.parent
#: The gunicorn worker classes compared, in report order.
WORKER_CLASSES = ("sync", "gthread")
#: The ``Host`` every request names, so that every app builds the same
#: ``Location`` (``http://localhost/items/<id>``) whatever its port.
HOST = "localhost"
#: The gunicorn factory of each framework (``_apps.py``'s ``make_*``).
_TARGETS = {name: f"_apps:{factory.__name__}()" for name, factory in FRAMEWORKS.items()}

#: The wrk script: one fixed request (wrk builds it once), and a ``done``
#: hook that prints the figures as one JSON line. It has no ``response``
#: hook, which would cost wrk work per response: wrk's own count of
#: statuses of 400 or more (``summary.errors.status``) tells the errors.
_LUA = """\
wrk.method = %(method)s
wrk.headers["Host"] = %(host)s
%(body)s
function done(summary, latency, requests)
  io.write(string.format(
    'WRK_RESULT {"requests": %%d, "duration_us": %%d, "status_4xx_5xx": %%d, '
    .. '"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d, '
    .. '"p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


class WrkError(RuntimeError):
    """A wrk run met errors, or a server misbehaved during the load."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One framework's gunicorn: 2 workers of *worker_class* on 127.0.0.1.

    :param name: The framework (a key of :data:`_apps.FRAMEWORKS`).
    :param worker_class: ``sync`` or ``gthread``.
    :param threads: Threads per ``gthread`` worker (``sync`` has one).
    :param log: The file gunicorn logs to.
    """

    name: str
    worker_class: str
    threads: int
    log: Path
    workers: int = 2
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    worker_pids: set[int] = field(default_factory=set)

    def start(self, timeout: float = 30.0) -> Server:
        """Start gunicorn; return once it answers and all workers run.

        :raises RuntimeError: if it does not within *timeout* seconds.
        """
        self.port = _free_port()
        # gunicorn turns a sync worker with more than one thread into gthread.
        threads = self.threads if self.worker_class == "gthread" else 1
        args = [
            sys.executable,
            "-m",
            "gunicorn",
            f"--workers={self.workers}",
            f"--worker-class={self.worker_class}",
            f"--threads={threads}",
            f"--bind=127.0.0.1:{self.port}",
            f"--pythonpath={BENCHMARKS}",
            "--log-level=warning",
            "--graceful-timeout=3",
            _TARGETS[self.name],
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("FINDIG_")}
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                args, cwd=REPO, env=env, stdout=log, stderr=log
            )
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(OSError, http.client.HTTPException):
                self.request(_BY_KEY["not-found"], timeout=2)
                self.worker_pids = self.children()
                if len(self.worker_pids) == self.workers:
                    return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"gunicorn did not start ({self.name}):\n{tail}")
            time.sleep(0.1)

    def children(self) -> set[int]:
        """The PIDs of the master's children (its workers)."""
        assert self.process is not None
        pid = self.process.pid
        try:
            text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
        except OSError:
            return set()
        return {int(p) for p in text.split()}

    def healthy(self) -> bool:
        """Whether the master runs the very workers it started with."""
        return (
            self.process is not None
            and self.process.poll() is None
            and self.children() == self.worker_pids
        )

    def request(self, scenario: Scenario, timeout: float = 10.0) -> Reply:
        """Send *scenario*'s request on a new connection; return the answer."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            headers = {"Host": HOST, "Connection": "close"}
            body = None
            if scenario.payload is not None:
                body = json.dumps(scenario.payload)
                headers["Content-Type"] = "application/json"
            connection.request(scenario.method, scenario.path, body, headers)
            response = connection.getresponse()
            return Reply(response.status, response.getheaders(), response.read())
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop the master by its PID (SIGTERM, then SIGKILL), and its workers."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        workers = self.children()
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for pid in workers:  # never left behind, even if the master died badly
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def serving(
    names: Sequence[str], worker_class: str, threads: int, directory: Path
) -> Iterator[dict[str, Server]]:
    """Run a gunicorn per framework for the duration of the block."""
    servers: dict[str, Server] = {}
    try:
        for name in names:
            log = directory / f"{name}-{worker_class}.log"
            servers[name] = Server(name, worker_class, threads, log).start()
        yield servers
    finally:
        for server in servers.values():
            server.stop()


def verify(servers: dict[str, Server], scenarios: Sequence[Scenario]) -> list[str]:
    """Ask every server every scenario once and compare the answers.

    Must run on fresh servers: the POST must create the first item (101) in
    every app alike.

    :returns: A description of each difference (see
        :func:`bench_core.check_replies`); empty when the servers agree.
    """
    replies = {
        s.key: {name: server.request(s) for name, server in servers.items()}
        for s in scenarios
    }
    return check_replies(replies)


@dataclass(frozen=True)
class Measurement:
    """What one wrk run measured."""

    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float


def run_wrk(
    port: int,
    scenario: Scenario,
    duration: int,
    connections: int,
    threads: int,
    directory: Path,
) -> Measurement:
    """Load 127.0.0.1:*port* with *scenario* for *duration* seconds.

    :raises WrkError: on any socket error or unexpected status.
    """
    body = ""
    if scenario.payload is not None:
        body = (
            f"wrk.body = {json.dumps(json.dumps(scenario.payload))}\n"
            'wrk.headers["Content-Type"] = "application/json"'
        )
    script = directory / f"{scenario.key}.lua"
    script.write_text(
        _LUA
        % {
            "method": json.dumps(scenario.method),
            "host": json.dumps(HOST),
            "body": body,
        }
    )
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout=5s",
        f"--script={script}",
        f"http://127.0.0.1:{port}{scenario.path}",
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=duration + 60, check=False
    )
    line = next(
        (x for x in done.stdout.splitlines() if x.startswith("WRK_RESULT ")), None
    )
    if done.returncode != 0 or line is None:
        raise WrkError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    figures = json.loads(line.removeprefix("WRK_RESULT "))
    requests = figures["requests"]
    sockets = {k: figures[k] for k in ("connect", "read", "write", "timeout")}
    # A 404 scenario must get nothing but 4xx/5xx answers (the exact status
    # was checked before the load); the others none at all.
    expected_errors = requests if scenario.status >= 400 else 0
    if any(sockets.values()) or figures["status_4xx_5xx"] != expected_errors:
        raise WrkError(
            f"{scenario.key}: {requests} requests, "
            f"{figures['status_4xx_5xx']} answered 4xx/5xx "
            f"(expected {expected_errors}), socket errors {sockets}"
        )
    if requests == 0:
        raise WrkError(f"{scenario.key}: wrk completed no request")
    return Measurement(
        requests,
        requests / (figures["duration_us"] / 1e6),
        figures["p50_us"] / 1000,
        figures["p99_us"] / 1000,
    )


def run_class(
    args: argparse.Namespace, worker_class: str, directory: Path, progress: IO[str]
) -> dict[str, dict[str, list[Measurement]]]:
    """Serve every framework with *worker_class*; verify, warm up, measure.

    :returns: One measurement per round, by framework then scenario key.
    :raises WrkError: if the servers answer differently, or on load errors.
    """
    scenarios = [_BY_KEY[k] for k in args.scenarios]
    names = list(args.frameworks)
    samples: dict[str, dict[str, list[Measurement]]] = {
        n: {k: [] for k in args.scenarios} for n in names
    }
    with serving(names, worker_class, args.threads, directory) as servers:
        problems = verify(servers, scenarios)
        if problems:
            raise WrkError(
                "the servers do not answer alike:\n  " + "\n  ".join(problems)
            )

        def load(name: str, scenario: Scenario, duration: int) -> Measurement:
            server = servers[name]
            measured = run_wrk(
                server.port,
                scenario,
                duration,
                args.connections,
                args.wrk_threads,
                directory,
            )
            if not server.healthy():
                raise WrkError(
                    f"{name} ({worker_class}): a worker died or was replaced "
                    f"under {scenario.key}; see {server.log}"
                )
            return measured

        if args.warm_up:
            progress.write(f"{worker_class}: warming up\n")
            for scenario in scenarios:
                for name in names:
                    load(name, scenario, args.warm_up)
        for number in range(args.rounds):
            progress.write(f"{worker_class}: round {number + 1}/{args.rounds}\n")
            progress.flush()
            for scenario in _rotate(scenarios, number):
                for name in _rotate(names, number):
                    measured = load(name, scenario, args.duration)
                    samples[name][scenario.key].append(measured)
    return samples


def format_table(samples: dict[str, dict[str, list[Measurement]]]) -> str:
    """The Markdown table: median req/s and p99 per framework, and ratios.

    A ratio is Findig's requests per second over the peer's: above 1 means
    Findig serves more.

    :param samples: Measurements by framework, then scenario key.
    """
    names = list(samples)
    peers = [n for n in names if n != REFERENCE] if REFERENCE in samples else []
    header = ["Scenario"]
    for name in names:
        header += [f"{name} req/s", f"{name} p99 ms"]
    header += [f"{REFERENCE} ÷ {p} (req/s)" for p in peers]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for scenario in SCENARIOS:
        if scenario.key not in samples[names[0]]:
            continue
        rps = {
            n: statistics.median(m.requests_per_s for m in samples[n][scenario.key])
            for n in names
        }
        row = [scenario.title]
        for name in names:
            p99 = statistics.median(m.p99_ms for m in samples[name][scenario.key])
            row += [f"{rps[name]:.0f}", f"{p99:.1f}"]
        row += [f"{rps[REFERENCE] / rps[p]:.2f}" for p in peers]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _widest_spread(
    samples: dict[str, dict[str, list[Measurement]]],
) -> tuple[float, str, str]:
    """The largest range of req/s between rounds relative to the median."""
    widest = (0.0, "-", "-")
    for name, by_key in samples.items():
        for key, measured in by_key.items():
            rps = [m.requests_per_s for m in measured]
            if len(rps) > 1:
                spread = (max(rps) - min(rps)) / statistics.median(rps)
                widest = max(widest, (spread, name, key))
    return widest


# -- command line -----------------------------------------------------------


def _worker_classes(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in WORKER_CLASSES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown worker class(es) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(WORKER_CLASSES)}"
        )
    return [n for n in WORKER_CLASSES if n in names]


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark Findig over HTTP (gunicorn + wrk) against raw "
        "Werkzeug, Flask and Falcon.",
    )
    parser.add_argument(
        "--rounds", type=_positive, default=3, help="interleaved rounds (default 3)"
    )
    parser.add_argument(
        "--duration",
        type=_positive,
        default=5,
        help="seconds of each wrk run (default 5)",
    )
    parser.add_argument(
        "--warm-up",
        type=_non_negative,
        default=2,
        help="seconds of wrk per server and scenario before the rounds "
        "(default 2; 0 for none)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a quick look: 1 round of 2 s, 1 s of warm-up",
    )
    parser.add_argument(
        "--connections", type=_positive, default=16, help="wrk -c (default 16)"
    )
    parser.add_argument(
        "--wrk-threads", type=_positive, default=2, help="wrk -t (default 2)"
    )
    parser.add_argument(
        "--threads",
        type=_positive,
        default=4,
        help="threads per gthread worker (default 4; sync workers have 1)",
    )
    parser.add_argument(
        "--worker-classes",
        type=_worker_classes,
        default=list(WORKER_CLASSES),
        help=f"comma-separated subset of {','.join(WORKER_CLASSES)} (default: both)",
    )
    add_selection_options(parser)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.warm_up = 1, 2, 1
    return args


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None) -> int:
    """Run the benchmark and print a Markdown report.

    :returns: The exit status: 1 if the servers do not answer alike or the
        load meets errors, 2 if ``wrk`` is not installed.
    """
    args = parse_args(argv)
    out = out if out is not None else sys.stdout
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    load_before = _load_average()
    started = time.perf_counter()
    results = {}
    with tempfile.TemporaryDirectory(prefix="findig-bench-http-") as tmp:
        try:
            for worker_class in args.worker_classes:
                results[worker_class] = run_class(
                    args, worker_class, Path(tmp), sys.stderr
                )
        except WrkError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            return 1
    elapsed = time.perf_counter() - started

    out.write("## Findig over HTTP: gunicorn + wrk\n\n")
    for line in machine_lines():
        out.write(f"- {line}\n")
    out.write(
        f"- gunicorn: 2 workers per framework, each framework on its own port; "
        f"gthread workers with {args.threads} threads\n"
        f"- wrk -t{args.wrk_threads} -c{args.connections}, {args.rounds} "
        f"interleaved round(s) of {args.duration} s per framework and scenario "
        f"after {args.warm_up} s of warm-up; median of the rounds (run took "
        f"{elapsed:.0f} s; load average {load_before} before, "
        f"{_load_average()} after)\n"
        f"- wrk runs on the same {os.cpu_count()} CPUs as the servers and takes "
        "a share of them: the req/s are lower than a separate client would "
        "see; compare the ratios\n\n"
    )
    for worker_class, samples in results.items():
        out.write(f"### {worker_class} workers\n\n{format_table(samples)}\n\n")
        spread, name, key = _widest_spread(samples)
        if spread:
            out.write(
                f"The widest spread of req/s between rounds (largest minus "
                f"smallest, over the median) was {spread:.0%}, {name} on "
                f"{key}.\n\n"
            )
    out.write(
        "Ratios are Findig's requests per second over the peer's: above 1 "
        "means Findig serves more. Every server answered every scenario alike "
        "before the load, and no wrk run met a socket error or an unexpected "
        "status.\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
