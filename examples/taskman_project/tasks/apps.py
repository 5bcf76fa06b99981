"""The configuration of the tasks app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from findig.project.apps import AppConfig

if TYPE_CHECKING:
    from findig.app import App


class TasksConfig(AppConfig):
    """Mounts the app's resources under ``/tasks`` and attaches its
    validator to each application built from the settings."""

    url_prefix = "/tasks"

    def ready(self, app: App) -> None:
        """Attach the app's tools to *app*.

        :param app: The project's application being built.
        """
        from .resources import validator

        validator.attach_to(app)
