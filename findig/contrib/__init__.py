"""Apps that ship with Findig, installable like any other app.

- :mod:`findig.contrib.auth` — the built-in user store: users, password
  hashing, bearer tokens with scopes, wired to the protectors, with its
  own models, migrations, commands and resources.
"""

from __future__ import annotations

__all__: list[str] = []
