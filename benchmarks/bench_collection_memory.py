"""Peak memory of GET on a collection of 100,000 rows (SQLASet on SQLite).

Run by hand::

    .venv/bin/python benchmarks/bench_collection_memory.py [--rows N]

It measures, with :mod:`tracemalloc`, the peak of Python memory allocated
while the app answers ``GET /rows/`` (the WSGI body is consumed chunk by
chunk and not kept, as a server does), and compares it with:

- the size of the JSON body itself;
- the lower bound: the same set iterated in a request, each record encoded
  and dropped at once;
- the same rows served from a list of dicts already in memory (a list is
  encoded at once, so the whole body is built in memory).

:class:`findig.json.App` streams a data set (any iterable that is not a
list, tuple or mapping) as a JSON array in chunks of about 64 KiB, and
SQLASet reads the rows in batches, so the peak stays near the lower bound
whatever the number of rows. The seconds are measured without tracemalloc.
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String, insert
from werkzeug.test import EnvironBuilder

from findig.extras.sql import SQLA, SQLASet
from findig.json import App, JSONEncoder


def measure(func: Callable[[], Any]) -> tuple[Any, int, float]:
    """Run *func* twice; return its result, the peak of memory it allocated
    (bytes, traced on the first run) and the time it took (seconds, on the
    second run, without tracing)."""
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    result = func()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    gc.collect()
    started = time.perf_counter()
    func()
    elapsed = time.perf_counter() - started
    return result, peak, elapsed


def wsgi_get(app: Any, path: str) -> int:
    """GET *path* from *app*; return the size of the body, not keeping it."""
    environ = EnvironBuilder(path=path).get_environ()
    statuses: list[str] = []

    def start_response(status: str, headers: Any, exc_info: Any = None) -> Any:
        statuses.append(status)
        return lambda data: None

    body = app(environ, start_response)
    size = 0
    try:
        for chunk in body:
            size += len(chunk)
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()
    assert statuses == ["200 OK"], statuses
    return size


def build(path: Path, rows: int) -> tuple[App, Any, Any]:
    app = App()
    db = SQLA(f"sqlite:///{path}", app=app)

    class Row(db.Base):
        id = Column(Integer, primary_key=True)
        title = Column(String(100), nullable=False)
        done = Column(Boolean, nullable=False)
        due = Column(DateTime)

    db.create_all()
    start = datetime(2020, 1, 1)
    with db.engine.begin() as conn:
        batch = []
        for n in range(1, rows + 1):
            batch.append(
                {
                    "title": f"Task number {n}",
                    "done": n % 3 == 0,
                    "due": start + timedelta(minutes=n),
                }
            )
            if len(batch) == 10_000:
                conn.execute(insert(Row), batch)
                batch = []
        if batch:
            conn.execute(insert(Row), batch)

    @app.route("/rows/<id>")
    @app.resource(lazy=True)
    def row(id):
        return rows_set().fetch(id=id)

    @app.route("/rows/")
    @row.collection(lazy=True)
    def rows_set():
        return SQLASet(Row)

    return app, db, Row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        app, db, row_cls = build(Path(tmp) / "bench.sqlite", args.rows)
        wsgi_get(app, "/rows/1")  # first request: routes, tables, warm caches

        size, peak_get, time_get = measure(lambda: wsgi_get(app, "/rows/"))

        encoder = JSONEncoder()

        def streamed() -> int:
            total = 0
            with app.test_context(path="/rows/"):
                for record in SQLASet(row_cls):
                    total += len(encoder.encode(record)) + 2
            return total

        streamed_size, peak_stream, time_stream = measure(streamed)

        with app.test_context(path="/rows/"):
            plain = [dict(r) for r in SQLASet(row_cls)]
        listed = App()

        @listed.route("/rows/")
        @listed.resource
        def plain_rows():
            return plain

        wsgi_get(listed, "/rows/")
        _, peak_list, time_list = measure(lambda: wsgi_get(listed, "/rows/"))
        db.engine.dispose()

    mib = 1024 * 1024
    print(f"GET /rows/ with {args.rows:,} rows; JSON body {size / mib:.1f} MiB")
    print(f"{'case':<44} {'peak MiB':>9} {'seconds':>8}")
    print(
        f"{'GET of the SQLASet collection (streamed)':<44} "
        f"{peak_get / mib:>9.1f} {time_get:>8.2f}"
    )
    print(
        f"{'lower bound: encode each record and drop it':<44} "
        f"{peak_stream / mib:>9.1f} {time_stream:>8.2f}"
    )
    print(
        f"{'GET of a list of dicts (encoded at once)':<44} "
        f"{peak_list / mib:>9.1f} {time_list:>8.2f}"
    )
    assert streamed_size >= size - args.rows * 4  # same data, other separators
    print(
        json.dumps(
            {
                "rows": args.rows,
                "body_bytes": size,
                "peak_get": peak_get,
                "peak_streamed": peak_stream,
                "peak_list": peak_list,
            }
        )
    )


if __name__ == "__main__":
    main()
