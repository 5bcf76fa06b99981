"""The configuration of the auth app (label ``auth``, mounted at ``/auth``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from findig.project.apps import AppConfig

if TYPE_CHECKING:
    from findig.app import App

__all__ = ["AuthConfig"]


class AuthConfig(AppConfig):
    """The user store: its resources are mounted under ``/auth``, and its
    :meth:`ready` protects the whole application (deny by default)."""

    label = "auth"
    url_prefix = "/auth"

    def ready(self, app: App) -> None:
        """Attach the store's protector to *app* (see
        :func:`findig.contrib.auth.protection.install`).

        :param app: The project's application being built.
        """
        from .protection import install

        install(app)
