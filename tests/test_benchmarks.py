"""Smoke test of the core benchmark in ``benchmarks/``.

It checks that the benchmark compares like with like: every framework's app
answers every scenario with the same status code and JSON document. It runs
the harness with a tiny round count and asserts nothing about timing.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

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
