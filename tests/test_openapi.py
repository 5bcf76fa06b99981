"""The OpenAPI tool: the generated document (validated against the OpenAPI
3.1 schema), and the document, docs page and static files served over HTTP."""

from __future__ import annotations

import gzip
import importlib.util
import json
import uuid
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate
from werkzeug.exceptions import TooManyRequests, Unauthorized
from werkzeug.routing import BaseConverter
from werkzeug.test import Client

from findig import App as PlainApp
from findig.context import request
from findig.dispatcher import Dispatcher
from findig.json import App
from findig.tools.counter import Counter
from findig.tools.openapi import OpenAPI
from findig.tools.protector import BasicProtector, GateKeeper, Protector
from findig.tools.validator import Validator

ROOT = Path(__file__).resolve().parent.parent


class TokenGateKeeper(GateKeeper):
    """Bearer tokens with scopes."""

    challenge = 'Bearer realm="tasks"'
    tokens = {
        "t-admin": ("ann", ["tasks+crud", "reports"]),
        "t-reader": ("bob", ["tasks"]),
    }

    def check_auth(self) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or token not in self.tokens:
            raise Unauthorized()
        return self.tokens[token]

    def get_username(self, grant: Any) -> Any:
        return grant[0]

    def get_scopes(self, grant: Any) -> Any:
        return grant[1]


class HexConverter(BaseConverter):
    """A custom URL converter that describes itself."""

    regex = "[0-9a-f]+"
    openapi_schema = {"type": "string", "pattern": "^[0-9a-f]+$"}


def slug(value: Any) -> str:
    """A custom field converter that describes itself."""
    if not isinstance(value, str) or not value.isidentifier():
        raise ValueError(value)
    return value


slug.openapi_schema = {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}  # type: ignore[attr-defined]


class LazyNote:
    """A lazy record (as data sets return) offering write and delete."""

    def __init__(self, store: dict[str, Any], name: str) -> None:
        self.store = store
        self.name = name

    def __iter__(self) -> Any:
        return iter(self.store[self.name].items())

    def keys(self) -> Any:
        return self.store[self.name].keys()

    def __getitem__(self, key: str) -> Any:
        return self.store[self.name][key]

    def __len__(self) -> int:
        return len(self.store[self.name])

    def data_operations(self) -> dict[str, Any]:
        return {"write": self.write, "delete": self.delete}

    def write(self, data: Any) -> None:
        self.store[self.name] = dict(data)

    def delete(self) -> None:
        del self.store[self.name]


def build(**app_args: Any) -> dict[str, Any]:
    """An app exercising every feature the document describes."""
    app_class = app_args.pop("app_class", App)
    app = app_class(**app_args)
    validator = Validator(app)
    protector = Protector(app, gatekeeper=TokenGateKeeper())
    basic = BasicProtector(
        app, auth_func=lambda user, password: (user, password) == ("ann", "pw")
    )
    counter = Counter(app, duration=3600)
    counter.partition("ip", lambda req: req.remote_addr)
    tasks_data: dict[int, dict[str, Any]] = {
        1: {"id": 1, "title": "Write the docs", "due": "2015-07-19 09:00:00+0000"}
    }

    # -- the tutorial's tasks API -------------------------------------------

    @app.route("/tasks/<int(min=1):id>")
    @app.resource
    def task(id):
        """One task.

        Tasks have a title, a due date and a status."""
        return tasks_data[id]

    @task.model("write")
    def write_task(data, id):
        tasks_data[id] = {**data, "id": id}

    @task.model("delete")
    def delete_task(id):
        del tasks_data[id]

    @app.route("/tasks")
    @task.collection(include_urls=True)
    def tasks():
        return list(tasks_data.values())

    @tasks.model("make")
    def make_task(data):
        new_id = max(tasks_data, default=0) + 1
        tasks_data[new_id] = {**data, "id": new_id}
        return {"id": new_id}

    validator.restrict(task, "*title", "desc", "*due", "status", "tags", "points")
    validator.enforce(
        task,
        due=validator.date("%Y-%m-%d %H:%M:%S%z"),
        status="any(open, done, blocked)",
        tags=["string(maxlength=20)"],
        points="int(min=1, max=13)",
    )
    protector.guard(task, "tasks")
    protector.guard(tasks, "tasks")
    protector.guard(tasks, "admin", "reports")

    # -- strict input, every kind of field converter --------------------------

    @app.route("/samples/<uuid:ref>")
    @app.resource(require_if_match=True)
    def sample(ref):
        return {"ref": ref}

    @sample.model("write")
    def write_sample(data, ref):
        pass

    validator.restrict(
        sample, "*name", "ratio", "code", "count", "flag", strip_extra=False
    )
    validator.enforce(
        sample,
        ratio="float(min=0, max=1)",
        code="string(length=3)",
        count=int,
        flag=bool,
        name=slug,
        weights=[float],
        key="uuid",
        pattern=Validator.regex("[a-z]+"),
    )

    # -- every kind of URL converter -----------------------------------------

    @app.route(
        "/conv/<int(min=2, max=9):small>/<float(max=5.5):ratio>/<any(red, blue):color>"
        "/<string(length=2):cc>/<string(minlength=3, maxlength=8):word>/<name>"
        "/<int(fixed_digits=3):zip>/<path:rest>"
    )
    @app.resource
    def converters(small, ratio, color, cc, word, name, zip, rest):
        return {"small": small}

    # -- guarded by Basic auth, rate limited -----------------------------------

    @basic.guard
    @app.route("/account")
    @app.resource
    def account():
        return {"user": basic.authenticated_user}

    @counter.every(1, after=100, ip=counter.any, resource=account)
    def too_many(ip):
        raise TooManyRequests()

    # -- a lazy record; a part included under a prefix ------------------------

    notes_store = {"0": {}, "welcome": {"text": "hi"}}

    @app.route("/notes/<name>")
    @app.resource(lazy=True)
    def note(name):
        return LazyNote(notes_store, name)

    part = Dispatcher()

    @part.route("/status")
    @part.resource
    def status():
        return {"ok": True}

    app.include(part, prefix="/admin")

    openapi = OpenAPI(
        app,
        title="Tasks",
        version="2.0",
        description="The tutorial's API.",
        validator=validator,
        protector=[protector, basic],
        counter=counter,
        rate_limits={tasks: "1000/hour", status: ["10/30s", (5, 1)]},
    )
    return {
        "app": app,
        "openapi": openapi,
        "task": task,
        "tasks": tasks,
        "validator": validator,
    }


@pytest.fixture
def setup() -> dict[str, Any]:
    return build()


@pytest.fixture
def doc(setup: dict[str, Any]) -> dict[str, Any]:
    return setup["openapi"].document()


def schema_of(doc: dict[str, Any], ref_or_schema: dict[str, Any]) -> dict[str, Any]:
    ref = ref_or_schema.get("$ref")
    if ref is None:
        return ref_or_schema
    return doc["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def body_schema(doc: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    content = doc["paths"][path][method]["requestBody"]["content"]
    return schema_of(doc, content["application/json"]["schema"])


def parameters(doc: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in doc["paths"][path].get("parameters", [])}


CONV_PATH = "/conv/{small}/{ratio}/{color}/{cc}/{word}/{name}/{zip}/{rest}"


# -- the document ---------------------------------------------------------------


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]) -> None:
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {
        "title": "Tasks",
        "version": "2.0",
        "description": "The tutorial's API.",
    }


def test_paths_and_methods_follow_the_routes(doc: dict[str, Any]) -> None:
    paths = doc["paths"]
    assert set(paths) == {
        "/tasks/{id}",
        "/tasks",
        "/samples/{ref}",
        CONV_PATH,
        "/account",
        "/notes/{name}",
        "/admin/status",
    }
    methods = {
        path: sorted(k for k in item if k != "parameters")
        for path, item in paths.items()
    }
    assert methods["/tasks/{id}"] == ["delete", "get", "patch", "put"]
    assert methods["/tasks"] == ["get", "post"]
    assert methods["/samples/{ref}"] == ["get", "patch", "put"]
    assert methods["/account"] == ["get"]
    # The lazy record's operations come from its data_operations().
    assert methods["/notes/{name}"] == ["delete", "get", "patch", "put"]
    # The tool's own resources are not described.
    assert "/openapi.json" not in paths and "/docs" not in paths


def test_documented_methods_are_the_allowed_ones(
    setup: dict[str, Any], doc: dict[str, Any]
) -> None:
    client = Client(setup["app"])
    samples = {
        "/tasks/{id}": "/tasks/1",
        "/samples/{ref}": f"/samples/{uuid.uuid4()}",
        CONV_PATH: "/conv/3/1.5/red/ab/word/x/007/a/b/c",
        "/notes/{name}": "/notes/welcome",
    }
    for path, item in doc["paths"].items():
        response = client.options(samples.get(path, path))
        assert response.status_code == 200, path
        allowed = {m.strip() for m in response.headers["Allow"].split(",")}
        documented = {m.upper() for m in item if m != "parameters"}
        assert allowed - {"HEAD", "OPTIONS"} == documented, path


def test_operation_ids_are_unique_and_stable(
    setup: dict[str, Any], doc: dict[str, Any]
) -> None:
    ids = [
        op["operationId"]
        for item in doc["paths"].values()
        for key, op in item.items()
        if key != "parameters"
    ]
    assert len(ids) == len(set(ids))
    assert doc["paths"]["/tasks"]["get"]["operationId"] == "list_tasks"
    assert doc["paths"]["/tasks"]["post"]["operationId"] == "create_task"
    assert doc["paths"]["/tasks/{id}"]["put"]["operationId"] == "replace_task"
    assert doc["paths"]["/tasks/{id}"]["patch"]["operationId"] == "update_task"
    assert doc["paths"]["/tasks/{id}"]["delete"]["operationId"] == "delete_task"
    # Another app built the same way gets the same document.
    assert build()["openapi"].document() == doc


def test_tags_per_first_path_segment(doc: dict[str, Any]) -> None:
    assert [t["name"] for t in doc["tags"]] == [
        "tasks",
        "samples",
        "conv",
        "account",
        "notes",
        "admin",
    ]
    assert doc["paths"]["/tasks/{id}"]["get"]["tags"] == ["tasks"]
    assert doc["paths"]["/admin/status"]["get"]["tags"] == ["admin"]


def test_docstrings_give_summaries_and_descriptions(doc: dict[str, Any]) -> None:
    get = doc["paths"]["/tasks/{id}"]["get"]
    assert get["summary"] == "One task."
    assert get["description"] == "Tasks have a title, a due date and a status."
    assert doc["paths"]["/tasks/{id}"]["put"]["summary"] == "Replace task"
    assert doc["paths"]["/tasks"]["get"]["summary"] == "List tasks"
    assert doc["paths"]["/tasks"]["post"]["summary"] == "Create task"


def test_path_parameters_from_every_converter(doc: dict[str, Any]) -> None:
    params = parameters(doc, CONV_PATH)
    assert list(params) == [
        "small", "ratio", "color", "cc", "word", "name", "zip", "rest"
    ]  # fmt: skip
    assert all(p["in"] == "path" and p["required"] for p in params.values())
    schemas = {name: p["schema"] for name, p in params.items()}
    assert schemas["small"] == {"type": "integer", "minimum": 2, "maximum": 9}
    assert schemas["ratio"] == {"type": "number", "minimum": 0, "maximum": 5.5}
    assert "decimal point" in params["ratio"]["description"]
    assert schemas["color"] == {"type": "string", "enum": ["blue", "red"]}
    assert schemas["cc"] == {"type": "string", "minLength": 2, "maxLength": 2}
    assert schemas["word"] == {"type": "string", "minLength": 3, "maxLength": 8}
    assert schemas["name"] == {"type": "string", "minLength": 1}
    assert schemas["zip"] == {"type": "string", "pattern": "^[0-9]{3}$"}
    assert schemas["rest"] == {"type": "string", "minLength": 1}
    assert "slashes" in params["rest"]["description"]
    assert parameters(doc, "/tasks/{id}")["id"]["schema"] == {
        "type": "integer",
        "minimum": 1,
    }
    assert parameters(doc, "/samples/{ref}")["ref"]["schema"] == {
        "type": "string",
        "format": "uuid",
    }


def test_url_converters_may_describe_themselves() -> None:
    from werkzeug.routing import Map

    from findig.tools._openapi_schema import converter_schema

    schema = converter_schema(HexConverter(Map()), in_path=True)
    assert schema == {"type": "string", "pattern": "^[0-9a-f]+$"}
    schema["pattern"] = "changed"
    assert HexConverter.openapi_schema["pattern"] == "^[0-9a-f]+$"


def test_request_bodies_from_validator_rules(doc: dict[str, Any]) -> None:
    put = body_schema(doc, "/tasks/{id}", "put")
    assert put["type"] == "object"
    assert put["required"] == ["due", "title"]
    props = put["properties"]
    assert set(props) == {"title", "desc", "due", "status", "tags", "points"}
    assert props["due"]["type"] == "string"
    assert props["due"]["format"] == "date-time"
    assert props["due"]["examples"] == ["2015-07-17 09:30:00+0000"]
    assert "%Y-%m-%d %H:%M:%S%z" in props["due"]["description"]
    assert props["status"] == {"type": "string", "enum": ["blocked", "done", "open"]}
    assert props["tags"] == {
        "type": "array",
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": 20,
            "pattern": "^[^/]*$",
        },
    }
    assert props["points"] == {"type": "integer", "minimum": 1, "maximum": 13}
    # Unknown fields are stripped, not refused.
    assert "additionalProperties" not in put
    # The collection inherits its item's rules: POST shares the schema.
    post = doc["paths"]["/tasks"]["post"]["requestBody"]
    assert post["required"] is True
    assert post["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/task_input"
    }


def test_patch_bodies_are_partial(doc: dict[str, Any]) -> None:
    patch = body_schema(doc, "/tasks/{id}", "patch")
    assert "required" not in patch
    assert set(patch["properties"]) == {
        "title",
        "desc",
        "due",
        "status",
        "tags",
        "points",
    }
    # Optional fields may be removed with null (JSON merge patch) ...
    assert patch["properties"]["status"] == {
        "anyOf": [
            {"type": "string", "enum": ["blocked", "done", "open"]},
            {"type": "null"},
        ]
    }
    # ... required ones may not.
    assert patch["properties"]["due"]["type"] == "string"
    assert doc["paths"]["/tasks/{id}"]["patch"]["requestBody"]["required"] is True


def test_strict_bodies_and_every_field_converter(doc: dict[str, Any]) -> None:
    put = body_schema(doc, "/samples/{ref}", "put")
    assert put["additionalProperties"] is False
    assert put["required"] == ["name"]
    props = put["properties"]
    # Only the allowed fields: converters of other fields are not used.
    assert set(props) == {"name", "ratio", "code", "count", "flag"}
    assert props["ratio"] == {"type": "number", "minimum": 0, "maximum": 1}
    assert props["code"]["minLength"] == props["code"]["maxLength"] == 3
    assert props["count"] == {"type": "integer"}
    assert props["flag"] == {"type": "boolean"}
    assert props["name"] == {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}


def test_field_converters_without_restrictions() -> None:
    app = App()
    validator = Validator(app)

    @app.route("/x")
    @app.resource
    def x():
        return {}

    @x.model("write")
    def write_x(data):
        pass

    validator.enforce(
        x,
        weights=[float],
        key="uuid",
        kind="any(a, b)",
        word=Validator.regex("[a-z]+"),
        ident=uuid.UUID,
        path="path",
        anything=lambda v: v,
        count="int(fixed_digits=4)",
    )
    doc = OpenAPI(app, validator=validator).document()
    validate(doc)
    put = body_schema(doc, "/x", "put")
    assert "required" not in put and "additionalProperties" not in put
    props = put["properties"]
    assert props["weights"] == {"type": "array", "items": {"type": "number"}}
    assert props["key"] == props["ident"] == {"type": "string", "format": "uuid"}
    assert props["kind"] == {"type": "string", "enum": ["a", "b"]}
    assert props["word"] == {"type": "string", "pattern": "^(?:[a-z]+)$"}
    assert props["path"] == {"type": "string", "minLength": 1}
    assert props["anything"] == {}
    assert props["count"]["type"] == "integer"
    assert "4 digits" in props["count"]["description"]


def test_security_from_protector_guards(doc: dict[str, Any]) -> None:
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"]["type"] == "http"
    assert schemes["bearerAuth"]["scheme"] == "bearer"
    assert schemes["basicAuth"] == {
        "type": "http",
        "scheme": "basic",
        "description": "HTTP Basic authentication (realm 'guarded').",
    }
    item = doc["paths"]["/tasks/{id}"]
    assert item["get"]["security"] == [{"bearerAuth": ["tasks+r"]}]
    assert item["put"]["security"] == [{"bearerAuth": ["tasks+cu"]}]
    assert item["patch"]["security"] == [{"bearerAuth": ["tasks+u"]}]
    assert item["delete"]["security"] == [{"bearerAuth": ["tasks+d"]}]
    # Two guards are alternatives; the scopes of one guard are all needed.
    assert doc["paths"]["/tasks"]["post"]["security"] == [
        {"bearerAuth": ["tasks+c"]},
        {"bearerAuth": ["admin+c", "reports+c"]},
    ]
    assert doc["paths"]["/account"]["get"]["security"] == [{"basicAuth": []}]
    for method in ("get", "put", "delete"):
        responses = item[method]["responses"]
        assert responses["401"] == {"$ref": "#/components/responses/Unauthorized"}
        assert responses["403"] == {"$ref": "#/components/responses/Forbidden"}
    # A guard without scopes never answers 403.
    assert "403" not in doc["paths"]["/account"]["get"]["responses"]
    assert "security" not in doc["paths"]["/admin/status"]["get"]
    assert "401" not in doc["paths"]["/admin/status"]["get"]["responses"]
    unauthorized = doc["components"]["responses"]["Unauthorized"]
    assert "WWW-Authenticate" in unauthorized["headers"]


def test_documented_security_is_enforced(setup: dict[str, Any]) -> None:
    client = Client(setup["app"])
    assert client.get("/tasks/1").status_code == 401
    reader = {"Authorization": "Bearer t-reader"}
    assert client.get("/tasks/1", headers=reader).status_code == 200
    # tasks+r does not cover the documented tasks+d.
    assert client.delete("/tasks/1", headers=reader).status_code == 403
    admin = {"Authorization": "Bearer t-admin"}
    assert client.delete("/tasks/1", headers=admin).status_code == 200


def test_rate_limits(doc: dict[str, Any]) -> None:
    account = doc["paths"]["/account"]["get"]
    assert account["x-rate-limit"] == [
        {"limit": 100, "window": 3600, "scope": "resource", "per": ["ip"]}
    ]
    assert account["responses"]["429"] == {
        "$ref": "#/components/responses/TooManyRequests"
    }
    assert "Retry-After" in doc["components"]["responses"]["TooManyRequests"]["headers"]
    assert doc["paths"]["/tasks"]["get"]["x-rate-limit"] == [
        {"limit": 1000, "window": 3600}
    ]
    assert doc["paths"]["/admin/status"]["get"]["x-rate-limit"] == [
        {"limit": 10, "window": 30},
        {"limit": 5, "window": 1},
    ]
    assert "x-rate-limit" not in doc["paths"]["/tasks/{id}"]["get"]
    assert "429" not in doc["paths"]["/tasks/{id}"]["get"]["responses"]


def test_app_wide_limiters_apply_to_every_operation() -> None:
    app = App()
    counter = Counter(app, duration=60)

    @counter.every(1, after=50)
    def refuse():
        raise TooManyRequests()

    @counter.at(3)
    def not_a_limit():
        pass

    @app.route("/a")
    @app.resource
    def a():
        return {}

    doc = OpenAPI(app, counter=counter).document()
    validate(doc)
    assert doc["paths"]["/a"]["get"]["x-rate-limit"] == [
        {"limit": 50, "window": 60, "scope": "app"}
    ]


def test_standard_responses(doc: dict[str, Any]) -> None:
    task = doc["paths"]["/tasks/{id}"]
    get = task["get"]["responses"]
    assert set(get) == {"200", "304", "401", "403", "404", "406"}
    assert "ETag" in get["200"]["headers"]
    assert get["200"]["content"] == {"application/json": {"schema": {}}}
    assert task["get"]["parameters"][0]["name"] == "If-None-Match"
    put = task["put"]
    assert set(put["responses"]) == {
        "200", "400", "401", "403", "404", "406", "412", "413", "415"
    }  # fmt: skip
    assert put["parameters"] == [
        {
            "name": "If-Match",
            "in": "header",
            "required": False,
            "description": put["parameters"][0]["description"],
            "schema": {"type": "string"},
        }
    ]
    post = doc["paths"]["/tasks"]["post"]["responses"]
    assert set(post) >= {"201", "400", "413", "415"}
    assert "200" not in post
    assert post["201"]["headers"]["Location"]["schema"] == {
        "type": "string",
        "format": "uri",
    }
    listing = doc["paths"]["/tasks"]["get"]["responses"]["200"]
    items = listing["content"]["application/json"]["schema"]
    assert items["type"] == "array"
    assert items["items"]["properties"]["url"]["format"] == "uri-reference"
    # A resource that requires If-Match: 428, and a required header.
    sample_put = doc["paths"]["/samples/{ref}"]["put"]
    assert sample_put["parameters"][0]["required"] is True
    assert sample_put["responses"]["428"] == {
        "$ref": "#/components/responses/PreconditionRequired"
    }
    # The lazy record may lack an operation for a given item: 405.
    assert "405" in doc["paths"]["/notes/{name}"]["put"]["responses"]
    assert "Allow" in doc["components"]["responses"]["MethodNotAllowed"]["headers"]


def test_error_schema_of_the_json_app(doc: dict[str, Any]) -> None:
    error = doc["components"]["responses"]["BadRequest"]["content"]
    assert error == {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
    }
    schema = doc["components"]["schemas"]["Error"]
    assert schema["required"] == ["message"]
    assert schema["properties"]["error"]["properties"]["fields"]["type"] == "array"


def test_problem_details_errors() -> None:
    doc = build(problem_details=True)["openapi"].document()
    validate(doc)
    error = doc["components"]["responses"]["NotFound"]["content"]
    assert error == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
    }
    problem = doc["components"]["schemas"]["Problem"]
    assert set(problem["properties"]) >= {"type", "title", "status", "detail", "errors"}
    assert "Error" not in doc["components"]["schemas"]


def test_plain_app_without_content_handlers() -> None:
    app = PlainApp()

    @app.route("/things/<int:id>")
    @app.resource
    def thing(id):
        return "a thing"

    @thing.model("write")
    def write_thing(data, id):
        pass

    doc = OpenAPI(app, title="Plain").document()
    validate(doc)
    put = doc["paths"]["/things/{id}"]["put"]
    # No parser is registered: there is no body to describe (415 is coming).
    assert "requestBody" not in put
    assert "415" in put["responses"]
    assert doc["components"]["responses"]["NotFound"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }
    get = doc["paths"]["/things/{id}"]["get"]["responses"]["200"]
    assert get["content"] == {"text/plain": {"schema": {}}}


def test_gatekeeper_describes_its_own_scheme() -> None:
    class OAuthGateKeeper(TokenGateKeeper):
        openapi_scheme = {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth/token", "scopes": {}}},
        }

    app = App()
    protector = Protector(app, gatekeeper=OAuthGateKeeper())

    @protector.guard("reports")
    @app.route("/reports")
    @app.resource
    def reports():
        return []

    doc = OpenAPI(app, protector=protector).document()
    validate(doc)
    scheme = doc["components"]["securitySchemes"]["oauth2"]
    assert scheme["flows"]["clientCredentials"]["scopes"] == {
        "reports+r": "Scope reports+r"
    }
    assert doc["paths"]["/reports"]["get"]["security"] == [{"oauth2": ["reports+r"]}]
    # The gatekeeper's own mapping is left alone.
    assert OAuthGateKeeper.openapi_scheme["flows"]["clientCredentials"]["scopes"] == {}


def test_several_routes_to_one_resource() -> None:
    app = App()

    @app.route("/me")
    @app.route("/users/<int:id>")
    @app.resource
    def user(id=0):
        return {"id": id}

    doc = OpenAPI(app).document()
    validate(doc)
    ids = [item["get"]["operationId"] for item in doc["paths"].values()]
    assert len(ids) == 2 and len(set(ids)) == 2
    assert ids[0] == "get_user"


def test_document_is_a_copy_and_to_json(setup: dict[str, Any]) -> None:
    openapi = setup["openapi"]
    first = openapi.document()
    first["paths"].clear()
    assert openapi.document()["paths"]
    assert json.loads(openapi.to_json()) == openapi.document()
    assert openapi.to_json(indent=None).startswith('{"openapi": "3.1.0"')


def test_document_before_any_request_builds_the_routes() -> None:
    app = App()

    @app.route("/a")
    @app.resource
    def a():
        return {}

    openapi = OpenAPI(app)
    assert not app.frozen
    assert list(openapi.document()["paths"]) == ["/a"]
    assert app.frozen
    with pytest.raises(RuntimeError, match="first request"):
        app.route(a, "/b")


# -- serving ----------------------------------------------------------------------


def test_openapi_json_is_served(setup: dict[str, Any]) -> None:
    client = Client(setup["app"])
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "no-cache"
    served = response.json
    validate(served)
    assert served == setup["openapi"].document()
    etag = response.headers["ETag"]
    again = client.get("/openapi.json", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.data == b""
    head = client.head("/openapi.json")
    assert head.status_code == 200 and head.data == b""


def test_served_under_a_url_prefix_names_the_prefix(setup: dict[str, Any]) -> None:
    client = Client(setup["app"])
    response = client.get("/openapi.json", environ_overrides={"SCRIPT_NAME": "/api"})
    served = response.json
    assert served["servers"] == [{"url": "/api"}]
    assert list(served)[:3] == ["openapi", "info", "servers"]
    validate(served)
    assert "servers" not in client.get("/openapi.json").json


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href", "data-spec-url") and value is not None:
                self.urls.append((tag, value))


def test_docs_page_is_served_without_external_urls(setup: dict[str, Any]) -> None:
    client = Client(setup["app"])
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    page = response.get_data(as_text=True)
    assert "<title>Tasks 2.0 — API documentation</title>" in page
    parser = _Sources()
    parser.feed(page)
    urls = dict((value.split("?")[0], tag) for tag, value in parser.urls)
    assert urls == {
        "docs/static/swagger-ui.css": "link",
        "docs/static/favicon-32x32.png": "link",
        "docs/static/favicon-16x16.png": "link",
        "docs/static/swagger-ui-bundle.js": "script",
        "docs/static/findig-swagger-init.js": "script",
        "openapi.json": "div",
    }
    for _, value in parser.urls:
        assert not value.startswith(("http://", "https://", "//"))
    assert "<script>" not in page  # no inline script
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "default-src 'none'" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    # Every file the page names is served (from the page's own location).
    for _, value in parser.urls:
        assert client.get("/" + value).status_code == 200, value


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
        ("findig-swagger-init.js", "text/javascript; charset=utf-8"),
        ("swagger-ui.css", "text/css; charset=utf-8"),
        ("favicon-32x32.png", "image/png"),
        ("LICENSE", "text/plain; charset=utf-8"),
    ],
)
def test_static_files(setup: dict[str, Any], name: str, content_type: str) -> None:
    client = Client(setup["app"])
    on_disk = (ROOT / "findig" / "tools" / "openapi_ui" / name).read_bytes()
    response = client.get(f"/docs/static/{name}")
    assert response.status_code == 200
    assert response.headers["Content-Type"] == content_type
    assert response.data == on_disk
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Encoding" not in response.headers
    etag = response.headers["ETag"]
    assert (
        client.get(f"/docs/static/{name}", headers={"If-None-Match": etag}).status_code
        == 304
    )


def test_static_files_are_compressed_and_versioned(setup: dict[str, Any]) -> None:
    client = Client(setup["app"])
    page = client.get("/docs").get_data(as_text=True)
    url = next(
        part.split('"')[0]
        for part in page.split('src="')[1:]
        if part.startswith("docs/static/swagger-ui-bundle.js")
    )
    response = client.get("/" + url, headers={"Accept-Encoding": "gzip, br"})
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.headers["Vary"] == "Accept-Encoding"
    assert response.headers["Cache-Control"] == ("public, max-age=31536000, immutable")
    on_disk = (ROOT / "findig/tools/openapi_ui/swagger-ui-bundle.js").read_bytes()
    assert gzip.decompress(response.data) == on_disk
    assert len(response.data) < len(on_disk) // 2
    plain = client.get("/" + url)
    assert plain.headers["ETag"] != response.headers["ETag"]
    refused = client.get("/" + url, headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in refused.headers


def test_unknown_static_files_are_404(setup: dict[str, Any]) -> None:
    client = Client(setup["app"])
    for name in ("nope.js", "..%2Fopenapi.py", "package.json"):
        response = client.get(f"/docs/static/{name}")
        assert response.status_code == 404
        assert response.json == {"message": response.json["message"]}


def test_custom_paths_and_no_docs_page() -> None:
    app = App()
    OpenAPI(app, spec_path="/api/spec.json", docs_path="/api/reference/")
    client = Client(app)
    assert client.get("/api/spec.json").status_code == 200
    page = client.get("/api/reference/").get_data(as_text=True)
    assert 'data-spec-url="../spec.json"' in page
    assert 'src="static/swagger-ui-bundle.js' in page
    assert client.get("/api/reference/static/swagger-ui.css").status_code == 200

    bare = App()
    OpenAPI(bare, docs_path=None)
    bare_client = Client(bare)
    assert bare_client.get("/openapi.json").status_code == 200
    assert bare_client.get("/docs").status_code == 404


def test_attaching_after_the_first_request_raises() -> None:
    app = App()

    @app.route("/a")
    @app.resource
    def a():
        return {}

    Client(app).get("/a")
    with pytest.raises(RuntimeError, match="first request"):
        OpenAPI(app)
    openapi = OpenAPI()
    with pytest.raises(RuntimeError, match="first request"):
        openapi.attach_to(app)


def test_attaching_twice_does_nothing_more() -> None:
    app = App()
    openapi = OpenAPI(app)
    openapi.attach_to(app)
    assert len(app._routes) == 3


@pytest.mark.parametrize(
    "args",
    [
        {"spec_path": "openapi.json"},
        {"docs_path": "/docs/<x>"},
        {"spec_path": None},
        {"rate_limits": {"not a resource": "1/hour"}},
    ],
)
def test_invalid_arguments(args: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        OpenAPI(App(), **args)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("100/hour", {"limit": 100, "window": 3600}),
        ("100 / hours", {"limit": 100, "window": 3600}),
        ("5/30s", {"limit": 5, "window": 30}),
        ("2/day", {"limit": 2, "window": 86400}),
        ("7/minute", {"limit": 7, "window": 60}),
        ("9/90", {"limit": 9, "window": 90}),
        ((3, 0.5), {"limit": 3, "window": 0.5}),
    ],
)
def test_rate_limit_specs(spec: Any, expected: dict[str, Any]) -> None:
    app = App()

    @app.route("/r")
    @app.resource
    def r():
        return {}

    doc = OpenAPI(app, rate_limits={r: spec}).document()
    assert doc["paths"]["/r"]["get"]["x-rate-limit"] == [expected]


@pytest.mark.parametrize("spec", ["", "100", "100/fortnight", "x/hour", "1/0s", (1,)])
def test_invalid_rate_limit_specs(spec: Any) -> None:
    app = App()
    resource = app.route(app.resource(lambda: {}), "/r")
    with pytest.raises(ValueError, match="rate limit"):
        OpenAPI(app, rate_limits={resource: spec})


def test_document_needs_an_app_when_ambiguous() -> None:
    openapi = OpenAPI()
    with pytest.raises(RuntimeError, match="attached to 0"):
        openapi.document()
    other = App()
    assert openapi.document(other)["paths"] == {}


def test_vendored_assets_match_the_pins() -> None:
    spec = importlib.util.spec_from_file_location(
        "fetch_swagger_ui", ROOT / "scripts" / "fetch_swagger_ui.py"
    )
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.check_vendored() == []
    assert (
        ROOT / "findig/tools/openapi_ui/SWAGGER_UI_VERSION"
    ).read_text().strip() == (script.VERSION)


def test_the_tutorials_sql_backed_api(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy")
    from sqlalchemy import Column, DateTime, Integer, String

    from findig.extras.sql import SQLA, SQLASet

    app = App()
    db = SQLA(f"sqlite:///{tmp_path / 'tasks.sqlite'}", app=app)
    validator = Validator(app)

    class Task(db.Base):
        id = Column(Integer, primary_key=True)
        title = Column(String(150), nullable=False)
        desc = Column(String, nullable=True)
        due = Column(DateTime, nullable=False)

    @validator.restrict("*title", "desc", "*due")
    @validator.enforce(due=validator.date("%Y-%m-%d %H:%M:%S%z"))
    @app.route("/tasks/<id>")
    @app.resource(lazy=True)
    def task(id):
        return tasks().fetch(id=id)

    @app.route("/tasks/")
    @task.collection(lazy=True)
    def tasks():
        return SQLASet(Task)

    openapi = OpenAPI(app, title="Taskman", validator=validator)
    client = Client(app)
    served = client.get("/openapi.json").json
    validate(served)
    paths = served["paths"]
    assert sorted(k for k in paths["/tasks/"] if k != "parameters") == ["get", "post"]
    assert sorted(k for k in paths["/tasks/{id}"] if k != "parameters") == [
        "delete",
        "get",
        "patch",
        "put",
    ]
    post = body_schema(served, "/tasks/", "post")
    assert post["required"] == ["due", "title"]
    assert post["properties"]["due"]["format"] == "date-time"
    assert paths["/tasks/"]["post"]["responses"]["201"]["headers"]["Location"]
    # The document matches what the API does.
    created = client.post(
        "/tasks/", json={"title": "Docs", "due": "2015-07-19 09:00:00+0000"}
    )
    assert created.status_code == 201
    missing = client.post("/tasks/", json={"title": "No due date"})
    assert missing.status_code == 400
    assert openapi.document() == served
