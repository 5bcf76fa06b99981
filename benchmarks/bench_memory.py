#!/usr/bin/env python
"""Memory of a request: Findig against raw Werkzeug, Flask and Falcon.

Two measurements, on the apps of ``_apps.py`` called in-process as WSGI
applications with the scenarios of ``bench_core.py``:

1. Allocation per request, under :mod:`tracemalloc`, after a warm-up (every
   app answers every scenario ``--warm-up`` times, at least enough POSTs to
   fill its store so that later POSTs replace items rather than add them):

   - *peak*: the traced peak during one request minus the traced memory
     just before it, the median over ``--samples`` single requests;
   - *retained*: the blocks and bytes still allocated after ``--requests``
     more requests (garbage collected before and after; counted from after
     ``--settle`` traced requests, by default twice as many as the store
     has ids, so that replaced items are not counted). A leak makes it grow
     with ``--requests``; bounded caches (werkzeug's URL building,
     ``urllib.parse``) can leave a few hundred blocks that do not.

2. Resident memory over time: Findig's app answers the four scenarios in
   turn, tracemalloc off; after ``--rss-warm-up`` seconds (default 30) the
   RSS (``/proc/self/statm``) is sampled every ``--every`` seconds for
   ``--seconds`` (default 300). The report gives the first, last and
   largest sample and the growth (last over first); the exit status is 1
   when the growth exceeds ``--max-growth`` (10 %).

Usage::

    python benchmarks/bench_memory.py                  # ~6 minutes
    python benchmarks/bench_memory.py --seconds 30     # a quick look
    python benchmarks/bench_memory.py --seconds 0      # allocations only
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO, Any

from _apps import FRAMEWORKS, ID_SPAN, WSGIApp, make_findig
from bench_core import (
    _BY_KEY,
    SCENARIOS,
    PreparedRequest,
    _load_average,
    _positive,
    _start_response,
    add_selection_options,
    check_replies,
    collect_replies,
    machine_lines,
    time_batch,
)

__all__ = [
    "Allocation",
    "RssRun",
    "format_allocations",
    "main",
    "measure_allocation",
    "rss_bytes",
    "run_rss",
]

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
#: Traces left out of the counts: tracemalloc's own snapshots.
_OWN = (tracemalloc.Filter(False, tracemalloc.__file__),)


def _one_request(app: WSGIApp, environ: dict[str, Any]) -> None:
    """Call *app* once as a server would: consume and close the answer."""
    result = app(environ, _start_response)
    for _chunk in result:
        pass
    close = getattr(result, "close", None)
    if close is not None:
        close()


def _bare_app(
    environ: dict[str, Any], start_response: Callable[..., Any]
) -> list[bytes]:
    """The least a WSGI app can do: measures the harness's own allocation."""
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b"{}"]


@dataclass(frozen=True)
class Allocation:
    """What one app allocated for one scenario.

    :ivar peak: Median peak bytes allocated during one request.
    :ivar retained_blocks: Blocks still allocated after the requests.
    :ivar retained_bytes: Bytes still allocated after the requests.
    :ivar requests: How many requests the retained figures are over.
    """

    peak: int
    retained_blocks: int
    retained_bytes: int
    requests: int


def _traced_totals() -> tuple[int, int]:
    """The blocks and bytes traced now, tracemalloc's own left out."""
    snapshot = tracemalloc.take_snapshot().filter_traces(_OWN)
    stats = snapshot.statistics("filename")
    return sum(s.count for s in stats), sum(s.size for s in stats)


def measure_allocation(
    app: WSGIApp,
    prepared: PreparedRequest,
    samples: int,
    requests: int,
    settle: int = 2 * ID_SPAN,
) -> Allocation:
    """Measure one warmed-up *app* on one scenario; tracemalloc must be on.

    :param samples: Single requests to take the median peak over.
    :param requests: Requests between the two counts of retained memory.
    :param settle: Traced requests before the first count.
    """
    peaks = []
    for _ in range(samples):
        environ = prepared.make_environ()
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        _one_request(app, environ)
        peaks.append(tracemalloc.get_traced_memory()[1] - before)
        del environ
    # Traced requests first: objects made untraced during the warm-up and
    # replaced since (the store's items, bounded caches' entries) would
    # otherwise count as retained, their replacements being traced and their
    # frees not. Two rounds of the store's ids bring the counts to a steady
    # state (one round leaves some of the items' ids untraced).
    time_batch(app, prepared, settle)
    gc.collect()
    blocks_before, bytes_before = _traced_totals()
    time_batch(app, prepared, requests)
    gc.collect()
    blocks_after, bytes_after = _traced_totals()
    return Allocation(
        int(statistics.median(peaks)),
        blocks_after - blocks_before,
        bytes_after - bytes_before,
        requests,
    )


def measure_allocations(
    names: Sequence[str],
    keys: Sequence[str],
    warm_up: int,
    samples: int,
    requests: int,
    settle: int,
) -> tuple[dict[str, dict[str, Allocation]], Allocation]:
    """Warm every app up untraced, then measure each under tracemalloc.

    :returns: The allocations by framework then scenario key, and the bare
        app's (the harness's own cost).
    :raises SystemExit: if the apps do not answer alike.
    """
    apps = {name: FRAMEWORKS[name]() for name in names}
    prepared = {key: PreparedRequest(_BY_KEY[key]) for key in keys}
    problems = check_replies(collect_replies(apps, prepared))
    if problems:
        raise SystemExit("The apps do not answer alike:\n  " + "\n  ".join(problems))
    for app in apps.values():
        for key, request in prepared.items():
            # A full store: later POSTs replace items instead of adding some.
            count = max(warm_up, ID_SPAN + 1) if key == "create-item" else warm_up
            time_batch(app, request, count)
    results: dict[str, dict[str, Allocation]] = {name: {} for name in names}
    tracemalloc.start()
    try:
        bare = measure_allocation(
            _bare_app, next(iter(prepared.values())), samples, requests, settle
        )
        for name, app in apps.items():
            for key, request in prepared.items():
                results[name][key] = measure_allocation(
                    app, request, samples, requests, settle
                )
    finally:
        tracemalloc.stop()
    return results, bare


def format_allocations(results: dict[str, dict[str, Allocation]]) -> str:
    """The Markdown table of peak and retained memory per request."""
    names = list(results)
    header = ["Scenario"]
    for name in names:
        header += [f"{name} peak KiB", f"{name} retained blocks"]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for scenario in SCENARIOS:
        if scenario.key not in results[names[0]]:
            continue
        row = [scenario.title]
        for name in names:
            found = results[name][scenario.key]
            row += [
                f"{found.peak / 1024:.1f}",
                f"{found.retained_blocks} ({found.retained_bytes} B)",
            ]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


# -- RSS over time ------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident set size, from ``/proc/self/statm``."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * _PAGE_SIZE


@dataclass(frozen=True)
class RssRun:
    """The RSS samples of a run, in bytes, and how many requests it served."""

    samples: list[int]
    requests: int
    seconds: float

    @property
    def growth(self) -> float:
        """The last sample over the first, minus 1."""
        return self.samples[-1] / self.samples[0] - 1


def run_rss(
    seconds: float,
    every: float,
    warm_up: float,
    progress: IO[str] | None = None,
) -> RssRun:
    """Serve the four scenarios with Findig in turn; sample the RSS.

    :param seconds: How long to sample (after the warm-up).
    :param every: Seconds between samples.
    :param warm_up: Seconds of requests before the first sample.
    """
    app = make_findig()
    cycle = [PreparedRequest(s) for s in SCENARIOS]
    clock = time.monotonic
    started = clock()
    next_sample = started + warm_up
    end = next_sample + seconds
    samples: list[int] = []
    served = 0
    while True:
        for prepared in cycle:
            _one_request(app, prepared.make_environ())
        served += len(cycle)
        now = clock()
        if now >= next_sample:
            samples.append(rss_bytes())
            if progress is not None:
                progress.write(
                    f"\r{now - started:5.0f} s  RSS {samples[-1] / 2**20:.1f} MiB"
                )
                progress.flush()
            if now >= end:
                break
            next_sample += every
    if progress is not None:
        progress.write("\n")
    return RssRun(samples, served, clock() - started)


# -- command line -----------------------------------------------------------


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description="Memory per request (tracemalloc) and RSS over time.",
    )
    parser.add_argument(
        "--warm-up",
        type=_positive,
        default=200,
        help="requests per app and scenario before tracing (default 200; "
        f"the POST gets at least {ID_SPAN + 1}, to fill the store)",
    )
    parser.add_argument(
        "--samples",
        type=_positive,
        default=50,
        help="single requests the peak is the median of (default 50)",
    )
    parser.add_argument(
        "--requests",
        type=_positive,
        default=1000,
        help="requests between the counts of retained blocks (default 1000)",
    )
    parser.add_argument(
        "--settle",
        type=_positive,
        default=2 * ID_SPAN,
        help="traced requests before the first count of retained blocks "
        f"(default {2 * ID_SPAN}: twice the store's ids)",
    )
    parser.add_argument(
        "--seconds",
        type=_non_negative,
        default=300.0,
        help="seconds of the RSS run, after its warm-up (default 300; 0 skips it)",
    )
    parser.add_argument(
        "--every",
        type=_non_negative,
        default=5.0,
        help="seconds between RSS samples (default 5)",
    )
    parser.add_argument(
        "--rss-warm-up",
        type=_non_negative,
        default=30.0,
        help="seconds of requests before the first RSS sample (default 30)",
    )
    parser.add_argument(
        "--max-growth",
        type=float,
        default=0.10,
        help="largest accepted RSS growth, last over first sample (default 0.10)",
    )
    add_selection_options(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: IO[str] | None = None) -> int:
    """Measure and print a Markdown report.

    :returns: The exit status: 1 if the RSS grew more than ``--max-growth``.
    """
    args = parse_args(argv)
    out = out if out is not None else sys.stdout
    load_before = _load_average()
    results, bare = measure_allocations(
        args.frameworks,
        args.scenarios,
        args.warm_up,
        args.samples,
        args.requests,
        args.settle,
    )
    out.write("## Findig memory benchmark\n\n")
    for line in machine_lines():
        out.write(f"- {line}\n")
    out.write(
        f"- load average {load_before}\n\n"
        "### Allocation per request (tracemalloc)\n\n"
        f"After {args.warm_up} untraced requests per app and scenario (the POST "
        f"at least {ID_SPAN + 1}). Peak: median over {args.samples} single "
        "requests of the traced peak minus the traced memory before the "
        f"request. Retained: blocks (bytes) still allocated after "
        f"{args.requests} more requests, garbage collected, counted from "
        f"after {args.settle} traced requests.\n\n"
        f"{format_allocations(results)}\n\n"
        f"The harness alone (a bare WSGI app) peaks at {bare.peak / 1024:.1f} "
        f"KiB and retains {bare.retained_blocks} blocks "
        f"({bare.retained_bytes} B).\n"
    )
    if not args.seconds:
        return 0
    run = run_rss(args.seconds, args.every, args.rss_warm_up, sys.stderr)
    mib = [s / 2**20 for s in run.samples]
    out.write(
        "\n### Resident memory over time (Findig)\n\n"
        f"{run.requests} requests in {run.seconds:.0f} s, the four scenarios "
        f"in turn; {len(mib)} samples every {args.every:g} s after "
        f"{args.rss_warm_up:g} s of warm-up (load average {_load_average()} "
        "at the end).\n\n"
        "| first MiB | last MiB | max MiB | growth |\n|---:|---:|---:|---:|\n"
        f"| {mib[0]:.2f} | {mib[-1]:.2f} | {max(mib):.2f} | {run.growth:+.2%} |\n"
    )
    if run.growth > args.max_growth:
        out.write(f"\nFAILED: RSS grew more than {args.max_growth:.0%}.\n")
        return 1
    out.write(f"\nOK: RSS grew less than {args.max_growth:.0%}.\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
