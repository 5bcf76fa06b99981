"""JSON Schemas for URL converters and validator converters (OpenAPI 3.1).

This is an internal module of :mod:`findig.tools.openapi`: it turns the
converters of URL rules (path parameters) and the compiled converters of a
:class:`~findig.tools.validator.Validator` (request body fields) into JSON
Schema objects.

A converter class (for URL rules) or a converter function (for the
validator) may describe itself with an ``openapi_schema`` attribute holding
a JSON Schema mapping; it is used as it is.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import decimal
import re
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from werkzeug.routing.converters import (
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    NumberConverter,
    PathConverter,
    UnicodeConverter,
    UUIDConverter,
)

from . import validator as _validator

#: ``[^/]{n}``, ``[^/]{n,}`` or ``[^/]{n,m}``: the regex of werkzeug's
#: string converter.
_STRING_REGEX = re.compile(r"\[\^/\]\{(\d+)(,(\d*))?\}")

#: A moment to show date formats with in examples.
_EXAMPLE_MOMENT = datetime.datetime(2015, 7, 17, 9, 30, tzinfo=datetime.timezone.utc)


def _own_schema(obj: Any) -> dict[str, Any] | None:
    """The ``openapi_schema`` an object declares for itself, copied."""
    schema = getattr(obj, "openapi_schema", None)
    if isinstance(schema, Mapping):
        return copy.deepcopy(dict(schema))
    return None


def _number_schema(conv: NumberConverter, kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": kind}
    minimum = conv.min
    if not conv.signed and (minimum is None or minimum < 0):
        minimum = 0
    if minimum is not None:
        schema["minimum"] = minimum
    if conv.max is not None:
        schema["maximum"] = conv.max
    return schema


def _string_lengths(conv: BaseConverter) -> dict[str, Any]:
    """minLength/maxLength of werkzeug's string converter, from its regex."""
    match = _STRING_REGEX.fullmatch(getattr(conv, "regex", ""))
    if match is None:
        return {"minLength": 1}
    low, comma, high = match.groups()
    if comma is None:
        return {"minLength": int(low), "maxLength": int(low)}
    lengths = {"minLength": int(low)}
    if high:
        lengths["maxLength"] = int(high)
    return lengths


def converter_schema(conv: BaseConverter, in_path: bool) -> dict[str, Any]:
    """The JSON Schema of values a werkzeug URL converter accepts.

    :param conv: A converter instance (of a URL rule, or compiled from a
        validator's converter specification).
    :param in_path: Whether the value is a path parameter (always written as
        text) rather than a field of a JSON body.
    """
    own = _own_schema(conv)
    if own is not None:
        return own
    if isinstance(conv, IntegerConverter):
        schema = _number_schema(conv, "integer")
        digits = conv.fixed_digits
        if digits:
            if in_path:
                sign = "-?" if conv.signed else ""
                return {"type": "string", "pattern": f"^{sign}[0-9]{{{digits}}}$"}
            schema["description"] = f"Written with exactly {digits} digits."
        return schema
    if isinstance(conv, FloatConverter):
        schema = _number_schema(conv, "number")
        if in_path:
            schema["description"] = "Written with a decimal point, such as 1.5."
        return schema
    if isinstance(conv, UUIDConverter):
        return {"type": "string", "format": "uuid"}
    if isinstance(conv, AnyConverter):
        return {"type": "string", "enum": sorted(conv.items)}
    if isinstance(conv, PathConverter):
        schema = {"type": "string", "minLength": 1}
        if in_path:
            schema["description"] = "May contain slashes."
        return schema
    if isinstance(conv, UnicodeConverter):
        schema = {"type": "string", **_string_lengths(conv)}
        if not in_path:
            schema["pattern"] = "^[^/]*$"
        return schema
    return {"type": "string"}


def _date_schema(formats: tuple[str, ...]) -> dict[str, Any]:
    listed = ", ".join(f"`{fmt}`" for fmt in formats)
    schema: dict[str, Any] = {
        "type": "string",
        "format": "date-time",
        "description": f"A date/time in one of the formats {listed} "
        "(Python strptime directives).",
    }
    with contextlib.suppress(ValueError):  # a format strftime cannot write
        schema["examples"] = [_EXAMPLE_MOMENT.strftime(formats[0])]
    return schema


def field_schema(conv: Callable[[Any], Any] | None) -> dict[str, Any]:
    """The JSON Schema of the values a compiled validator converter accepts.

    :param conv: A converter as compiled by the validator, or ``None`` (no
        converter: any value).
    """
    if conv is None:
        return {}
    own = _own_schema(conv)
    if own is not None:
        return own
    # The strict built-in converters (the validator's swap for int etc.).
    if conv is _validator._strict_int:
        return {"type": "integer"}
    if conv is _validator._strict_float:
        return {"type": "number"}
    if conv is _validator._strict_str:
        return {"type": "string"}
    if conv is _validator._strict_bool:
        return {"type": "boolean"}
    if isinstance(conv, _validator._ListConverter):
        return {"type": "array", "items": field_schema(conv.item)}
    if isinstance(conv, _validator._SpecConverter):
        return converter_schema(conv.converter, in_path=False)
    if conv is uuid.UUID:
        return {"type": "string", "format": "uuid"}
    if conv is decimal.Decimal:
        return {"type": ["number", "string"]}
    # Validator.date() and Validator.regex() converters say what they accept.
    formats = getattr(conv, "formats", None)
    if (
        isinstance(formats, tuple)
        and formats
        and all(isinstance(fmt, str) for fmt in formats)
    ):
        return _date_schema(formats)
    compiled = getattr(conv, "pattern", None)
    if isinstance(compiled, re.Pattern) and isinstance(compiled.pattern, str):
        return {"type": "string", "pattern": f"^(?:{compiled.pattern})$"}
    return {}


def body_schema(plan: Any, partial: bool) -> dict[str, Any]:
    """The JSON Schema of a request body that a validator plan accepts.

    :param plan: The validator's plan for a resource (its converters,
        allowed and required fields), or ``None`` (no rules).
    :param partial: Whether the body is a partial update (PATCH): required
        fields are then optional, but may not be ``null``, and other fields
        may be ``null`` (a JSON merge patch removes them).
    """
    if plan is None:
        return {"type": "object"} if partial else {}
    allowed = plan.allowed
    converters: Mapping[str, Any] = plan.converters
    names = set(allowed) if allowed is not None else set(converters)
    properties: dict[str, Any] = {}
    for name in sorted(names, key=str):
        schema = field_schema(converters.get(name))
        if partial and name not in plan.required and schema:
            schema = {"anyOf": [schema, {"type": "null"}]}
        properties[str(name)] = schema
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if plan.required and not partial:
        result["required"] = sorted(str(name) for name in plan.required)
    if allowed is not None:
        if plan.strip_extra:
            result["description"] = "Fields not listed here are ignored."
        else:
            result["additionalProperties"] = False
    return result
