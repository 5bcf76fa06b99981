"""Collections queried from the query string: filters, sorting and pages.

A :class:`~findig.resource.Collection` declares what its clients may ask
for, and Findig maps the query string onto the data set that the
collection's function returns::

    @app.route("/tasks/")
    @task.collection(
        lazy=True,
        filterable=("done", "owner"),
        sortable=("due", "title"),
        page_size=20,
        max_page_size=100,
    )
    def tasks():
        return SQLASet(Task)

``GET /tasks/?done=false&sort=-due,title&limit=10&offset=20&count=true``
then answers ``tasks().filtered(done="false")``, sorted by ``due``
(descending) then ``title``, ``limit(10, offset=20)`` of that, with a
``Link`` header pointing to the next and previous pages and an
``X-Total-Count`` header.

The parameters, all optional, each given at most once:

- ``<field>=<value>`` for each *filterable* field: only items whose field
  equals the value. Values are strings and are converted to the type of
  the field by the data set, as :meth:`fetch
  <findig.tools.dataset.AbstractDataSet.fetch>` does with URL variables
  (``done=true``, ``rank=2``, ``due=2024-05-01``); the value ``null``
  matches items that lack the field (or hold ``None`` in it).
- ``sort=<field>,-<field>,...``: *sortable* fields in order of priority,
  each ascending or, with a leading ``-``, descending. Items that lack a
  field come last in either direction.
- ``limit=<n>`` and ``offset=<n>`` (when the collection is *paged*): at
  most ``n`` items (from 1 to ``max_page_size``), after skipping
  ``offset`` items.
- ``count=true``: add the number of items that match the filters, whatever
  the page, as ``X-Total-Count``. It is never computed otherwise.

Filters apply first, then the sort, then the page. Anything else (an
unknown parameter, a malformed or out-of-range value, a sort on a field
that is not sortable, a repeated parameter) is refused with
:class:`InvalidQuery` (``400 Bad Request``), which names the parameters.

A collection function may return any object with ``filtered``, ``sorted``
and ``limit`` methods (a data set of :mod:`findig.tools.dataset` or of
:mod:`findig.extras`), which then does the work (in SQL for
:class:`~findig.extras.sql.SQLASet`). Anything else iterable (a list of
dicts, a generator) is queried in Python with the same rules.

This module also holds the matching rules that every data set shares
(how a search value matches a field, how records are sorted), so that the
Python fallback and the data sets agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode
from uuid import UUID

from werkzeug.exceptions import BadRequest

from .utils import extremum

if TYPE_CHECKING:
    from werkzeug.datastructures import MultiDict

    from .wrappers import Request

__all__ = [
    "MAX_OFFSET",
    "RESERVED_PARAMETERS",
    "InvalidQuery",
    "Page",
    "Query",
    "QuerySpec",
    "QueryableSet",
]

#: The query parameters that are not filters; no filterable field may be
#: named after one of them.
RESERVED_PARAMETERS = frozenset({"count", "limit", "offset", "sort"})
#: The largest offset accepted (so that every back-end can take it).
MAX_OFFSET = 2**53 - 1
#: How many problems an :class:`InvalidQuery` lists at most, and how many
#: characters of a client's parameter name it repeats.
_MAX_PROBLEMS = 20
_MAX_NAME = 64

_DIGITS = re.compile(r"[0-9]{1,16}")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


# -- matching rules shared by the data sets (see findig.tools.dataset) --------

_MISSING: Any = object()
_INT_RE = re.compile(r"[+-]?\d{1,40}")
_BOOLS = {"true": True, "false": False}


def _convert(text: str, python_type: type) -> Any:
    """Convert *text* (usually a URL variable) to *python_type*.

    :returns: The converted value, or ``_MISSING`` when *text* is no value
        of that type (or the type is not one Findig converts to).
    """
    try:
        if issubclass(python_type, bool):
            return _BOOLS.get(text.lower(), _MISSING)
        if issubclass(python_type, int):
            return int(text) if _INT_RE.fullmatch(text) else _MISSING
        if issubclass(python_type, float):
            return float(text) if len(text) <= 64 else _MISSING
        if issubclass(python_type, Decimal):
            return Decimal(text) if len(text) <= 64 else _MISSING
        if issubclass(python_type, UUID):
            return UUID(text)
        if issubclass(python_type, datetime):
            return datetime.fromisoformat(text)
        if issubclass(python_type, date):
            return date.fromisoformat(text)
        if issubclass(python_type, time):
            return time.fromisoformat(text)
    except (ValueError, InvalidOperation):
        return _MISSING
    return _MISSING


def _equals(value: Any, expected: Any) -> bool:
    """Whether a field's *value* matches the *expected* search value."""
    if value == expected:
        return True
    if isinstance(expected, str) and value is not None and not isinstance(value, str):
        converted = _convert(expected, type(value))
        return converted is not _MISSING and bool(converted == value)
    return False


def _matches(record: Mapping[str, Any], spec: Mapping[str, Any]) -> bool:
    """Whether *record* satisfies every item of the search *spec*."""
    for field, expected in spec.items():
        value = record.get(field)
        if callable(expected):
            if not expected(value):
                return False
        elif not _equals(value, expected):
            return False
    return True


def _field_sort_key(
    fields: tuple[str, ...], descending: bool
) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """A sort key that orders records by *fields*, missing values last."""
    # With reverse=True the smallest keys come last, so a missing field is
    # the smallest possible value then, and the largest otherwise.
    last = extremum(-1 if descending else 1)

    def key(record: Mapping[str, Any]) -> tuple[Any, ...]:
        values = []
        for field in fields:
            value = record.get(field)
            values.append(last if value is None else value)
        return tuple(values)

    return key


# -- errors ----------------------------------------------------------------------


class InvalidQuery(BadRequest):
    """The query string of a request to a collection is not acceptable.

    A :class:`werkzeug.exceptions.BadRequest` (400) whose description says
    what is wrong with each parameter, and whose ``error_info`` names them
    (the JSON app adds it to the error body as ``"error"``)::

        {"type": "invalid_query", "parameters": ["limit", "colour"]}

    :param problems: ``(parameter, message)`` pairs, one per problem.
    :param accepted: The parameters the collection accepts, to list in the
        description (when a parameter is unknown).

    :ivar parameters: The names of the offending parameters, in order.
    """

    error_info: dict[str, Any]

    def __init__(
        self, problems: list[tuple[str, str]], accepted: Iterable[str] | None = None
    ) -> None:
        names: list[str] = []
        for name, _ in problems:
            shown = _shorten(name)
            if shown not in names:
                names.append(shown)
        messages = [message for _, message in problems[:_MAX_PROBLEMS]]
        if len(problems) > _MAX_PROBLEMS:
            messages.append(f"and {len(problems) - _MAX_PROBLEMS} more problems")
        description = "Invalid query string: " + "; ".join(messages) + "."
        if accepted is not None:
            names_accepted = sorted(accepted)
            if names_accepted:
                description += f" This collection accepts: {', '.join(names_accepted)}."
            else:
                description += " This collection accepts no query parameters."
        super().__init__(description)
        self.parameters = names[:_MAX_PROBLEMS]
        self.error_info = {"type": "invalid_query", "parameters": self.parameters}


def _shorten(text: str) -> str:
    return text if len(text) <= _MAX_NAME else text[: _MAX_NAME - 3] + "..."


def _quoted(text: str) -> str:
    return repr(_shorten(text))


# -- declarations ----------------------------------------------------------------


class QueryableSet(Protocol):
    """What a collection function's data must offer to be queried in place.

    The data sets of :mod:`findig.tools.dataset` and :mod:`findig.extras`
    have these methods; anything else iterable is queried in Python.
    ``sorted`` must be stable (ties keep their order), which lets mixed
    directions be applied as successive sorts, the least significant
    first. A ``count()`` method, when present, counts the items (the
    fallback iterates over them).
    """

    def __iter__(self) -> Iterator[Any]: ...

    def filtered(self, **search_spec: Any) -> QueryableSet: ...

    def sorted(self, *sort_spec: Any, descending: bool = False) -> QueryableSet: ...

    def limit(self, count: int, offset: int = 0) -> QueryableSet: ...


class QuerySpec:
    """The query parameters a collection accepts (see the module's text).

    A :class:`~findig.resource.Collection` makes one from its arguments of
    the same names; it is checked once, when the collection is created.

    :param filterable: Names of fields that may be filtered on
        (``?done=true``).
    :param sortable: Names of fields that may be sorted on
        (``?sort=due,-title``).
    :param page_size: The number of items per page when the client gives no
        ``limit``; ``None`` sends the whole collection then (unless an
        ``offset`` is given: the page is then ``max_page_size`` items).
    :param max_page_size: The largest ``limit`` a client may ask for; by
        default ``page_size``. Giving either makes the collection *paged*:
        it accepts ``limit`` and ``offset``.
    :raises ValueError: for a name that is empty, repeated where it cannot
        be, or reserved (``count``, ``limit``, ``offset``, ``sort``), a sort
        field starting with ``-`` or containing a comma, or page sizes that
        are not positive integers (or a ``page_size`` over the maximum).
    :raises TypeError: if a name is not a string.

    >>> spec = QuerySpec(filterable=["done"], sortable=["due"], page_size=10)
    >>> sorted(spec.parameters)
    ['count', 'done', 'limit', 'offset', 'sort']
    >>> spec.max_page_size
    10
    """

    __slots__ = (
        "filterable",
        "max_page_size",
        "page_size",
        "paged",
        "parameters",
        "sortable",
    )

    def __init__(
        self,
        filterable: Iterable[str] = (),
        sortable: Iterable[str] = (),
        page_size: int | None = None,
        max_page_size: int | None = None,
    ) -> None:
        filters = _names(filterable, "filterable")
        sorts = _names(sortable, "sortable")
        reserved = sorted(RESERVED_PARAMETERS.intersection(filters))
        if reserved:
            raise ValueError(
                f"A filterable field cannot be named {reserved[0]!r}: it is a "
                "query parameter of its own (count, limit, offset, sort)"
            )
        for name in sorts:
            if name.startswith("-") or "," in name:
                raise ValueError(
                    f"A sortable field name cannot start with '-' or contain a "
                    f"comma: {name!r}"
                )
        page_size = _size(page_size, "page_size")
        max_page_size = _size(max_page_size, "max_page_size")
        if max_page_size is None:
            max_page_size = page_size
        elif page_size is not None and page_size > max_page_size:
            raise ValueError(
                f"page_size ({page_size}) cannot exceed max_page_size ({max_page_size})"
            )
        #: The filterable fields, in the order given.
        self.filterable: tuple[str, ...] = filters
        #: The sortable fields, in the order given.
        self.sortable: tuple[str, ...] = sorts
        #: The default page size (``None``: the whole collection).
        self.page_size: int | None = page_size
        #: The largest page a client may ask for (``None`` if not paged).
        self.max_page_size: int | None = max_page_size
        #: Whether ``limit`` and ``offset`` are accepted.
        self.paged: bool = max_page_size is not None
        parameters = set(filters)
        if filters or sorts or self.paged:
            parameters.add("count")
        if sorts:
            parameters.add("sort")
        if self.paged:
            parameters.update(("limit", "offset"))
        #: Every query parameter accepted.
        self.parameters: frozenset[str] = frozenset(parameters)

    @property
    def enabled(self) -> bool:
        """Whether the collection accepts any query parameter at all."""
        return bool(self.parameters)

    def __repr__(self) -> str:
        return (
            f"QuerySpec(filterable={self.filterable!r}, sortable={self.sortable!r}, "
            f"page_size={self.page_size!r}, max_page_size={self.max_page_size!r})"
        )

    def parse(self, args: MultiDict[str, str]) -> Query:
        """Read and check the query parameters of a request.

        :param args: The request's parsed query string
            (:attr:`werkzeug.wrappers.Request.args`).
        :returns: The query to run.
        :raises InvalidQuery: naming every parameter that is unknown,
            repeated or malformed.

        >>> from werkzeug.datastructures import MultiDict
        >>> spec = QuerySpec(filterable=["done"], sortable=["due", "title"],
        ...                  max_page_size=50)
        >>> query = spec.parse(MultiDict([("sort", "-due,title"), ("done", "null")]))
        >>> query.sort, query.filters, query.limit
        ((('due', True), ('title', False)), {'done': None}, None)
        >>> spec.parse(MultiDict([("limit", "500"), ("colour", "red")]))
        Traceback (most recent call last):
          ...
        findig.querying.InvalidQuery: 400 Bad Request: Invalid query string: \
'limit' must be an integer from 1 to 50; 'colour' is not a parameter. \
This collection accepts: count, done, limit, offset, sort.
        """
        problems: list[tuple[str, str]] = []
        filters: dict[str, Any] = {}
        sort: tuple[tuple[str, bool], ...] = ()
        limit: int | None = None
        offset = 0
        count = False
        accepted = self.parameters
        filterable = self.filterable
        for name, values in args.lists():
            if name not in accepted:
                problems.append((name, f"{_quoted(name)} is not a parameter"))
                continue
            if len(values) != 1:
                problems.append((name, f"{_quoted(name)} is given more than once"))
                continue
            value = values[0]
            if name in filterable:
                filters[name] = None if value == "null" else value
            elif name == "sort":
                sort = self._parse_sort(value, problems)
            elif name == "limit":
                maximum = self.max_page_size
                assert maximum is not None
                number = _integer(value, maximum)
                if number is None or number < 1:
                    problems.append(
                        (name, f"'limit' must be an integer from 1 to {maximum}")
                    )
                else:
                    limit = number
            elif name == "offset":
                number = _integer(value, MAX_OFFSET)
                if number is None:
                    problems.append(
                        (name, f"'offset' must be an integer from 0 to {MAX_OFFSET}")
                    )
                else:
                    offset = number
            else:  # count
                lowered = value.lower()
                if lowered in _TRUE:
                    count = True
                elif lowered not in _FALSE:
                    problems.append((name, "'count' must be true or false"))
        if problems:
            unknown = any(name not in accepted for name, _ in problems)
            raise InvalidQuery(problems, accepted if unknown else None)
        explicit = limit is not None
        if limit is None:
            limit = self.page_size
            if limit is None and offset:
                # No default page: the page after an offset is the largest
                # one, which the links to other pages must then spell out.
                limit = self.max_page_size
                explicit = True
        return Query(filters, sort, limit, offset, count, explicit)

    def _parse_sort(
        self, value: str, problems: list[tuple[str, str]]
    ) -> tuple[tuple[str, bool], ...]:
        order: list[tuple[str, bool]] = []
        seen: set[str] = set()
        for term in value.split(","):
            descending = term.startswith("-")
            field = term[1:] if descending else term
            if not field:
                problems.append(
                    (
                        "sort",
                        "'sort' must be a comma-separated list of field names, "
                        "each preceded by '-' to sort in descending order",
                    )
                )
                return ()
            if field not in self.sortable:
                problems.append(
                    (
                        "sort",
                        f"'sort' names {_quoted(field)}, which is not sortable "
                        f"(sortable: {', '.join(self.sortable)})",
                    )
                )
                return ()
            if field in seen:
                problems.append(("sort", f"'sort' names {_quoted(field)} twice"))
                return ()
            seen.add(field)
            order.append((field, descending))
        return tuple(order)


def _names(names: Iterable[str] | str, what: str) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    result: list[str] = []
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} takes field names (strings), not {name!r}")
        if not name:
            raise ValueError(f"{what} has an empty field name")
        if name not in result:
            result.append(name)
    return tuple(result)


def _size(value: int | None, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer or None, not {value!r}")
    return value


def _integer(text: str, maximum: int) -> int | None:
    """*text* as an integer from 0 to *maximum* (plain ASCII digits only)."""
    if not _DIGITS.fullmatch(text):
        return None
    number = int(text)
    return number if number <= maximum else None


# -- running queries -------------------------------------------------------------


class Query:
    """The query parameters of one request, checked (see
    :meth:`QuerySpec.parse`).

    :param filters: Field name → value (``None`` for ``null``).
    :param sort: ``(field, descending)`` pairs, the most significant first.
    :param limit: The number of items per page, or ``None`` for them all.
    :param offset: The number of items skipped.
    :param count: Whether to count the matching items.
    :param explicit_limit: Whether links to other pages must give the
        ``limit`` (because the client did, or because it is not the
        collection's default page size).
    """

    __slots__ = ("count", "explicit_limit", "filters", "limit", "offset", "sort")

    def __init__(
        self,
        filters: Mapping[str, Any] | None = None,
        sort: tuple[tuple[str, bool], ...] = (),
        limit: int | None = None,
        offset: int = 0,
        count: bool = False,
        explicit_limit: bool = False,
    ) -> None:
        self.filters = dict(filters or {})
        self.sort = sort
        self.limit = limit
        self.offset = offset
        self.count = count
        self.explicit_limit = explicit_limit

    def __repr__(self) -> str:
        return (
            f"<Query filters={self.filters!r} sort={self.sort!r} "
            f"limit={self.limit!r} offset={self.offset!r} count={self.count!r}>"
        )

    def run(self, data: Any) -> Page:
        """Filter, sort and page *data*.

        :param data: What the collection's function returned: a data set
            (anything with ``filtered``, ``sorted`` and ``limit``), queried
            in place, or another iterable, queried in Python.
        :returns: The page. Without a limit, its items are the (lazy)
            filtered and sorted data set; with one, a list of at most
            ``limit`` items, read along with one more item to learn whether
            another page follows.
        :raises TypeError: if *data* is a mapping or is not iterable.

        >>> items = [{"n": 3}, {"n": 1}, {"n": 2}, {"n": None}]
        >>> page = Query(sort=(("n", True),), limit=2).run(items)
        >>> page.items, page.has_next
        ([{'n': 3}, {'n': 2}], True)
        """
        source: Any
        if _is_queryable(data):
            source = data
        elif isinstance(data, Mapping) or not isinstance(data, Iterable):
            raise TypeError(
                "A collection with query parameters must return a data set or "
                f"an iterable of items, not {type(data).__name__}"
            )
        else:
            source = _Items(data)
        changed = False
        if self.filters:
            source = source.filtered(**self.filters)
            changed = True
        total = _count(source) if self.count else None
        if self.sort:
            source = _sort(source, self.sort)
            changed = True
        limit = self.limit
        if limit is None:
            if not changed:
                source = data  # untouched: stream it as the function returned it
            elif isinstance(source, _Items):
                source = source.items
            return Page(self, source, total, False)
        items = list(source.limit(limit + 1, self.offset))
        has_next = len(items) > limit
        del items[limit:]
        return Page(self, items, total, has_next)


class Page:
    """The result of a :class:`Query`: the items and what to tell about them.

    :ivar items: The items to answer with.
    :ivar total: The number of items matching the filters, if counted.
    :ivar has_next: Whether items follow this page.
    :ivar query: The query.
    """

    __slots__ = ("has_next", "items", "query", "total")

    def __init__(
        self, query: Query, items: Any, total: int | None, has_next: bool
    ) -> None:
        self.query = query
        self.items = items
        self.total = total
        self.has_next = has_next

    @property
    def has_prev(self) -> bool:
        """Whether items come before this page."""
        return self.query.limit is not None and self.query.offset > 0

    def headers(self, request: Request) -> list[tuple[str, str]]:
        """The response headers: ``Link`` and ``X-Total-Count``.

        The ``Link`` header (RFC 8288) has a ``rel="next"`` link when this
        page is full and more items follow, and a ``rel="prev"`` link when
        it does not start at the first item. The links are absolute URLs
        that keep the request's other query parameters.

        :param request: The request.
        :returns: A list of ``(name, value)`` pairs (maybe empty).
        """
        headers: list[tuple[str, str]] = []
        query = self.query
        limit = query.limit
        if limit is not None and (self.has_next or query.offset):
            links = []
            base = request.base_url
            args = request.args
            if self.has_next:
                size = limit if query.explicit_limit else None
                url = _page_url(base, args, query.offset + limit, size)
                links.append(f'<{url}>; rel="next"')
            if query.offset:
                offset = max(0, query.offset - limit)
                # A shorter page when the offset is not a multiple of the
                # limit, so that walking back visits every item once.
                size = min(limit, query.offset)
                explicit = query.explicit_limit or size != limit
                url = _page_url(base, args, offset, size if explicit else None)
                links.append(f'<{url}>; rel="prev"')
            headers.append(("Link", ", ".join(links)))
        if self.total is not None:
            headers.append(("X-Total-Count", str(self.total)))
        return headers


def _page_url(
    base: str, args: MultiDict[str, str], offset: int, limit: int | None
) -> str:
    """The URL of another page: *base* with the request's query parameters,
    ``offset`` (left out when 0) and ``limit`` (when given) set, in place
    where the request had them."""
    pairs: list[tuple[str, str]] = []
    replace: dict[str, str | None] = {}
    if limit is not None:
        replace["limit"] = str(limit)
    replace["offset"] = str(offset) if offset else None
    for name, value in args.items(multi=True):
        if name in replace:
            new = replace.pop(name)
            if new is not None:
                pairs.append((name, new))
        else:
            pairs.append((name, value))
    pairs.extend((name, value) for name, value in replace.items() if value is not None)
    if not pairs:
        return base
    return f"{base}?{urlencode(pairs, safe=',')}"


def _is_queryable(data: Any) -> bool:
    return all(
        callable(getattr(data, name, None)) for name in ("filtered", "sorted", "limit")
    )


def _sort(source: Any, order: tuple[tuple[str, bool], ...]) -> Any:
    """Sort *source* by ``(field, descending)`` pairs, most significant
    first, with the data set's ``sorted``: consecutive fields of one
    direction in one call, the calls least significant first (stable sorts
    keep the order of the previous ones on ties)."""
    groups: list[tuple[list[str], bool]] = []
    for field, descending in order:
        if groups and groups[-1][1] == descending:
            groups[-1][0].append(field)
        else:
            groups.append(([field], descending))
    for fields, descending in reversed(groups):
        source = source.sorted(*fields, descending=descending)
    return source


def _count(source: Any) -> int:
    count = getattr(source, "count", None)
    if callable(count):
        return int(count())
    if isinstance(source, Sized):
        return len(source)
    return sum(1 for _ in source)


_NO_FIELDS: Mapping[str, Any] = {}


def _fields(item: Any) -> Mapping[str, Any]:
    return item if isinstance(item, Mapping) else _NO_FIELDS


class _Items:
    """Plain items (a list, a generator) queried in Python, by the rules the
    data sets follow; items that are not mappings have no fields."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items

    def __iter__(self) -> Iterator[Any]:
        return iter(self.items)

    def filtered(self, **search_spec: Any) -> _Items:
        return _Items(
            item for item in self.items if _matches(_fields(item), search_spec)
        )

    def sorted(self, *fields: str, descending: bool = False) -> _Items:
        key = _field_sort_key(fields, descending)
        return _Items(
            sorted(self.items, key=lambda item: key(_fields(item)), reverse=descending)
        )

    def limit(self, count: int, offset: int = 0) -> _Items:
        return _Items(islice(self.items, offset, offset + count))

    def count(self) -> int:
        items = self.items
        if not isinstance(items, list):
            items = self.items = list(items)
        return len(items)
