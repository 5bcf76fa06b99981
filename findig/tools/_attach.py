"""What every tool that plugs into apps has in common."""

from __future__ import annotations

from typing import Any


class AppTool:
    """Base of the tools attached to Findig apps (validator, counter,
    protector...): it remembers the apps, and refuses set-up once one of them
    has handled its first request (its routes and hooks are built then)."""

    def __init__(self) -> None:
        self._apps: list[Any] = []

    def _start_attaching(self, app: Any) -> bool:
        """Whether *app* still needs attaching; raises if it is too late.

        :raises RuntimeError: if the app has already handled a request.
        """
        if any(attached is app for attached in self._apps):
            return False
        if getattr(app, "frozen", False):
            raise RuntimeError(
                f"Cannot attach a {type(self).__name__} to an application that "
                "has already handled its first request: attach it at start-up."
            )
        return True

    def _check_open(self, what: str) -> None:
        """Refuse set-up (*what*) after an attached app's first request."""
        for app in self._apps:
            if getattr(app, "frozen", False):
                raise RuntimeError(
                    f"Cannot {what} after the application has handled its first "
                    f"request: set up the {type(self).__name__} at start-up."
                )
