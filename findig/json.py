"""The JSON application: :class:`App` reads and writes ``application/json``."""

from __future__ import annotations

import json
import json.encoder as _json_encoder
import math
from collections.abc import Iterable, Iterator, Mapping
from datetime import date, time
from decimal import Decimal
from typing import Any
from uuid import UUID

from werkzeug.exceptions import BadRequest, HTTPException
from werkzeug.wrappers import Response

from .app import App as _BaseApp
from .wrappers import RawResponse

__all__ = ["App", "JSONEncoder", "problem_document"]

JSON_MIME = "application/json"
PROBLEM_MIME = "application/problem+json"
#: Data encoded in one piece; other iterables are streamed.
_ENCODE_AT_ONCE = (str, bytes, bytearray, Mapping, list, tuple)
# PERF: the common ones, found without the Mapping ABC's isinstance check.
_AT_ONCE_TYPES = frozenset({dict, list, tuple, str})
#: Marks an iterable with no first item.
_NOTHING = object()

#: Roughly how many characters of JSON are sent per streamed chunk.
_STREAM_BATCH = 64 * 1024


class JSONEncoder(json.JSONEncoder):
    """The default encoder of :class:`App`.

    Besides the types :mod:`json` knows, it encodes any mapping as an object,
    any other iterable as a list, dates, times and datetimes as ISO 8601
    strings, and :class:`~decimal.Decimal` and :class:`~uuid.UUID` values
    as strings (a decimal keeps every digit that way).
    """

    def default(self, o: Any) -> Any:
        if isinstance(o, Mapping):
            return dict(o)
        if isinstance(o, (date, time)):
            return o.isoformat()
        if isinstance(o, (Decimal, UUID)):
            return str(o)
        if isinstance(o, Iterable) and not isinstance(o, (str, bytes, bytearray)):
            return list(o)
        return super().default(o)


# Encoder classes whose encode() is json's own, by class: see _encode().
_PLAIN_ENCODERS: dict[type, bool] = {}


def _encode(encoder: json.JSONEncoder, data: Any) -> str:
    """``encoder.encode(data)``, computed with less overhead where possible.

    For an encoder whose ``encode`` and ``iterencode`` are :mod:`json`'s own
    and which does not indent, ``encode`` makes one C encoder with the
    encoder's settings and joins what it returns; this does exactly that,
    without the Python-level steps around it (the output is the same).
    """
    kind = type(encoder)
    plain = _PLAIN_ENCODERS.get(kind)
    if plain is None:
        plain = _PLAIN_ENCODERS[kind] = (
            getattr(_json_encoder, "c_make_encoder", None) is not None
            and kind.encode is json.JSONEncoder.encode
            and kind.iterencode is json.JSONEncoder.iterencode
        )
    if not plain or encoder.indent is not None or isinstance(data, str):
        return encoder.encode(data)
    # PERF: JSONEncoder.encode -> iterencode(_one_shot=True) costs about 1 µs
    # in Python around the C encoder it calls: call that encoder directly.
    make = _json_encoder.c_make_encoder
    if make is None:  # pragma: no cover - json's C speedups were disabled
        return encoder.encode(data)
    return "".join(
        make(
            {} if encoder.check_circular else None,
            encoder.default,
            _json_encoder.encode_basestring_ascii
            if encoder.ensure_ascii
            else _json_encoder.encode_basestring,
            None,
            encoder.key_separator,
            encoder.item_separator,
            encoder.sort_keys,
            encoder.skipkeys,
            encoder.allow_nan,
        )(data, 0)
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a valid JSON number")


def _finite_float(text: str) -> float:
    # An overflowing literal such as 1e999 would otherwise become infinity.
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text[:32]} is out of the range of JSON numbers")
    return value


def _check_depth(data: Any, max_depth: int) -> None:
    """Raise BadRequest if *data* nests containers deeper than *max_depth*."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children: Iterable[Any] = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > max_depth:
            raise BadRequest(f"The JSON document nests deeper than {max_depth} levels.")
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, (dict, list))
        )


class App(_BaseApp):
    """A :class:`findig.App` that works with ``application/json`` data.

    It parses ``application/json`` request content, formats resource data as
    ``application/json`` by default, and answers errors in JSON:
    ``{"message": ...}``, keeping the status and headers of the HTTP error.
    An HTTP exception with an ``error_info`` mapping adds it to the body as
    ``"error"`` (the validator's errors name the failing fields that way).

    :param indent: The number of spaces to indent output by; by default
        output is not indented.
    :param encoder_cls: A :class:`json.JSONEncoder` subclass to serialize
        data with; by default :class:`JSONEncoder`.
    :param autolist: As for :class:`findig.App`.
    :param max_depth: The deepest nesting of objects and lists accepted in
        request content; deeper documents are refused with 400.
    :param problem_details: Answer errors as RFC 9457 problem details
        (``application/problem+json`` with ``type``, ``title``, ``status``,
        ``detail``, and ``errors`` listing failing fields) instead of the
        documented ``{"message": ...}`` shape.

    Request content is parsed strictly: ``NaN`` and ``Infinity`` are
    refused, and JSON arrays stay lists.
    """

    def __init__(
        self,
        indent: int | None = None,
        encoder_cls: type[json.JSONEncoder] | None = None,
        autolist: bool = False,
        max_depth: int = 32,
        problem_details: bool = False,
        **dispatcher_args: Any,
    ) -> None:
        super().__init__(autolist=autolist, **dispatcher_args)
        self.encoder = (encoder_cls or JSONEncoder)(indent=indent, allow_nan=False)
        self.max_depth = max_depth
        self.problem_details = problem_details
        self._decoder = json.JSONDecoder(
            parse_constant=_reject_constant, parse_float=_finite_float
        )
        if hasattr(self.formatter, "register"):
            self.formatter.register(JSON_MIME, self.format_json, default=True)
        if hasattr(self.parser, "register"):
            self.parser.register(JSON_MIME, self.parse_json, default=True)

    def format_json(self, data: Any) -> str | Iterator[str]:
        """Encode resource data as JSON.

        Lists, tuples, mappings and scalars are encoded at once. Any other
        iterable (a generator, a data set) is streamed as a JSON array, a
        batch of items at a time, so a large collection is never held in
        memory whole (unless the app indents its output).

        :param data: The resource data.
        :returns: The JSON text, or an iterator of its chunks.
        """
        encoder = self.encoder
        if (
            type(data) in _AT_ONCE_TYPES
            or isinstance(data, _ENCODE_AT_ONCE)
            or not isinstance(data, Iterable)
            or encoder.indent is not None
        ):
            return _encode(encoder, data)
        # The first item is fetched (and encoded) now, before the status
        # line is sent, so that a collection that cannot be read (its
        # database gone) answers an error rather than a 200 cut short.
        items = iter(data)
        first = next(items, _NOTHING)
        if first is _NOTHING:
            return iter(("[]",))
        return self._stream_array(_encode(encoder, first), items)

    def _stream_array(self, first: str, items: Iterator[Any]) -> Iterator[str]:
        encoder = self.encoder
        batch = ["[", first]
        size = len(first)
        for item in items:
            text = _encode(encoder, item)
            batch.append(", ")
            batch.append(text)
            size += len(text)
            if size >= _STREAM_BATCH:
                yield "".join(batch)
                batch.clear()
                size = 0
        batch.append("]")
        yield "".join(batch)

    def parse_json(self, text: str) -> Any:
        """Parse a JSON request body strictly.

        :param text: The request body.
        :raises werkzeug.exceptions.BadRequest: for invalid JSON, NaN or
            Infinity, or nesting deeper than :attr:`max_depth`.
        """
        try:
            data = self._decoder.decode(text)
        except RecursionError:
            raise BadRequest(
                f"The JSON document nests deeper than {self.max_depth} levels."
            ) from None
        except ValueError as exc:
            raise BadRequest(f"The request body is not valid JSON: {exc}") from None
        _check_depth(data, self.max_depth)
        return data

    def make_response(
        self,
        data: Any,
        status: int = 200,
        headers: Mapping[str, str] | list[tuple[str, str]] | None = None,
    ) -> Response:
        """Make an ``application/json`` response of *data*.

        :param data: The data to encode.
        :param status: The HTTP status code.
        :param headers: Extra response headers.
        """
        return self.response_class(
            _encode(self.encoder, data),
            status=status,
            headers=headers,
            content_type=JSON_MIME,
        )

    def error_response(self, exc: Exception) -> Any:
        http_exc = self._as_http_exception(exc)
        if http_exc.response is not None:
            return http_exc.response
        info = getattr(http_exc, "error_info", None)
        if self.problem_details:
            body = problem_document(http_exc, info)
            mime_type = PROBLEM_MIME
        else:
            body = {"message": http_exc.description}
            if info is not None:
                body["error"] = info
            mime_type = JSON_MIME
        headers = self.error_headers(http_exc)
        headers.append(("Content-Type", mime_type))
        return RawResponse(
            http_exc.code or 500, headers, _encode(self.encoder, body).encode("utf-8")
        )


def problem_document(exc: HTTPException, info: Any = None) -> dict[str, Any]:
    """Describe an HTTP error as an RFC 9457 problem details object.

    :param exc: The HTTP exception.
    :param info: Structured details (an exception's ``error_info``); when it
        names ``fields``, they are listed under ``errors``, one object per
        field with the kind of failure.
    :returns: A mapping with ``type``, ``title``, ``status`` and ``detail``.
    """
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": exc.name,
        "status": exc.code,
        "detail": exc.description,
    }
    if isinstance(info, Mapping):
        fields = info.get("fields")
        if fields is not None:
            kind = info.get("type")
            document["errors"] = [{"field": f, "type": kind} for f in fields]
        extra = {k: v for k, v in info.items() if k not in ("fields", "type")}
        document.update((k, v) for k, v in extra.items() if k not in document)
    return document
