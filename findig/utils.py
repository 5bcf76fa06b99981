"""General utilities used across Findig."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from functools import total_ordering
from typing import Any

__all__ = ["DataPipe", "extremum", "tryeach"]


class DataPipe:
    """An object that folds data over a set of functions.

    :param funcs: A variable list of functions. Each function must take one
        parameter and return a single value.

    Calling this object with data passes the data through each of its
    functions in turn, using the result of one as the argument of the next:
    if ``dpipe`` holds ``[f1, f2, ..., fn]``, then ``dpipe(data)`` is
    ``fn(...(f2(f1(data))))``.

    >>> pipe = DataPipe(lambda x: x + 1, lambda x: x * 2)
    >>> pipe(3)
    8
    """

    __slots__ = ("funcs",)

    def __init__(self, *funcs: Callable[[Any], Any]) -> None:
        self.funcs: list[Callable[[Any], Any]] = list(funcs)

    def __call__(self, data: Any) -> Any:
        for func in self.funcs:
            data = func(data)
        return data

    def append(self, func: Callable[[Any], Any]) -> None:
        """Add *func* at the end of the pipe.

        :param func: A function taking and returning one value.
        """
        self.funcs.append(func)


@total_ordering
class extremum:  # noqa: N801 - the documented name is lower case
    """A class whose instances are always ordered at one extreme.

    :param direction: If positive, instances order as greater than every
        other object; if negative, as less than every other object.

    >>> sorted([3, extremum(), 1, extremum(-1)])  # doctest: +ELLIPSIS
    [<extremum -1>, 1, 3, <extremum 1>]
    """

    __slots__ = ("direction",)

    def __init__(self, direction: int = 1) -> None:
        self.direction = 1 if direction > 0 else -1

    def __eq__(self, other: object) -> bool:
        return isinstance(other, extremum) and other.direction == self.direction

    def __lt__(self, other: object) -> bool:
        if isinstance(other, extremum):
            return self.direction < other.direction
        return self.direction < 0

    def __gt__(self, other: object) -> bool:
        if isinstance(other, extremum):
            return self.direction > other.direction
        return self.direction > 0

    def __hash__(self) -> int:
        return hash((extremum, self.direction))

    def __repr__(self) -> str:
        return f"<extremum {self.direction}>"


def tryeach(funcs: Iterable[Callable[..., Any]], *args: Any, **kwargs: Any) -> Any:
    """Call each function with the same arguments until one does not raise.

    :param funcs: An iterable of callables.
    :returns: The result of the first call that did not raise.
    :raises: The error of the last function, if every one of them raised;
        :class:`ValueError` if *funcs* is empty.

    >>> tryeach([int, float], "2.5")
    2.5
    """
    error: Exception | None = None
    for func in funcs:
        try:
            return func(*args, **kwargs)
        except Exception as exc:
            error = exc
    if error is None:
        raise ValueError("tryeach() needs at least one function")
    raise error


class ArgumentBinder:
    """Pass a function only the keyword arguments it names.

    The signature is inspected once, when the binder is made, so calling
    through the binder costs one dictionary comprehension at most.

    :param func: The function to call.
    """

    __slots__ = ("func", "names", "takes_all")

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        try:
            params = inspect.signature(func).parameters.values()
        except (TypeError, ValueError):  # builtins without a signature
            params = ()  # type: ignore[assignment]
            self.takes_all = True
        else:
            self.takes_all = any(p.kind is p.VAR_KEYWORD for p in params)
        self.names = frozenset(
            p.name
            for p in params
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        )

    def __call__(self, *args: Any, values: Mapping[str, Any]) -> Any:
        """Call the function with *args* and the named part of *values*."""
        names = self.names
        # PERF: usually the function names every URL variable (or there are
        # none): pass them on as they are, without building a new dict.
        if self.takes_all or values.keys() <= names:
            return self.func(*args, **values)
        return self.func(*args, **{k: v for k, v in values.items() if k in names})
