"""Find the tools attached to an application.

A tool (a :class:`~findig.tools.validator.Validator`, a
:class:`~findig.tools.protector.Protector`, a
:class:`~findig.tools.counter.Counter`...) attaches itself to an
application by hooking its bound methods, or closures over them, into the
application: its request context, start-up, success and clean-up hooks, and
its ``pre_processor``/``post_processor`` pipes. :func:`attached_objects`
walks those hooks back to the objects behind them; ``manage.py check
--deploy`` looks there for tools whose state is per process, and the
project's OpenAPI document and access log for validators and protectors.

>>> from findig.json import App
>>> from findig.tools.validator import Validator
>>> app = App()
>>> validator = Validator(app)
>>> find_tools(app, Validator) == [validator]
True
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["attached_objects", "find_tools"]

T = TypeVar("T")

_HOOK_LISTS = ("_context_hooks", "_startup_hooks", "_success_hooks", "_cleanup_hooks")
_PIPES = ("pre_processor", "post_processor")


def _hooks(app: Any) -> list[Any]:
    hooks: list[Any] = []
    for name in _HOOK_LISTS:
        hooks += list(getattr(app, name, None) or ())
    for name in _PIPES:
        pipe = getattr(app, name, None)
        funcs = getattr(pipe, "funcs", None)
        if funcs is not None:
            hooks += list(funcs)
        elif pipe is not None:
            hooks.append(pipe)
    return hooks


def attached_objects(app: Any, modules: Iterable[Any] = ()) -> Iterator[Any]:
    """The objects behind an application's hooks, each once.

    For every hook of *app* this yields the object a bound method belongs
    to (``validator.validate`` → the validator), and the objects a closure
    refers to (and, for bound methods among them, the objects they belong
    to: a protector's hook closes over its own bound method). Then, for
    every module of *modules*, its module-level values other than classes.

    :param app: A :class:`findig.App`.
    :param modules: Modules to look into too (an app's ``resources``...).
    :returns: An iterator of objects, none twice.
    """
    seen: set[int] = set()

    def fresh(obj: Any) -> bool:
        if obj is None or id(obj) in seen:
            return False
        seen.add(id(obj))
        return True

    for hook in _hooks(app):
        owner = getattr(hook, "__self__", None)
        if fresh(owner):
            yield owner
        for cell in getattr(hook, "__closure__", None) or ():
            try:
                value = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if fresh(value):
                yield value
            owner = getattr(value, "__self__", None)
            if callable(value) and fresh(owner):
                yield owner
    for module in modules:
        for value in list(vars(module).values()):
            if not isinstance(value, type) and fresh(value):
                yield value


def find_tools(app: Any, kind: type[T]) -> list[T]:
    """The instances of *kind* attached to *app* (see
    :func:`attached_objects`), in the order their hooks were registered.

    :param app: A :class:`findig.App`.
    :param kind: A tool class, such as
        :class:`~findig.tools.protector.Protector`.
    """
    return [obj for obj in attached_objects(app) if isinstance(obj, kind)]
