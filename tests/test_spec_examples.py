"""The examples of the spec's Quickstart, "Custom applications" and the
tutorial's "Explicit data models" section, run as printed (typos aside)."""

from __future__ import annotations

import json
import pickle
from uuid import uuid4

from werkzeug.exceptions import BadRequest
from werkzeug.test import Client

from findig import App as PlainApp
from findig.json import App


def test_tiniest_app_lists_itself():
    app = App(indent=4, autolist=True)
    response = Client(app).get("/")
    assert response.status_code == 200
    assert response.json == [
        {"methods": ["HEAD", "GET"], "url": "/", "is_strict_collection": False}
    ]
    # indent=4 is honoured
    assert '\n    {\n        "methods"' in response.get_data(as_text=True)


def test_adding_resources_and_names():
    app = App()

    @app.route("/resource")
    def resource():
        return {"msg": "Hello World!"}

    @app.route("/named")
    @app.resource(name="my-super-special-resource")
    def named():
        return {"msg": f"Hello, from {named.name}"}

    client = Client(app)
    assert client.get("/resource").json == {"msg": "Hello World!"}
    assert client.get("/named").json == {"msg": "Hello, from my-super-special-resource"}


def test_collections_with_and_without_urls():
    app = App()

    @app.route("/people/<int:idx>")
    def person(idx):
        return people()[idx - 1]

    @app.route("/people/")
    @person.collection(include_urls=True)
    def people():
        return [
            {"name": "John Doe", "age": 40, "idx": 1},
            {"name": "Jane Smith", "age": 34, "idx": 2},
        ]

    client = Client(app)
    listing = client.get("/people/").json
    assert [item["url"] for item in listing] == ["/people/1", "/people/2"]
    assert client.get("/people/2").json["name"] == "Jane Smith"
    # the int converter refuses non-integers with 404
    assert client.get("/people/anthony").status_code == 404
    # the item function raised IndexError (a LookupError): 404
    assert client.get("/people/9").status_code == 404


def test_bindargs_maps_fields_to_url_variables():
    app = App()

    @app.route("/users/<int:id>")
    def user(id):
        return {}

    @app.route("/users/")
    @user.collection(include_urls=True, bindargs={"user_id": "id"})
    def users():
        return [{"user_id": 7, "name": "x"}]

    assert Client(app).get("/users/").json == [
        {"user_id": 7, "name": "x", "url": "/users/7"}
    ]


def test_write_operation_enables_put():
    app = App()

    @app.route("/resource")
    def resource():
        return {}

    @resource.model("write")
    def write_new_data(data):
        raise BadRequest

    client = Client(app)
    assert client.put("/resource", json={"a": 1}).status_code == 400
    assert client.delete("/resource").status_code == 405


def test_restricting_http_methods():
    app = App()
    calls = []

    @app.route("/resource", methods=["GET", "DELETE"])
    def resource():
        return {"ok": True}

    @resource.model("write")
    def write_resource(data):
        calls.append("write")

    @resource.model("delete")
    def delete_resource():
        calls.append("delete")

    client = Client(app)
    response = client.put("/resource", json={})
    assert response.status_code == 405
    assert response.headers["Allow"] == "HEAD, GET, DELETE, OPTIONS"
    assert client.delete("/resource").status_code == 200
    assert calls == ["delete"]


def to_xml(data):
    return "<data>" + "".join(f"<{k}>{v}</{k}>" for k, v in data.items()) + "</data>"


def from_xml(s):
    inner = s.removeprefix("<data>").removesuffix("</data>")
    return {"raw": inner}


def test_custom_application_without_default():
    app = PlainApp()

    @app.formatter.register("text/xml")
    def convert_to_xml(data):
        s = to_xml(data)
        return s  # always return a string

    @app.parser.register("text/xml")
    def convert_from_xml(s):
        obj = from_xml(s)
        return obj

    received = []

    @app.route("/thing")
    def thing():
        return {"name": "Jon"}

    @thing.model("write")
    def write_thing(data):
        received.append(data)

    client = Client(app)
    xml = client.get("/thing", headers={"Accept": "text/xml"})
    assert xml.data == b"<data><name>Jon</name></data>"
    assert xml.mimetype == "text/xml"
    # no Accept header and no default: text/plain, str() of the data
    plain = client.get("/thing")
    assert plain.mimetype == "text/plain"
    assert plain.get_data(as_text=True) == str({"name": "Jon"})
    # content without a content type and no default parser: 415
    assert client.put("/thing", data="<data>x</data>").status_code == 415
    assert received == []
    assert (
        client.put("/thing", data="<data>x</data>", content_type="text/xml").status_code
        == 200
    )
    assert received == [{"raw": "x"}]


def test_custom_application_with_defaults():
    app = PlainApp()

    @app.formatter.register("text/xml", default=True)
    def convert_to_xml(data):
        return to_xml(data)

    @app.parser.register("text/xml", default=True)
    def convert_from_xml(s):
        return from_xml(s)

    received = []

    @app.route("/thing")
    def thing():
        return {"name": "Jon"}

    @thing.model("write")
    def write_thing(data):
        received.append(data)

    client = Client(app)
    assert client.get("/thing").data == b"<data><name>Jon</name></data>"
    assert client.put("/thing", data="<data>y</data>").status_code == 200
    assert received == [{"raw": "y"}]


def test_global_pickle_formatter_and_resource_formatter():
    app = PlainApp()
    app.formatter.register("x-application/python-pickle", pickle.dumps, default=True)

    @app.route("/my-resource")
    def resource():
        return {
            "name": "Jon",
            "age": 23,
        }

    @resource.formatter.register("text/xml")
    def format_resource(data):
        return "<resource><name>{}</name><age>{}</age></resource>".format(
            data["name"], data["age"]
        )

    @app.route("/other")
    def other():
        return {"x": 1}

    client = Client(app)
    assert pickle.loads(client.get("/my-resource").data) == {"name": "Jon", "age": 23}
    xml = client.get("/my-resource", headers={"Accept": "text/xml"})
    assert xml.data == b"<resource><name>Jon</name><age>23</age></resource>"
    assert xml.headers["Vary"] == "Accept"
    # the resource's formatter is its own: other resources cannot produce XML
    assert client.get("/other", headers={"Accept": "text/xml"}).status_code == 406


def test_tutorial_explicit_data_models():
    app = App()
    TASKS: dict[str, dict] = {}

    @app.route("/tasks/<id>")
    @app.resource
    def task(id):
        return TASKS[id]

    @task.model("write")
    def write_task(data):
        TASKS[task.id] = data

    @task.model("delete")
    def delete_task():
        del TASKS[task.id]

    @app.route("/tasks/")
    @task.collection
    def tasks():
        return TASKS

    @tasks.model("make")
    def make_task(data):
        token = {"id": str(uuid4())}
        TASKS[token["id"]] = data
        return token

    client = Client(app)
    base = "http://localhost:5000"
    assert client.get("/tasks/", base_url=base).json == {}
    assert client.get("/tasks/foo", base_url=base).status_code == 404

    created = client.post("/tasks/", json={"title": "My Task"}, base_url=base)
    assert created.status_code == 201
    task_id = created.json["id"]
    assert created.headers["Location"] == f"http://localhost:5000/tasks/{task_id}"
    assert client.get(f"/tasks/{task_id}", base_url=base).json == {"title": "My Task"}

    replaced = client.put(f"/tasks/{task_id}", json={"title": "Done"}, base_url=base)
    assert replaced.status_code == 200
    assert replaced.data == b""
    assert replaced.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert TASKS[task_id] == {"title": "Done"}

    assert client.delete(f"/tasks/{task_id}", base_url=base).status_code == 200
    assert client.get(f"/tasks/{task_id}", base_url=base).status_code == 404
    assert TASKS == {}


def test_dispatcher_docstring_examples():
    app = App()

    @app.route("/index")
    @app.resource(name="index")
    def index_generator():
        return ({"id": 10},)

    @app.route("/special/<route>/<param>")
    @app.resource(name="my-very-special-resource")
    def my_resource(route, param):
        return {"id": 10, "route": route, "param": param}

    client = Client(app)
    assert client.get("/index").json == [{"id": 10}]
    assert client.get("/special/a/b").json == {"id": 10, "route": "a", "param": "b"}
    assert index_generator.name == "index"


def test_data_model_mapping_interface():
    from findig.data_model import AbstractDataModel

    class ReadWriteModel(AbstractDataModel):
        def read(self):
            return {"value": 1}

        def write(self, new_data):
            self.written = new_data

    model = ReadWriteModel()
    assert sorted(model) == ["read", "write"]
    assert len(model) == 2
    assert model["read"]() == {"value": 1}
    assert "delete" not in model

    app = App()

    @app.route("/thing")
    @app.resource(model=model)
    def thing():
        return {"value": 1}

    client = Client(app)
    assert client.put("/thing", json={"value": 2}).status_code == 200
    assert model.written == {"value": 2}
    assert client.delete("/thing").status_code == 405


def test_json_encoder_types():
    import datetime
    from decimal import Decimal
    from uuid import UUID

    app = App()
    uid = UUID(int=5)

    @app.route("/values")
    def values():
        return {
            "when": datetime.datetime(2015, 7, 19, 0, 0, tzinfo=datetime.UTC),
            "day": datetime.date(2015, 7, 19),
            "time": datetime.time(9, 30),
            "price": Decimal("10.10"),
            "uid": uid,
            "gen": (i for i in range(3)),
            "set": frozenset({1}),
        }

    assert json.loads(Client(app).get("/values").data) == {
        "when": "2015-07-19T00:00:00+00:00",
        "day": "2015-07-19",
        "time": "09:30:00",
        "price": "10.10",
        "uid": str(uid),
        "gen": [0, 1, 2],
        "set": [1],
    }
