"""A JSON app that uses the validator, data models and a protector.

``/items/`` and ``/items/<id>`` are validated, ``/echo`` stores any JSON
document and returns it, ``/guarded`` needs HTTP Basic credentials.
It is the target of the hostile input corpus: every data operation counts
its calls in :attr:`HostileApp.calls`, so a test can check that a refused request
never reached one. ``app`` is importable by gunicorn
(``hostile_app:app``); :func:`make_app` builds a fresh one for each test.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from findig.json import App
from findig.tools.protector import BasicProtector, compare_secrets
from findig.tools.validator import Validator

__all__ = ["GOOD_ITEM", "PASSWORD", "USER", "HostileApp", "app", "make_app"]

USER = "admin"
PASSWORD = "s3cret-passw0rd"
#: A body that every write accepts.
GOOD_ITEM: dict[str, Any] = {"name": "widget", "count": 3, "tags": [1, 2], "kind": "a"}


class HostileApp:
    """The app, its store and the call counts of its data operations."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.store: dict[str, dict[str, Any]] = {"1": dict(GOOD_ITEM, id="1")}
        self.next_id = 2
        #: What the last PUT to the unvalidated ``/echo`` stored.
        self.echoed: Any = {}
        self.app = app = App()
        validator = Validator(app)
        protector = BasicProtector(app, realm="hostile")

        @protector.auth_func
        def check(username: str, password: str) -> bool:
            user_ok = compare_secrets(username, USER)
            return compare_secrets(password, PASSWORD) and user_ok

        @validator.restrict("*name", "count", "tags", "kind")
        @validator.enforce(
            count="int(min=0)", name="string(maxlength=50)", tags=[int], kind="any(a,b)"
        )
        @app.route("/items/<id>")
        def item(id: str) -> dict[str, Any]:
            return self.store[id]

        @item.model("write")
        def write_item(data: dict[str, Any]) -> None:
            self.calls["write"] += 1
            self.store[item.id] = dict(data, id=item.id)

        @item.model("update")
        def update_item(data: dict[str, Any]) -> None:
            self.calls["update"] += 1
            self.store[item.id].update(data)

        @item.model("delete")
        def delete_item() -> None:
            self.calls["delete"] += 1
            del self.store[item.id]

        @app.route("/items/")
        @item.collection
        def items() -> list[dict[str, Any]]:
            return list(self.store.values())

        @items.model("make")
        def make_item(data: dict[str, Any]) -> dict[str, str]:
            self.calls["make"] += 1
            new_id = str(self.next_id)
            self.next_id += 1
            self.store[new_id] = dict(data, id=new_id)
            return {"id": new_id}

        @app.route("/echo")
        def echo() -> dict[str, Any]:
            return self.echoed

        @echo.model("write")
        def write_echo(data: Any) -> None:
            self.calls["echo"] += 1
            self.echoed = data

        @protector.guard
        @app.route("/guarded")
        def guarded() -> dict[str, Any]:
            return {"user": protector.authenticated_user}

        @guarded.model("write")
        def write_guarded(data: Any) -> None:
            self.calls["guarded"] += 1

    def total_calls(self) -> int:
        """:returns: How many data operations ran so far."""
        return sum(self.calls.values())


def make_app() -> HostileApp:
    """:returns: A fresh :class:`HostileApp`."""
    return HostileApp()


#: The WSGI app served by gunicorn in the socket tests.
app = make_app().app
