"""The benchmarked applications: one small JSON items API per framework.

Every framework serves the same API, written the way that framework's own
documentation would have it:

- ``GET /items/<id>``: one item (a dict of five fields) from an in-memory
  store, or 404 when there is no such item;
- ``GET /items/``: the first 100 items, as a JSON list;
- ``POST /items/`` with ``{"name": ..., "price": ...}``: stores an item and
  answers 201, ``Location: http://<host>/items/<id>`` and ``{"id": <id>}``;
- any other path: the framework's idiomatic 404.

Each app owns its :class:`Store`, so every app sees the same sequence of ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

__all__ = [
    "FRAMEWORKS",
    "ID_SPAN",
    "SEED_COUNT",
    "Store",
    "WSGIApp",
    "make_falcon",
    "make_findig",
    "make_flask",
    "make_werkzeug",
]

#: A WSGI application.
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: The number of items the store starts with (ids 1 to 100): the list size.
SEED_COUNT = 100
#: Created items get ids ``SEED_COUNT + 1`` to ``SEED_COUNT + ID_SPAN``, round
#: and round, so memory stays bounded however many POSTs are benchmarked.
ID_SPAN = 1000


def _seed_item(item_id: int) -> dict[str, Any]:
    return {
        "id": item_id,
        "name": f"item {item_id}",
        "price": item_id * 3,
        "currency": "EUR",
        "in_stock": item_id % 2 == 0,
    }


class Store:
    """An in-memory item store, the same for every framework."""

    __slots__ = ("_created", "items")

    def __init__(self) -> None:
        self.items: dict[int, dict[str, Any]] = {
            i: _seed_item(i) for i in range(1, SEED_COUNT + 1)
        }
        self._created = 0

    def page(self) -> list[dict[str, Any]]:
        """The first :data:`SEED_COUNT` items (the seeds, in id order)."""
        return list(islice(self.items.values(), SEED_COUNT))

    def create(self, data: Any) -> int:
        """Store an item made from a request body and return its id.

        Ids wrap around after :data:`ID_SPAN` items, overwriting old ones.
        """
        new_id = SEED_COUNT + 1 + self._created % ID_SPAN
        self._created += 1
        self.items[new_id] = {
            "id": new_id,
            "name": data["name"],
            "price": data["price"],
            "currency": "EUR",
            "in_stock": True,
        }
        return new_id


def make_findig(store: Store | None = None) -> WSGIApp:
    """Findig: an item resource, its collection and a ``make`` model."""
    from findig.json import App

    db = store if store is not None else Store()
    items_by_id = db.items
    app = App()

    @app.route("/items/<int:id>")
    def item(id: int) -> dict[str, Any]:
        return items_by_id[id]

    @app.route("/items/")
    @item.collection
    def items() -> list[dict[str, Any]]:
        return db.page()

    @items.model("make")
    def make(data: Any) -> dict[str, int]:
        return {"id": db.create(data)}

    return app


def make_werkzeug(store: Store | None = None) -> WSGIApp:
    """Raw Werkzeug: a URL map, Request/Response and :func:`json.dumps`."""
    from werkzeug.exceptions import HTTPException, NotFound
    from werkzeug.routing import Map, Rule
    from werkzeug.wrappers import Request, Response

    db = store if store is not None else Store()
    url_map = Map(
        [
            Rule("/items/<int:id>", endpoint="item", methods=["GET"]),
            Rule("/items/", endpoint="items", methods=["GET", "POST"]),
        ]
    )

    def json_response(
        data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> Response:
        return Response(
            json.dumps(data),
            status=status,
            headers=headers,
            mimetype="application/json",
        )

    def on_item(request: Request, adapter: Any, id: int) -> Response:
        item = db.items.get(id)
        if item is None:
            raise NotFound()
        return json_response(item)

    def on_items(request: Request, adapter: Any) -> Response:
        if request.method == "POST":
            new_id = db.create(request.get_json())
            location = adapter.build("item", {"id": new_id}, force_external=True)
            return json_response({"id": new_id}, 201, {"Location": location})
        return json_response(db.page())

    views: dict[str, Callable[..., Response]] = {"item": on_item, "items": on_items}

    def application(
        environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request = Request(environ)
        adapter = url_map.bind_to_environ(environ)
        try:
            endpoint, values = adapter.match()
            response = views[endpoint](request, adapter, **values)
        except HTTPException as exc:
            # Keep the error's own headers (such as Allow), answer in JSON.
            headers = {k: v for k, v in exc.get_headers() if k != "Content-Type"}
            response = json_response(
                {"message": exc.description}, exc.code or 500, headers
            )
        return response(environ, start_response)

    return application


def make_flask(store: Store | None = None) -> WSGIApp:
    """Flask 3: view functions returning dicts and lists, ``url_for``."""
    from flask import Flask, abort, request, url_for

    db = store if store is not None else Store()
    app = Flask(__name__)

    @app.get("/items/<int:id>")
    def item(id: int) -> Any:
        found = db.items.get(id)
        if found is None:
            abort(404)
        return found

    @app.get("/items/")
    def items() -> Any:
        return db.page()

    @app.post("/items/")
    def make() -> Any:
        new_id = db.create(request.get_json())
        location = url_for("item", id=new_id, _external=True)
        return {"id": new_id}, 201, {"Location": location}

    return app


def make_falcon(store: Store | None = None) -> WSGIApp:
    """Falcon 4: responder classes setting ``resp.media``."""
    import falcon

    db = store if store is not None else Store()

    class ItemResource:
        def on_get(self, req: falcon.Request, resp: falcon.Response, id: int) -> None:
            item = db.items.get(id)
            if item is None:
                raise falcon.HTTPNotFound()
            resp.media = item

    class ItemsResource:
        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.media = db.page()

        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            new_id = db.create(req.get_media())
            resp.status = falcon.HTTP_201
            resp.location = f"{req.prefix}/items/{new_id}"
            resp.media = {"id": new_id}

    app = falcon.App()
    app.add_route("/items/{id:int}", ItemResource())
    app.add_route("/items/", ItemsResource())
    return app


#: The frameworks compared, by display name, in table order.
FRAMEWORKS: dict[str, Callable[[], WSGIApp]] = {
    "Findig": make_findig,
    "Werkzeug": make_werkzeug,
    "Flask": make_flask,
    "Falcon": make_falcon,
}
