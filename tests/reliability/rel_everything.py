"""The application of the reliability suite: every part of Findig at once.

A :class:`findig.json.App` with

- ``/notes/`` and ``/notes/<int:id>``: an :class:`~findig.extras.sql.SQLASet`
  on an SQLite file, behind a :class:`~findig.tools.validator.Validator`
  with typed rules (``int``, ``float``, ``bool``, ``str``, a list of
  strings, ``any(...)`` and ``string(length=3)`` specs), required fields
  and no unknown fields;
- ``/named/<name>``: a note looked up by a string URL variable;
- ``/basic/vault``: guarded by a :class:`~findig.tools.protector.BasicProtector`;
- ``/token/vault`` and ``/token/vault/<int:id>``: guarded by a
  :class:`~findig.tools.protector.Protector` whose gatekeeper checks bearer
  tokens and scopes;
- ``/limited``: a :class:`~findig.tools.counter.Counter` limit (429 beyond
  ``limit`` requests per ``X-Client``), in memory or in Redis;
- ``/pid``: the worker's process id (a liveness probe).

Every data operation appends its name to the *calls* file before doing
anything, so that a test (in this process or across gunicorn workers) can
tell whether hostile input reached one. :func:`build` makes the app;
``rel_wsgi`` builds it from the environment for gunicorn.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, Float, Integer, String
from werkzeug.exceptions import TooManyRequests, Unauthorized

from findig.extras.sql import SQLA, SQLASet
from findig.json import App
from findig.tools.counter import AbstractLog, Counter
from findig.tools.protector import BasicProtector, GateKeeper, Protector
from findig.tools.validator import Validator

#: Bearer tokens of the token gatekeeper, with their scopes.
TOKENS: dict[str, tuple[str, ...]] = {
    "tok-read": ("vault+r",),
    "tok-write": ("vault+crud",),
    "tok-other": ("other+crud",),
}
#: The Basic protector's only user.
BASIC_USER = ("alice", "s3cret")
#: The operations recorded in the calls file.
OPERATIONS = ("make_note", "write_note", "delete_note", "write_named", "vault_write")


class TokenKeeper(GateKeeper):
    """Bearer tokens from :data:`TOKENS`, compared in constant time."""

    challenge = 'Bearer realm="vault"'

    def check_auth(self) -> Any:
        from findig.context import request

        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token or len(token) > 256:
            raise Unauthorized(www_authenticate=self.challenge)  # type: ignore[arg-type]
        for known, scopes in TOKENS.items():
            if hmac.compare_digest(known.encode(), token.encode("utf-8", "replace")):
                return (known, scopes)
        raise Unauthorized(www_authenticate=self.challenge)  # type: ignore[arg-type]

    def get_username(self, grant: Any) -> Any:
        return grant[0]

    def get_scopes(self, grant: Any) -> Any:
        return grant[1]


class Calls:
    """Records data operation calls in an append-only file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def record(self, name: str) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{name}\n".encode())
        finally:
            os.close(fd)

    def count(self) -> int:
        try:
            return len(self.path.read_bytes().splitlines())
        except FileNotFoundError:
            return 0


def build(
    database: str | os.PathLike[str],
    calls: str | os.PathLike[str],
    *,
    storage: type[AbstractLog] | None = None,
    limit: int = 5,
    problem_details: bool = False,
) -> tuple[App, SQLA]:
    """Make the application.

    :param database: The SQLite file.
    :param calls: The file recording data operation calls.
    :param storage: The counter's log class (default: in memory).
    :param limit: Requests allowed per ``X-Client`` on ``/limited``.
    :param problem_details: Answer errors as problem details.
    :returns: The app and its SQLA helper (``create_all()`` it first).
    """
    app = App(problem_details=problem_details)
    db = SQLA(f"sqlite:///{database}", app=app, auto_create=False)
    recorder = Calls(calls)
    validator = Validator(app)
    basic = BasicProtector(
        app,
        auth_func=lambda u, p: hmac.compare_digest(
            f"{u}\0{p}".encode("utf-8", "surrogatepass"),
            "\0".join(BASIC_USER).encode(),
        ),
        realm="vault",
    )
    tokens = Protector(app, gatekeeper=TokenKeeper())
    counter = Counter(app, duration=3600, storage=storage)

    class Note(db.Base):  # type: ignore[name-defined,misc]
        __tablename__ = "notes"
        id = Column(Integer, primary_key=True)
        title = Column(String(100), nullable=False)
        count = Column(Integer, nullable=False, default=0)
        score = Column(Float)
        done = Column(Boolean, nullable=False, default=False)
        tags = Column(String(1000), nullable=False, default="")
        kind = Column(String(1), nullable=False, default="a")
        code = Column(String(3))

    def store_form(data: Mapping[str, Any]) -> dict[str, Any]:
        values = dict(data)
        if "tags" in values:
            values["tags"] = ",".join(values["tags"])
        return values

    def parse_title(value: Any) -> str:
        if not isinstance(value, str) or not 0 < len(value) <= 100:
            raise ValueError("1 to 100 characters")
        return value

    rules = {
        "title": parse_title,
        "count": int,
        "score": float,
        "done": bool,
        "tags": [str],
        "kind": "any(a,b)",
        "code": "string(length=3)",
    }

    @validator.restrict(
        "*title", "*count", "score", "done", "tags", "kind", "code", strip_extra=False
    )
    @validator.enforce(**rules)
    @app.route("/notes/<int:id>")
    @app.resource(lazy=True)
    def note(id: int) -> Any:
        return SQLASet(Note).fetch(id=id)

    @note.model("write")
    def write_note(data: Mapping[str, Any], id: int) -> None:
        recorder.record("write_note")
        SQLASet(Note).fetch(id=id).patch(store_form(data))

    @note.model("delete")
    def delete_note(id: int) -> None:
        recorder.record("delete_note")
        SQLASet(Note).fetch(id=id).delete()

    @app.route("/notes/")
    @note.collection(
        lazy=True,
        filterable=("done", "kind", "title"),
        sortable=("id", "title", "count"),
        page_size=20,
        max_page_size=100,
    )
    def notes() -> Any:
        return SQLASet(Note).sorted("id")

    @notes.model("make")
    def make_note(data: Mapping[str, Any]) -> Any:
        recorder.record("make_note")
        return SQLASet(Note).add(store_form(data))

    @validator.enforce(title=parse_title)
    @app.route("/named/<name>")
    @app.resource
    def named(name: str) -> Any:
        return SQLASet(Note).fetch(title=name)

    @named.model("write")
    def write_named(data: Any, name: str) -> None:
        recorder.record("write_named")

    @basic.guard
    @app.route("/basic/vault")
    @app.resource
    def basic_vault() -> dict[str, Any]:
        return {"user": basic.authenticated_user}

    @basic_vault.model("write")
    def basic_vault_write(data: Any) -> None:
        recorder.record("vault_write")

    @tokens.guard("vault")
    @app.route("/token/vault/<int:id>")
    @app.resource
    def token_vault(id: int) -> dict[str, Any]:
        return {"id": id, "user": tokens.authenticated_user}

    @token_vault.model("write")
    def token_vault_write(data: Any, id: int) -> None:
        recorder.record("vault_write")

    @token_vault.model("delete")
    def token_vault_delete(id: int) -> None:
        recorder.record("vault_write")

    @counter.partition("client")
    def client(request: Any) -> Any:
        return request.headers.get("X-Client", "")

    limited = app.resource(lambda: {"ok": True}, name="limited")
    app.route(limited, "/limited")

    @counter.every(1, after=limit, client=counter.any, resource=limited)
    def over_limit(client: Any) -> None:
        raise TooManyRequests("Too many requests.")

    @app.route("/pid")
    @app.resource
    def pid() -> dict[str, int]:
        return {"pid": os.getpid()}

    return app, db
