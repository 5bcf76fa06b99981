"""The Alembic environment of Findig projects.

Alembic runs this file; the work is done by
:func:`findig.project.migrations.run_environment`, which does nothing when
the file is merely imported.
"""

from findig.project.migrations import run_environment

run_environment()
