"""Data sets: collections of records that carry their own data model.

A *data set* is an iterable of *records*, each record being a read-only
mapping of one resource instance's fields. A resource function may return a
data set (or a record fetched from one) instead of plain data; with
``lazy=True`` Findig asks the object for its data operations and exposes
them over HTTP, so no explicit model functions are needed::

    @app.route("/items/<id>")
    @app.resource(lazy=True)
    def item(id):
        return items().fetch(id=id)

    @app.route("/items/")
    @item.collection(lazy=True)
    def items():
        return SomeDataSet()

The classes here define the interface (:class:`AbstractDataSet`,
:class:`MutableDataSet`, :class:`AbstractRecord`, :class:`MutableRecord`)
and a thread-safe, in-memory implementation, :class:`DictDataSet`, which is
the reference for the behaviour every back-end shares. The generic
:meth:`~AbstractDataSet.filtered`, :meth:`~AbstractDataSet.sorted` and
:meth:`~AbstractDataSet.limit` work on any data set by iterating over it;
back-ends override them to push the work down (SQL ``WHERE``,
``ORDER BY`` and ``LIMIT`` in :class:`findig.extras.sql.SQLASet`).

Matching rules shared by every implementation:

- a field a record does not have counts as ``None``;
- a value in a search specification matches a field equal to it; a string
  also matches a field of another type once converted to that type (URL
  variables are strings, so ``fetch(id="1")`` finds the record whose ``id``
  is the integer ``1``);
- a callable in a search specification is a predicate on the field's value;
- sorting puts records that lack a field (or hold ``None`` in it) after the
  others, whichever the direction; ties keep their previous order, so
  successive sorts combine (the last one called is the most significant),
  which is how fields are sorted in different directions;
- :meth:`~AbstractDataSet.count` counts the records without reading them
  where the back-end can.

Collections that declare query parameters map the query string onto these
methods; see :mod:`findig.querying`.
"""

from __future__ import annotations

import copy
import threading
from abc import ABCMeta, abstractmethod
from collections.abc import (
    Callable,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from typing import Any, cast

from werkzeug.exceptions import BadRequest

from findig.context import current_state
from findig.querying import (  # noqa: F401 - the back-ends import them from here
    _MISSING,
    _convert,
    _equals,
    _field_sort_key,
    _matches,
)
from findig.resource import merge_patch

__all__ = [
    "AbstractDataSet",
    "AbstractRecord",
    "DictDataSet",
    "DictRecord",
    "MutableDataSet",
    "MutableRecord",
]

#: Search specifications: field name → value or predicate.
SearchSpec = Mapping[str, Any]


# -- helpers shared with the back-ends in findig.extras ------------------------
#
# The matching rules themselves (_convert, _equals, _matches, _field_sort_key)
# live in findig.querying, so that the core's Python fallback for collections
# that return plain lists follows them too.


def _parse_sort_spec(
    sort_spec: tuple[Any, ...],
) -> tuple[tuple[str, ...], Callable[[Any], Any] | None]:
    """Split a sort specification into field names or a key function."""
    if not sort_spec:
        raise ValueError("sorted() needs at least one field name or a key function")
    if len(sort_spec) == 1 and callable(sort_spec[0]):
        return (), sort_spec[0]
    for field in sort_spec:
        if not isinstance(field, str):
            raise TypeError(
                "sorted() takes field names (strings) or a single key function, "
                f"not {field!r}"
            )
    return tuple(sort_spec), None


def _check_limit(count: int, offset: int) -> None:
    for name, value in (("count", count), ("offset", offset)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(
                f"limit() needs a non-negative integer {name}, not {value!r}"
            )


def _combine_limits(first: tuple[int, int], count: int, offset: int) -> tuple[int, int]:
    """Fold ``limit(count, offset)`` applied after ``limit(*first)``.

    :returns: The equivalent single ``(count, offset)``.
    """
    first_count, first_offset = first
    return max(0, min(count, first_count - offset)), first_offset + offset


def _require_mapping(data: Any, what: str = "record data") -> Mapping[str, Any]:
    """Return *data* if it is a mapping with string keys; else BadRequest."""
    if not isinstance(data, Mapping):
        raise BadRequest(f"The {what} must be an object of fields.")
    for key in data:
        if not isinstance(key, str):
            raise BadRequest(f"The {what} has a field name that is not a string.")
    return data


# -- records -------------------------------------------------------------------


class AbstractRecord(Mapping[str, Any], metaclass=ABCMeta):
    """A representation of an item belonging to a collection.

    A record is a read-only mapping of the item's fields. Its data is loaded
    lazily: :meth:`read` is called the first time a field is needed, and
    the result kept in :attr:`cached_data` until :meth:`invalidate` is
    called. A record whose item does not exist raises :class:`LookupError`
    when its data is first needed (which Findig answers with 404).

    Subclasses implement :meth:`read`; they may pass data they already have
    to the constructor to skip it.

    :param data: The record's fields, when they are already known.
    """

    def __init__(self, data: Mapping[str, Any] | None = None) -> None:
        self._cached: Mapping[str, Any] | None = data

    @abstractmethod
    def read(self) -> Mapping[str, Any]:
        """Load the record's fields from the back-end.

        :returns: A mapping of the record's fields.
        :raises LookupError: if the item does not exist.
        """

    @property
    def cached_data(self) -> Mapping[str, Any]:
        """The record's fields, read from the back-end on first access."""
        data = self._cached
        if data is None:
            data = self._cached = self.read()
        return data

    def invalidate(self, new_data: Mapping[str, Any] | None = None) -> None:
        """Forget the cached fields (or replace them with *new_data*).

        :param new_data: The record's new fields, if known.
        """
        self._cached = new_data

    def __getitem__(self, field: str) -> Any:
        return self.cached_data[field]

    def __iter__(self) -> Iterator[str]:
        return iter(self.cached_data)

    def __len__(self) -> int:
        return len(self.cached_data)

    # PERF: the JSON encoder turns each record into a dict; going straight
    # to the cached mapping's views skips a Python call per field.
    def __contains__(self, field: object) -> bool:
        return field in self.cached_data

    def keys(self) -> KeysView[str]:
        """The names of the record's fields."""
        return self.cached_data.keys()

    def items(self) -> ItemsView[str, Any]:
        """The record's ``(field, value)`` pairs."""
        return self.cached_data.items()

    def values(self) -> ValuesView[Any]:
        """The values of the record's fields."""
        return self.cached_data.values()

    def get(self, field: str, default: Any = None) -> Any:
        """The value of *field*, or *default* if the record lacks it.

        :param field: A field name.
        :param default: The value for a missing field.
        """
        return self.cached_data.get(field, default)

    def __repr__(self) -> str:
        if self._cached is None:
            return f"<{type(self).__name__} (not loaded)>"
        return f"<{type(self).__name__} {dict(self._cached)!r}>"


class MutableRecord(AbstractRecord):
    """A record that can be replaced, partially updated and deleted.

    Its data operations (see :meth:`data_operations`) give a lazy resource
    that returns it ``PUT`` (:meth:`update`), ``PATCH`` (:meth:`patch`) and
    ``DELETE`` (:meth:`delete`).
    """

    @abstractmethod
    def update(self, data: Mapping[str, Any]) -> None:
        """Replace the record's data with *data*.

        Fields that *data* does not have are removed (or, for a back-end
        with a fixed schema, cleared). The fields that identify the record
        (such as ``id``) are kept.

        :param data: The new fields.
        :raises LookupError: if the item does not exist.
        """

    def patch(self, data: Mapping[str, Any]) -> None:
        """Merge *data* into the record (a JSON merge patch, RFC 7396).

        Fields of *data* replace those of the record, nested objects are
        merged, and a field set to ``None`` is removed. The default
        implementation reads the record, merges and calls :meth:`update`;
        back-ends override it to do so atomically.

        :param data: The fields to change.
        :raises LookupError: if the item does not exist.
        """
        data = _require_mapping(data, "patch")
        self.invalidate()
        self.update(merge_patch(dict(self.cached_data), data))

    @abstractmethod
    def delete(self) -> None:
        """Delete the record from its data set.

        :raises LookupError: if the item does not exist.
        """

    def data_operations(self) -> dict[str, Callable[..., Any]]:
        """The data operations the record offers to a lazy resource.

        :returns: ``{"write": self.update, "update": self.patch,
            "delete": self.delete}``.
        """
        return {"write": self.update, "update": self.patch, "delete": self.delete}


class _LazyRecord(AbstractRecord):
    """A record that runs its data set's search when first read."""

    def __init__(self, dataset: AbstractDataSet, spec: SearchSpec) -> None:
        super().__init__()
        self._dataset = dataset
        self._spec = dict(spec)
        self._target: AbstractRecord | None = None

    def _resolve(self) -> AbstractRecord:
        target = self._target
        if target is None:
            target = self._target = self._dataset.fetch_now(**self._spec)
        return target

    def read(self) -> Mapping[str, Any]:
        return dict(self._resolve())

    def invalidate(self, new_data: Mapping[str, Any] | None = None) -> None:
        super().invalidate(new_data)
        if new_data is None:
            self._target = None

    def __repr__(self) -> str:
        if self._cached is None:
            return f"<lazy record {self._spec!r} of {self._dataset!r}>"
        return super().__repr__()


class _LazyMutableRecord(_LazyRecord, MutableRecord):
    """A lazy record of a mutable data set; its changes go to the record found."""

    def _target_record(self) -> MutableRecord:
        target = self._resolve()
        if not isinstance(target, MutableRecord):
            raise TypeError(f"{target!r} cannot be changed")
        return target

    def update(self, data: Mapping[str, Any]) -> None:
        target = self._target_record()
        target.update(data)
        self.invalidate()

    def patch(self, data: Mapping[str, Any]) -> None:
        target = self._target_record()
        target.patch(data)
        self.invalidate()

    def delete(self) -> None:
        target = self._target_record()
        target.delete()
        self.invalidate()


# -- data sets ---------------------------------------------------------------


class AbstractDataSet(Iterable[AbstractRecord], metaclass=ABCMeta):
    """An abstract data set is a representation of a collection of items.

    Concrete implementations must provide at least an implementation for
    ``__iter__``, which should return an iterator of :class:`AbstractRecord`
    instances. Iterating is what queries the back-end: creating a data set
    (or a filtered, sorted or limited view of one) does not.
    """

    @abstractmethod
    def __iter__(self) -> Iterator[AbstractRecord]:
        """Iterate over the records of the set (this queries the back-end)."""

    def fetch(self, **search_spec: Any) -> AbstractRecord:
        """Fetch an :class:`AbstractRecord` matching the search specification.

        If this is called outside a request, a lazy record is returned
        immediately (i.e., the backend isn't hit until the record is
        explicitly queried). During a request it is :meth:`fetch_now`.

        :param search_spec: Field names and the values (or predicates) they
            must match, as for :meth:`filtered`.
        :returns: The first matching record (a :class:`MutableRecord` when
            the set is a :class:`MutableDataSet`).
        :raises LookupError: during a request, when nothing matches.

        >>> items = DictDataSet([{"name": "a"}, {"name": "b"}])
        >>> record = items.fetch(id="2")  # lazy outside a request
        >>> record["name"]
        'b'
        """
        if current_state() is None:
            if isinstance(self, MutableDataSet):
                return _LazyMutableRecord(self, search_spec)
            return _LazyRecord(self, search_spec)
        return self.fetch_now(**search_spec)

    def fetch_now(self, **search_spec: Any) -> AbstractRecord:
        """Fetch an :class:`AbstractRecord` matching the search specification.

        Unlike :meth:`fetch`, this function will always hit the backend.

        :param search_spec: As for :meth:`filtered`.
        :returns: The first matching record.
        :raises LookupError: if no record matches.
        """
        for record in self.filtered(**search_spec).limit(1):
            return record
        raise LookupError(f"No record matches {_describe_spec(search_spec)}")

    def filtered(self, **search_spec: Any) -> AbstractDataSet:
        """Return a filtered view of this data set.

        Each keyword represents the name of a field that is checked, and the
        corresponding argument indicates what it is checked against. If the
        argument is callable, then it should be a predicate that returns
        ``True`` if the field is valid (be aware that the predicate will be
        passed ``None`` if the field isn't present on the record), otherwise
        it is compared against the field for equality (a string also matches
        a field of another type once converted to it).

        :returns: A data set (mutable if this one is).

        >>> items = DictDataSet([{"n": 1}, {"n": 2}, {"n": 3}])
        >>> [r["n"] for r in items.filtered(n=lambda n: n > 1)]
        [2, 3]
        """
        if not search_spec:
            return self
        spec = dict(search_spec)
        return _view(self, lambda records: (r for r in records if _matches(r, spec)))

    def sorted(
        self,
        *sort_spec: str | Callable[[AbstractRecord], Any],
        descending: bool = False,
    ) -> AbstractDataSet:
        """Return a sorted view of this data set.

        The method takes a variable number of arguments that specify its
        sort specification.

        If a single, callable argument is provided, it is taken as a sort
        key for a record.

        Otherwise, the arguments are taken as field names to be sorted, in
        the same order given in the argument list. Records that omit one of
        these fields appear later in the sorted set than those that don't.

        :param descending: Sort from the largest to the smallest (records
            without the fields still come last). Ties keep their order.
        :returns: A data set (mutable if this one is).

        >>> items = DictDataSet([{"n": 2}, {}, {"n": 1}])
        >>> [r.get("n") for r in items.sorted("n")]
        [1, 2, None]

        The sort is stable, so a sort applied to a sorted view orders the
        records by its own fields first and keeps the previous order among
        ties. That is how fields are sorted in different directions: sort by
        the least significant fields first. Every implementation keeps this
        rule (:class:`~findig.extras.sql.SQLASet` makes it a single
        ``ORDER BY``). By ``a`` ascending, then ``b`` descending:

        >>> items = DictDataSet([{"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 2}])
        >>> [(r["a"], r["b"]) for r in items.sorted("b", descending=True).sorted("a")]
        [(1, 2), (1, 1), (2, 1)]
        """
        fields, key = _parse_sort_spec(sort_spec)
        sort_key = key if key is not None else _field_sort_key(fields, descending)

        def apply(records: Iterable[AbstractRecord]) -> Iterator[AbstractRecord]:
            return iter(sorted(records, key=sort_key, reverse=descending))

        return _view(self, apply)

    def limit(self, count: int, offset: int = 0) -> AbstractDataSet:
        """Return a limited version of this data set.

        :param offset: The number of items to skip from the beginning
        :param count: The maximum number of items to return
        :returns: A data set (mutable if this one is).
        :raises ValueError: if *count* or *offset* is negative.

        >>> items = DictDataSet([{"n": n} for n in range(10)])
        >>> [r["n"] for r in items.limit(3, offset=2)]
        [2, 3, 4]
        """
        _check_limit(count, offset)

        def apply(records: Iterable[AbstractRecord]) -> Iterator[AbstractRecord]:
            iterator = iter(records)
            for _ in range(offset):
                if next(iterator, _MISSING) is _MISSING:
                    return
            for _ in range(count):
                record = next(iterator, _MISSING)
                if record is _MISSING:
                    return
                yield record

        return _view(self, apply)

    def count(self) -> int:
        """Count the records of the set.

        The default implementation iterates over the set; back-ends
        override it to count in place (``SELECT count(*)`` for
        :class:`~findig.extras.sql.SQLASet`, ``ZCARD`` for
        :class:`~findig.extras.redis.RedisSet`).

        :returns: The number of records.

        >>> items = DictDataSet([{"n": n} for n in range(5)])
        >>> items.filtered(n=lambda n: n > 2).count()
        2
        """
        return sum(1 for _ in self)

    def data_operations(self) -> dict[str, Callable[..., Any]]:
        """The data operations the set offers to a lazy resource (none).

        :returns: An empty mapping; see :meth:`MutableDataSet.data_operations`.
        """
        return {}


class MutableDataSet(AbstractDataSet):
    """An abstract data set that can add new child elements.

    Filtered, sorted and limited views of a mutable data set are mutable
    too: adding to a view adds to the set it was made from.
    """

    @abstractmethod
    def add(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """Add a new record made of *data* to the set.

        :param data: The new record's fields.
        :returns: A *token*: the fields that identify the new record (such
            as ``{"id": 1}``), from which Findig builds its URL.
        """

    def data_operations(self) -> dict[str, Callable[..., Any]]:
        """The data operations the set offers to a lazy resource.

        :returns: ``{"make": self.add}``, which enables ``POST``.
        """
        return {"make": self.add}

    def filtered(self, **search_spec: Any) -> MutableDataSet:
        """See :meth:`AbstractDataSet.filtered`; the view is mutable."""
        return cast(MutableDataSet, super().filtered(**search_spec))

    def sorted(
        self,
        *sort_spec: str | Callable[[AbstractRecord], Any],
        descending: bool = False,
    ) -> MutableDataSet:
        """See :meth:`AbstractDataSet.sorted`; the view is mutable."""
        return cast(MutableDataSet, super().sorted(*sort_spec, descending=descending))

    def limit(self, count: int, offset: int = 0) -> MutableDataSet:
        """See :meth:`AbstractDataSet.limit`; the view is mutable."""
        return cast(MutableDataSet, super().limit(count, offset))


Transform = Callable[[Iterable[AbstractRecord]], Iterator[AbstractRecord]]


class _View(AbstractDataSet):
    """A data set derived from another by a transformation of its records."""

    def __init__(self, source: AbstractDataSet, transform: Transform) -> None:
        self.source = source
        self._transform = transform

    def __iter__(self) -> Iterator[AbstractRecord]:
        return self._transform(self.source)

    def __repr__(self) -> str:
        return f"<view of {self.source!r}>"


class _MutableView(_View, MutableDataSet):
    """A view of a mutable data set; records are added to the source."""

    source: MutableDataSet

    def add(self, data: Mapping[str, Any]) -> Mapping[str, Any]:
        return self.source.add(data)


def _view(source: AbstractDataSet, transform: Transform) -> AbstractDataSet:
    if isinstance(source, MutableDataSet):
        return _MutableView(source, transform)
    return _View(source, transform)


def _describe_spec(spec: SearchSpec) -> str:
    parts = []
    for field, value in spec.items():
        shown = "<predicate>" if callable(value) else repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        parts.append(f"{field}={shown}")
    return ", ".join(parts) or "the empty search"


# -- the in-memory reference implementation ----------------------------------


class DictDataSet(MutableDataSet):
    """A thread-safe data set kept in memory (per process).

    Records are dictionaries identified by an integer field (``id`` by
    default) that the set allocates: 1, 2, 3, … in order of addition. The
    set iterates in that order. Values are deep-copied on the way in and
    out, so callers never share mutable state with the set.

    It is the reference implementation of the data set interface: the
    generic :meth:`filtered`, :meth:`sorted` and :meth:`limit` work on it by
    iteration. Use it for prototypes and tests; data is lost when the
    process exits.

    :param items: Records to add initially.
    :param id_field: The name of the identifying field.

    >>> tasks = DictDataSet()
    >>> tasks.add({"title": "Write docs"})
    {'id': 1}
    >>> dict(tasks.fetch_now(id=1))
    {'id': 1, 'title': 'Write docs'}
    """

    def __init__(
        self, items: Iterable[Mapping[str, Any]] = (), *, id_field: str = "id"
    ) -> None:
        self.id_field = id_field
        self._lock = threading.RLock()
        self._items: dict[int, dict[str, Any]] = {}
        self._last_id = 0
        for item in items:
            self.add(item)

    def __iter__(self) -> Iterator[DictRecord]:
        with self._lock:
            snapshot = list(self._items.items())
        for item_id, data in snapshot:
            yield DictRecord(self, item_id, copy.deepcopy(data))

    def __len__(self) -> int:
        return len(self._items)

    def count(self) -> int:
        """The number of records in the set (without reading them)."""
        return len(self._items)

    def __repr__(self) -> str:
        return f"<DictDataSet of {len(self._items)} records>"

    def _clean(self, data: Mapping[str, Any]) -> dict[str, Any]:
        data = _require_mapping(data)
        return {k: copy.deepcopy(v) for k, v in data.items() if k != self.id_field}

    def add(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Add a record; its ``id`` is allocated (an ``id`` in *data* is ignored).

        :param data: The record's fields.
        :returns: ``{"id": <the new id>}``.
        """
        fields = self._clean(data)
        with self._lock:
            self._last_id += 1
            item_id = self._last_id
            self._items[item_id] = {self.id_field: item_id, **fields}
        return {self.id_field: item_id}

    def fetch_now(self, **search_spec: Any) -> DictRecord:
        """See :meth:`AbstractDataSet.fetch_now`; a search by id is a lookup."""
        item_id = search_spec.get(self.id_field)
        if isinstance(item_id, str):
            item_id = _convert(item_id, int)
            if item_id is _MISSING:
                raise LookupError(f"No record matches {_describe_spec(search_spec)}")
        if isinstance(item_id, int) and not isinstance(item_id, bool):
            with self._lock:
                data = copy.deepcopy(self._items.get(item_id))
            if data is None or not _matches(data, search_spec):
                raise LookupError(f"No record matches {_describe_spec(search_spec)}")
            return DictRecord(self, data[self.id_field], data)
        return cast(DictRecord, super().fetch_now(**search_spec))

    # Record operations, called by DictRecord.

    def _read(self, item_id: int) -> dict[str, Any]:
        with self._lock:
            try:
                return copy.deepcopy(self._items[item_id])
            except KeyError:
                raise LookupError(f"There is no record with id {item_id}") from None

    def _replace(self, item_id: int, data: Mapping[str, Any]) -> dict[str, Any]:
        fields = self._clean(data)
        with self._lock:
            if item_id not in self._items:
                raise LookupError(f"There is no record with id {item_id}")
            stored = self._items[item_id] = {self.id_field: item_id, **fields}
            return copy.deepcopy(stored)

    def _patch(self, item_id: int, patch: Mapping[str, Any]) -> dict[str, Any]:
        patch = _require_mapping(patch, "patch")
        with self._lock:
            try:
                current = self._items[item_id]
            except KeyError:
                raise LookupError(f"There is no record with id {item_id}") from None
            return self._replace(item_id, merge_patch(current, patch))

    def _delete(self, item_id: int) -> None:
        with self._lock:
            try:
                del self._items[item_id]
            except KeyError:
                raise LookupError(f"There is no record with id {item_id}") from None


class DictRecord(MutableRecord):
    """A record of a :class:`DictDataSet`.

    :param dataset: The set the record belongs to.
    :param item_id: The record's id.
    :param data: The record's fields, if already known.
    """

    def __init__(
        self,
        dataset: DictDataSet,
        item_id: int,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(data)
        self.dataset = dataset
        self.id = item_id

    def read(self) -> dict[str, Any]:
        """A copy of the record's fields, from the set.

        :raises LookupError: if the record was deleted.
        """
        return self.dataset._read(self.id)

    def update(self, data: Mapping[str, Any]) -> None:
        """Replace the record's fields (but its id) with *data*.

        :raises LookupError: if the record was deleted.
        """
        self.invalidate(self.dataset._replace(self.id, data))

    def patch(self, data: Mapping[str, Any]) -> None:
        """Merge *data* into the record (JSON merge patch), atomically.

        :raises LookupError: if the record was deleted.
        """
        self.invalidate(self.dataset._patch(self.id, data))

    def delete(self) -> None:
        """Remove the record from the set.

        :raises LookupError: if the record was already deleted.
        """
        self.dataset._delete(self.id)
        self.invalidate()
