"""Smoke tests of the benchmarks in ``benchmarks/``.

They check that the benchmarks compare like with like: every framework's app
answers every scenario with the same status code and JSON document, in
process (``bench_core.py``, ``bench_memory.py``) and over HTTP
(``bench_http.py``: real gunicorn servers loaded by ``wrk``, which must be
installed under ``CI=true``). They run the harnesses in their tiniest modes
and assert nothing about speed or size.
"""

from __future__ import annotations

import importlib
import io
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from _support import unavailable

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    # The harness is a script directory, not a package: import it the way
    # ``python benchmarks/bench_core.py`` does, with its folder on sys.path.
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield importlib.import_module("bench_core")
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture()
def replies(bench: ModuleType) -> dict:
    apps_module = importlib.import_module("_apps")
    apps = {name: factory() for name, factory in apps_module.FRAMEWORKS.items()}
    prepared = {s.key: bench.PreparedRequest(s) for s in bench.SCENARIOS}
    return bench.collect_replies(apps, prepared)


def test_every_framework_is_benchmarked_on_every_scenario(replies: dict) -> None:
    assert set(replies) == {"get-item", "list-items", "create-item", "not-found"}
    for by_app in replies.values():
        assert list(by_app) == ["Findig", "Werkzeug", "Flask", "Falcon"]


def test_apps_answer_alike(bench: ModuleType, replies: dict) -> None:
    assert bench.check_replies(replies) == []
    expected = {
        "get-item": 200,
        "list-items": 200,
        "create-item": 201,
        "not-found": 404,
    }
    for key, by_app in replies.items():
        assert {name: r.status for name, r in by_app.items()} == dict.fromkeys(
            by_app, expected[key]
        ), key


def test_apps_answer_the_same_json(replies: dict) -> None:
    item = {
        "id": 42,
        "name": "item 42",
        "price": 126,
        "currency": "EUR",
        "in_stock": True,
    }
    for name, reply in replies["get-item"].items():
        assert reply.mimetype == "application/json", name
        assert reply.json() == item, name
    for name, reply in replies["list-items"].items():
        listing = reply.json()
        assert len(listing) == 100, name
        assert listing[41] == item, name
        assert [i["id"] for i in listing] == list(range(1, 101)), name
    for name, reply in replies["create-item"].items():
        assert reply.json() == {"id": 101}, name
        assert reply.header("Location") == "http://localhost/items/101", name


def test_created_item_is_readable(bench: ModuleType) -> None:
    apps_module = importlib.import_module("_apps")
    create = bench.PreparedRequest(bench._BY_KEY["create-item"])
    for name, factory in apps_module.FRAMEWORKS.items():
        app = factory()
        location = bench.call(app, create).header("Location")
        path = location.removeprefix("http://localhost")
        read = bench.PreparedRequest(bench.Scenario("read", "", "GET", path, 200))
        reply = bench.call(app, read)
        assert reply.status == 200, name
        assert reply.json() == {
            "id": 101,
            "name": "x",
            "price": 3,
            "currency": "EUR",
            "in_stock": True,
        }, name


def test_check_replies_reports_differences(bench: ModuleType, replies: dict) -> None:
    wrong = bench.Reply(500, [("Content-Type", "text/plain")], b"oops")
    replies["get-item"]["Falcon"] = wrong
    replies["create-item"]["Flask"] = bench.Reply(
        201, [("Content-Type", "application/json")], b'{"id": 7}'
    )
    problems = bench.check_replies(replies)
    assert any("get-item: Falcon answered 500" in p for p in problems)
    assert any("create-item: Flask answered {'id': 7}" in p for p in problems)
    assert any("Location" in p for p in problems)


def test_store_ids_wrap_around(bench: ModuleType) -> None:
    apps_module = importlib.import_module("_apps")
    store = apps_module.Store()
    ids = [
        store.create({"name": "x", "price": 1}) for _ in range(apps_module.ID_SPAN + 5)
    ]
    assert ids[0] == apps_module.SEED_COUNT + 1
    assert ids[apps_module.ID_SPAN] == ids[0]
    assert len(store.items) == apps_module.SEED_COUNT + apps_module.ID_SPAN
    assert len(store.page()) == apps_module.SEED_COUNT


def test_harness_prints_a_markdown_table(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--rounds", "2", "--requests", "3"]) == 0
    out = capsys.readouterr().out
    assert "| Scenario | Findig µs | Werkzeug µs | Flask µs | Falcon µs |" in out
    for scenario in bench.SCENARIOS:
        row = next(
            line
            for line in out.splitlines()
            if line.startswith(f"| {scenario.title} |")
        )
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 9
        assert all(float(c) > 0 for c in cells[1:8])
        assert cells[8] in ("met", "**missed**")
    assert "CPU:" in out
    assert "Werkzeug 3." in out


def test_harness_runs_a_subset(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--rounds", "1", "--requests", "2", "--frameworks", "findig,falcon"]
    assert bench.main([*argv, "--scenarios", "list-items,not-found"]) == 0
    out = capsys.readouterr().out
    assert "| Scenario | Findig µs | Falcon µs | Findig ÷ Falcon |" in out
    assert "Flask µs" not in out
    rows = [line for line in out.splitlines() if line.startswith("| GET")]
    assert [row.split(" | ")[0] for row in rows] == [
        "| GET a list of 100 items",
        "| GET an unknown path (404)",
    ]


def test_harness_rejects_unknown_names(bench: ModuleType) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--frameworks", "findig,django"])
    with pytest.raises(SystemExit):
        bench.parse_args(["--scenarios", "delete-item"])


def test_profile_prints_the_top_functions(
    bench: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(["--profile", "create-item", "--requests", "5"]) == 0
    out = capsys.readouterr().out
    assert "top 25 by cumulative time" in out
    assert "top 25 by total (own) time" in out
    assert "findig/app.py" in out


def test_profile_rejects_unknown_scenarios(bench: ModuleType) -> None:
    with pytest.raises(SystemExit):
        bench.parse_args(["--profile", "nowhere"])


# -- bench_http.py: gunicorn + wrk -------------------------------------------


@pytest.fixture(scope="module")
def bench_http(bench: ModuleType) -> ModuleType:
    pytest.importorskip("gunicorn")
    if shutil.which("wrk") is None:
        unavailable("wrk is not installed (apt-get install wrk)")
    return importlib.import_module("bench_http")


def test_http_harness_serves_every_app_alike_without_errors(
    bench_http: ModuleType,
) -> None:
    # The tiniest run, for correctness only: every server answers every
    # scenario alike, and no wrk run meets a socket error or a wrong status.
    argv = ["--rounds", "1", "--duration", "1", "--warm-up", "0"]
    out = io.StringIO()
    assert bench_http.main([*argv, "--connections", "4"], out=out) == 0
    report = out.getvalue()
    for worker_class in ("sync", "gthread"):
        section = report.split(f"### {worker_class} workers", 1)[1]
        for scenario in bench_http.SCENARIOS:
            row = next(
                line
                for line in section.splitlines()
                if line.startswith(f"| {scenario.title} |")
            )
            cells = [c.strip() for c in row.strip("|").split("|")]
            assert len(cells) == 1 + 4 * 2 + 3
            assert all(float(c) > 0 for c in cells[1:])
    assert "no wrk run met a socket error" in report
    assert "wrk -t2 -c4" in report


def test_http_harness_fails_on_unexpected_statuses(
    bench_http: ModuleType, tmp_path: Path
) -> None:
    server = bench_http.Server("Findig", "sync", 1, tmp_path / "gunicorn.log")
    # A scenario expecting 200 where the app answers 404: every answer is
    # an error, and so is the 404 scenario expecting 404 on a 200 path.
    wrong = [
        bench_http.Scenario("wrong", "", "GET", "/nowhere", 200),
        bench_http.Scenario("wrong-404", "", "GET", "/items/42", 404),
    ]
    try:
        server.start()
        assert bench_http.verify({"Findig": server}, bench_http.SCENARIOS) == []
        for scenario in wrong:
            with pytest.raises(bench_http.WrkError, match="4xx/5xx"):
                bench_http.run_wrk(server.port, scenario, 1, 2, 1, tmp_path)
        assert server.healthy()
    finally:
        server.stop()
    assert not server.healthy()


# -- bench_memory.py: tracemalloc and RSS ------------------------------------


@pytest.fixture(scope="module")
def bench_memory(bench: ModuleType) -> ModuleType:
    return importlib.import_module("bench_memory")


def test_memory_harness_reports_every_app_and_the_rss(
    bench_memory: ModuleType,
) -> None:
    argv = ["--warm-up", "2", "--samples", "3", "--requests", "5", "--settle", "5"]
    rss = ["--seconds", "1", "--every", "0.2", "--rss-warm-up", "0.2"]
    out = io.StringIO()
    status = bench_memory.main([*argv, *rss], out=out)
    report = out.getvalue()
    header = next(line for line in report.splitlines() if "peak KiB" in line)
    assert [c.strip() for c in header.strip("|").split("|")][1::2] == [
        f"{name} peak KiB" for name in ("Findig", "Werkzeug", "Flask", "Falcon")
    ]
    for scenario in bench_memory.SCENARIOS:
        row = next(
            line
            for line in report.splitlines()
            if line.startswith(f"| {scenario.title} |")
        )
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == 1 + 4 * 2
        for peak, retained in zip(cells[1::2], cells[2::2], strict=True):
            assert float(peak) > 0
            blocks, size = retained.removesuffix(" B)").split(" (")
            assert blocks.lstrip("-").isdigit() and size.lstrip("-").isdigit()
    rss_row = report.split("| first MiB | last MiB | max MiB | growth |")[1]
    first, last, largest, growth = rss_row.splitlines()[2].strip("|").split("|")
    assert 0 < float(first) <= float(largest)
    assert float(last) <= float(largest)
    assert growth.strip().endswith("%")
    verdict = "OK:" if status == 0 else "FAILED:"
    assert status in (0, 1) and verdict in report


def test_rss_growth_is_last_over_first(bench_memory: ModuleType) -> None:
    run = bench_memory.RssRun([100, 130, 110], requests=3, seconds=1.0)
    assert run.growth == pytest.approx(0.10)
    assert bench_memory.rss_bytes() > 0
