"""The read-only introspection accessors of the tools (what documentation
tools such as OpenAPI read), and the protector's per-request shortcuts:
skipped for unguarded routes, scopes normalized once per set of scopes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from werkzeug.exceptions import TooManyRequests
from werkzeug.test import Client

from findig.context import ctx, request
from findig.json import App
from findig.tools.counter import Counter, CounterRule
from findig.tools.protector import GateKeeper, Protector, Unauthorized
from findig.tools.validator import ValidationRules, Validator

# -- Validator.rules_for ----------------------------------------------------------


def _items_app(include_collections: bool = True) -> tuple[App, Validator, Any, Any]:
    app = App()
    validator = Validator(app, include_collections=include_collections)

    @app.route("/items/<int:id>")
    def item(id):
        return {}

    @app.route("/items/")
    @item.collection
    def items():
        return []

    return app, validator, item, items


def test_rules_for_reports_a_resources_rules():
    app, validator, item, items = _items_app()
    assert validator.rules_for(item) is None
    validator.restrict(item, "*name", "price", strip_extra=False)
    validator.enforce(item, price="int(min=0)", name=str)
    rules = validator.rules_for(item)
    assert isinstance(rules, ValidationRules)
    assert rules.allowed == frozenset({"name", "price"})
    assert rules.required == frozenset({"name"})
    assert set(rules.converters) == {"name", "price"}
    assert rules.converters["price"]("3") == 3
    assert rules.strip_extra is False
    assert rules.source is item
    # Read-only: a view, not the validator's own tables.
    with pytest.raises(TypeError):
        rules.converters["extra"] = int  # type: ignore[index]
    with pytest.raises(AttributeError):
        rules.strip_extra = True  # type: ignore[misc]


def test_rules_for_collections_inherit_unless_they_have_their_own():
    app, validator, item, items = _items_app()
    validator.enforce(item, price=int)
    inherited = validator.rules_for(items)
    assert inherited is not None and inherited.source is item
    assert set(inherited.converters) == {"price"}
    validator.enforce(items, name=str)
    own = validator.rules_for(items)
    assert own is not None and own.source is items
    assert set(own.converters) == {"name"}

    app, validator, item, items = _items_app(include_collections=False)
    validator.enforce(item, price=int)
    assert validator.rules_for(items) is None


def test_rules_for_includes_app_wide_converters():
    app, validator, item, items = _items_app()
    validator.enforce_all(created=Validator.date("%Y-%m-%d"))
    rules = validator.rules_for(item)
    assert rules is not None and rules.source is None
    assert set(rules.converters) == {"created"}
    assert rules.allowed is None and rules.required == frozenset()
    validator.enforce(item, price=int)
    assert set(validator.rules_for(item).converters) == {"created", "price"}


def test_rules_for_matches_what_is_enforced():
    app, validator, item, items = _items_app()

    @items.model("make")
    def make(data):
        return {"id": 1}

    validator.restrict(items, "*name")
    client = Client(app)
    assert client.post("/items/", json={}).status_code == 400
    assert validator.rules_for(items).required == frozenset({"name"})
    assert client.post("/items/", json={"name": "x"}).status_code == 201


def test_date_and_regex_converters_say_what_they_accept():
    date = Validator.date("%Y-%m-%d", "%d/%m/%Y")
    assert date.formats == ("%Y-%m-%d", "%d/%m/%Y")  # type: ignore[attr-defined]
    regex = Validator.regex(r"[a-z]+", re.IGNORECASE)
    pattern = regex.pattern  # type: ignore[attr-defined]
    assert isinstance(pattern, re.Pattern)
    assert pattern.pattern == "[a-z]+" and pattern.flags & re.IGNORECASE
    assert regex("Abc") == "Abc"


# -- Protector.guards -------------------------------------------------------------


class ListKeeper(GateKeeper):
    """Bearer tokens; each token's scopes are whatever object is stored."""

    def __init__(self, scopes: dict[str, Any]) -> None:
        self.scopes = scopes
        self.calls = 0

    def check_auth(self) -> Any:
        self.calls += 1
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in self.scopes:
            raise Unauthorized()
        return token

    def get_username(self, grant: Any) -> Any:
        return grant

    def get_scopes(self, grant: Any) -> Any:
        scopes = self.scopes[grant]
        return scopes() if callable(scopes) else scopes


def test_guards_reports_the_scopes_of_each_guard_call():
    app = App()
    protector = Protector(app, gatekeeper=ListKeeper({}))

    @app.route("/a")
    def a():
        return {}

    @app.route("/b")
    def b():
        return {}

    assert protector.guards(a) is None
    protector.guard(a, "tasks", "admin")
    protector.guard(a)
    protector.guard(a, "tasks", "admin")  # the same alternative: once
    assert protector.guards(a) == [frozenset({"tasks", "admin"}), frozenset()]
    assert protector.guards(b) is None
    # A copy: changing it changes nothing.
    protector.guards(a).clear()  # type: ignore[union-attr]
    assert len(protector.guards(a)) == 2  # type: ignore[arg-type]


# -- the protector's per-request work ----------------------------------------------


def _guarded_app(scopes: dict[str, Any]) -> tuple[App, Protector, ListKeeper, Client]:
    app = App()
    keeper = ListKeeper(scopes)
    protector = Protector(app, gatekeeper=keeper)
    seen: list[Any] = []

    @app.route("/open")
    def open_():
        seen.append((protector.authenticated_user, getattr(ctx, protector._key)))
        return {"seen": len(seen)}

    @protector.guard("items")
    @app.route("/items")
    def items():
        return {"user": protector.authenticated_user}

    app.seen = seen  # type: ignore[attr-defined]
    return app, protector, keeper, Client(app)


def test_unguarded_routes_never_call_the_gatekeeper():
    app, protector, keeper, client = _guarded_app({"t": ["items"]})
    headers = {"Authorization": "Bearer t"}
    assert client.get("/open", headers=headers).status_code == 200
    assert client.get("/open").status_code == 200
    assert keeper.calls == 0
    assert app.seen == [(None, None), (None, None)]  # type: ignore[attr-defined]
    assert client.get("/nowhere", headers=headers).status_code == 404
    assert keeper.calls == 0
    assert client.get("/items", headers=headers).json == {"user": "t"}
    assert keeper.calls == 1


def test_scopes_follow_the_grant_whatever_their_container():
    mutable = ["items"]
    app, protector, keeper, client = _guarded_app(
        {
            "list": mutable,
            "tuple": ("items+r",),
            "set": {"other", "items"},
            "frozen": frozenset({"items+rd"}),
            "generator": lambda: (s for s in ["items"]),
            "unhashable": [["items"], "items"],
            "unhashable-only": [["items"]],
            "none": [],
            "many": [f"s{i}" for i in range(200)] + ["items"],
        }
    )
    for _ in range(3):  # computed, then from the cache
        for token in ("list", "tuple", "set", "frozen", "generator", "many"):
            response = client.get(
                "/items", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 200, token
        for token in ("unhashable-only", "none"):
            response = client.get(
                "/items", headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 403, token
        response = client.get("/items", headers={"Authorization": "Bearer unhashable"})
        assert response.status_code == 200
    # The same list object, changed: the grant changes with it.
    mutable[:] = ["elsewhere"]
    assert (
        client.get("/items", headers={"Authorization": "Bearer list"}).status_code
        == 403
    )
    mutable[:] = ["items+r"]
    assert (
        client.get("/items", headers={"Authorization": "Bearer list"}).status_code
        == 200
    )


def test_many_distinct_scope_sets_stay_correct():
    # More distinct sets than the cache holds: every answer is still right.
    scopes = {f"t{i}": [f"x{i}", "items" if i % 2 else "nope"] for i in range(2500)}
    app, protector, keeper, client = _guarded_app(scopes)
    for i in range(0, 2500, 7):
        status = client.get("/items", headers={"Authorization": f"Bearer t{i}"})
        assert status.status_code == (200 if i % 2 else 403), i


# -- Counter.rules ------------------------------------------------------------------


def test_counter_rules_report_callbacks_without_tracking():
    app = App()
    counter = Counter(app, duration=60)
    counter.partition("ip", lambda req: req.remote_addr)
    counter.partition("method", lambda req: req.method)

    @app.route("/items")
    def items():
        return {}

    @app.route("/other")
    def other():
        return {}

    def limit(ip):
        raise TooManyRequests()

    counter.every(1, limit, after=100, ip=counter.any)
    counter.at(5, print, method="GET")
    counter.after_every(10, print, resource=items)
    counter.every(1, limit, after=3, resource=items, ip=counter.any)

    app_rules = counter.rules()
    assert [type(rule) for rule in app_rules] == [CounterRule, CounterRule]
    first, second = app_rules
    assert (first.callback, first.every, first.first, first.until) == (
        limit,
        1,
        101,
        None,
    )
    assert dict(first.partition_spec) == {"ip": counter.any}
    assert first.limit == 100
    assert (second.every, second.first, second.until, second.limit) == (1, 5, 5, None)
    assert dict(second.partition_spec) == {"method": "GET"}

    (own,) = counter.rules(items)
    assert own.limit == 3
    (after,) = counter.rules(items, when="after")
    assert (after.every, after.first, after.until, after.limit) == (10, 10, None, None)
    assert counter.rules(when="after") == []
    with pytest.raises(ValueError, match="when"):
        counter.rules(when="during")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        first.partition_spec["ip"] = "x"  # type: ignore[index]

    # Asking about a resource does not start tracking it.
    assert counter.rules(other) == []
    client = Client(app)
    assert client.get("/other").status_code == 200
    assert counter.hits(other).count() == 0


def test_counter_rule_limit_shapes():
    def rule(every: int, first: int, until: int | None) -> CounterRule:
        return CounterRule(print, every, first, until, {})

    assert rule(1, 1, None).limit == 0
    assert rule(1, 11, None).limit == 10
    assert rule(2, 11, None).limit is None
    assert rule(1, 11, 20).limit is None
