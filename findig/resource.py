"""Classes for representing API resources."""

from __future__ import annotations

import uuid
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from werkzeug.exceptions import BadRequest, MethodNotAllowed
from werkzeug.routing import BuildError

from .content import ErrorHandler, Formatter, Parser
from .context import _state, current_state
from .data_model import AbstractDataModel, DataModel
from .querying import QuerySpec
from .utils import ArgumentBinder

if TYPE_CHECKING:
    from .wrappers import Request

__all__ = ["AbstractResource", "Collection", "Resource", "Result"]

R = TypeVar("R", bound="Resource")

_READ_METHODS = frozenset({"GET", "HEAD"})


class Result:
    """Resource data together with the status and headers to answer with.

    A resource function or :meth:`AbstractResource.handle_request` may
    return a :class:`Result` instead of plain data; the data is still
    formatted by the negotiated formatter.

    :param data: The resource data.
    :param status: The HTTP status code.
    :param headers: Extra response headers, as ``(name, value)`` pairs.
    """

    __slots__ = ("data", "headers", "status")

    def __init__(
        self,
        data: Any,
        status: int = 200,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.data = data
        self.status = status
        self.headers = list(headers)

    def __repr__(self) -> str:
        return f"<Result {self.status} {self.data!r}>"


class AbstractResource(metaclass=ABCMeta):
    """A very low-level web resource handled by Findig.

    Findig applications are a collection of routed resources, each
    responsible for the requests to a set of URLs. Besides the methods here,
    a resource has a :attr:`name`, a string that identifies it uniquely
    within the app, and may have ``formatter``, ``parser`` and
    ``error_handler`` attributes, which Findig uses in preference to the
    app's.
    """

    name: str
    #: The names of the URL variables in the rules routing to this resource;
    #: set by the dispatcher when the app's URL map is built.
    url_arguments: frozenset[str] = frozenset()

    def build_url(self, values: Mapping[str, Any], external: bool = False) -> str:
        """Build a URL for this resource.

        The URL is built from the current request's environ, so this must be
        called in a request context; the resource must be routed to in the
        current app, and *values* must hold every variable of its URL rule.
        Values that are not URL variables of the resource are ignored.

        :param values: Values for the variables in the resource's URL rule.
        :param external: Build an absolute URL (scheme and host included).
        :returns: The URL.
        :raises werkzeug.routing.BuildError: if no rule can be built.

        >>> from findig import App
        >>> app = App()
        >>> @app.route("/index/<int:num>")
        ... @app.resource
        ... def item(num):
        ...     return {}
        ...
        >>> with app.test_context(path="/index/1"):
        ...     item.build_url(dict(num=4))
        ...
        '/index/4'
        """
        args = self.url_arguments
        values = {k: v for k, v in values.items() if k in args}
        state = current_state()
        if state is None:
            raise RuntimeError("build_url() needs an active request context")
        path = state.app.build_path(self.name, values)
        root = state.request.host_url if external else "/"
        script_name = state.environ.get("SCRIPT_NAME", "").strip("/")
        if script_name:
            root = f"{root}{script_name}/"
        return f"{root}{path.lstrip('/')}"

    @abstractmethod
    def get_supported_methods(self) -> set[str]:
        """Return the set of HTTP methods the resource supports."""

    @abstractmethod
    def handle_request(self, request: Request, url_values: Mapping[str, Any]) -> Any:
        """Handle a request to one of the resource's URLs.

        :param request: The request (the same as :data:`findig.context.request`).
        :param url_values: The variables parsed from the URL by the matching
            rule; for a rule ``/items/<int:id>`` and a request to
            ``/items/43``, ``{'id': 43}``.
        :returns: Data to turn into the response (usually a mapping), a
            :class:`Result`, or a complete WSGI response object.
        """


class Resource(AbstractResource):
    """A concrete :class:`AbstractResource` wrapping a resource function.

    ``Resource(wrapped=None, lazy=None, name=None, model=None,
    formatter=None, parser=None, error_handler=None)``; keyword arguments
    only.

    :param wrapped: The resource function; it returns the resource's data and
        takes a named parameter for each URL variable.
    :param lazy: Whether the function returns lazy data (such as a data set
        or a record) that is not fetched when the function is called. Findig
        then calls the function once when the app's routes are built (with
        placeholder arguments) and derives data operations from what it
        returns.
    :param name: A name that identifies the resource uniquely. Generated
        when not given.
    :param model: A data model (:class:`~findig.data_model.AbstractDataModel`);
        by default an empty :class:`~findig.data_model.DataModel`.
    :param formatter: A formatter for the resource's data; by default a
        :class:`~findig.content.Formatter` whose handlers take precedence
        over the app's.
    :param parser: A parser for request content; by default a
        :class:`~findig.content.Parser` consulted before the app's.
    :param error_handler: An error handler; by default a
        :class:`~findig.content.ErrorHandler` consulted before the app's.
    :param require_if_match: Refuse PUT, PATCH and DELETE requests without an
        ``If-Match`` header (428), so that no client overwrites a change it
        has not seen. See :mod:`findig.conditional`.

    During a request, ``resource.<variable>`` is the value of that URL
    variable in the current request (attributes of the resource itself, such
    as ``name``, take precedence).
    """

    def __init__(
        self,
        *,
        wrapped: Callable[..., Any] | None = None,
        lazy: bool | None = None,
        name: str | None = None,
        model: AbstractDataModel | None = None,
        formatter: Callable[[Any], tuple[str, Any]] | None = None,
        parser: Callable[..., tuple[str, Any]] | None = None,
        error_handler: Callable[[BaseException], Any] | None = None,
        require_if_match: bool = False,
    ) -> None:
        if wrapped is None:
            wrapped = _no_data
        self.wrapped = wrapped
        self.lazy = bool(lazy)
        self.name = name if name is not None else f"resource-{uuid.uuid4().hex}"
        self.model: Any = model if model is not None else DataModel()
        self.formatter: Any = formatter if formatter is not None else Formatter()
        self.parser: Any = parser if parser is not None else Parser()
        self.error_handler: Any = (
            error_handler if error_handler is not None else ErrorHandler()
        )
        self.require_if_match = require_if_match
        self.__doc__ = getattr(wrapped, "__doc__", None)
        self._read = ArgumentBinder(wrapped)
        self._operations: dict[str, ArgumentBinder] | None = None
        self._lazy_operations: frozenset[str] = frozenset()
        self._composed: dict[str, Any] | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.wrapped(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        # Only called for names that are not attributes: URL variables.
        if not name.startswith("_"):
            state = _state.get(None)
            if state is not None:
                values = getattr(state, "url_values", None)
                if values is not None and name in values:
                    return values[name]
        raise AttributeError(
            f"{type(self).__name__} {self.__dict__.get('name')!r} has no "
            f"attribute {name!r} (URL variables are only bound during a request)"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    def collection(self, wrapped: Callable[..., Any] | None = None, **args: Any) -> Any:
        """Create a :class:`Collection` of this resource.

        :param wrapped: The collection's resource function, which returns an
            iterable of item data. Keyword arguments go to the
            :class:`Collection` constructor; the name defaults to
            ``{module}.{name}`` of the function.

        Usable as a decorator, with or without arguments::

            @resource.collection(include_urls=True)
            def mycollection():
                ...
        """
        if wrapped is None:
            return lambda func: self.collection(func, **args)
        args.setdefault("name", _function_name(wrapped))
        return Collection(self, wrapped=wrapped, **args)

    # -- data model -------------------------------------------------------

    def compose_model(self, wrapper_args: Mapping[str, Any] | None = None) -> Any:
        """Make the resource's model: the lazy data handler's operations
        combined with the resource's own model (which wins).

        :param wrapper_args: Arguments to call the resource function with to
            obtain the lazy data handler. If omitted, placeholder values are
            used and the model returned must not be used to handle data.
        :returns: A mapping of data operation names to functions.

        This is an internal method.
        """
        model = dict(self.model.items())
        if self.lazy:
            values = dict(wrapper_args or {})
            for arg in self.url_arguments:
                values.setdefault(arg, "0")
            source = self._read(values=values)
            for op, func in _data_operations(source).items():
                model.setdefault(op, func)
        return model

    def get_supported_methods(self, model: Mapping[str, Any] | None = None) -> set[str]:
        """Return the set of HTTP methods the resource supports.

        :param model: The data model that decides the methods; by default the
            composed model of :meth:`compose_model`.
        """
        if model is None:
            model = (
                self._composed if self._composed is not None else self.compose_model()
            )
        methods = {"GET", "HEAD"}
        if "write" in model:
            methods.update(("PUT", "PATCH"))
        if "update" in model:
            methods.add("PATCH")
        if "delete" in model:
            methods.add("DELETE")
        return methods

    def prepare(self) -> None:
        """Precompute how data operations are called (at route building).

        This is an internal method; it probes lazy resources.
        """
        try:
            composed = self.compose_model()
        except Exception as exc:
            raise RuntimeError(
                f"Could not derive the data model of lazy resource {self.name!r}: "
                f"calling its function with placeholder arguments raised {exc!r}"
            ) from exc
        own = dict(self.model.items())
        self._composed = composed
        self._operations = {op: ArgumentBinder(f) for op, f in own.items()}
        self._lazy_operations = frozenset(composed) - frozenset(own)

    def _operation(self, op: str, url_values: Mapping[str, Any]) -> Callable[..., Any]:
        operations = self._operations
        if operations is None:
            self.prepare()
            operations = self._operations
            assert operations is not None
        binder = operations.get(op)
        if binder is not None:
            return lambda *args: binder(*args, values=url_values)
        if op in self._lazy_operations:
            source = self._read(values=url_values)
            func = _data_operations(source).get(op)
            if func is not None:
                return func
        raise MethodNotAllowed(valid_methods=sorted(self.get_supported_methods()))

    # -- requests ---------------------------------------------------------

    def current_data(self, url_values: Mapping[str, Any]) -> Any:
        """Read the resource's current data, as a GET would.

        :param url_values: The request's URL variables.
        """
        return self._read(values=url_values)

    def handle_request(self, request: Request, wrapper_args: Mapping[str, Any]) -> Any:
        """Dispatch a request to the resource's data operations.

        See :meth:`AbstractResource.handle_request`.
        """
        method = request.method
        if method in _READ_METHODS:
            return self.current_data(wrapper_args)
        if method == "PUT":
            return self._operation("write", wrapper_args)(request.input)
        if method == "DELETE":
            return self._operation("delete", wrapper_args)()
        if method == "PATCH":
            return self._patch(request.input, wrapper_args)
        raise MethodNotAllowed(valid_methods=sorted(self.get_supported_methods()))

    def _patch(self, patch: Any, url_values: Mapping[str, Any]) -> Any:
        if not isinstance(patch, Mapping):
            raise BadRequest("A PATCH body must be an object (JSON merge patch).")
        if "update" in self._lazy_operations or (
            self._operations is not None and "update" in self._operations
        ):
            return self._operation("update", url_values)(patch)
        write = self._operation("write", url_values)
        current = self.current_data(url_values)
        if not isinstance(current, Mapping):
            raise BadRequest("This resource's data cannot be patched.")
        return write(merge_patch(current, patch))


class Collection(Resource):
    """A :class:`Resource` that is a collection of other resources.

    :param of: The resource collected.
    :param include_urls: If ``True``, a ``url`` field pointing to each item
        is added to the items the collection returns. The items must carry
        enough fields to build their URL (for ``/items/<id>``, an ``id``).
    :param bindargs: Maps item field names to URL variable names, for items
        whose fields are named differently from the item URL's variables:
        ``{'user_id': 'id'}``.
    :param filterable: Fields clients may filter on with ``?field=value``.
    :param sortable: Fields clients may sort on with ``?sort=field,-other``.
    :param page_size: The number of items per page when the client gives
        no ``limit`` (``None``: the whole collection).
    :param max_page_size: The largest ``limit`` a client may ask for (by
        default ``page_size``). Giving either size lets clients page
        through the collection with ``?limit=&offset=``.

    Other keyword arguments are those of :class:`Resource`. A collection
    supports POST when its model has a ``make`` operation; the created item
    is answered with 201 and a ``Location`` header built from the token that
    ``make`` returns.

    A collection that declares query parameters (``filterable``,
    ``sortable`` or a page size) answers GET with the items its function
    returns, filtered, sorted and paged as the query string asks, with
    ``Link`` headers to the next and previous pages and, for
    ``?count=true``, an ``X-Total-Count`` header; it refuses any other
    query parameter with 400 (:class:`findig.querying.InvalidQuery`). See
    :mod:`findig.querying`. A collection that declares none ignores query
    strings.

    :raises ValueError: if the query declarations are invalid (see
        :class:`findig.querying.QuerySpec`).
    """

    def __init__(
        self,
        of: Resource,
        include_urls: bool = False,
        bindargs: Mapping[str, str] | None = None,
        *,
        filterable: Iterable[str] = (),
        sortable: Iterable[str] = (),
        page_size: int | None = None,
        max_page_size: int | None = None,
        **keywords: Any,
    ) -> None:
        super().__init__(**keywords)
        self.of = of
        self.include_urls = include_urls
        self.bindargs = dict(bindargs or {})
        spec = QuerySpec(filterable, sortable, page_size, max_page_size)
        #: The query parameters the collection accepts
        #: (a :class:`findig.querying.QuerySpec`), or ``None`` if it
        #: declares none.
        self.query_spec: QuerySpec | None = spec if spec.enabled else None

    def get_supported_methods(self, model: Mapping[str, Any] | None = None) -> set[str]:
        if model is None:
            model = (
                self._composed if self._composed is not None else self.compose_model()
            )
        methods = super().get_supported_methods(model)
        if "make" in model:
            methods.add("POST")
        return methods

    def handle_request(self, request: Request, wrapper_args: Mapping[str, Any]) -> Any:
        method = request.method
        if method == "POST":
            token = self._operation("make", wrapper_args)(request.input)
            headers = []
            if isinstance(token, Mapping):
                try:
                    location = self.of.build_url(self._item_values(token), True)
                except BuildError:
                    pass
                else:
                    headers.append(("Location", location))
            return Result(token, 201, headers)
        spec = self.query_spec
        if spec is not None and method in _READ_METHODS:
            return self._query(spec, request, wrapper_args)
        data = super().handle_request(request, wrapper_args)
        if self.include_urls and method in _READ_METHODS:
            return self._with_urls(data)
        return data

    def _query(
        self, spec: QuerySpec, request: Request, url_values: Mapping[str, Any]
    ) -> Any:
        """Answer a read with the items the query string asks for."""
        # The query string is checked before the resource function runs.
        query = spec.parse(request.args)
        page = query.run(self.current_data(url_values))
        items = page.items
        if self.include_urls:
            urls = self._with_urls(items)
            items = list(urls) if isinstance(items, list) else urls
        headers = page.headers(request)
        return Result(items, 200, headers) if headers else items

    def _item_values(self, item: Mapping[str, Any]) -> dict[str, Any]:
        bind = self.bindargs
        return {bind.get(k, k): v for k, v in item.items()}

    def _with_urls(self, items: Iterable[Any]) -> Iterable[Any]:
        for item in items:
            if isinstance(item, Mapping):
                item = dict(item)
                item["url"] = self.of.build_url(self._item_values(item))
            yield item


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7396) to *target*, returning the result.

    >>> merge_patch({"a": 1, "b": {"c": 2}}, {"b": {"c": None, "d": 3}})
    {'a': 1, 'b': {'d': 3}}
    """
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _data_operations(source: Any) -> Mapping[str, Callable[..., Any]]:
    """The data operations a lazy resource's data source offers."""
    operations = getattr(source, "data_operations", None)
    return operations() if callable(operations) else {}


def _no_data() -> None:
    return None


def _function_name(func: Callable[..., Any]) -> str:
    module = getattr(func, "__module__", None) or "findig"
    return f"{module}.{getattr(func, '__qualname__', repr(func))}"
