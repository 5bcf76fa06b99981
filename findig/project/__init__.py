"""The project layer: settings, apps, migrations, a CLI and a pytest plugin.

This package turns Findig from a library into a framework a team starts a
service with (``findig startproject``). Its modules are imported on demand;
importing :mod:`findig.project` itself costs nothing:

- :mod:`findig.project.conf` — the lazy :data:`~findig.project.conf.settings`;
- :mod:`findig.project.apps` — :class:`~findig.project.apps.AppConfig` and the
  app registry built from ``INSTALLED_APPS``;
- :mod:`findig.project.db` — the shared SQLAlchemy ``Model``, engine and
  per-request sessions;
- :mod:`findig.project.migrations` — Alembic configured in code, one version
  folder (and branch) per app;
- :mod:`findig.project.wsgi` — :func:`~findig.project.wsgi.get_wsgi_application`;
- :mod:`findig.project.cli` — the ``findig`` command and ``manage.py``;
- :mod:`findig.project.pytest_plugin` — the pytest fixtures.
"""

from __future__ import annotations

__all__: list[str] = []
