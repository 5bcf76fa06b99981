"""The WSGI entry point of the taskman example: ``gunicorn taskman_site.wsgi``.

Run gunicorn from ``examples/taskman_project`` (or use
``python manage.py serve`` from the repository root, which does).
"""

from __future__ import annotations

import os

os.environ.setdefault("FINDIG_SETTINGS_MODULE", "taskman_site.settings")

from findig.project.wsgi import get_wsgi_application

application = get_wsgi_application()
