"""Findig's precompiled URL matcher answers exactly like werkzeug's.

:class:`findig._matching.FastMatcher` replaces werkzeug's state-machine walk
for plain maps. These tests compare it with
:meth:`werkzeug.routing.MapAdapter.match` on generated rule sets and paths
(and exhaustively on a tricky fixed set), then check the dispatcher end to
end: redirects, 404s and converters behave as they did.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import (
    BaseConverter,
    Map,
    RequestRedirect,
    Rule,
    ValidationError,
)
from werkzeug.test import Client, EnvironBuilder, run_wsgi_app

from findig._matching import FastMatcher
from findig.json import App


class HexConverter(BaseConverter):
    """A custom converter: matched segment by segment, as werkzeug does."""

    regex = "[0-9a-f]+"

    def to_python(self, value: str) -> int:
        return int(value, 16)


class EvenConverter(BaseConverter):
    """A custom converter that refuses some values it matched (a 404)."""

    regex = r"\d+"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        if number % 2:
            raise ValidationError()
        return number


class GreedyConverter(BaseConverter):
    """Claims to isolate parts, yet its pattern could match a slash."""

    regex = ".+"
    part_isolating = True


CONVERTERS = {"hex": HexConverter, "even": EvenConverter, "greedy": GreedyConverter}

#: Rule segments; ``{}`` is replaced by a variable name unique in the rule.
SEGMENTS = [
    "a",
    "b",
    "items",
    "x1",
    "<{}>",
    "<string(length=2):{}>",
    "<string(minlength=0):{}>",
    "<int:{}>",
    "<int(max=5):{}>",
    "<int(signed=True):{}>",
    "<int(fixed_digits=2):{}>",
    "<float:{}>",
    "<uuid:{}>",
    "<any(a, b):{}>",
    "<any('a/b', c):{}>",
    "<{}>.json",
    "x<int:{}>",
    "<{}>-<{}>",
    "<hex:{}>",
    "<even:{}>",
    "<greedy:{}>",
]

#: Path segments; they hit the rule segments above, or just miss them.
VALUES = [
    "a",
    "b",
    "c",
    "items",
    "x1",
    "x12",
    "",
    "42",
    "4",
    "07",
    "-3",
    "3.5",
    "ab",
    "a.json",
    "a-b-c",
    "ff",
    "é",
    "١٢",
    "a b",
    "a%2Fb",
    "12345678-1234-5678-1234-567812345678",
    "9" * 5000,
]


def rule_text(segments: list[str], slash: bool) -> str:
    names = (f"v{i}" for i in itertools.count())
    parts = []
    for segment in segments:
        while "{}" in segment:
            segment = segment.replace("{}", next(names), 1)
        parts.append(segment)
    text = "/" + "/".join(parts)
    return text + "/" if slash and parts else text


rules_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=3),
        st.booleans(),
    ),
    min_size=1,
    max_size=8,
)
paths_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from(VALUES), min_size=0, max_size=4),
        st.sampled_from(["", "/"]),
        st.sampled_from(["/", "//"]),
    ),
    min_size=1,
    max_size=30,
)


def make_map(texts: list[str]) -> Map:
    rules = [Rule(text, endpoint=f"r{i}") for i, text in enumerate(texts)]
    return Map(rules, strict_slashes=True, merge_slashes=True, converters=CONVERTERS)


def typed(values: Any) -> Any:
    return {k: (type(v), v) for k, v in values.items()}


def werkzeug_answer(url_map: Map, path: str) -> tuple[Any, ...]:
    adapter = url_map.bind("localhost")
    try:
        rule, values = adapter.match(path, return_rule=True)
    except RequestRedirect as exc:
        return ("redirect", exc.new_url)
    except HTTPException as exc:
        return ("error", exc.code)
    except Exception as exc:  # a converter that fails on a value
        return ("raised", type(exc))
    return ("match", rule, typed(values))


def fast_answer(matcher: FastMatcher, path: str) -> tuple[Any, ...]:
    try:
        found = matcher.match(path)
    except NotFound:
        return ("error", 404)
    except HTTPException as exc:  # pragma: no cover - never raised
        return ("error", exc.code)
    except Exception as exc:
        return ("raised", type(exc))
    if found is None:
        return ("werkzeug",)
    rule, values = found
    return ("match", rule, typed(values))


def assert_same(url_map: Map, matcher: FastMatcher, path: str) -> str:
    expected = werkzeug_answer(url_map, path)
    got = fast_answer(matcher, path)
    if got == ("werkzeug",):
        # Left to werkzeug only when it redirects or merges slashes.
        assert expected[0] == "redirect" or "//" in path.lstrip("/"), (
            path,
            expected,
        )
    else:
        assert got == expected, (path, [r.rule for r in url_map.iter_rules()])
    return expected[0]


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(rules=rules_strategy, paths=paths_strategy)
def test_the_fast_matcher_answers_like_werkzeug(rules, paths):
    texts = [rule_text(segments, slash) for segments, slash in rules]
    url_map = make_map(texts)
    matcher = FastMatcher.for_map(url_map)
    assert matcher is not None
    assert matcher.match("") is None  # werkzeug's: Findig never asks it
    for values, tail, lead in paths:
        path = lead + "/".join(values) + (tail if values else "")
        assert_same(url_map, matcher, path)
        # The paths the rules themselves spell hit rules (or redirects).
        assert_same(url_map, matcher, texts[len(path) % len(texts)])


TRICKY_RULES = [
    "/",
    "/items/",
    "/items/<int:id>",
    "/items/<int(max=5):small>/x",
    "/items/<name>",
    "/items/<name>/x/",
    "/items/special",
    "/<section>/",
    "/<section>/<int:id>",
    "/<any(a, b):kind>/<float:value>",
    "/files/<name>.json",
    "/files/<name>.<ext>",
    "/files/<hex:key>",
    "/files/<even:number>/",
    "/n/<int(signed=True):n>",
    "/n/<even:n>",
    "/n/<hex:n>",
    "/x<int:n>/",
    "/items/",  # a duplicate: the first wins
]


def test_the_fast_matcher_answers_like_werkzeug_exhaustively():
    url_map = make_map(TRICKY_RULES)
    matcher = FastMatcher.for_map(url_map)
    assert matcher is not None
    kinds: dict[str, int] = {}
    words = ["items", "files", "a", "b", "x", "special", "x3", "n"]
    values = [*words, "", "2", "7", "-4", "1.5", "ff", "k.json", "k.tar.gz", "zz"]
    for length in range(4):
        for segments in itertools.product(values, repeat=length):
            for tail in ("", "/"):
                path = "/" + "/".join(segments) + (tail if segments else "")
                kind = assert_same(url_map, matcher, path)
                kinds[kind] = kinds.get(kind, 0) + 1
                assert_same(url_map, matcher, path.replace("/", "//", 1))
    # Every kind of answer was exercised.
    assert kinds.keys() == {"match", "redirect", "error"}


@pytest.mark.parametrize(
    "rule",
    [
        Rule("/p/<path:rest>", endpoint="p"),
        Rule("/d", endpoint="d", defaults={"x": 1}),
        Rule("/r", endpoint="r", redirect_to="/elsewhere"),
        Rule("/s", endpoint="s", strict_slashes=False),
        Rule("/m", endpoint="m", methods=["GET"]),
        Rule("/w", endpoint="w", websocket=True),
        Rule("/h", endpoint="h", subdomain="api"),
    ],
    ids=lambda rule: rule.rule,
)
def test_unusual_rules_are_left_to_werkzeug(rule):
    url_map = Map([Rule("/items/<int:id>", endpoint="i"), rule])
    assert FastMatcher.for_map(url_map) is None


def test_build_only_rules_are_never_matched():
    url_map = Map(
        [
            Rule("/a/<int:x>", endpoint="b", build_only=True),
            Rule("/a/<y>", endpoint="y"),
        ]
    )
    matcher = FastMatcher.for_map(url_map)
    assert matcher is not None
    rule, values = matcher.match("/a/1")
    assert (rule.endpoint, values) == ("y", {"y": "1"})


# -- the dispatcher, end to end -------------------------------------------


def make_app() -> App:
    app = App()
    app.url_map.converters["even"] = EvenConverter

    @app.route("/items/<int:id>")
    def item(id):
        return {"id": id}

    @app.route("/items/")
    @item.collection
    def items():
        return []

    @app.route("/even/<even:n>")
    def even(n):
        return {"n": n}

    @app.route("/a//b")
    def merged():
        return {"merged": True}

    return app


def test_the_dispatcher_uses_the_fast_matcher():
    app = make_app()
    client = Client(app)
    assert client.get("/items/3").json == {"id": 3}
    assert app._fast_matcher is not None


@pytest.mark.parametrize(
    ("path", "status", "location"),
    [
        ("/items/3", 200, None),
        ("/items/", 200, None),
        ("/items", 308, "http://localhost/items/"),
        ("/items//3", 308, "http://localhost/items/3"),
        ("//items/3", 200, None),
        ("/items/x", 404, None),
        ("/even/4", 200, None),
        ("/even/5", 404, None),
        ("/a/b", 200, None),
        ("/a//b", 308, "http://localhost/a/b"),
        ("/nowhere", 404, None),
    ],
)
def test_the_dispatcher_answers_like_werkzeug(path, status, location):
    app = make_app()
    environ = EnvironBuilder().get_environ()
    environ["PATH_INFO"] = path  # as sent: EnvironBuilder reads "//x" as a host
    _, status_line, headers = run_wsgi_app(app, environ, buffered=True)
    assert int(status_line.split()[0]) == status
    assert headers.get("Location") == location
    reference = make_app()
    reference.freeze()
    expected = werkzeug_answer(reference.url_map, path)
    if status == 200:
        assert expected[0] == "match"
    elif status == 308:
        assert expected == ("redirect", location)
    else:
        assert expected == ("error", 404)
