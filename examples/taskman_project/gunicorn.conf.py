"""gunicorn's configuration for the taskman example.

``python manage.py serve`` (from the repository root) or ``gunicorn`` run
from this directory reads it. Environment variables adjust it:

- ``FINDIG_BIND``: the address to listen on (default ``127.0.0.1:8000``);
- ``FINDIG_WORKERS`` (or ``WEB_CONCURRENCY``): worker processes (default 1;
  the example's SQLite database is best served by one);
- ``FINDIG_THREADS``: threads per worker (default 1).
"""

from __future__ import annotations

import os

wsgi_app = "taskman_site.wsgi:application"
bind = os.environ.get("FINDIG_BIND", "127.0.0.1:8000")
workers = int(
    os.environ.get("FINDIG_WORKERS") or os.environ.get("WEB_CONCURRENCY") or 1
)
threads = int(os.environ.get("FINDIG_THREADS") or 1)
timeout = 30
graceful_timeout = 30
keepalive = 5
# The application writes its own access log (the ACCESS_LOG setting).
accesslog = None
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
