"""The OpenAPI document of the service (/docs.json), made to say what the service does.

BentoML's own document is OpenAPI 3.0 with JSON Schema 2020-12 components (`anyOf` with
`{"type": "null"}`), drops the `null` of `lead`, `leads` and `as_of` when it flattens the request
body, cannot say "exactly one of `lead` and `leads`" (so `{}` looked valid), and describes every
400 with a `detail` string where the service answers a list naming the fields. Here the document
is OpenAPI 3.1 (whose schemas are JSON Schema 2020-12, as pydantic writes them), the request
body is the request model's own schema plus that rule, and the error answers are described as
they are sent. With LEADSCORE_API_TOKEN set it declares the bearer scheme the POST routes need
(and their 401); without, it declares none, as the service asks none. The 499 that
`scoring.serving.body.RequestBody` logs for a client gone before its body arrived is not
listed: that client is no longer there to read it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from functools import cache
from typing import Any

from pydantic import BaseModel

REF = "#/components/schemas/{model}"

CLIENT_ERROR = {
    "type": "object",
    "title": "ClientError",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what is wrong, in a sentence"},
        "detail": {
            "type": "array",
            "description": "one entry per problem, `loc` naming the field",
            "items": {
                "type": "object",
                "required": ["loc", "msg"],
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        "examples": [["lead", "employees"]],
                    },
                    "msg": {"type": "string"},
                    "type": {"type": "string", "description": "pydantic's error type"},
                },
            },
        },
    },
}

UNAUTHORIZED = {"401": "Missing or wrong bearer token"}
ROUTE_ERRORS = {"/feedback": {"409": "A feedback id stored before with other content"}}
ERRORS = {
    "400": "Invalid body: malformed JSON, unknown field, wrong type, out-of-range value",
    "408": "Body not received in full within the time allowed (the connection is closed)",
    "413": "Body larger than the limit",
    "415": "Body not application/json",
    "422": "A value the data refutes: a lead the validation refuses; feedback about an unknown "
    "lead, with an unknown reason, or at a time in the future or before the lead existed",
    "429": "Too many bodies of this client arriving at once (Retry-After)",
    "503": "Not ready yet, or overloaded (Retry-After)",
}


def request_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The request model's JSON Schema, `$defs` moved out, with "exactly one of `lead` and
    `leads`, not null" (the model's `one_of` validator)."""
    schema = model.model_json_schema(ref_template=REF)
    schema.pop("$defs", None)
    properties = schema["properties"]
    if not {"lead", "leads"} <= set(properties):
        return schema
    schema["oneOf"] = [
        {"required": [name], "properties": {name: _not_null(properties[name])}}
        for name in ("lead", "leads")
    ]
    return schema


def _not_null(schema: dict[str, Any]) -> dict[str, Any]:
    branches = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    (branch,) = branches
    return branch


def document(
    bentoml_spec: dict[str, Any], routes: dict[str, type[BaseModel]], secured: bool = False
) -> dict[str, Any]:
    """BentoML's document with the request bodies of `routes` (path -> request model), the error
    answers as the service sends them and, when `secured`, the bearer scheme they need."""
    doc = copy.deepcopy(bentoml_spec)
    doc["openapi"] = "3.1.0"
    schemas = doc["components"]["schemas"]
    schemas["ClientError"] = CLIENT_ERROR
    errors = (UNAUTHORIZED if secured else {}) | ERRORS
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
    for name in ("InvalidArgument", "NotFound"):
        schemas.pop(name, None)
    for path, model in routes.items():
        post = doc["paths"][path]["post"]
        bentoml_body = post["requestBody"]["content"]["application/json"]["schema"]
        schemas.pop(bentoml_body.get("title", ""), None)
        schemas[model.__name__] = request_schema(model)
        body = {"schema": {"$ref": REF.format(model=model.__name__)}}
        post["requestBody"] = {"required": True, "content": {"application/json": body}}
        responses = {str(k): v for k, v in post["responses"].items() if str(k) in ("200", "500")}
        if secured:
            post["security"] = [{"bearer": []}]
        for status, description in sorted((errors | ROUTE_ERRORS.get(path, {})).items()):
            ref = {"$ref": REF.format(model="ClientError")}
            responses[status] = {
                "description": description,
                "content": {"application/json": {"schema": ref}},
            }
        post["responses"] = responses
    return doc


class OpenAPIDocument:
    """ASGI middleware answering GET /docs.json with `document()` (built once, on first use)."""

    def __init__(self, app: Any, build: Callable[[], dict[str, Any]]) -> None:
        self.app = app
        self.body = cache(lambda: json.dumps(build()).encode())

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != "/docs.json":
            await self.app(scope, receive, send)
            return
        body = self.body()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
