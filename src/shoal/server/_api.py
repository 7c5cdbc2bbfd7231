"""What `shoal serve` serves: the `Dataset` methods, the scope each needs, and the OpenAPI
description of every route."""

from __future__ import annotations

from typing import Any

from shoal.client._wire import ANALYSES, METHODS, WRITING_ANALYSES, writes

__all__ = ["ADMIN_METHODS", "INDEX_METHODS", "METHODS", "on_writer", "openapi_document", "scope_of"]

ADMIN_METHODS = {"index_field", "restore"}
"""Methods that change a dataset's schema or rewind it: the admin scope."""


INDEX_METHODS = {"refresh_index", "wait_for_index"}
"""Writing methods that work on the vector index: run on the readers' handle, which holds it."""


def on_writer(method: str) -> bool:
    """Whether a served method runs on the dataset's writers' handle (see `Datasets.get`)."""
    return writes(method) and method not in INDEX_METHODS


def scope_of(method: str) -> str:
    """The scope a served method needs."""
    return "admin" if method in ADMIN_METHODS else "write" if writes(method) else "read"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the API (served at /openapi.json)."""
    error = {"$ref": "#/components/schemas/Error"}
    failures = {
        str(status): {"description": text, "content": {"application/json": {"schema": error}}}
        for status, text in (
            (400, "bad input (the library's InvalidInput family)"),
            (401, "no valid token"),
            (403, "the token lacks the scope"),
            (404, "no such dataset or ref"),
            (409, "read-only handle or conflicting write"),
            (429, "over the token's rate"),
        )
    }
    paths: dict[str, Any] = {
        "/health": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
        "/ready": {"get": {"summary": "Readiness", "responses": {"200": {"description": "ready"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}},
        "/v1/datasets": {
            "get": {"summary": "The datasets the token can read", "responses": {"200": {"description": "names"}, **failures}},
            "post": {"summary": "Create a dataset (admin): {name, embedder, language}", "responses": {"201": {"description": "its summary"}, **failures}},
        },
    }  # fmt: skip
    actions = [(f"/v1/datasets/{{name}}/{m}", f"Dataset.{m}", scope_of(m)) for m in METHODS]
    actions += [
        (f"/v1/datasets/{{name}}/analysis/{f}", f"shoal.analysis.{f}",
         "write" if f in WRITING_ANALYSES else "read")
        for f in ANALYSES
    ]  # fmt: skip
    actions.append(("/v1/datasets/{name}/ask", "RetrievalQA.stream: server-sent events", "read"))
    actions.append(("/v1/datasets/{name}/map", "shoal.analysis.map_dataset as HTML", "read"))
    for path, what, scope in actions:
        paths[path] = {
            "post": {
                "summary": f"{what} ({scope} scope); the body holds its keyword arguments",
                "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {"200": {"description": "{\"result\": ...}"}, **failures},
            }
        }  # fmt: skip
    paths["/v1/datasets/{name}/rows/{row_id}/{column}"] = {
        "get": {
            "summary": "One row's value in a binary column (an image, an audio clip), as its "
            "content type (read scope); ?ref= a version or tag, ?branch= a branch",
            "parameters": [
                {"name": key, "in": "path", "required": True, "schema": {"type": "string"}}
                for key in ("name", "row_id", "column")
            ] + [
                {"name": key, "in": "query", "required": False, "schema": {"type": "string"}}
                for key in ("ref", "branch")
            ],
            "responses": {"200": {"description": "the bytes"}, **failures},
        }
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {"title": "Shoal", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {
                        "error": {
                            "type": "object",
                            "properties": {
                                "type": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        }
                    },
                }
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }
