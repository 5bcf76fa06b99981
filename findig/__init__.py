"""Findig: a micro-framework for RESTful JSON APIs on Werkzeug.

Applications are described as resources and the data operations they
support; Findig derives the HTTP methods, parses input, formats output and
turns errors into responses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import App

__all__ = ["App", "__version__"]

#: A PEP 440 version string identifying the current version of Findig.
__version__ = "0.1.0.dev0"


# PERF: ``App`` is imported on first use (PEP 562), so that ``import findig``
# (the ``findig`` command, the pytest plugin, ``findig.__version__``) does not
# import Werkzeug; ``from findig import App`` works as before. Type checkers
# see the import above instead (a module ``__getattr__`` would make every
# misspelt name pass as ``Any``).
if not TYPE_CHECKING:

    def __getattr__(name: str) -> Any:
        if name == "App":
            from .app import App

            globals()["App"] = App
            return App
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(globals()) | set(__all__))
