"""Resources guarded in every way the auth app offers.

- ``/things/`` and ``/things/<id>``: ``requires("things")`` (GET needs
  ``things+r``, POST ``things+c``, PUT ``things+cu``, PATCH ``things+u``,
  DELETE ``things+d``);
- ``/things/emails``: ``requires("user/emails")`` (``user`` covers it);
- ``/things/either``: ``requires("red", "blue")`` or ``requires("admin")``;
- ``/things/open``: nothing declared, so any authenticated user;
- ``/things/public``: ``@public``; ``/things/pid``: ``@public``, the PID;
- ``/things/listed``: public only through ``AUTH_PUBLIC_PATHS``.
"""

from __future__ import annotations

import os
from typing import Any

from findig.contrib.auth import current_grant, current_user, public, requires
from findig.dispatcher import Dispatcher

dispatcher = Dispatcher()
_things: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "first"}}


def _whoami() -> dict[str, Any]:
    grant = current_grant()
    return {
        "user": current_user(),
        "scopes": sorted(grant.scopes) if grant is not None else None,
    }


@requires("things")
@dispatcher.route("/<int:id>")
@dispatcher.resource
def thing(id: int) -> dict[str, Any]:
    return _things.get(id) or {"id": id, "name": "?"}


@thing.model("write")
def write_thing(data: Any, id: int) -> dict[str, Any]:
    _things[id] = {"id": id, **dict(data or {})}
    return _things[id]


@thing.model("delete")
def delete_thing(id: int) -> None:
    _things.pop(id, None)


@requires("things")
@dispatcher.route("/")
@thing.collection
def things() -> list[dict[str, Any]]:
    return list(_things.values())


@things.model("make")
def make_thing(data: Any) -> dict[str, Any]:
    new_id = max(_things, default=0) + 1
    _things[new_id] = {"id": new_id, **dict(data or {})}
    return {"id": new_id}


@requires("user/emails")
@dispatcher.route("/emails")
@dispatcher.resource
def emails() -> dict[str, Any]:
    return _whoami()


@requires("red", "blue")
@requires("admin")
@dispatcher.route("/either")
@dispatcher.resource
def either() -> dict[str, Any]:
    return _whoami()


@dispatcher.route("/open")
@dispatcher.resource
def open_() -> dict[str, Any]:
    return _whoami()


@public
@dispatcher.route("/public")
@dispatcher.resource
def public_() -> dict[str, Any]:
    return _whoami()


@public
@dispatcher.route("/pid")
@dispatcher.resource
def pid() -> dict[str, Any]:
    return {"pid": os.getpid()}


@dispatcher.route("/listed")
@dispatcher.resource
def listed() -> dict[str, Any]:
    return _whoami()
