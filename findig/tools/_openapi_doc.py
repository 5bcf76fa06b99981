"""Build an OpenAPI 3.1 document from a Findig application.

This is an internal module of :mod:`findig.tools.openapi`. The document is
built from the app's precomputed routes (so the app must be frozen), and
from what the validators, protectors and counters given to the tool know
about each resource.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ..content import Formatter, Parser
from ..querying import MAX_OFFSET as _MAX_OFFSET
from ..resource import Collection, Resource
from ._openapi_schema import body_schema, converter_schema

#: The documented methods, in the order of a path item.
_METHODS = ("GET", "PUT", "POST", "PATCH", "DELETE")
_BODY_METHODS = frozenset({"PUT", "POST", "PATCH"})
_UNSAFE_METHODS = frozenset({"PUT", "PATCH", "DELETE"})

#: The permissions each method needs on a guarded resource's scopes (see
#: :class:`findig.tools.protector.Protector`).
_PERMISSIONS = {"GET": "r", "POST": "c", "PUT": "cu", "PATCH": "u", "DELETE": "d"}

#: A variable part of a werkzeug URL rule (the grammar of werkzeug's own
#: rule parser): ``<converter(arguments):name>``.
_RULE_VARIABLE = re.compile(
    r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\(.*?\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>"
)
_NOT_IDENTIFIER = re.compile(r"[^A-Za-z0-9_]+")
#: A key of an OpenAPI Responses Object: a status code, a range of them
#: (``4XX``) or ``default``.
_STATUS_KEY = re.compile(r"[1-5](?:[0-9][0-9]|XX)|default")

#: The most security requirement alternatives listed for one operation
#: (several protectors guarding one resource multiply their alternatives).
_MAX_REQUIREMENTS = 64

_RESPONSES_REF = "#/components/responses/"
_JSON_MIME = "application/json"
_PROBLEM_MIME = "application/problem+json"

#: The standard error responses: component name → (status, description).
_ERRORS: dict[str, tuple[str, str]] = {
    "BadRequest": (
        "400",
        "The request is malformed, or its content failed validation (the "
        "error names the failing fields).",
    ),
    "Unauthorized": (
        "401",
        "The request carries no valid credentials; the WWW-Authenticate "
        "header tells how to authenticate.",
    ),
    "Forbidden": (
        "403",
        "The request's authorization does not cover the scope this operation requires.",
    ),
    "NotFound": ("404", "There is no such resource."),
    "MethodNotAllowed": (
        "405",
        "The resource does not support this method; the Allow header lists "
        "those it supports.",
    ),
    "NotAcceptable": (
        "406",
        "None of the content types the Accept header names can be produced.",
    ),
    "PreconditionFailed": (
        "412",
        "The resource has changed since it was read: If-Match does not match "
        "its current ETag.",
    ),
    "ContentTooLarge": ("413", "The request content is too large."),
    "UnsupportedMediaType": (
        "415",
        "The request content is of a type the resource cannot parse.",
    ),
    "PreconditionRequired": (
        "428",
        "The resource must be changed with a conditional request: send "
        "If-Match with the ETag of the representation being changed.",
    ),
    "TooManyRequests": (
        "429",
        "Too many requests: the rate limit is exceeded (Retry-After may tell "
        "when to retry).",
    ),
}
_ERROR_HEADERS: dict[str, dict[str, Any]] = {
    "Unauthorized": {
        "WWW-Authenticate": {
            "description": "The authentication challenge.",
            "schema": {"type": "string"},
        }
    },
    "MethodNotAllowed": {
        "Allow": {
            "description": "The methods the resource supports.",
            "schema": {"type": "string"},
        }
    },
    "TooManyRequests": {
        "Retry-After": {
            "description": "Seconds to wait before retrying (when known).",
            "schema": {"type": "integer", "minimum": 0},
        }
    },
}

_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {"type": "string", "description": "What went wrong."},
        "error": {
            "type": "object",
            "description": "Structured details, such as the fields that "
            "failed validation.",
            "properties": {
                "type": {"type": "string"},
                "fields": {"type": "array", "items": {"type": "string"}},
                "parameters": {
                    "type": "array",
                    "description": "The query parameters refused (for the "
                    "type invalid_query).",
                    "items": {"type": "string"},
                },
            },
        },
    },
}
_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri-reference"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "The fields that failed validation.",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
        "parameters": {
            "type": "array",
            "description": "The query parameters refused.",
            "items": {"type": "string"},
        },
    },
}


def as_list(tools: Any) -> list[Any]:
    """A tool argument (``None``, one tool or an iterable of them) as a list."""
    if tools is None:
        return []
    if isinstance(tools, Iterable) and not isinstance(tools, (str, bytes, Mapping)):
        return list(tools)
    return [tools]


def openapi_path(rulestr: str) -> str:
    """A werkzeug URL rule as an OpenAPI path template.

    >>> openapi_path("/tasks/<int(min=1):id>/notes/<name>")
    '/tasks/{id}/notes/{name}'
    """
    return _RULE_VARIABLE.sub(r"{\1}", rulestr)


def _identifier(text: str) -> str:
    return _NOT_IDENTIFIER.sub("_", text).strip("_") or "resource"


def _short_name(resource: Any) -> str:
    """A short identifier for a resource: the end of its dotted name."""
    name = str(getattr(resource, "name", "") or "resource")
    base, _, count = name.partition("#")
    short = _identifier(base.rsplit(".", 1)[-1])
    return f"{short}_{count}" if count else short


def _long_name(resource: Any) -> str:
    """A longer identifier for a resource: its whole name."""
    name = str(getattr(resource, "name", "") or "resource")
    return _identifier(name.replace("<locals>", ""))


def _docstring(resource: Any) -> tuple[str | None, str | None]:
    doc = getattr(resource, "__doc__", None)
    if not isinstance(doc, str) or not doc.strip():
        return None, None
    if isinstance(resource, Resource) and doc == type(resource).__doc__:
        return None, None
    text = inspect.cleandoc(doc)
    summary, _, rest = text.partition("\n")
    return summary.strip() or None, rest.strip() or None


def declared_responses(resource: Any) -> dict[str, dict[str, Any]]:
    """The responses a resource declares in its ``openapi_responses``
    attribute, checked and normalised: method → status → a copy of the
    Response Object (or ``None``, which removes a generated response).

    :raises ValueError: naming the resource, for a malformed declaration.
    """
    declared = getattr(resource, "openapi_responses", None)
    if declared is None:
        return {}
    where = f"openapi_responses of resource {getattr(resource, 'name', resource)!r}"
    if not isinstance(declared, Mapping):
        raise ValueError(
            f"{where} must map HTTP methods to {{status: Response Object}} "
            f"mappings, not {declared!r}"
        )
    normalised: dict[str, dict[str, Any]] = {}
    for method, responses in declared.items():
        name = method.upper() if isinstance(method, str) else method
        if name not in _METHODS:
            raise ValueError(
                f"{where}: {method!r} is not one of the documented methods "
                f"({', '.join(_METHODS)})"
            )
        if not isinstance(responses, Mapping):
            raise ValueError(
                f"{where}: the responses of {name} must be a mapping of status "
                f"to Response Object, not {responses!r}"
            )
        checked: dict[str, Any] = {}
        for status, response in responses.items():
            key = status.upper() if isinstance(status, str) else status
            if isinstance(key, int) and not isinstance(key, bool):
                key = str(key)
            if key == "DEFAULT":
                key = "default"
            if not isinstance(key, str) or not _STATUS_KEY.fullmatch(key):
                raise ValueError(
                    f"{where}: {status!r} ({name}) is not a status code "
                    "(100-599, '4XX' or 'default')"
                )
            if response is not None and not (
                isinstance(response, Mapping)
                and (
                    isinstance(response.get("description"), str)
                    or isinstance(response.get("$ref"), str)
                )
            ):
                raise ValueError(
                    f"{where}: the {name} {key} response must be an OpenAPI "
                    "Response Object (with a 'description', or a '$ref') or "
                    f"None, not {response!r}"
                )
            checked[key] = None if response is None else copy.deepcopy(dict(response))
        normalised[name] = checked
    return normalised


def _content_types(registry: Any, fallback: str | None) -> list[str]:
    """The content types a formatter or parser offers, default first."""
    if isinstance(registry, (Formatter, Parser)):
        types = list(registry.handlers)
        default = registry.default
        if default in types:
            types.remove(default)
            types.insert(0, default)
        if not types and fallback:
            types = [fallback]
        return types
    return ["*/*"] if registry is not None else []


def _is_json(mime: str) -> bool:
    return mime == _JSON_MIME or mime.endswith("+json")


class DocumentBuilder:
    """Builds the document of one frozen app.

    :param app: The application (frozen: its routes are built).
    :param info: The ``info`` object of the document.
    :param validators: The validators whose rules describe request bodies.
    :param protectors: The protectors whose guards describe security.
    :param counters: The counters whose limiter callbacks describe rate
        limits.
    :param rate_limits: Explicit rate limits, ``id(resource)`` → list of
        ``{"limit": n, "window": seconds}``.
    :param servers: The ``servers`` of the document, or ``None``.
    :param exclude: ``id()`` of resources left out (the tool's own).
    """

    def __init__(
        self,
        app: Any,
        info: dict[str, Any],
        validators: list[Any],
        protectors: list[Any],
        counters: list[Any],
        rate_limits: Mapping[int, list[dict[str, Any]]],
        servers: list[dict[str, Any]] | None,
        exclude: frozenset[int],
    ) -> None:
        self.app = app
        self.info = info
        self.validators = validators
        self.protectors = protectors
        self.counters = counters
        self.rate_limits = rate_limits
        self.servers = servers
        self.exclude = exclude
        self.used_responses: set[str] = set()
        self.schemas: dict[str, Any] = {}
        self._schema_names: dict[str, str] = {}
        self.operation_ids: set[str] = set()
        self.tags: list[str] = []
        self.schemes: list[tuple[Any, str, dict[str, Any]]] = []
        self.routed = {id(route.resource) for route in app.routes}
        problem = bool(getattr(app, "problem_details", False))
        from ..json import App as JSONApp

        if isinstance(app, JSONApp):
            if problem:
                self.error_content = {
                    _PROBLEM_MIME: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }
                self.schemas["Problem"] = _PROBLEM_SCHEMA
            else:
                self.error_content = {
                    _JSON_MIME: {"schema": {"$ref": "#/components/schemas/Error"}}
                }
                self.schemas["Error"] = _ERROR_SCHEMA
        else:
            self.error_content = {"text/plain": {"schema": {"type": "string"}}}

    # -- the whole document -------------------------------------------------

    def build(self) -> dict[str, Any]:
        """Return the document."""
        self._security_schemes()
        paths: dict[str, dict[str, Any]] = {}
        for route in self.app.routes:
            if id(route.resource) in self.exclude:
                continue
            rule = route.rule
            if rule.redirect_to is not None or rule.host or rule.subdomain:
                continue
            path = openapi_path(rule.rule)
            if path in paths:
                continue  # the first rule wins, as when matching
            item = self._path_item(route, path)
            if item:
                paths[path] = item
        document: dict[str, Any] = {"openapi": "3.1.0", "info": self.info}
        if self.servers:
            document["servers"] = self.servers
        if self.tags:
            document["tags"] = [{"name": tag} for tag in self.tags]
        document["paths"] = paths
        components: dict[str, Any] = {}
        if self.schemas:
            components["schemas"] = self.schemas
        responses = {
            name: self._error_response(name)
            for name in _ERRORS
            if name in self.used_responses
        }
        if responses:
            components["responses"] = responses
        if self.schemes:
            components["securitySchemes"] = {
                name: scheme for _, name, scheme in self.schemes
            }
        if components:
            document["components"] = components
        return document

    def _error_response(self, name: str) -> dict[str, Any]:
        response: dict[str, Any] = {"description": _ERRORS[name][1]}
        headers = _ERROR_HEADERS.get(name)
        if headers:
            response["headers"] = headers
        response["content"] = self.error_content
        return response

    @staticmethod
    def _error(responses: dict[str, Any], name: str) -> None:
        responses[_ERRORS[name][0]] = {"$ref": _RESPONSES_REF + name}

    # -- paths and operations -----------------------------------------------

    def _path_item(self, route: Any, path: str) -> dict[str, Any]:
        parameters = self._path_parameters(route.rule, path)
        item: dict[str, Any] = {}
        for method in _METHODS:
            if method in route.methods:
                item[method.lower()] = self._operation(route, method, path)
        if item and parameters:
            item["parameters"] = parameters
        return item

    def _path_parameters(self, rule: Any, path: str) -> list[dict[str, Any]]:
        converters = getattr(rule, "_converters", {})
        parameters = []
        for name in _RULE_VARIABLE.findall(rule.rule):
            conv = converters.get(name)
            schema = (
                converter_schema(conv, in_path=True)
                if conv is not None
                else {"type": "string"}
            )
            parameter: dict[str, Any] = {"name": name, "in": "path", "required": True}
            description = schema.pop("description", None)
            if description:
                parameter["description"] = description
            parameter["schema"] = schema
            parameters.append(parameter)
        return parameters

    def _operation(self, route: Any, method: str, path: str) -> dict[str, Any]:
        resource = route.resource
        operation: dict[str, Any] = {}
        tag = self._tag(path)
        if tag:
            operation["tags"] = [tag]
        summary, description = _docstring(resource)
        if method == "GET" and summary:
            operation["summary"] = summary
            if description:
                operation["description"] = description
        else:
            operation["summary"] = self._summary(resource, method)
            if summary:
                operation["description"] = (
                    f"{summary}\n\n{description}" if description else summary
                )
        operation["operationId"] = self._operation_id(resource, method)
        parameters = self._header_parameters(route, method)
        if method == "GET":
            parameters += _query_parameters(_query_spec(resource))
        if parameters:
            operation["parameters"] = parameters
        if method in _BODY_METHODS:
            body = self._request_body(route, method)
            if body is not None:
                operation["requestBody"] = body
        operation["responses"] = self._responses(route, method, path)
        security = self._requirements(resource, method)
        if security:
            operation["security"] = security
        limits = self._limits(resource)
        if limits:
            operation["x-rate-limit"] = limits
        return operation

    def _tag(self, path: str) -> str | None:
        first = path.lstrip("/").split("/", 1)[0]
        if not first or "{" in first:
            return None
        if first not in self.tags:
            self.tags.append(first)
        return first

    @staticmethod
    def _summary(resource: Any, method: str) -> str:
        name = _short_name(resource).replace("_", " ")
        if method == "POST" and isinstance(resource, Collection):
            of = getattr(resource, "of", None)
            if of is not None:
                return f"Create {_short_name(of).replace('_', ' ')}"
            return f"Create an item of {name}"
        verb = {
            "GET": "List" if isinstance(resource, Collection) else "Get",
            "PUT": "Replace",
            "PATCH": "Update",
            "DELETE": "Delete",
            "POST": "Post to",
        }[method]
        return f"{verb} {name}"

    def _operation_id(self, resource: Any, method: str) -> str:
        verb = {
            "GET": "list" if isinstance(resource, Collection) else "get",
            "PUT": "replace",
            "POST": "create",
            "PATCH": "update",
            "DELETE": "delete",
        }[method]
        target = resource
        if method == "POST" and isinstance(resource, Collection):
            of = getattr(resource, "of", None)
            if of is not None and _short_name(of) != _short_name(resource):
                target = of
        for name in (_short_name(target), _long_name(target)):
            candidate = f"{verb}_{name}"
            if candidate not in self.operation_ids:
                self.operation_ids.add(candidate)
                return candidate
        for count in itertools.count(2):  # pragma: no branch
            candidate = f"{verb}_{_long_name(target)}_{count}"
            if candidate not in self.operation_ids:
                self.operation_ids.add(candidate)
                return candidate
        raise AssertionError("unreachable")  # pragma: no cover

    def _header_parameters(self, route: Any, method: str) -> list[dict[str, Any]]:
        if method == "GET" and getattr(self.app, "etags", False):
            return [
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "description": "Answer 304 Not Modified if the current "
                    "representation has one of these entity tags.",
                    "schema": {"type": "string"},
                }
            ]
        if method in _UNSAFE_METHODS:
            required = bool(route.require_if_match)
            return [
                {
                    "name": "If-Match",
                    "in": "header",
                    "required": required,
                    "description": "Change the resource only if its current "
                    "representation has this entity tag (its ETag), so no "
                    "change made since it was read is lost.",
                    "schema": {"type": "string"},
                }
            ]
        return []

    # -- request bodies -----------------------------------------------------

    def _plan(self, resource: Any) -> Any:
        for validator in self.validators:
            rules = validator.rules_for(resource)
            if rules is not None:
                return rules
        return None

    def _request_body(self, route: Any, method: str) -> dict[str, Any] | None:
        types = _content_types(route.parser, None)
        if not types:
            return None
        partial = method == "PATCH"
        plan = self._plan(route.resource)
        schema = body_schema(plan, partial)
        if plan is not None and schema.get("properties") is not None:
            schema = self._named_schema(route.resource, schema, partial)
        content = {
            mime: {"schema": schema if _is_json(mime) or mime == "*/*" else {}}
            for mime in types
        }
        required = partial or bool(plan is not None and plan.required)
        return {"required": required, "content": content}

    def _named_schema(
        self, resource: Any, schema: dict[str, Any], partial: bool
    ) -> dict[str, Any]:
        """Put a body schema in the components; return a reference to it."""
        key = json.dumps(schema, sort_keys=True, default=str)
        name = self._schema_names.get(key)
        if name is None:
            owner = resource
            while isinstance(owner, Collection) and self._inherits(owner):
                owner = owner.of
            base = f"{_short_name(owner)}_{'patch' if partial else 'input'}"
            name = base
            count = 1
            while name in self.schemas:
                count += 1
                name = f"{base}_{count}"
            self.schemas[name] = schema
            self._schema_names[key] = name
        return {"$ref": f"#/components/schemas/{name}"}

    def _inherits(self, collection: Any) -> bool:
        """Whether a collection's validation rules are its item's."""
        for validator in self.validators:
            rules = validator.rules_for(collection)
            if rules is not None and rules.source is collection:
                return False  # rules of its own
            if not validator.include_collections:
                return False
        return getattr(collection, "of", None) is not None

    # -- responses ------------------------------------------------------------

    def _output_content(self, route: Any, schema: dict[str, Any]) -> dict[str, Any]:
        types = _content_types(route.formatter, "text/plain")
        return {
            mime: {"schema": schema if _is_json(mime) or mime == "*/*" else {}}
            for mime in types
        }

    def _data_schema(self, resource: Any) -> dict[str, Any]:
        if isinstance(resource, Collection):
            items: dict[str, Any] = {}
            if getattr(resource, "include_urls", False):
                items = {
                    "type": "object",
                    "properties": {
                        "url": {"type": "string", "format": "uri-reference"}
                    },
                }
            return {"type": "array", "items": items}
        return {}

    def _responses(self, route: Any, method: str, path: str) -> dict[str, Any]:
        resource = route.resource
        responses: dict[str, Any] = {}
        etags = bool(getattr(self.app, "etags", False))
        if method == "GET":
            ok: dict[str, Any] = {"description": "The resource's data."}
            headers: dict[str, Any] = {}
            if etags:
                headers["ETag"] = {
                    "description": "The entity tag of this representation "
                    "(send it in If-Match to change the resource safely).",
                    "schema": {"type": "string"},
                }
            spec = _query_spec(resource)
            if spec is not None:
                headers.update(_query_headers(spec))
                self._error(responses, "BadRequest")
            if headers:
                ok["headers"] = headers
            ok["content"] = self._output_content(route, self._data_schema(resource))
            responses["200"] = ok
            if etags:
                responses["304"] = {
                    "description": "Not Modified: the representation still has "
                    "the entity tag sent in If-None-Match."
                }
        elif method == "POST" and isinstance(resource, Collection):
            created: dict[str, Any] = {
                "description": "Created: the body is the new item's token (its "
                "identifying fields)."
            }
            of = getattr(resource, "of", None)
            if of is not None and id(of) in self.routed:
                created["headers"] = {
                    "Location": {
                        "description": "The URL of the new item.",
                        "schema": {"type": "string", "format": "uri"},
                    }
                }
            created["content"] = self._output_content(route, {"type": "object"})
            responses["201"] = created
        else:
            done = self._output_content(route, {})
            # An operation that returns nothing answers an empty text/plain
            # body (see Dispatcher._respond): document that too.
            done.setdefault(
                "text/plain", {"schema": {"type": "string", "maxLength": 0}}
            )
            responses["200"] = {
                "description": "Done. The body holds what the operation returned, "
                "if anything (it is empty otherwise, as text/plain).",
                "content": done,
            }
        if method in _BODY_METHODS:
            self._error(responses, "BadRequest")
        if self._requirements(resource, method):
            self._error(responses, "Unauthorized")
            if self._scoped(resource):
                self._error(responses, "Forbidden")
        if "{" in path or getattr(resource, "lazy", False):
            self._error(responses, "NotFound")
        if method != "GET" and getattr(resource, "lazy", False):
            self._error(responses, "MethodNotAllowed")
        if isinstance(route.formatter, Formatter):
            self._error(responses, "NotAcceptable")
        if method in _UNSAFE_METHODS:
            self._error(responses, "PreconditionFailed")
            if route.require_if_match:
                self._error(responses, "PreconditionRequired")
        if method in _BODY_METHODS:
            self._error(responses, "ContentTooLarge")
            self._error(responses, "UnsupportedMediaType")
        if self._limits(resource):
            self._error(responses, "TooManyRequests")
        for status, response in declared_responses(resource).get(method, {}).items():
            if response is None:
                responses.pop(status, None)
                continue
            responses[status] = response
        for response in responses.values():
            # The standard error responses referred to (by Findig or by the
            # resource's declaration) go in the components.
            ref = response.get("$ref")
            if isinstance(ref, str) and ref.startswith(_RESPONSES_REF):
                self.used_responses.add(ref[len(_RESPONSES_REF) :])
        return dict(sorted(responses.items()))

    # -- security -------------------------------------------------------------

    def _security_schemes(self) -> None:
        taken: set[str] = set()
        for protector in self.protectors:
            base, scheme = _scheme_of(protector)
            name, count = base, 1
            while name in taken:
                count += 1
                name = f"{base}{count}"
            taken.add(name)
            self.schemes.append((protector, name, scheme))

    def _guard(self, protector: Any, resource: Any) -> list[frozenset[str]] | None:
        guards: list[frozenset[str]] | None = protector.guards(resource)
        if guards is None:
            return None
        return guards or [frozenset()]

    def _scoped(self, resource: Any) -> bool:
        for protector, _, _ in self.schemes:
            alternatives = self._guard(protector, resource)
            if alternatives and any(alternatives):
                return True
        return False

    def _requirements(self, resource: Any, method: str) -> list[dict[str, list[str]]]:
        perms = _PERMISSIONS[method]
        per_protector: list[list[dict[str, list[str]]]] = []
        for protector, name, scheme in self.schemes:
            alternatives = self._guard(protector, resource)
            if alternatives is None:
                continue
            options = []
            for alternative in alternatives:
                scopes = sorted(f"{scope}+{perms}" for scope in alternative)
                _declare_scopes(scheme, scopes)
                options.append({name: scopes})
            per_protector.append(options)
        if not per_protector:
            return []
        requirements = []
        for combination in itertools.product(*per_protector):
            merged: dict[str, list[str]] = {}
            for requirement in combination:
                merged.update(requirement)
            requirements.append(merged)
            if len(requirements) >= _MAX_REQUIREMENTS:
                break
        return requirements

    # -- rate limits ------------------------------------------------------------

    def _limits(self, resource: Any) -> list[dict[str, Any]]:
        limits = [dict(limit) for limit in self.rate_limits.get(id(resource), ())]
        for counter in self.counters:
            window = _window_of(counter)
            sources = [("app", counter.rules())]
            if resource is not None:
                sources.append(("resource", counter.rules(resource)))
            for scope, rules in sources:
                for rule in rules:
                    limit = rule.limit
                    if limit is None:
                        continue
                    entry: dict[str, Any] = {"limit": limit}
                    if window is not None:
                        entry["window"] = window
                    entry["scope"] = scope
                    per = [str(name) for name in rule.partition_spec]
                    if per:
                        entry["per"] = per
                    if entry not in limits:
                        limits.append(entry)
        return limits


# -- query parameters of collections ----------------------------------------------


def _query_spec(resource: Any) -> Any:
    """The query parameters a collection declares, or ``None``."""
    if not isinstance(resource, Collection):
        return None
    return getattr(resource, "query_spec", None)


def _query_parameters(spec: Any) -> list[dict[str, Any]]:
    """The OpenAPI parameters of a collection's query string (see
    :mod:`findig.querying`)."""
    if spec is None:
        return []
    parameters: list[dict[str, Any]] = []
    for field in spec.filterable:
        parameters.append(
            {
                "name": field,
                "in": "query",
                "required": False,
                "description": f"Only the items whose {field} equals this value "
                "(converted to the field's type: true or false for booleans, "
                "ISO 8601 for dates; null for items without the field).",
                "schema": {"type": "string"},
            }
        )
    if spec.sortable:
        names = ", ".join(spec.sortable)
        one = "-?(?:" + "|".join(re.escape(name) for name in spec.sortable) + ")"
        parameters.append(
            {
                "name": "sort",
                "in": "query",
                "required": False,
                "description": "The fields to sort by, comma-separated, the "
                "most significant first; a leading - sorts in descending order. "
                f"Sortable fields: {names}. Items without a field come last.",
                "schema": {"type": "string", "pattern": f"^{one}(?:,{one})*$"},
                "example": ",".join(
                    ("-" if index else "") + name
                    for index, name in enumerate(spec.sortable[:2])
                ),
            }
        )
    if spec.paged:
        limit: dict[str, Any] = {
            "type": "integer",
            "minimum": 1,
            "maximum": spec.max_page_size,
        }
        if spec.page_size is not None:
            limit["default"] = spec.page_size
            whole = ""
        else:
            whole = " Without it, the whole collection is sent (or, after an "
            whole += "offset, a page of the maximum size)."
        parameters.append(
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "The largest number of items to send (a page)." + whole,
                "schema": limit,
            }
        )
        parameters.append(
            {
                "name": "offset",
                "in": "query",
                "required": False,
                "description": "The number of items to skip. The Link header "
                "of each page points to the next and previous ones.",
                "schema": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": _MAX_OFFSET,
                    "default": 0,
                },
            }
        )
    parameters.append(
        {
            "name": "count",
            "in": "query",
            "required": False,
            "description": "Whether to count the items that match the filters "
            "(sent as X-Total-Count).",
            "schema": {"type": "boolean", "default": False},
        }
    )
    return parameters


def _query_headers(spec: Any) -> dict[str, Any]:
    headers: dict[str, Any] = {}
    if spec.paged:
        headers["Link"] = {
            "description": 'Links (RFC 8288) to the next page (rel="next"), when '
            'more items follow, and to the previous one (rel="prev").',
            "schema": {"type": "string"},
        }
    headers["X-Total-Count"] = {
        "description": "The number of items that match the filters, when "
        "count=true is asked for.",
        "schema": {"type": "integer", "minimum": 0},
    }
    return headers


def _window_of(counter: Any) -> int | float | None:
    duration = getattr(counter, "duration", -1)
    seconds: float
    if hasattr(duration, "total_seconds"):
        seconds = duration.total_seconds()
    elif isinstance(duration, (int, float)) and not isinstance(duration, bool):
        seconds = float(duration)
    else:
        return None
    if seconds <= 0:
        return None
    return int(seconds) if seconds.is_integer() else seconds


def _scheme_of(protector: Any) -> tuple[str, dict[str, Any]]:
    """The security scheme (name and object) of a protector."""
    from .protector import BasicProtector

    if isinstance(protector, BasicProtector):
        realm = getattr(protector, "realm", None)
        description = "HTTP Basic authentication"
        if realm:
            description += f" (realm {realm!r})"
        return "basicAuth", {
            "type": "http",
            "scheme": "basic",
            "description": description + ".",
        }
    gatekeeper = getattr(protector, "gatekeeper", None)
    own = getattr(gatekeeper, "openapi_scheme", None)
    if isinstance(own, Mapping) and isinstance(own.get("type"), str):
        scheme = copy.deepcopy(dict(own))
        kind = scheme["type"]
        if kind == "http":
            name = f"{str(scheme.get('scheme', 'http')).lower()}Auth"
        else:
            name = _identifier(kind)
        return name, scheme
    challenge = str(getattr(gatekeeper, "challenge", "") or "Bearer")
    auth = (challenge.split(None, 1) or ["Bearer"])[0].lower()
    if not re.fullmatch(r"[a-z0-9!#$%&'*+.^_`|~-]+", auth):
        auth = "bearer"
    scheme = {
        "type": "http",
        "scheme": auth,
        "description": "Scopes are written name+permissions: c (create: POST, "
        "PUT), r (read: GET), u (update: PUT, PATCH), d (delete: DELETE); a "
        "scope also covers its sub-scopes (name/sub).",
    }
    if auth == "bearer":
        scheme["bearerFormat"] = "token"
    return f"{_identifier(auth)}Auth", scheme


def _declare_scopes(scheme: dict[str, Any], scopes: list[str]) -> None:
    """Add scopes to an OAuth 2 scheme's flows, where they must be listed."""
    if scheme.get("type") != "oauth2":
        return
    flows = scheme.get("flows")
    if not isinstance(flows, dict):
        return
    for flow in flows.values():
        if isinstance(flow, dict):
            listed = flow.setdefault("scopes", {})
            if isinstance(listed, dict):
                for scope in scopes:
                    listed.setdefault(scope, f"Scope {scope}")
