"""The tasks app: each user's tasks, stored in the database.

Mounted at ``/tasks`` (see :mod:`tasks.resources`); every request needs a
user with the ``tasks`` scope.
"""
