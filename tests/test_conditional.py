"""Conditional requests: ETag, If-None-Match (304), If-Match (412), 428."""

from __future__ import annotations

from werkzeug.test import Client

from findig.json import App


def make_app(**resource_args):
    app = App()
    store = {"doc": {"title": "first", "version": 1}}
    writes = []

    @app.route("/doc")
    @app.resource(**resource_args)
    def doc():
        return store["doc"]

    @doc.model("write")
    def write(data):
        writes.append(data)
        store["doc"] = data

    @doc.model("delete")
    def delete():
        writes.append("deleted")
        del store["doc"]

    return app, Client(app), writes


def test_get_carries_a_strong_etag_that_changes_with_the_data():
    app, client, _ = make_app()
    first = client.get("/doc")
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert client.get("/doc").headers["ETag"] == etag
    assert client.head("/doc").headers["ETag"] == etag
    client.put("/doc", json={"title": "second"})
    assert client.get("/doc").headers["ETag"] != etag


def test_if_none_match_answers_304_without_body():
    app, client, _ = make_app()
    etag = client.get("/doc").headers["ETag"]
    cached = client.get("/doc", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.data == b""
    assert cached.headers["ETag"] == etag
    assert "Content-Length" not in cached.headers
    assert client.get("/doc", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    assert client.get("/doc", headers={"If-None-Match": "*"}).status_code == 304
    assert client.get("/doc", headers={"If-None-Match": '"other"'}).status_code == 200


def test_if_match_protects_against_lost_updates():
    app, client, writes = make_app()
    etag = client.get("/doc").headers["ETag"]
    # someone else changes the document
    assert (
        client.put(
            "/doc", json={"title": "theirs"}, headers={"If-Match": etag}
        ).status_code
        == 200
    )
    # our update, based on the old representation, is refused
    stale = client.put("/doc", json={"title": "mine"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json["message"]
    assert writes == [{"title": "theirs"}]
    assert (
        client.patch("/doc", json={"x": 1}, headers={"If-Match": etag}).status_code
        == 412
    )
    assert client.delete("/doc", headers={"If-Match": etag}).status_code == 412
    fresh = client.get("/doc").headers["ETag"]
    assert client.delete("/doc", headers={"If-Match": fresh}).status_code == 200
    # the resource is gone: If-Match (even *) fails
    assert client.put("/doc", json={}, headers={"If-Match": "*"}).status_code == 412
    assert writes == [{"title": "theirs"}, "deleted"]


def test_require_if_match_refuses_unconditional_changes():
    app, client, writes = make_app(require_if_match=True)
    refused = client.put("/doc", json={"title": "x"})
    assert refused.status_code == 428
    assert writes == []
    etag = client.get("/doc").headers["ETag"]
    assert (
        client.put("/doc", json={"title": "x"}, headers={"If-Match": etag}).status_code
        == 200
    )


def test_etags_can_be_switched_off():
    app, client, _ = make_app()
    app.etags = False
    assert "ETag" not in client.get("/doc").headers
