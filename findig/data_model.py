"""Data models: how a resource reads and writes its data.

Each resource has a data model: a mapping from a *data operation* name to
the function that performs it. The operations, and the HTTP methods they
enable, are:

========== ============================== ===================
operation  signature                      enables
========== ============================== ===================
``read``   ``read()``                     GET, HEAD
``write``  ``write(data)``                PUT (and PATCH)
``update`` ``update(patch)``              PATCH
``delete`` ``delete()``                   DELETE
``make``   ``make(data) -> token``        POST (collections)
========== ============================== ===================

Data operations also receive the URL variables of the request that they name
as parameters.
"""

from __future__ import annotations

from abc import ABCMeta
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, TypeVar

__all__ = ["DATA_OPERATIONS", "AbstractDataModel", "DataModel"]

F = TypeVar("F", bound=Callable[..., Any])

#: The data operations Findig knows how to expose over HTTP.
DATA_OPERATIONS = ("read", "write", "update", "delete", "make")


class AbstractDataModel(Mapping[str, Callable[..., Any]], metaclass=ABCMeta):
    """An object responsible for managing the data of a specific resource.

    It is a mapping of data operation names to the functions that perform
    them. Implement it either way:

    - define methods named after the data operations the model supports::

          class ReadWriteModel(AbstractDataModel):
              def read(self):
                  '''Perform backend read.'''

              def write(self, new_data):
                  '''Perform backend write.'''

    - or re-implement the mapping interface (``__iter__``, ``__len__`` and
      ``__getitem__``) so that instances map operation names to functions.
    """

    def __getitem__(self, operation: str) -> Callable[..., Any]:
        if operation in DATA_OPERATIONS:
            func = getattr(self, operation, None)
            if callable(func):
                return func
        raise KeyError(operation)

    def __iter__(self) -> Iterator[str]:
        return (op for op in DATA_OPERATIONS if callable(getattr(self, op, None)))

    def __len__(self) -> int:
        return sum(1 for _ in self)


class DataModel(AbstractDataModel, MutableMapping[str, Callable[..., Any]]):
    """A generic, concrete :class:`AbstractDataModel`.

    Implementation functions are set, read and deleted through the mapping
    interface:

    >>> dm = DataModel()
    >>> dm['read'] = lambda: ()
    >>> 'read' in dm
    True

    Calling an instance returns a decorator for a specific data operation:

    >>> @dm('write')
    ... def write_some_data(data):
    ...     pass
    >>> dm['write'] == write_some_data
    True
    """

    def __init__(self, functions: Mapping[str, Callable[..., Any]] | None = None):
        self._functions: dict[str, Callable[..., Any]] = {}
        if functions:
            self.update(functions)

    def __getitem__(self, operation: str) -> Callable[..., Any]:
        return self._functions[operation]

    def __setitem__(self, operation: str, func: Callable[..., Any]) -> None:
        if operation not in DATA_OPERATIONS:
            raise ValueError(
                f"{operation!r} is not a data operation; "
                f"choose from {', '.join(DATA_OPERATIONS)}"
            )
        if not callable(func):
            raise TypeError(f"the {operation!r} operation must be callable")
        self._functions[operation] = func

    def __delitem__(self, operation: str) -> None:
        del self._functions[operation]

    def __iter__(self) -> Iterator[str]:
        return iter(self._functions)

    def __len__(self) -> int:
        return len(self._functions)

    def __call__(self, operation: str) -> Callable[[F], F]:
        """Return a decorator that sets the function for *operation*.

        :param operation: A data operation name, such as ``"write"``.
        """
        if operation not in DATA_OPERATIONS:
            raise ValueError(
                f"{operation!r} is not a data operation; "
                f"choose from {', '.join(DATA_OPERATIONS)}"
            )

        def decorator(func: F) -> F:
            self[operation] = func
            return func

        return decorator

    def __repr__(self) -> str:
        return f"<DataModel {sorted(self._functions)}>"
