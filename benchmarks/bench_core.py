#!/usr/bin/env python
"""Benchmark Findig's core against raw Werkzeug, Flask and Falcon.

Every framework serves the same small JSON API (see ``_apps.py``). All the
apps live in this one process and are called directly as WSGI applications
with a prebuilt environ, so the figures measure the frameworks alone: no
server, no sockets. Rounds are interleaved: round *k* runs every framework on
every scenario, in an order rotated by *k*, and each figure is the median
over the rounds of the mean time per request in one batch.

Usage::

    python benchmarks/bench_core.py [--rounds N] [--requests M]
    python benchmarks/bench_core.py --profile create-item [--requests M]

Before timing anything, every app is asked every scenario once and the
answers are compared (status code, JSON body, ``Location``); the run stops if
they differ, so the apps timed are known to do the same work.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from io import BytesIO
from typing import IO, Any, TypeVar

from _apps import FRAMEWORKS, WSGIApp, make_findig
from werkzeug.test import EnvironBuilder

__all__ = [
    "SCENARIOS",
    "PreparedRequest",
    "Reply",
    "Scenario",
    "call",
    "check_replies",
    "collect_replies",
    "main",
    "time_batch",
]

T = TypeVar("T")

#: The framework the others are compared with.
REFERENCE = "Findig"
JSON_MIME = "application/json"


@dataclass(frozen=True)
class Scenario:
    """One request, sent the same way to every framework.

    :ivar key: The short name used on the command line.
    :ivar title: The name shown in the table.
    :ivar method: The HTTP method.
    :ivar path: The request path.
    :ivar status: The status code every framework must answer with.
    :ivar payload: The JSON body to send, if any.
    :ivar same_body: Whether every framework must answer the same JSON body
        (404 bodies are each framework's own).
    """

    key: str
    title: str
    method: str
    path: str
    status: int
    payload: Any = None
    same_body: bool = True


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("get-item", "GET one item", "GET", "/items/42", 200),
    Scenario("list-items", "GET a list of 100 items", "GET", "/items/", 200),
    Scenario(
        "create-item",
        "POST a JSON body (201)",
        "POST",
        "/items/",
        201,
        payload={"name": "x", "price": 3},
    ),
    Scenario(
        "not-found",
        "GET an unknown path (404)",
        "GET",
        "/nowhere",
        404,
        same_body=False,
    ),
)
_BY_KEY = {s.key: s for s in SCENARIOS}


class PreparedRequest:
    """A scenario's WSGI environ, built once and copied for every call.

    :param scenario: The scenario to build the environ of.
    """

    __slots__ = ("body", "environ", "scenario")

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        builder = EnvironBuilder(
            path=scenario.path,
            method=scenario.method,
            json=scenario.payload,
            base_url="http://localhost/",
        )
        try:
            self.environ: dict[str, Any] = builder.get_environ()
        finally:
            builder.close()
        #: The request body, read anew from a fresh stream by every call.
        self.body: bytes | None = None
        if scenario.payload is not None:
            self.body = self.environ["wsgi.input"].read()

    def make_environ(self) -> dict[str, Any]:
        """A copy of the environ for one call, with its own input stream."""
        environ = self.environ.copy()
        if self.body is not None:
            environ["wsgi.input"] = BytesIO(self.body)
        return environ


@dataclass
class Reply:
    """What an app answered: status code, headers and the whole body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The value of the first header called *name* (any case), if any."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    @property
    def mimetype(self) -> str:
        """The ``Content-Type`` without its parameters."""
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


def call(app: WSGIApp, prepared: PreparedRequest) -> Reply:
    """Call *app* once as a server would, and return what it answered."""
    started: list[Any] = []

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return _discard

    result = app(prepared.make_environ(), start_response)
    try:
        body = b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    status, headers = started
    return Reply(int(status.split(" ", 1)[0]), list(headers), body)


def collect_replies(
    apps: dict[str, WSGIApp], prepared: dict[str, PreparedRequest]
) -> dict[str, dict[str, Reply]]:
    """Ask every app every scenario once.

    :returns: The replies by scenario key, then by framework name.
    """
    return {
        key: {name: call(app, request) for name, app in apps.items()}
        for key, request in prepared.items()
    }


def check_replies(replies: dict[str, dict[str, Reply]]) -> list[str]:
    """Compare the apps' replies to each scenario.

    Every app must answer each scenario's status; where the scenario says so,
    every app must answer JSON, the same JSON document, and (for a 201) the
    same ``Location``.

    :returns: A description of each difference; empty when the apps agree.
    """
    problems = []
    for key, by_app in replies.items():
        scenario = _BY_KEY[key]
        for name, reply in by_app.items():
            if reply.status != scenario.status:
                problems.append(
                    f"{key}: {name} answered {reply.status}, not {scenario.status}"
                )
        if not scenario.same_body:
            continue
        documents = {}
        for name, reply in by_app.items():
            if reply.mimetype != JSON_MIME:
                problems.append(f"{key}: {name} answered {reply.mimetype!r}")
                continue
            documents[name] = reply.json()
        first = next(iter(documents.items()), None)
        for name, document in documents.items():
            if first is not None and document != first[1]:
                problems.append(
                    f"{key}: {name} answered {document!r}, {first[0]} {first[1]!r}"
                )
        if scenario.status == 201:
            locations = {name: r.header("Location") for name, r in by_app.items()}
            if None in locations.values() or len(set(locations.values())) != 1:
                problems.append(f"{key}: the Location headers differ: {locations}")
    return problems


def _discard(data: bytes) -> None:
    """The ``write`` callable of :func:`_start_response`."""


def _start_response(
    status: str, headers: list[tuple[str, str]], exc_info: Any = None
) -> Callable[[bytes], None]:
    return _discard


def time_batch(app: WSGIApp, prepared: PreparedRequest, requests: int) -> float:
    """Call *app* *requests* times; return the mean time per call in seconds.

    Each call gets its own copy of the environ (and a fresh input stream when
    the request has a body); the response iterable is consumed and closed,
    as a WSGI server would.
    """
    copy = prepared.environ.copy
    body = prepared.body
    start_response = _start_response
    clock = time.perf_counter
    if body is None:
        start = clock()
        for _ in range(requests):
            result = app(copy(), start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        end = clock()
    else:
        start = clock()
        for _ in range(requests):
            environ = copy()
            environ["wsgi.input"] = BytesIO(body)
            result = app(environ, start_response)
            for _chunk in result:
                pass
            close = getattr(result, "close", None)
            if close is not None:
                close()
        end = clock()
    return (end - start) / requests


def _bare_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> Iterable[bytes]:
    """The least a WSGI app can do: measures the harness's own cost."""
    start_response("200 OK", [("Content-Type", JSON_MIME), ("Content-Length", "2")])
    return [b"{}"]


def _rotate(items: Sequence[T], by: int) -> list[T]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def run_rounds(
    apps: dict[str, WSGIApp],
    prepared: dict[str, PreparedRequest],
    rounds: int,
    requests: int,
    progress: IO[str] | None = None,
) -> dict[str, dict[str, list[float]]]:
    """Time every app on every scenario, round by round.

    Round *k* runs the scenarios, and within each scenario the apps, in an
    order rotated by *k*, so that no framework always runs first or last.

    :returns: Seconds per request, one sample per round, by framework name
        then scenario key.
    """
    names = list(apps)
    keys = list(prepared)
    samples: dict[str, dict[str, list[float]]] = {
        n: {k: [] for k in keys} for n in names
    }
    for number in range(rounds):
        if progress is not None:
            progress.write(f"\rround {number + 1}/{rounds}")
            progress.flush()
        for key in _rotate(keys, number):
            for name in _rotate(names, number):
                gc.collect()
                samples[name][key].append(
                    time_batch(apps[name], prepared[key], requests)
                )
    if progress is not None:
        progress.write("\n")
    return samples


# -- report -----------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_lines() -> list[str]:
    """Describe the machine and the software measured, one item a line."""
    import falcon.app

    compiled = not falcon.app.__file__.endswith(".py")
    falcon_build = "compiled core" if compiled else "pure-Python core"
    return [
        f"CPU: {_cpu_model()} ({os.cpu_count()} logical CPUs)",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_implementation()} {platform.python_version()} "
        f"({platform.python_compiler()})",
        f"Findig {_version('findig')}, Werkzeug {_version('werkzeug')}, "
        f"Flask {_version('flask')}, Falcon {_version('falcon')} ({falcon_build})",
    ]


def format_table(medians: dict[str, dict[str, float]]) -> str:
    """The Markdown table of µs per request and ratios against Findig.

    :param medians: Seconds per request by framework, then scenario key.
    """
    names = list(medians)
    peers = [n for n in names if n != REFERENCE]
    has_reference = REFERENCE in medians
    judged = has_reference and "Werkzeug" in medians and "Flask" in medians
    header = ["Scenario", *(f"{n} µs" for n in names)]
    if has_reference:
        header += [f"{REFERENCE} ÷ {p}" for p in peers]
    if judged:
        header.append("Bar")
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
    ]
    for scenario in SCENARIOS:
        if scenario.key not in medians[names[0]]:
            continue
        row = [scenario.title]
        row += [f"{medians[n][scenario.key] * 1e6:.1f}" for n in names]
        if has_reference:
            own = medians[REFERENCE][scenario.key]
            row += [f"{own / medians[p][scenario.key]:.2f}" for p in peers]
        if judged:
            own = medians[REFERENCE][scenario.key]
            met = (
                own <= medians["Werkzeug"][scenario.key]
                and own < medians["Flask"][scenario.key]
            )
            row.append("met" if met else "**missed**")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# -- profiling --------------------------------------------------------------


_STDLIB = sysconfig.get_paths()["stdlib"] + os.sep


def _short_path(path: str) -> str:
    if path.startswith(_STDLIB):
        return path[len(_STDLIB) :]
    for marker in ("site-packages/", "/findig/"):
        index = path.rfind(marker)
        if index >= 0:
            start = index + len(marker)
            return (
                path[start:] if marker == "site-packages/" else "findig/" + path[start:]
            )
    return path


def _shorten_paths(stats: pstats.Stats) -> None:
    """Like :meth:`pstats.Stats.strip_dirs`, but keep package-relative paths
    (``werkzeug/sansio/request.py``), which tell the modules apart."""

    def short(func: tuple[str, int, str]) -> tuple[str, int, str]:
        return (_short_path(func[0]), func[1], func[2])

    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    shortened = {}
    for func, (cc, nc, tt, ct, callers) in table.items():
        shortened[short(func)] = (
            cc,
            nc,
            tt,
            ct,
            {short(caller): value for caller, value in callers.items()},
        )
    stats.stats = shortened  # type: ignore[attr-defined]
    stats.fcn_list = 0  # type: ignore[attr-defined]
    stats.all_callees = None  # type: ignore[attr-defined]
    stats.top_level = {short(func) for func in stats.top_level}  # type: ignore[attr-defined]
    stats.max_name_len = max(  # type: ignore[attr-defined]
        (len(f"{file}:{line}({name})") for file, line, name in shortened), default=0
    )


def profile(scenario: Scenario, requests: int, out: IO[str], top: int = 25) -> None:
    """Run Findig on *scenario* under cProfile and print the top functions.

    :param scenario: The scenario to profile.
    :param requests: How many requests to profile.
    :param out: Where to print.
    :param top: How many functions to list by cumulative, then by own time.
    """
    app = make_findig()
    prepared = PreparedRequest(scenario)
    reply = call(app, prepared)
    if reply.status != scenario.status:
        raise SystemExit(f"Findig answered {reply.status} to {scenario.key}")
    time_batch(app, prepared, 200)  # warm up: routes built, caches filled
    profiler = cProfile.Profile()
    profiler.enable()
    time_batch(app, prepared, requests)
    profiler.disable()
    for order, label in (("cumulative", "cumulative"), ("tottime", "total (own)")):
        out.write(
            f"\n## Findig, {scenario.title} ({scenario.key}): top {top} "
            f"by {label} time over {requests} requests\n"
        )
        stats = pstats.Stats(profiler, stream=out)
        _shorten_paths(stats)
        stats.sort_stats(order).print_stats(top)


# -- command line -----------------------------------------------------------


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def _frameworks(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = {n.lower(): n for n in FRAMEWORKS}
    unknown = [n for n in names if n.lower() not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown framework(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(FRAMEWORKS)}"
        )
    return [known[n.lower()] for n in names]


def _scenarios(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in keys if k not in _BY_KEY]
    if unknown or not keys:
        raise argparse.ArgumentTypeError(
            f"unknown scenario(s) {', '.join(unknown) or '(none)'}; "
            f"choose from {', '.join(_BY_KEY)}"
        )
    return [s.key for s in SCENARIOS if s.key in keys]


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    """Add the ``--frameworks`` and ``--scenarios`` options every harness
    takes."""
    parser.add_argument(
        "--frameworks",
        type=_frameworks,
        default=list(FRAMEWORKS),
        help=f"comma-separated subset of {','.join(FRAMEWORKS)} (default: all)",
    )
    parser.add_argument(
        "--scenarios",
        type=_scenarios,
        default=list(_BY_KEY),
        help=f"comma-separated subset of {','.join(_BY_KEY)} (default: all)",
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Benchmark Findig's core against raw Werkzeug, Flask and Falcon.",
    )
    parser.add_argument(
        "--rounds", type=_positive, default=30, help="interleaved rounds (default 30)"
    )
    parser.add_argument(
        "--requests",
        type=_positive,
        default=2000,
        help="requests per framework, scenario and round (default 2000)",
    )
    add_selection_options(parser)
    parser.add_argument(
        "--profile",
        metavar="SCENARIO",
        choices=[s.key for s in SCENARIOS],
        help="instead of benchmarking, profile Findig on SCENARIO "
        f"({', '.join(s.key for s in SCENARIOS)}) with cProfile",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark (or the profile) and print a Markdown report.

    :returns: The exit status: 1 if the apps do not answer alike.
    """
    args = parse_args(argv)
    out = sys.stdout
    if args.profile:
        profile(_BY_KEY[args.profile], args.requests, out)
        return 0

    apps = {name: FRAMEWORKS[name]() for name in args.frameworks}
    prepared = {key: PreparedRequest(_BY_KEY[key]) for key in args.scenarios}
    problems = check_replies(collect_replies(apps, prepared))
    if problems:
        print("The apps do not answer alike:", *problems, sep="\n  ", file=sys.stderr)
        return 1

    load_before = _load_average()
    started = time.perf_counter()
    warm_up = min(args.requests, 200)
    for app in apps.values():
        for request in prepared.values():
            time_batch(app, request, warm_up)
    samples = run_rounds(apps, prepared, args.rounds, args.requests, sys.stderr)
    medians = {
        name: {key: statistics.median(values) for key, values in by_key.items()}
        for name, by_key in samples.items()
    }
    bare = statistics.median(
        time_batch(_bare_app, next(iter(prepared.values())), args.requests)
        for _ in range(min(args.rounds, 5))
    )
    elapsed = time.perf_counter() - started

    out.write("## Findig core benchmark\n\n")
    for line in machine_lines():
        out.write(f"- {line}\n")
    out.write(
        f"- {args.rounds} interleaved rounds x {args.requests} requests per "
        f"framework and scenario; median of the rounds' µs per request "
        f"(run took {elapsed:.0f} s; load average {load_before} before, "
        f"{_load_average()} after)\n\n"
    )
    out.write(format_table(medians) + "\n\n")
    spread, name, key = _widest_spread(samples)
    out.write(
        "Ratios below 1 mean Findig is faster. Bar: Findig not slower than raw "
        "Werkzeug and faster than Flask. Every figure includes the harness's "
        f"own cost, {bare * 1e6:.2f} µs per request (a bare WSGI app). The "
        f"widest spread between rounds (interquartile range over median) was "
        f"{spread:.0%}, {name} on {key}.\n"
    )
    return 0


def _load_average() -> str:
    """The 1-minute load average, a hint of other work on the machine."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "unknown"


def _widest_spread(
    samples: dict[str, dict[str, list[float]]],
) -> tuple[float, str, str]:
    """The largest interquartile range relative to the median, and where."""
    widest = (0.0, "-", "-")
    for name, by_key in samples.items():
        for key, values in by_key.items():
            if len(values) < 4:
                continue
            low, _, high = statistics.quantiles(values, n=4)
            spread = (high - low) / statistics.median(values)
            if spread > widest[0]:
                widest = (spread, name, key)
    return widest


if __name__ == "__main__":
    sys.exit(main())
