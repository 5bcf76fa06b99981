"""Settings of the taskman example project.

These are local development defaults: ``DEBUG`` is on and the database is
an SQLite file next to this package, so that a fresh clone runs with
``python manage.py migrate && python manage.py runserver`` and nothing
else. Like every Findig setting, each one can be overridden from the
environment as ``FINDIG_<NAME>``, typed like its value here:

- ``FINDIG_DEBUG=0`` turns development mode off (``FINDIG_SECRET_KEY`` is
  then required);
- ``FINDIG_DATABASE_URL=sqlite:////tmp/other.sqlite3`` (or
  ``postgresql+psycopg://user@host/taskman``) uses another database;
- ``FINDIG_AUTH_TOKEN_LIFETIME=600`` makes tokens from ``/auth/token``
  live ten minutes.

This project is an example: do not deploy it with these defaults
(``python manage.py check --deploy`` lists what to change).
"""

from __future__ import annotations

from pathlib import Path

#: The project directory (``examples/taskman_project``).
BASE_DIR = Path(__file__).resolve().parent.parent

# Development mode, for local use: an empty SECRET_KEY is accepted (an
# insecure key derived from BASE_DIR is used). FINDIG_DEBUG=0 turns it off.
DEBUG = True

# Required when DEBUG is off: set FINDIG_SECRET_KEY in the environment.
SECRET_KEY = ""

# An SQLite file inside the project directory (ignored by git).
DATABASE_URL = f"sqlite:///{BASE_DIR / 'taskman.sqlite3'}"

# The host names the service answers to.
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]"]

# Errors are RFC 9457 problem details (application/problem+json): a
# validation error lists the fields at fault in "errors".
PROBLEM_DETAILS = True

# Every request gets an ID (echoed in the response and in the access log).
REQUEST_ID_HEADER = "X-Request-ID"

# One JSON line per request on standard error.
ACCESS_LOG = True

# The OpenAPI document at /openapi.json and its documentation page at
# /docs; public here, so that a browser can show them without a token.
OPENAPI = True
OPENAPI_TITLE = "taskman"
OPENAPI_VERSION = "1.0.0"
AUTH_PUBLIC_PATHS = ["/openapi.json", "/docs", "/docs/*"]

# Tokens from POST /auth/token live one hour.
AUTH_TOKEN_LIFETIME = 3600

INSTALLED_APPS = [
    "findig.contrib.auth",
    "tasks",
]
