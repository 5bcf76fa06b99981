"""The taskman example project: settings and WSGI entry point.

Run it from the repository root with ``python manage.py runserver``; see
``docs/guide/example-project.rst``.
"""
