"""gunicorn's entry point for the reliability suite: ``rel_wsgi:app``.

Builds :mod:`rel_everything`'s application from the environment:
``REL_DATABASE`` (the SQLite file), ``REL_CALLS`` (the calls file),
``REL_REDIS_URL`` and ``REL_REDIS_PREFIX`` (a Redis counter log, else in
memory), ``REL_FAIL_OPEN`` (``1``/``0``), ``REL_LIMIT``.
"""

from __future__ import annotations

import os
from typing import Any

try:  # as gunicorn imports it: a top-level module
    from rel_everything import build
except ImportError:  # as pytest's doctest collection imports it
    from .rel_everything import build

#: The application (``None`` without ``REL_DATABASE``).
app: Any = None

if os.environ.get("REL_DATABASE"):
    storage = None
    if os.environ.get("REL_REDIS_URL"):
        from findig.extras.redis import RedisLog

        storage = RedisLog.configure(
            url=os.environ["REL_REDIS_URL"],
            prefix=os.environ.get("REL_REDIS_PREFIX", "rel:"),
            fail_open=os.environ.get("REL_FAIL_OPEN", "1") == "1",
        )
    app, db = build(
        os.environ["REL_DATABASE"],
        os.environ["REL_CALLS"],
        storage=storage,
        limit=int(os.environ.get("REL_LIMIT", "5")),
    )
