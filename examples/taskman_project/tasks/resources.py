"""The resources of the tasks app (mounted at ``/tasks``).

Every user sees and changes their own tasks only:

- ``GET /tasks/`` lists the caller's tasks, soonest due first; the query
  string filters (``?done=false``), sorts (``?sort=-created_at``) and pages
  (``?limit=20&offset=40``, with ``Link`` headers; ``?count=true`` adds
  ``X-Total-Count``). ``POST /tasks/`` creates a task: 201, with a
  ``Location`` header;
- ``GET``, ``PUT``, ``PATCH`` and ``DELETE /tasks/<id>`` work on one of the
  caller's tasks; another user's task answers 404, as a missing one does.

Both need the ``tasks`` scope: ``tasks+r`` to read, ``tasks+c`` to create,
``tasks+cu`` to replace (PUT), ``tasks+u`` to patch, ``tasks+d`` to delete.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from werkzeug.exceptions import Forbidden

from findig.contrib.auth import current_user, requires
from findig.dispatcher import Dispatcher
from findig.extras.sql import SQLASet
from findig.tools.dataset import MutableDataSet
from findig.tools.validator import Validator

from .models import TITLE_MAX_LENGTH, Task

__all__ = [
    "DESC_MAX_LENGTH",
    "DUE_FORMATS",
    "dispatcher",
    "parse_desc",
    "parse_due",
    "parse_title",
    "task",
    "tasks",
    "validator",
]

dispatcher = Dispatcher()
validator = Validator()  # attached to the application in apps.py

#: The longest description, in characters.
DESC_MAX_LENGTH = 10_000

#: The accepted forms of ``due``: ISO 8601 (``2015-07-19T00:00:00+04:00``,
#: ``...Z``, with or without seconds' fractions, or without an offset for
#: UTC), the tutorial's ``2015-07-19 00:00:00+0400``, and a plain date.
DUE_FORMATS = (
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S.%f%z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)

#: Converts ``due``; any other text makes the field invalid.
parse_due = Validator.date(*DUE_FORMATS)


def parse_title(value: Any) -> str:
    """Convert a title: a string of 1 to 150 characters once stripped of
    surrounding white space.

    :param value: The field's value.
    :returns: The stripped title.
    :raises ValueError: for anything else.
    """
    if not isinstance(value, str):
        raise ValueError("the title must be a string")
    title = value.strip()
    if not title or len(title) > TITLE_MAX_LENGTH:
        raise ValueError(f"the title must have 1 to {TITLE_MAX_LENGTH} characters")
    return title


def parse_desc(value: Any) -> str | None:
    """Convert a description: a string of at most 10,000 characters, or
    ``None`` for none.

    :param value: The field's value.
    :returns: The description.
    :raises ValueError: for anything else.
    """
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > DESC_MAX_LENGTH:
        raise ValueError(
            f"the description must be a string of at most {DESC_MAX_LENGTH} characters"
        )
    return value


def _caller() -> str:
    """The name of the request's user (every resource here needs one)."""
    user = current_user()
    if user is None:  # not reached: the resources require the tasks scope
        raise Forbidden()
    return user


# The validator's rules, as in the tutorial, plus `done`: title and due are
# required (in PUT and POST; a PATCH may leave them out but not null them),
# fields the client may not write (id, owner, created_at) or does not know
# are refused with 400, naming them. The collection uses the same rules.
@requires("tasks")
@validator.restrict("*title", "desc", "*due", "done", strip_extra=False)
@validator.enforce(title=parse_title, desc=parse_desc, due=parse_due, done=bool)
@dispatcher.route("/<int:id>")
@dispatcher.resource(lazy=True)
def task(id: int) -> Any:
    """One of the caller's tasks (404 for a task of another user)."""
    return tasks().fetch(id=id)


@task.model("write")
def replace_task(data: Mapping[str, Any], id: int) -> None:
    """PUT: replace what the client may write; a field left out gets its
    default (no description, not done). The owner and the creation time
    stay."""
    tasks().fetch(id=id).patch({"desc": None, "done": False, **data})


@requires("tasks")
@dispatcher.route("/")
@task.collection(
    lazy=True,
    include_urls=True,
    filterable=("done",),
    sortable=("due", "title", "created_at", "id"),
    page_size=50,
    max_page_size=200,
)
def tasks() -> MutableDataSet:
    """The caller's tasks, soonest due first."""
    # Outside a request (when the routes are built) there is no user: the
    # set then matches no row, since every task has an owner.
    return SQLASet(Task).filtered(owner=current_user()).sorted("due")


@tasks.model("make")
def add_task(data: Mapping[str, Any]) -> Mapping[str, Any]:
    """POST: add a task of the caller's.

    :returns: The new task's token, ``{"id": ...}`` (Findig builds the
        ``Location`` header from it).
    """
    return SQLASet(Task).add({**data, "owner": _caller()})
