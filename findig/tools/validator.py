"""Request input validators.

The :mod:`findig.tools.validator` module exposes the :class:`Validator`,
which validates (and converts) the input data that clients send to an
application's resources.

A validator works with a *converter* for each input field that it checks::

    validator = Validator(app)

    @validator.enforce(id=int)
    @app.route("/test")
    def resource():
        pass

    @resource.model("write")
    def write_resource(data):
        assert isinstance(data['id'], int)

When a converter fails to convert the value of its field, the client gets a
``400 BAD REQUEST`` answer and the data operation is not called.

A converter may also be a singleton list holding another converter: the
field must then be a list, and each of its items is converted::

    @validator.enforce(ids=[int])
    @app.route("/test2")
    def resource2():
        pass

    @resource2.model("write")
    def write_resource(data):
        for id in data['ids']:
            assert isinstance(id, int)

Finally, a converter may be a string naming one of Werkzeug's URL converters,
with its arguments::

    @validator.enforce(foo='any(bar,baz)', cid='string(length=3)')
    @app.route("/test3")
    def resource3():
        pass

    @resource3.model("write")
    def write_resource(data):
        assert data['foo'] in ('bar', 'baz')
        assert len(data['cid']) == 3
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar, overload

from werkzeug.exceptions import BadRequest
from werkzeug.routing import Map
from werkzeug.routing.converters import (
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    NumberConverter,
)
from werkzeug.routing.rules import parse_converter_args

from ..context import current_state
from ..resource import AbstractResource, Collection
from ..utils import DataPipe
from ._attach import AppTool

__all__ = [
    "InvalidFields",
    "MissingFields",
    "UnexpectedFields",
    "ValidationFailed",
    "ValidationRules",
    "Validator",
]

R = TypeVar("R", bound=AbstractResource)

#: The HTTP methods whose input is validated.
_VALIDATED_METHODS = frozenset({"PUT", "POST", "PATCH"})

#: How many field names an error description lists before it abridges.
_DESCRIBED_FIELDS = 10
_DESCRIBED_NAME_LENGTH = 64
#: The most field names (and the longest) an error's ``error_info`` lists:
#: an error body never echoes a large input back.
_LISTED_FIELDS = 50
_LISTED_NAME_LENGTH = 128


# -- errors -----------------------------------------------------------------


def _describe(fields: list[Any]) -> str:
    """A short, bounded, human-readable list of field names."""
    names = []
    for field in fields[:_DESCRIBED_FIELDS]:
        name = str(field)
        if len(name) > _DESCRIBED_NAME_LENGTH:
            name = name[: _DESCRIBED_NAME_LENGTH - 3] + "..."
        names.append(name)
    text = ", ".join(names)
    if len(fields) > _DESCRIBED_FIELDS:
        text += f" (and {len(fields) - _DESCRIBED_FIELDS} more)"
    return text


class ValidationFailed(BadRequest):
    """Raised whenever a :class:`Validator` fails to validate one or more
    fields.

    This exception is a subclass of :class:`werkzeug.exceptions.BadRequest`,
    so if it is allowed to bubble up, Findig sends a ``400 BAD REQUEST``
    response. The JSON application answers with a body such as
    ``{"message": "...", "error": {"type": "missing_fields", "fields":
    ["due"]}}`` (see :attr:`error_info`).

    Applications can customize the way this exception is handled::

        from werkzeug.wrappers import Response

        # This assumes that the app was not given a custom error_handler
        # function as an argument; a custom error_handler function must
        # test for this exception type itself.
        @app.error_handler.register(ValidationFailed)
        def on_validation_failed(e):
            msg = "Failed to convert input data for the following fields: "
            msg += str(e.fields)
            return Response(msg, status=e.status)

    The validator raises this class itself (with ``"type":
    "malformed_input"`` and no fields) when the input is not a mapping of
    field names to values, e.g. a JSON list.

    :param fields: The names of the fields that failed validation.
    :param validator: The :class:`Validator` that raised the error.
    :param description: A message for the client; each class has a default.
    :param error_type: The ``type`` reported in :attr:`error_info`.
    """

    #: The ``type`` reported in :attr:`error_info` by default.
    default_error_type: ClassVar[str] = "validation_failed"
    #: The start of the default description.
    summary: ClassVar[str] = "The input failed validation"

    def __init__(
        self,
        fields: Iterable[Any] = (),
        validator: Validator | None = None,
        *,
        description: str | None = None,
        error_type: str | None = None,
    ) -> None:
        #: A list of field names for which validation has failed. This is
        #: always a complete (and sorted) list of the fields that failed
        #: in this way.
        self.fields: list[Any] = sorted(fields, key=str)
        #: The validator that raised the error.
        self.validator = validator
        if description is None:
            description = self.summary
            if self.fields:
                description += ": " + _describe(self.fields)
            description += "."
        super().__init__(description)
        #: Structured details of the failure, sent by the JSON application
        #: as the ``"error"`` member of the error body:
        #: ``{"type": ..., "fields": [...]}``. The list is bounded: at most
        #: 50 names of at most 128 characters; ``"more"`` then counts the
        #: fields left out.
        listed = [f for f in self.fields if len(str(f)) <= _LISTED_NAME_LENGTH][
            :_LISTED_FIELDS
        ]
        self.error_info: dict[str, Any] = {
            "type": error_type or self.default_error_type,
            "fields": listed,
        }
        if len(listed) < len(self.fields):
            self.error_info["more"] = len(self.fields) - len(listed)

    @property
    def status(self) -> int:
        """The HTTP status code of the error (400); an alias of ``code``."""
        return self.code or 400


class UnexpectedFields(ValidationFailed):
    """Raised whenever a resource receives an unexpected input field.

    :param fields: The names of the fields that were not expected.
    :param validator: The :class:`Validator` that raised the error.
    """

    default_error_type = "unexpected_fields"
    summary = "The input has fields that are not allowed"

    def __init__(self, fields: Iterable[Any], validator: Validator | None) -> None:
        super().__init__(fields, validator)


class MissingFields(ValidationFailed):
    """Raised when a resource does not receive a required field in its input.

    :param fields: The names of the required fields that are missing.
    :param validator: The :class:`Validator` that raised the error.
    """

    default_error_type = "missing_fields"
    summary = "The input is missing required fields"

    def __init__(self, fields: Iterable[Any], validator: Validator | None) -> None:
        super().__init__(fields, validator)


class InvalidFields(ValidationFailed):
    """Raised when a resource receives a field that the validator can't
    convert.

    :param fields: The names of the fields whose values are invalid.
    :param validator: The :class:`Validator` that raised the error.
    """

    default_error_type = "invalid_fields"
    summary = "The input has fields with invalid values"

    def __init__(self, fields: Iterable[Any], validator: Validator | None) -> None:
        super().__init__(fields, validator)


# -- converters ---------------------------------------------------------------

_INT_STRING = re.compile(r"[+-]?[0-9]+")


def _strict_int(value: Any) -> int:
    """``int`` without type confusion: no booleans, no truncated floats."""
    # PERF: exact types first; the isinstance() chain is for subclasses.
    kind = type(value)
    if kind is int:
        return value
    if kind is str:
        if _INT_STRING.fullmatch(value):
            return int(value)
        raise ValueError("not an integer")
    if isinstance(value, bool):
        raise TypeError("a boolean is not an integer")
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT_STRING.fullmatch(value):
        return int(value)
    raise ValueError("not an integer")


def _strict_float(value: Any) -> float:
    """``float`` without type confusion: numbers or numeric strings only."""
    if isinstance(value, bool):
        raise TypeError("a boolean is not a number")
    if isinstance(value, (int, float, str)):
        result = float(value)
        if math.isfinite(result):
            return result
    raise ValueError("not a finite number")


def _strict_str(value: Any) -> str:
    """``str`` that accepts strings only (``str(x)`` never fails)."""
    if isinstance(value, str):
        return value
    raise TypeError("not a string")


def _strict_bool(value: Any) -> bool:
    """``bool`` that accepts booleans only (``bool("false")`` is true)."""
    if isinstance(value, bool):
        return value
    raise TypeError("not a boolean")


#: Built-in types used as converters are swapped for strict equivalents.
_STRICT_BUILTINS: tuple[tuple[Any, Callable[[Any], Any]], ...] = (
    (int, _strict_int),
    (float, _strict_float),
    (str, _strict_str),
    (bool, _strict_bool),
)


class _ListConverter:
    """Converts every item of a list with one converter."""

    __slots__ = ("item",)

    def __init__(self, item: Callable[[Any], Any]) -> None:
        self.item = item

    def __call__(self, value: Any) -> list[Any]:
        if not isinstance(value, (list, tuple)):
            raise TypeError("not a list")
        item = self.item
        return [item(v) for v in value]


class _SpecConverter:
    """A compiled string specification accepting string values only.

    The value must match the Werkzeug converter's regular expression as a
    whole; the converter's ``to_python`` then makes the result.
    """

    __slots__ = ("converter", "regex", "spec")

    def __init__(self, spec: str, converter: BaseConverter, regex: re.Pattern[str]):
        self.spec = spec
        self.converter = converter
        self.regex = regex

    def _from_string(self, value: str) -> Any:
        if self.regex.fullmatch(value) is None:
            raise ValueError(f"{value!r} does not match {self.spec!r}")
        return self.converter.to_python(value)

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str):
            raise TypeError(f"{self.spec!r} accepts strings only")
        return self._from_string(value)

    def __repr__(self) -> str:
        return f"<converter {self.spec!r}>"


class _IntSpecConverter(_SpecConverter):
    """``int(...)``: a real integer (not a boolean) or a string of digits."""

    __slots__ = ()

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._from_string(value)
        if isinstance(value, int) and not isinstance(value, bool):
            # The same checks as for its decimal representation (sign,
            # fixed digits, bounds).
            return self._from_string(f"{value:d}")
        raise TypeError(f"{self.spec!r} accepts integers or strings of digits")


class _FloatSpecConverter(_SpecConverter):
    """``float(...)``: a real number (not a boolean) or a decimal string."""

    __slots__ = ()

    def __call__(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._from_string(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
            conv: Any = self.converter
            if (
                not math.isfinite(number)
                or (number < 0 and not conv.signed)
                or (conv.min is not None and number < conv.min)
                or (conv.max is not None and number > conv.max)
            ):
                raise ValueError(f"{value!r} is out of the bounds of {self.spec!r}")
            return number
        raise TypeError(f"{self.spec!r} accepts numbers or decimal strings")


#: Matches ``name`` or ``name(arguments)``.
_SPEC_RE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*", re.DOTALL)
#: Appended to argument strings so that trailing garbage cannot go unnoticed
#: (Werkzeug's parser stops silently at the first thing it cannot read).
_ARGS_END = "__findig_validator_end__"
#: The map that Werkzeug converters are made with (they only keep it).
_CONVERTER_MAP = Map()


def _parse_arguments(argstr: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    if not argstr.strip():
        return (), {}
    try:
        args, kwargs = parse_converter_args(f"{argstr}, {_ARGS_END}")
    except ValueError:
        args = ()
    if not args or args[-1] != _ARGS_END or _ARGS_END in args[:-1]:
        raise ValueError(f"cannot parse the arguments {argstr!r}")
    return args[:-1], kwargs


def _check_number_arguments(converter: NumberConverter) -> None:
    for name in ("min", "max"):
        bound = getattr(converter, name)
        if bound is not None and (
            isinstance(bound, bool) or not isinstance(bound, (int, float))
        ):
            raise ValueError(f"{name}={bound!r} is not a number")
    digits = converter.fixed_digits
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"fixed_digits={digits!r} is not a non-negative integer")
    if not isinstance(converter.signed, bool):
        raise ValueError(f"signed={converter.signed!r} is not True or False")


# -- rules ----------------------------------------------------------------------


class _Rules:
    """The rules registered for one resource (or globally)."""

    __slots__ = ("allowed", "converters", "required", "resource", "strip_extra")

    def __init__(self, resource: Any) -> None:
        self.resource = resource
        self.converters: dict[str, Callable[[Any], Any]] = {}
        self.allowed: set[str] | None = None
        self.required: set[str] = set()
        self.strip_extra = True


class _Plan:
    """Everything needed to validate the input of one resource, precomputed."""

    __slots__ = ("allowed", "converters", "required", "strip_extra")

    def __init__(
        self,
        converters: dict[str, Callable[[Any], Any]],
        allowed: frozenset[str] | None,
        required: frozenset[str],
        strip_extra: bool,
    ) -> None:
        self.converters = converters
        self.allowed = allowed
        self.required = required
        self.strip_extra = strip_extra


@dataclass(frozen=True)
class ValidationRules:
    """The rules a :class:`Validator` applies to one resource's input, as
    :meth:`Validator.rules_for` reports them (read-only)."""

    #: The converter of each field (the app-wide ones of
    #: :meth:`Validator.enforce_all` included), as compiled: a string
    #: specification becomes a callable, ``int`` a strict integer converter.
    converters: Mapping[str, Callable[[Any], Any]]
    #: The fields accepted (:meth:`Validator.restrict`), or ``None`` when
    #: any field is.
    allowed: frozenset[str] | None
    #: The fields that must be present.
    required: frozenset[str]
    #: Whether fields outside :attr:`allowed` are dropped (``True``) or
    #: refused with :class:`UnexpectedFields`.
    strip_extra: bool
    #: The resource the rules were registered for: the one asked about, or,
    #: for a collection that takes its item's rules (``include_collections``),
    #: that item resource; ``None`` when only app-wide rules apply.
    source: Any


def _parse_field(field: str) -> tuple[str, bool]:
    """Split a :meth:`Validator.restrict` field into ``(name, required)``.

    Each pair of leading asterisks stands for one literal asterisk; an odd
    asterisk left over marks the field as required.
    """
    if not isinstance(field, str):
        raise TypeError(f"restrict() takes field names (strings), not {field!r}")
    stars = len(field) - len(field.lstrip("*"))
    name = "*" * (stars // 2) + field[stars:]
    if not name:
        raise ValueError(f"restrict(): {field!r} does not name a field")
    return name, stars % 2 == 1


class Validator(AppTool):
    """A higher-level tool to be used to validate request input data.

    :param app: The Findig application that the validator is attached to
        (see :meth:`attach_to`).
    :type app: :class:`findig.App`
    :param include_collections: If ``True``, any validation rules set on
        any resource are also used for any
        :class:`~findig.resource.Collection` that collects it. Even when
        this argument is set, inherited rules are overridden by declaring
        rules specifically for the collection.

    Validators are only capable of validating request input data (i.e.,
    data received as part of the request body of PUT, POST and PATCH
    requests). To validate URL fragments, use converters in your URL rules
    (see Werkzeug's routing reference).

    Validators work by specifying converters for request input fields. If a
    converter is specified, the validator uses it to convert the field and
    replaces the field with the converted value. See :meth:`enforce` for
    more about converters, and :meth:`restrict` to require fields and refuse
    others.

    When the input fails in several ways at once, one error is raised, of
    the first kind that applies in this order: :class:`MissingFields`, then
    :class:`UnexpectedFields`, then :class:`InvalidFields`. Each lists every
    field that failed in its way.
    """

    #: The converters that string specifications can name, by name:
    #: Werkzeug's default URL converters.
    converters: ClassVar[Mapping[str, type[BaseConverter]]] = Map.default_converters

    def __init__(self, app: Any = None, include_collections: bool = True) -> None:
        super().__init__()
        self.include_collections = include_collections
        self._global = _Rules(None)
        self._rules: dict[int, _Rules] = {}
        # id(resource) -> (resource, plan or None); see _plan_for().
        self._plans: dict[int, tuple[Any, _Plan | None]] = {}
        if app is not None:
            self.attach_to(app)

    # -- attaching ------------------------------------------------------------

    def attach_to(self, app: Any) -> None:
        """Hook the validator into a Findig application.

        Doing so allows the validator to inspect and replace incoming input
        data: it joins the app's ``pre_processor`` (appended to it when it
        is a :class:`~findig.utils.DataPipe`, otherwise chained after it in
        a new :class:`~findig.utils.DataPipe`). This is called automatically
        for an app passed to the validator's constructor, but can be called
        for additional app instances. Attaching twice to one app does
        nothing more.

        :param app: The Findig application that the validator is attached
            to.
        :type app: :class:`findig.App`
        :raises RuntimeError: if the app has already handled its first
            request.
        """
        if not self._start_attaching(app):
            return
        pre = app.pre_processor
        if isinstance(pre, DataPipe):
            pre.append(self.validate)
        else:
            app.pre_processor = DataPipe(pre, self.validate)
        self._apps.append(app)

    def _rules_of(self, resource: Any, caller: str) -> _Rules:
        if not isinstance(resource, AbstractResource):
            raise TypeError(
                f"{caller}() needs a resource, not {resource!r}: as a decorator, "
                "place it above @app.route(...) or @app.resource."
            )
        self._check_open("register validation rules")
        # The rules change: every precomputed plan may be stale.
        self._plans.clear()
        rules = self._rules.get(id(resource))
        if rules is None:
            rules = self._rules[id(resource)] = _Rules(resource)
        return rules

    # -- registration ---------------------------------------------------------

    @overload
    def enforce(self, resource: R, /, **validation_spec: Any) -> R: ...
    @overload
    def enforce(
        self, resource: None = None, /, **validation_spec: Any
    ) -> Callable[[R], R]: ...
    def enforce(self, resource: Any = None, /, **validation_spec: Any) -> Any:
        """Register a validation specification for a resource.

        The validation specification is a set of ``field=converter``
        arguments linking an input field name to a converter that should be
        used to validate the field. A converter can be any of the following:

        - a callable (including functions): it takes the field value and
          returns the converted value; if it raises any exception, the field
          is invalid. This can be a simple type such as :class:`uuid.UUID`,
          or any function. The built-in types :class:`int`, :class:`float`,
          :class:`str` and :class:`bool` are applied strictly, to rule out
          type confusion: ``int`` accepts integers (not booleans), integral
          floats and strings of decimal digits with an optional sign;
          ``float`` accepts numbers (not booleans) and numeric strings, all
          finite; ``str`` accepts strings only and ``bool`` booleans only::

              # Converts an int from a valid string base 10 representation:
              validator.enforce(resource, game_id=int)
              # Converts to a float from a valid string
              validator.enforce(resource, duration=float)

        - a :class:`str`: a converter specification, naming one of
          Werkzeug's URL converters with its arguments in parentheses (the
          parentheses may be left out when there are none). The whole value
          must match. These are available:

          ``string(minlength=1, length=None, maxlength=None)``
              A string (with no slash) of a fixed ``length`` or of a length
              between ``minlength`` and ``maxlength``.
          ``any(item, item, ...)``
              One of the strings given as arguments.
          ``int(fixed_digits=0, min=None, max=None, signed=False)``
              An integer (not a boolean), or a string of decimal digits
              (exactly ``fixed_digits`` of them, if given: set it to 3 to
              convert ``'001'`` but not ``'1'``), converted to an
              :class:`int` between ``min`` and ``max``. Negative values need
              ``signed=True``.
          ``float(min=None, max=None, signed=False)``
              A number (not a boolean), or a string such as ``'2.5'`` (with
              a decimal point), converted to a :class:`float`.
          ``uuid``
              A string representation of a UUID, converted to a
              :class:`uuid.UUID`.
          ``path``, ``default``
              Werkzeug's other converters: any non-empty string, with or
              without slashes.

          Apart from ``int`` and ``float``, specifications accept strings
          only. Examples::

              # Converts a 10 character string
              validator.enforce(resource, student_id='string(length=10)')
              # Accepts any of these strings: 'foo', '1000', 'True'
              validator.enforce(resource, field='any(foo, 1000, True)')
              # Converts any non-negative integer
              validator.enforce(resource, game_id='int')
              # and any float <= 1000
              validator.enforce(resource, duration='float(max=1000)')

          ``string`` never matches a string containing a forward slash:
          ``'string(length=2)'`` does not match ``'/e'``; use ``path``
          for such values. Items of ``any`` that are not plain words or
          numbers must be quoted: ``"any('application/json', html)"``
          matches ``'application/json'``, while the unquoted
          ``'any(application/json,html)'`` is a malformed specification.

        - a singleton :class:`list` holding a converter: the field must be a
          list, and the converter is used to convert each item::

              # Converts a list of integers
              validator.enforce(resource, games=[int])
              # Converts a list of uuids
              validator.enforce(resource, components=['uuid'])
              # Converts a list of fixed length strings
              validator.enforce(resource, students=['string(length=10)'])

        Specifications are compiled when they are registered. This method
        can be used as a decorator factory for resources, above the route::

            @validator.enforce(uid=int, friends=[int])
            @app.route("/")
            def res():
                return {}

        Converters are only applied to fields that are present; see
        :meth:`restrict` for specifying required fields. Calling
        :meth:`enforce` again for a resource adds to its specification.
        Calling it with no fields gives a resource (empty) rules of its own,
        so that a collection no longer inherits the rules of its items.

        :param resource: The resource (positional only). Without it, a
            decorator that registers the specification for the resource it
            decorates is returned.
        :param validation_spec: ``field=converter`` pairs.
        :returns: The resource, or a decorator.
        :raises ValueError: for a malformed specification or an unknown
            converter name (naming the field and the specification).
        :raises RuntimeError: if an app the validator is attached to has
            already handled its first request.
        """
        if resource is None and isinstance(
            validation_spec.get("resource"), AbstractResource
        ):
            # enforce(resource=res, ...): a resource is never a converter.
            resource = validation_spec.pop("resource")
        compiled = {
            field: self._compile(field, spec) for field, spec in validation_spec.items()
        }

        def register(res: R) -> R:
            rules = self._rules_of(res, "enforce")
            rules.converters.update(compiled)
            return res

        if resource is None:
            return register
        return register(resource)

    def enforce_all(self, **validation_spec: Any) -> None:
        """Register a global validation specification.

        This works like :meth:`enforce`, except that the validation
        specification is registered for all resources instead of a single
        one. Global validation specifications have lower precedence than
        resource specific ones: a field with a converter of its own for a
        resource is converted with that one.

        :param validation_spec: ``field=converter`` pairs.
        :raises ValueError: for a malformed specification.
        :raises RuntimeError: if an app the validator is attached to has
            already handled its first request.
        """
        compiled = {
            field: self._compile(field, spec) for field, spec in validation_spec.items()
        }
        self._check_open("register validation rules")
        self._plans.clear()
        self._global.converters.update(compiled)

    @overload
    def restrict(self, resource: R, /, *fields: str, strip_extra: bool = True) -> R: ...
    @overload
    def restrict(self, *fields: str, strip_extra: bool = True) -> Callable[[R], R]: ...
    def restrict(self, *fields: Any, strip_extra: bool = True) -> Any:
        """Restrict the input data to the given fields.

        :param fields: The field names that are allowed. An asterisk at the
            start of a field name marks a required field. A field name that
            itself starts with an asterisk is written with that asterisk
            doubled: ``"**stars"`` allows an optional field named
            ``*stars``, and ``"***stars"`` requires it.
        :param strip_extra: What to do with a field not in the list: if
            ``True``, it is removed from the input; otherwise an
            :class:`UnexpectedFields` error is raised.
        :returns: A decorator factory for resources (as for
            :meth:`enforce`); or, when the first argument is a resource, the
            resource, the restriction being registered for it right away
            (``validator.restrict(resource, "*title", "desc")``).
        :raises RuntimeError: if an app the validator is attached to has
            already handled its first request.

        Once this is called for a resource, any field names that do not
        appear in the list are disallowed. Required fields need not be
        present in PATCH requests (a partial update), but a PATCH cannot set
        them to ``null``. Calling :meth:`restrict` again for a resource adds
        to its allowed fields, and its ``strip_extra`` takes over.

        Example::

            @validator.restrict("*title", "desc", "*due")
            @app.route("/tasks/<id>")
            def task(id):
                ...
        """
        resource: Any = None
        if fields and isinstance(fields[0], AbstractResource):
            resource, fields = fields[0], fields[1:]
        parsed = [_parse_field(field) for field in fields]

        def register(res: R) -> R:
            rules = self._rules_of(res, "restrict")
            if rules.allowed is None:
                rules.allowed = set()
            for name, required in parsed:
                rules.allowed.add(name)
                if required:
                    rules.required.add(name)
            rules.strip_extra = strip_extra
            return res

        if resource is None:
            return register
        return register(resource)

    # -- compiling ------------------------------------------------------------

    def _compile(self, field: str, spec: Any) -> Callable[[Any], Any]:
        """Compile one converter; raises ValueError for a malformed one."""
        if isinstance(spec, str):
            return self._compile_spec(field, spec)
        if isinstance(spec, list):
            if len(spec) != 1:
                raise ValueError(
                    f"Invalid converter for field {field!r}: a list converter must "
                    f"hold exactly one converter, not {spec!r}"
                )
            return _ListConverter(self._compile(field, spec[0]))
        if callable(spec) and not isinstance(spec, AbstractResource):
            for builtin, strict in _STRICT_BUILTINS:
                if spec is builtin:
                    return strict
            return spec
        raise ValueError(
            f"Invalid converter for field {field!r}: {spec!r} is neither a "
            "callable, a converter specification string nor a singleton list"
        )

    def _compile_spec(self, field: str, spec: str) -> Callable[[Any], Any]:
        match = _SPEC_RE.fullmatch(spec)
        if match is None:
            raise ValueError(
                f"Malformed converter specification {spec!r} for field {field!r}: "
                "expected 'name' or 'name(arguments)'"
            )
        name, argstr = match.groups()
        cls = self.converters.get(name)
        if cls is None:
            known = ", ".join(sorted(self.converters))
            raise ValueError(
                f"Unknown converter {name!r} in specification {spec!r} for field "
                f"{field!r} (known converters: {known})"
            )
        try:
            args, kwargs = _parse_arguments(argstr or "")
            if issubclass(cls, AnyConverter):
                if not args or kwargs:
                    raise ValueError("any() takes one or more items, and no keywords")
                args = tuple(a if isinstance(a, str) else str(a) for a in args)
            converter = cls(_CONVERTER_MAP, *args, **kwargs)
            if isinstance(converter, NumberConverter):
                _check_number_arguments(converter)
            regex = re.compile(converter.regex, re.ASCII)
        except Exception as exc:
            raise ValueError(
                f"Invalid converter specification {spec!r} for field {field!r}: {exc}"
            ) from exc
        if isinstance(converter, IntegerConverter):
            return _IntSpecConverter(spec, converter, regex)
        if isinstance(converter, FloatConverter):
            return _FloatSpecConverter(spec, converter, regex)
        return _SpecConverter(spec, converter, regex)

    # -- validating -----------------------------------------------------------

    def rules_for(self, resource: Any) -> ValidationRules | None:
        """The rules the validator applies to the input of a resource, for
        introspection (documentation tools).

        >>> from findig import App
        >>> app = App()
        >>> validator = Validator(app)
        >>> @validator.enforce(price="int(min=0)")
        ... @validator.restrict("*name", "price")
        ... @app.route("/items/<int:id>")
        ... def item(id):
        ...     return {}
        >>> rules = validator.rules_for(item)
        >>> sorted(rules.allowed), sorted(rules.required), sorted(rules.converters)
        (['name', 'price'], ['name'], ['price'])
        >>> rules.strip_extra, rules.source is item
        (True, True)

        :param resource: A resource.
        :returns: A :class:`ValidationRules` combining the resource's own
            rules (or, for a collection without rules of its own, its item
            resource's when ``include_collections`` is on) with the app-wide
            ones; ``None`` when no rule applies (the input is not touched).
        """
        own = self._own_rules(resource)
        plan = self._combine(own)
        if plan is None:
            return None
        return ValidationRules(
            converters=MappingProxyType(dict(plan.converters)),
            allowed=plan.allowed,
            required=plan.required,
            strip_extra=plan.strip_extra,
            source=None if own is None else own.resource,
        )

    def _own_rules(self, resource: Any) -> _Rules | None:
        """The rules registered for *resource*, or inherited from its item
        resource if it is a collection (None: no rules of its own)."""
        own = self._rules.get(id(resource))
        if own is None and self.include_collections:
            item, seen = resource, {id(resource)}
            while isinstance(item, Collection):
                item = item.of
                if id(item) in seen:
                    break
                seen.add(id(item))
                own = self._rules.get(id(item))
                if own is not None:
                    break
        return own

    def _plan_for(self, resource: Any) -> _Plan | None:
        """Combine the rules that apply to *resource* (None: no rules)."""
        return self._combine(self._own_rules(resource))

    def _combine(self, own: _Rules | None) -> _Plan | None:
        converters = dict(self._global.converters)
        allowed: frozenset[str] | None = None
        required: frozenset[str] = frozenset()
        strip_extra = True
        if own is not None:
            converters.update(own.converters)
            if own.allowed is not None:
                allowed = frozenset(own.allowed)
            required = frozenset(own.required)
            strip_extra = own.strip_extra
        if not converters and allowed is None and not required:
            return None
        return _Plan(converters, allowed, required, strip_extra)

    def validate(self, data: Any) -> Any:
        """Validate the data with the validation specifications that have
        been collected.

        This function must be called within an active request context in
        order to work: it validates the input of PUT, POST and PATCH
        requests to resources with rules, and returns any other data as it
        is. An empty body (``None``) counts as an empty mapping.

        :param data: Input data.
        :type data: mapping
        :returns: The validated data: a new :class:`dict` holding the
            converted values, without the stripped fields.
        :raises ValidationFailed: if one or more fields could not be
            validated, or the data is not a mapping.
        :raises RuntimeError: outside a request context.

        This is an internal method.
        """
        state = current_state()
        if state is None:
            raise RuntimeError("Validator.validate() needs an active request context")
        method = state.request.method
        if method not in _VALIDATED_METHODS:
            return data
        resource = getattr(state, "resource", None)
        if resource is None:
            return data
        # PERF: plans are precomputed per resource on first use, so a
        # resource without rules costs one dictionary lookup per request.
        entry = self._plans.get(id(resource))
        if entry is None:
            entry = self._plans[id(resource)] = (resource, self._plan_for(resource))
        plan = entry[1]
        if plan is None:
            return data
        return self._apply(plan, data, method == "PATCH")

    def _apply(self, plan: _Plan, data: Any, partial: bool) -> Any:
        if data is None:
            if plan.required and not partial:
                raise MissingFields(plan.required, self)
            return None
        if not isinstance(data, Mapping):
            raise ValidationFailed(
                (),
                self,
                description=(
                    "The input must be a mapping of field names to values "
                    "(a JSON object)."
                ),
                error_type="malformed_input",
            )
        if partial:
            # A partial update need not carry required fields, but may not
            # remove them (a null in a merge patch).
            missing = [f for f in plan.required if f in data and data[f] is None]
        else:
            missing = [f for f in plan.required if f not in data]
        if missing:
            raise MissingFields(missing, self)
        allowed = plan.allowed
        if allowed is not None and not plan.strip_extra:
            unexpected = [f for f in data if f not in allowed]
            if unexpected:
                raise UnexpectedFields(unexpected, self)
        converters = plan.converters
        result: dict[Any, Any] = {}
        invalid = []
        for field, value in data.items():
            if allowed is not None and field not in allowed:
                continue  # stripped
            convert = converters.get(field)
            if convert is None or (partial and value is None):
                result[field] = value
                continue
            try:
                result[field] = convert(value)
            except Exception:  # any failure makes the field invalid
                invalid.append(field)
        if invalid:
            raise InvalidFields(invalid, self)
        return result

    # -- converter factories --------------------------------------------------

    @staticmethod
    def date(*formats: str) -> Callable[[Any], datetime.datetime]:
        """Create a function that validates a date field.

        :param formats: Date/time formats according to
            :meth:`datetime.datetime.strptime`. If more than one format is
            passed in, the generated function tries each format in order
            until one of them works on the field (or until there are no
            formats left to try).
        :returns: A converter of strings to :class:`datetime.datetime`. Its
            ``formats`` attribute is the tuple of *formats*.
        :raises TypeError: if no format is given.

        Example:

        >>> func = Validator.date("%Y-%m-%d %H:%M:%S%z")
        >>> func("2015-07-17 09:00:00+0400")
        datetime.datetime(2015, 7, 17, 9, 0, tzinfo=datetime.timezone(datetime.timedelta(seconds=14400)))
        >>> func("not-a-date")
        Traceback (most recent call last):
          ...
        ValueError: time data 'not-a-date' does not match format '%Y-%m-%d %H:%M:%S%z'
        >>> func = Validator.date("%Y-%m-%d %H:%M:%S%z", "%Y-%m-%d")
        >>> func("2015-07-17")
        datetime.datetime(2015, 7, 17, 0, 0)
        >>> func("2015-07-17 09:00:00+0000")
        datetime.datetime(2015, 7, 17, 9, 0, tzinfo=datetime.timezone.utc)
        >>> func.formats
        ('%Y-%m-%d %H:%M:%S%z', '%Y-%m-%d')
        """  # noqa: E501 - the doctest output is one line
        if not formats:
            raise TypeError("Validator.date() needs at least one format")
        for fmt in formats:
            if not isinstance(fmt, str):
                raise TypeError(f"Validator.date(): {fmt!r} is not a format string")
        strptime = datetime.datetime.strptime

        def convert(value: Any) -> datetime.datetime:
            if not isinstance(value, str):
                raise TypeError(f"{value!r} is not a date/time string")
            if len(formats) == 1:
                return strptime(value, formats[0])
            for fmt in formats:
                try:
                    return strptime(value, fmt)
                except ValueError:
                    pass
            raise ValueError(
                f"time data {value!r} does not match any of the formats "
                + ", ".join(repr(f) for f in formats)
            )

        # For introspection (documentation tools): the formats tried.
        convert.formats = formats  # type: ignore[attr-defined]
        return convert

    @staticmethod
    def regex(
        pattern: str | re.Pattern[str], flags: int = 0, template: str | None = None
    ) -> Callable[[Any], str]:
        """Create a function that validates strings against a regular
        expression.

        The whole string must match.

        :param pattern: A regular expression.
        :param flags: Flags for :func:`re.compile`.
        :param template: If given, the converted value is built from it by
            backslash substitution (:meth:`re.Match.expand`); otherwise the
            value is returned as it is.
        :returns: A converter; it raises :class:`ValueError` for a value
            that does not match. Its ``pattern`` attribute is the compiled
            expression (a :class:`re.Pattern`).

        >>> func = Validator.regex("boy")
        >>> func("boy")
        'boy'
        >>> func.pattern
        re.compile('boy')
        >>> func("That boy")
        Traceback (most recent call last):
          ...
        ValueError: That boy
        >>> func("boy, that's handy.")
        Traceback (most recent call last):
          ...
        ValueError: boy, that's handy.

        If you supply a template, it is used to construct a return value by
        doing backslash substitution:

        >>> func = Validator.regex("(male|female)", template=r"Gender: \\1")
        >>> func("male")
        'Gender: male'
        >>> func("alien")
        Traceback (most recent call last):
          ...
        ValueError: alien
        """
        compiled = re.compile(pattern, flags)

        def convert(value: Any) -> str:
            if not isinstance(value, str):
                raise ValueError(repr(value))
            match = compiled.fullmatch(value)
            if match is None:
                raise ValueError(value)
            if template is None:
                return value
            return match.expand(template)

        # For introspection (documentation tools): the compiled expression.
        convert.pattern = compiled  # type: ignore[attr-defined]
        return convert
