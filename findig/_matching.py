"""A precompiled URL matcher that answers exactly like werkzeug's.

Werkzeug's :class:`~werkzeug.routing.Map` matches a path with a recursive,
backtracking walk of a state machine (one state per path segment), compiling
and running one small regular expression per dynamic segment it tries. That
walk is about a third of the time Findig spends on a simple GET. This module
flattens the very same state machine, once, into a few anchored regular
expressions, so that matching a path costs one dictionary lookup and
(usually) one regular-expression match.

Equivalence with werkzeug is by construction:

- The walk tries, at every state, the static transition first and then the
  dynamic ones in werkzeug's own sorted order; the first state reached when
  the path's segments run out decides (a rule there, or a redirect to the path
  with a slash added). So the answer for a path is the first such *event*,
  in the walk's depth-first order, whose transitions all accept the path's
  segments. :class:`FastMatcher` lists the events in that order, read from
  werkzeug's own state machine, as the alternatives of regular expressions:
  Python's ``re`` tries alternatives in order, and returns the first that
  matches.
- A dynamic segment is matched with werkzeug's own regular expression for it.
  Inside a combined expression, that is the same only if it cannot match a
  ``/``; this holds for werkzeug's converters, which are inlined. A segment
  using any other converter is matched on its own, as werkzeug does.
- Values are converted by the matched rule's own converters, in werkzeug's
  order; a :class:`~werkzeug.routing.ValidationError` is a 404, as in
  werkzeug (which does not try other rules then either).
- Anything the matcher does not reproduce is left to werkzeug: the matcher
  is only built for maps whose rules are all plain (no defaults, redirects,
  aliases, hosts, subdomains, websockets, methods, non-strict slashes or
  converters matching slashes), and for a path it answers "ask werkzeug"
  (``None``) whenever werkzeug would redirect or merge slashes.

``tests/test_matching.py`` checks the answers against
:meth:`werkzeug.routing.MapAdapter.match` on many generated rule sets and
paths.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.routing import Map, Rule, ValidationError
from werkzeug.routing.converters import (
    AnyConverter,
    BaseConverter,
    FloatConverter,
    IntegerConverter,
    UnicodeConverter,
    UUIDConverter,
)

try:
    from werkzeug.routing.matcher import StateMachineMatcher
except ImportError:  # pragma: no cover - a werkzeug without it: no fast path
    StateMachineMatcher = None  # type: ignore[assignment,misc]

__all__ = ["FastMatcher"]

# Converters whose regular expression never matches a "/" and has no groups of
# its own: their segments can be matched inside a larger expression.
_CONFINED_CONVERTERS = (
    BaseConverter,
    UnicodeConverter,
    IntegerConverter,
    FloatConverter,
    UUIDConverter,
)
_WERKZEUG_GROUP = re.compile(r"\(\?P<__werkzeug_(\d+)>")
_SEGMENT = "[^/]*"


class _Event:
    """What ends the walk for a path: a rule, or a slash redirect (no rule)."""

    __slots__ = ("checks", "groups", "one", "pairs", "rule")

    def __init__(
        self,
        rule: Rule | None,
        groups: tuple[str, ...],
        pairs: tuple[tuple[str, Any], ...],
        checks: tuple[tuple[str, re.Pattern[str]], ...] | None,
    ) -> None:
        self.rule = rule
        #: The names of the groups holding the raw values, in werkzeug's order.
        self.groups = groups
        #: ``(name, converter)`` in werkzeug's order of conversion.
        self.pairs = pairs
        #: For segments matched on their own: ``(group, werkzeug's pattern)``.
        self.checks = checks
        #: For the common rule with one variable: ``(group, name, converter,
        #: plain_int)``; *plain_int* when the converter is werkzeug's ``int``
        #: without options, whose ``to_python`` is ``int()`` (a ValueError
        #: being a ValidationError).
        self.one: tuple[str, str, Any, bool] | None = None
        if checks is None and len(groups) == 1 and len(pairs) == 1:
            name, converter = pairs[0]
            plain_int = (
                type(converter) is IntegerConverter
                and not converter.fixed_digits
                and converter.min is None
                and converter.max is None
                and converter.num_convert is int
            )
            self.one = (groups[0], name, converter, plain_int)


class FastMatcher:
    """Matches paths like ``map.bind("localhost").match(path, return_rule=True)``.

    Build it with :meth:`for_map`, which returns ``None`` for maps it cannot
    reproduce exactly.
    """

    __slots__ = ("_dynamic", "_static")

    def __init__(
        self,
        static: dict[str, list[tuple[Callable[[str], Any], dict[str, _Event]]]],
        dynamic: list[tuple[Callable[[str], Any], dict[str, _Event]]],
    ) -> None:
        # PERF: the steps for paths whose first segment is a static one, by
        # that segment; then the steps for a dynamic first segment.
        self._static = static
        self._dynamic = dynamic

    @classmethod
    def for_map(cls, url_map: Map) -> FastMatcher | None:
        """Compile the matcher for *url_map*, or return ``None`` if it has
        rules whose matching only werkzeug reproduces."""
        if StateMachineMatcher is None or type(url_map) is not Map:
            return None
        if url_map.host_matching or not url_map.merge_slashes:
            return None
        matcher = getattr(url_map, "_matcher", None)
        if type(matcher) is not StateMachineMatcher:
            return None
        for rule in url_map.iter_rules():  # also sorts the state machine
            if not rule.build_only and not _plain(rule):
                return None
        root = matcher._root
        # Every plain rule starts with two empty static parts: the subdomain
        # and what precedes the path's leading slash.
        if root.rules or root.dynamic or set(root.static) - {""}:
            return None
        top = root.static.get("")
        if top is None:
            return cls({}, [])
        if top.rules or top.dynamic or set(top.static) - {""}:
            return None
        start = top.static.get("")
        if start is None:
            return cls({}, [])

        events: list[_Found] = []
        _walk(start, [], events)
        # The walk tries a static first segment before the dynamic ones.
        by_first: dict[str, list[_Found]] = {}
        dynamic_first: list[_Found] = []
        for found in events:
            first = found[0][0]
            if isinstance(first, str):
                by_first.setdefault(first, []).append(found)
            else:
                dynamic_first.append(found)
        counter = itertools.count()
        static = {k: _steps(v, counter) for k, v in by_first.items()}
        return cls(static, _steps(dynamic_first, counter))

    def match(self, path: str) -> tuple[Rule, dict[str, Any]] | None:
        """Match *path* (a WSGI ``PATH_INFO``).

        :returns: ``(rule, values)``; or ``None`` when werkzeug must decide
            (it answers with a redirect then, or matches an empty path).
        :raises werkzeug.exceptions.NotFound: when no rule matches.
        """
        if not path:
            return None
        # PERF: werkzeug matches "/" + path.lstrip("/"), split at slashes;
        # the first (empty) segment is implied here.
        rest = path.lstrip("/")
        slash = rest.find("/")
        steps = self._static.get(rest if slash < 0 else rest[:slash])
        if steps is not None:
            found = _run(steps, rest)
            if found is not _MISS:
                return found
        found = _run(self._dynamic, rest)
        if found is not _MISS:
            return found
        if "//" in rest:
            return None  # werkzeug merges the slashes and tries again
        raise NotFound()


_MISS: Any = object()


def _run(steps: list[tuple[Callable[[str], Any], dict[str, _Event]]], rest: str) -> Any:
    """The answer of the first event of *steps* matching *rest*, or _MISS."""
    for match, events in steps:
        found = match(rest)
        if found is None:
            continue
        event = events[found.lastgroup]
        checks = event.checks
        raw: Sequence[str | None]
        if checks is None:
            rule = event.rule
            if rule is None:
                return None  # werkzeug redirects to the path with a slash added
            one = event.one
            if one is not None:
                # PERF: one variable, converted without the general loop.
                group, name, converter, plain_int = one
                if plain_int:
                    try:
                        return rule, {name: int(found[group])}
                    except ValueError:
                        raise NotFound() from None
                try:
                    return rule, {name: converter.to_python(found[group])}
                except ValidationError:
                    raise NotFound() from None
            groups = event.groups
            if not groups:
                return rule, {}
            raw = found.group(*groups) if len(groups) > 1 else (found[groups[0]],)
        else:
            checked = _check(found, checks)
            if checked is None:
                continue  # werkzeug's expressions refuse a segment
            rule = event.rule
            if rule is None:
                return None
            raw = checked
        values = {}
        # As werkzeug converts them: names and values pair up in order.
        for (name, converter), value in zip(event.pairs, raw, strict=False):
            try:
                values[name] = converter.to_python(value)
            except ValidationError:
                raise NotFound() from None
        return rule, values
    return _MISS


def _check(
    found: re.Match[str],
    checks: tuple[tuple[str, re.Pattern[str]], ...],
) -> list[str | None] | None:
    """Match segments with werkzeug's own expressions; the raw values, or None."""
    raw: list[str | None] = []
    for group, pattern in checks:
        match = pattern.match(found[group])
        if match is None:
            return None
        # Exactly werkzeug's way of collecting a segment's values.
        items = sorted(
            (i for i in match.groupdict().items() if i[0].startswith("__werkzeug_")),
            key=lambda item: int(item[0][11:]),
        )
        raw.extend(value for _, value in items)
    return raw


def _plain(rule: Rule) -> bool:
    """Whether werkzeug matches *rule* in the only ways FastMatcher knows."""
    return (
        type(rule) is Rule
        and rule.methods is None
        and not rule.websocket
        and not rule.defaults
        and rule.redirect_to is None
        and not rule.alias
        and rule.host is None
        and rule.subdomain == ""
        and rule.strict_slashes is True
        and rule.merge_slashes is True
        and not any(part.final or part.suffixed for part in rule._parts)
    )


def _walk(state: Any, transitions: list[Any], events: list[_Found]) -> None:
    """List the events of werkzeug's walk in the order it meets them.

    An event is recorded with the transitions leading to its state (static
    segments as strings, dynamic ones as werkzeug's rule parts) and what
    happens there: the rule matched, or a :class:`_SlashRedirect`. Like
    werkzeug, a state's first rule wins; a state without rules redirects when
    a rule continues it with a trailing slash.
    """
    if transitions:
        if state.rules:
            events.append((tuple(transitions), state.rules[0]))
        else:
            slashed = state.static.get("")
            if slashed is not None and slashed.rules:
                events.append((tuple(transitions), _SlashRedirect(slashed)))
    for segment, child in state.static.items():
        transitions.append(segment)
        _walk(child, transitions, events)
        transitions.pop()
    for part, child in state.dynamic:
        transitions.append(part)
        _walk(child, transitions, events)
        transitions.pop()


class _SlashRedirect:
    """A slash-redirect event (see :func:`_walk`); *rule* is the rule with the
    trailing slash, whose converters its segments are matched with."""

    __slots__ = ("rule",)

    def __init__(self, state: Any) -> None:
        self.rule: Rule = state.rules[0]


#: An event: the transitions to its state, and a Rule or a _SlashRedirect.
_Found = tuple[tuple[Any, ...], Rule | _SlashRedirect]


def _confined(rule: Rule) -> bool:
    """Whether every converter of *rule* is werkzeug's own and cannot match a
    slash, so that its segments can be matched inside a combined expression."""
    for converter in rule._converters.values():
        kind = type(converter)
        if kind is AnyConverter:
            if "/" in converter.regex:
                return False
        elif kind not in _CONFINED_CONVERTERS:
            return False
    return True


def _steps(
    events: list[_Found], counter: Iterator[int]
) -> list[tuple[Callable[[str], Any], dict[str, _Event]]]:
    """Compile events, in order, into steps: each step is a regular expression
    whose alternatives are events, marked by a final empty named group."""
    steps: list[tuple[Callable[[str], Any], dict[str, _Event]]] = []
    pending: list[str] = []
    pending_events: dict[str, _Event] = {}

    def flush() -> None:
        if pending:
            pattern = re.compile("(?:" + "|".join(pending) + r")\Z")
            steps.append((pattern.match, dict(pending_events)))
            pending.clear()
            pending_events.clear()

    for transitions, target in events:
        slash = isinstance(target, _SlashRedirect)
        rule = target.rule if isinstance(target, _SlashRedirect) else target
        number = next(counter)
        marker = f"e{number}"
        confined = _confined(rule)
        pieces: list[str] = []
        groups: list[str] = []
        checks: list[tuple[str, re.Pattern[str]]] = []
        for index, transition in enumerate(transitions):
            if isinstance(transition, str):
                pieces.append(re.escape(transition))
                continue
            content: str = transition.content
            if confined and content.endswith(r"\Z"):
                names = _group_names(content)
                renamed = [f"v{number}_{len(groups) + i}" for i in range(len(names))]
                inline = content[:-2]
                for old, new in zip(names, renamed, strict=True):
                    inline = inline.replace(f"(?P<{old}>", f"(?P<{new}>", 1)
                pieces.append(inline)
                groups.extend(renamed)
            else:
                segment = f"s{number}_{index}"
                pieces.append(f"(?P<{segment}>{_SEGMENT})")
                checks.append((segment, re.compile(content)))
        pieces_regex = "/".join(pieces)
        converters = rule._converters
        pairs = tuple((str(name), converters[name]) for name in converters)
        event = _Event(
            None if slash else rule,
            tuple(groups),
            pairs,
            tuple(checks) if checks else None,
        )
        pending.append(f"{pieces_regex}(?P<{marker}>)")
        pending_events[marker] = event
        if checks:
            # A step of its own: when its segments fail werkzeug's
            # expressions, the search goes on with the next step.
            flush()
    flush()
    return steps


def _group_names(content: str) -> tuple[str, ...]:
    """werkzeug's converter groups in *content*, in werkzeug's value order."""
    numbers = sorted(int(n) for n in _WERKZEUG_GROUP.findall(content))
    return tuple(f"__werkzeug_{n}" for n in numbers)
