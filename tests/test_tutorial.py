"""The taskman tutorial, end to end.

``examples/taskman.py`` is the tutorial's final program exactly as printed
(and included in docs/guide/tutorial.rst); it is run from a temporary
directory, so that its ``tasks.sqlite`` lands there, and the tutorial's curl
session is replayed against it. The intermediate programs of the tutorial
page and the examples of the data sets guide are run too.
"""

from __future__ import annotations

import doctest
import re
import runpy
import textwrap
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from werkzeug.test import Client

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "taskman.py"
TUTORIAL = ROOT / "docs" / "guide" / "tutorial.rst"
DATASETS_GUIDE = ROOT / "docs" / "guide" / "datasets.rst"
BASE_URL = "http://localhost:5000"
MISSING_DUE = {
    "error": {"type": "missing_fields", "fields": ["due"]},
    "message": "The input is missing one or more parameters.",
}


@pytest.fixture
def taskman(tmp_path, monkeypatch):
    pytest.importorskip("sqlalchemy")
    monkeypatch.chdir(tmp_path)
    program = runpy.run_path(str(EXAMPLE), run_name="taskman")
    yield program
    program["db"].engine.dispose()


def test_the_tutorial_session(taskman, tmp_path):
    client = Client(taskman["app"])

    # Listing our tasks.
    listed = client.get("/tasks/", base_url=BASE_URL)
    assert listed.status_code == 200
    assert listed.json == []
    assert (tmp_path / "tasks.sqlite").is_file()

    # Creating a task without a due date: the custom error handler answers.
    missing = client.post("/tasks/", json={"title": "My Task"}, base_url=BASE_URL)
    assert missing.status_code == 400
    assert missing.headers["Content-Type"] == "application/json"
    assert missing.json == MISSING_DUE

    # Creating a task.
    created = client.post(
        "/tasks/",
        json={"title": "My Task", "due": "2015-07-19 00:00:00+0400"},
        base_url=BASE_URL,
    )
    assert created.status_code == 201
    assert created.data == b'{"id": 1}'
    assert created.headers["Content-Length"] == "9"
    assert created.headers["Location"] == "http://localhost:5000/tasks/1"

    # The task, with its due date in ISO 8601 (the instant, in UTC).
    task = client.get("/tasks/1", base_url=BASE_URL).json
    assert task == {
        "id": 1,
        "title": "My Task",
        "desc": None,
        "due": "2015-07-18T20:00:00",
    }
    due = datetime.fromisoformat(task["due"]).replace(tzinfo=timezone.utc)
    assert due == datetime(2015, 7, 19, tzinfo=timezone(timedelta(hours=4)))

    # Editing a task: PUT replaces it.
    edited = client.put(
        "/tasks/1",
        json={
            "title": "My Task",
            "due": "2015-07-19 00:00:00+0400",
            "desc": "My awesome task dawg.",
        },
        base_url=BASE_URL,
    )
    assert edited.status_code == 200
    assert edited.data == b""
    assert edited.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert client.get("/tasks/1", base_url=BASE_URL).json == {
        "id": 1,
        "title": "My Task",
        "desc": "My awesome task dawg.",
        "due": "2015-07-18T20:00:00",
    }
    assert len(client.get("/tasks/", base_url=BASE_URL).json) == 1

    # Deleting a task.
    deleted = client.delete("/tasks/1", base_url=BASE_URL)
    assert deleted.status_code == 200
    assert deleted.data == b""
    assert client.get("/tasks/1", base_url=BASE_URL).status_code == 404
    assert client.get("/tasks/", base_url=BASE_URL).json == []


def test_the_validator_guards_the_collection_and_the_items(taskman):
    client = Client(taskman["app"])
    bad_date = client.post(
        "/tasks/", json={"title": "T", "due": "tomorrow"}, base_url=BASE_URL
    )
    assert bad_date.status_code == 400
    assert bad_date.json["error"]["fields"] == ["due"]
    # Fields the validator does not know are dropped.
    created = client.post(
        "/tasks/",
        json={"title": "T", "due": "2015-07-19 00:00:00+0000", "owner": "me"},
        base_url=BASE_URL,
    )
    assert created.status_code == 201
    assert "owner" not in client.get("/tasks/1", base_url=BASE_URL).json
    # PUT must send every required field.
    assert client.put("/tasks/1", json={"title": "T"}).json == MISSING_DUE
    # POST is for the collection only.
    not_allowed = client.post("/tasks/1", json={"title": "T"}, base_url=BASE_URL)
    assert not_allowed.status_code == 405
    assert "POST" not in not_allowed.headers["Allow"]
    assert client.get("/tasks/2", base_url=BASE_URL).status_code == 404


def test_the_data_persists_in_the_sqlite_file(taskman, tmp_path):
    client = Client(taskman["app"])
    client.post(
        "/tasks/",
        json={"title": "Keep me", "due": "2015-07-19 00:00:00+0000"},
        base_url=BASE_URL,
    )
    taskman["db"].engine.dispose()
    again = runpy.run_path(str(EXAMPLE), run_name="taskman_again")
    try:
        titles = [t["title"] for t in Client(again["app"]).get("/tasks/").json]
        assert titles == ["Keep me"]
    finally:
        again["db"].engine.dispose()


# -- the documentation's own code ---------------------------------------------------


def tutorial_program(name: str) -> str:
    """The code block marked ``.. taskman: <name>`` in the tutorial page."""
    source = TUTORIAL.read_text(encoding="utf-8")
    pattern = (
        rf"^\.\. taskman: {re.escape(name)}\n\n\.\. code-block:: python\n\n"
        r"((?:(?: {4}.*)?\n)+)"
    )
    match = re.search(pattern, source, re.MULTILINE)
    assert match, f"no '.. taskman: {name}' code block in {TUTORIAL}"
    return textwrap.dedent(match.group(1))


def run_program(code: str) -> dict:
    namespace: dict = {"__name__": "tutorial_step"}
    exec(compile(code, str(TUTORIAL), "exec"), namespace)  # our own docs
    return namespace


def test_the_tutorial_includes_the_final_program():
    source = TUTORIAL.read_text(encoding="utf-8")
    assert ".. literalinclude:: ../../examples/taskman.py" in source


def test_tutorial_step_the_basic_application():
    app = run_program(tutorial_program("basic"))["app"]
    client = Client(app)
    assert client.get("/tasks/").json == []
    assert client.get("/tasks/foo").json == {}
    assert client.get("/tasks/38").json == {}
    assert client.post("/tasks/", json={}).status_code == 405


def test_tutorial_step_explicit_data_models():
    app = run_program(tutorial_program("explicit"))["app"]
    client = Client(app)
    created = client.post("/tasks/", json={"title": "Explicit"})
    assert created.status_code == 201
    task_id = created.json["id"]
    assert created.headers["Location"] == f"http://localhost/tasks/{task_id}"
    assert client.get(f"/tasks/{task_id}").json == {"title": "Explicit"}
    assert client.put(f"/tasks/{task_id}", json={"title": "Changed"}).status_code == 200
    assert client.get("/tasks/").json == [{"id": task_id, "title": "Changed"}]
    assert client.delete(f"/tasks/{task_id}").status_code == 200
    assert client.get(f"/tasks/{task_id}").status_code == 404


def test_data_sets_guide_examples():
    pytest.importorskip("sqlalchemy")
    result = doctest.testfile(
        str(DATASETS_GUIDE),
        module_relative=False,
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        verbose=False,
    )
    assert result.attempted > 20
    assert result.failed == 0
