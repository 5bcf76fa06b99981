#!/usr/bin/env python
"""Administrative commands of the taskman example project.

The project lives in ``examples/taskman_project`` (see
``docs/guide/example-project.rst``); this script, at the root of Findig's
repository, runs Findig's project commands on it::

    python manage.py migrate            # create its SQLite database
    python manage.py createuser alice --scopes tasks+crud
    python manage.py runserver          # http://127.0.0.1:8000/

``FINDIG_SETTINGS_MODULE`` names another settings module (default
``taskman_site.settings``); ``python manage.py --help`` lists the commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

#: The example project's directory, put first on ``sys.path``.
PROJECT_DIR = Path(__file__).resolve().parent / "examples" / "taskman_project"


def main() -> None:
    """Run the command line on the example project."""
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    os.environ.setdefault("FINDIG_SETTINGS_MODULE", "taskman_site.settings")
    try:
        from findig.project.cli import main as findig_main
    except ImportError as exc:
        sys.exit(f'Cannot import Findig ({exc}): pip install -e ".[all]"')
    findig_main()


if __name__ == "__main__":
    main()
