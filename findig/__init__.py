"""Findig: a micro-framework for RESTful JSON APIs on Werkzeug.

Applications are described as resources and the data operations they
support; Findig derives the HTTP methods, parses input, formats output and
turns errors into responses.
"""

from __future__ import annotations

from .app import App

__all__ = ["App", "__version__"]

#: A PEP 440 version string identifying the current version of Findig.
__version__ = "0.1.0.dev0"
