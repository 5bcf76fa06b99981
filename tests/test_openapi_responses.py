"""Responses a resource declares for itself in the OpenAPI document
(``openapi_responses``), and the answers they describe."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from _support import run_guide
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from werkzeug.test import Client

from findig.json import App
from findig.resource import AbstractResource, Result
from findig.tools.openapi import OpenAPI

CONFLICT = {
    "description": "The name is taken.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["taken"],
                "properties": {"taken": {"type": "string"}},
            }
        }
    },
}


def build() -> tuple[App, dict[str, Any]]:
    """An app with a resource declaring responses, and its document."""
    app = App(problem_details=True)
    names = {"ann": {"name": "ann"}}

    @app.route("/names/<name>")
    @app.resource
    def name(name: str) -> Any:
        """A name."""
        return names[name]

    @name.model("write")
    def write_name(data: Any, name: str) -> Any:
        if name in names:
            return Result({"taken": name}, 409)
        names[name] = {"name": name}
        return None

    name.openapi_responses = {
        "get": {
            200: {
                "description": "The name.",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {"name": {"type": "string"}},
                        }
                    }
                },
            },
            "default": {"description": "Anything else."},
        },
        "PUT": {
            "409": CONFLICT,
            "4xx": {"$ref": "#/components/responses/BadRequest"},
            "429": {"$ref": "#/components/responses/TooManyRequests"},
            412: None,
        },
        "PATCH": {412: None},
        "DELETE": {404: None},  # no DELETE operation: ignored
    }
    return app, OpenAPI(app).document()


def test_declared_responses_add_replace_and_remove() -> None:
    app, doc = build()
    validate(doc)
    get = doc["paths"]["/names/{name}"]["get"]["responses"]
    assert get["200"]["description"] == "The name."
    assert get["200"]["content"]["application/json"]["schema"]["type"] == "object"
    assert get["default"] == {"description": "Anything else."}
    assert list(get) == ["200", "304", "404", "406", "default"]
    put = doc["paths"]["/names/{name}"]["put"]["responses"]
    assert put["409"] == CONFLICT
    assert put["409"] is not CONFLICT["content"]  # a copy
    assert "412" not in put
    assert put["4XX"] == {"$ref": "#/components/responses/BadRequest"}
    assert list(put) == ["200", "400", "404", "406", "409", "413", "415", "429", "4XX"]
    assert "delete" not in doc["paths"]["/names/{name}"]


def test_standard_responses_in_the_components_are_those_referred_to() -> None:
    _, doc = build()
    components = doc["components"]["responses"]
    # Referred to only by the declaration: included.
    assert components["TooManyRequests"]["headers"]["Retry-After"]
    # Removed by the declarations (412 of PUT and PATCH): left out.
    assert "PreconditionFailed" not in components
    assert {"BadRequest", "NotFound", "NotAcceptable"} <= set(components)


def test_declared_responses_describe_the_answers() -> None:
    app, doc = build()
    client = Client(app)
    put = doc["paths"]["/names/{name}"]["put"]["responses"]
    answer = client.put("/names/ann", json={"name": "ann"})
    assert answer.status_code == 409
    content = put[str(answer.status_code)]["content"]
    schema = content[answer.mimetype]["schema"]
    Draft202012Validator(schema).validate(answer.json)
    answer = client.get("/names/ann")
    schema = doc["paths"]["/names/{name}"]["get"]["responses"]["200"]["content"]
    Draft202012Validator(schema[answer.mimetype]["schema"]).validate(answer.json)


def test_a_resource_class_declares_its_responses() -> None:
    class Ping(AbstractResource):
        """Ping."""

        name = "ping"
        openapi_responses: Mapping[str, Any] = {
            "POST": {204: {"description": "Pong."}, 200: None}
        }

        def get_supported_methods(self) -> set[str]:
            return {"POST"}

        def handle_request(self, request: Any, url_values: Any) -> Any:
            return Result(None, 204)

    app = App()
    app.route(Ping(), "/ping")
    doc = OpenAPI(app).document()
    validate(doc)
    responses = doc["paths"]["/ping"]["post"]["responses"]
    assert responses["204"] == {"description": "Pong."}
    assert "200" not in responses
    assert Client(app).post("/ping").status_code == 204


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ([("GET", {})], "must map HTTP methods"),
        ({"HEAD": {200: None}}, "'HEAD' is not one of the documented methods"),
        ({1: {200: None}}, "1 is not one of the documented methods"),
        ({"GET": [200]}, "the responses of GET must be a mapping"),
        ({"GET": {600: None}}, "600 (GET) is not a status code"),
        ({"GET": {"2xxx": None}}, "'2xxx' (GET) is not a status code"),
        ({"GET": {True: None}}, "True (GET) is not a status code"),
        ({"GET": {200: "OK"}}, "the GET 200 response must be an OpenAPI"),
        ({"GET": {200: {"content": {}}}}, "with a 'description', or a '$ref'"),
    ],
)
def test_malformed_declarations_name_the_resource(declared: Any, message: str) -> None:
    app = App()

    @app.route("/things")
    @app.resource
    def things() -> Any:
        return []

    things.openapi_responses = declared
    with pytest.raises(ValueError) as caught:
        OpenAPI(app).document()
    assert "openapi_responses of resource" in str(caught.value)
    assert repr(things.name) in str(caught.value)
    assert message in str(caught.value)


def test_the_guide_runs() -> None:
    """The examples of docs/guide/openapi.rst, as one script."""
    namespace = run_guide("openapi", min_blocks=11)
    assert namespace["name"].openapi_responses["PUT"][409]["description"]
