"""Extra features backed by third-party libraries (SQLAlchemy, Redis).

Each module raises :class:`ImportError` when its library is not installed.
"""
