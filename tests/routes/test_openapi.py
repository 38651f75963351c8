"""/openapi.json says what the server does: one error body, security schemes, shared answers, and
patterns that refuse exactly what the validators refuse (checked with the Rust regex engine
schemathesis validates with, as well as Python's)."""

from __future__ import annotations

import re
import sys
import uuid

import jsonschema_rs
import pytest

from webapp.documents.sources import is_tree_key
from webapp.routes.fields import NO_NUL, NON_BLANK, is_valid_text
from webapp.routes.schemas import TREE_KEY

CODE_POINTS = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


@pytest.fixture
def spec(client) -> dict:
    return client.get("/openapi.json").json


def _operations(spec: dict):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


@pytest.mark.parametrize("blank, pattern", [(True, NO_NUL), (False, NON_BLANK)])
def test_text_patterns_refuse_what_the_validators_refuse(blank, pattern):
    rust = jsonschema_rs.validator_for({"type": "string", "pattern": pattern})
    python = re.compile(pattern)
    samples = CODE_POINTS + ["", "  x  ", "\u3000\x1c", "a\x00", "\x00a", " \n\t", "x" * 20_000]
    for text in samples:
        expected = is_valid_text(text, blank)
        assert rust.is_valid(text) == expected, repr(text)
        assert bool(python.search(text)) == expected, repr(text)


def test_tree_key_pattern_matches_is_tree_key():
    rust = jsonschema_rs.validator_for({"type": "string", "pattern": TREE_KEY})
    folder = f"tree_docs/{uuid.uuid4()}/"
    keys = [
        folder + "document.md",
        folder + "crops/a.b.pdf",
        folder + ".",
        folder + ".hidden",
        folder + "x.",
        folder + "../x",
        folder + "a..b",
        folder + "a\x00",
        folder,
        "tree_docs/short/x",
        "uploads/bob/x.pdf",
    ]
    for key in keys:
        assert rust.is_valid(key) == is_tree_key(key), key


def test_one_error_body_for_every_error(spec):
    schemas = spec["components"]["schemas"]
    assert "ValidationError" not in schemas
    error = schemas["HTTPError"]
    assert error["properties"]["detail"]["type"] == "string"
    assert sorted(error["required"]) == ["detail", "details", "error", "message"]
    for path, method, operation in _operations(spec):
        for status, response in operation["responses"].items():
            if status == "414" or (path, status) == ("/auth/exchange", "429"):
                assert "text/html" in response["content"], path  # gunicorn's and nginx's own
            elif status.startswith(("4", "5")) and (path, status) != ("/health/ready", "503"):
                content = response["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/HTTPError"}, (path, status)


def test_security_schemes_and_who_needs_them(spec):
    assert spec["components"]["securitySchemes"]["BearerAuth"]["bearerFormat"] == "JWT"
    public = {
        ("/", "get"),
        ("/health", "get"),
        ("/health/ready", "get"),
        ("/auth/exchange", "post"),
    }
    public |= {("/images/{token}", "get")}  # the token in the URL is the capability
    for path, method, operation in _operations(spec):
        if (path, method) in public:
            assert not operation.get("security"), path
        elif path not in ("/metrics", "/auth/logout"):
            assert operation["security"] == [{"BearerAuth": []}], path
            assert {"401", "403"} <= set(operation["responses"]), path
    assert {} in spec["paths"]["/auth/logout"]["post"]["security"]  # the token is optional


def test_shared_answers_are_documented(spec):
    for path, method, operation in _operations(spec):
        responses = operation["responses"]
        assert "400" in responses, (path, method)  # too many query parameters, at least
        if method in ("post", "put", "patch") and "multipart" not in str(operation):
            assert {"413", "415"} <= set(responses), (path, method)
        if path not in ("/", "/health", "/health/ready", "/metrics"):
            assert "Retry-After" in responses["503"]["headers"], path
    messages = spec["paths"]["/chats/{chat_id}/messages"]["post"]["requestBody"]
    assert messages["required"] is True
    content = spec["components"]["schemas"]["MessageIn"]["properties"]["content"]
    assert content["minLength"] == 1 and content["maxLength"] == 20_000
    assert content["pattern"] == NON_BLANK
    stream = spec["paths"]["/chats/{chat_id}/stream"]["get"]
    header = next(p for p in stream["parameters"] if p["in"] == "header")
    assert header["name"] == "Last-Event-ID" and "409" in stream["responses"]


SETTINGS_BODIES = [
    {"thinking_enabled": True},
    {"thinking_enabled": 1},
    {"thinking_enabled": "true"},
    {"temperature": 0.5},
    {"temperature": "0.5"},
    {"temperature": True},
    {"thinking_budget": 5.0},
    {"thinking_budget": 5.5},
    {"thinking_budget": "5"},
    {"selected_role_prompt_id": None},
    {"selected_role_prompt_id": True},
    {"selected_role_prompt_id": "9999999999"},
    {"selected_role_prompt_id": "0"},
    {"selected_role_prompt_id": 0},
    {"selected_role_prompt_id": 2**31},
    {"media_resolution": "ultra"},
]


def test_settings_schema_and_server_agree_on_json_types(spec, client, alice):
    schema = jsonschema_rs.validator_for(spec["components"]["schemas"]["SettingsPatch"])
    for body in SETTINGS_BODIES:
        response = client.patch("/me/settings", json=body, headers=alice.headers)
        assert response.status_code in (200, 422), (body, response.json)
        assert schema.is_valid(body) == (response.status_code == 200), (body, response.json)
    for role_id in ("123456789", 123456789):  # valid as a role id, but no such role
        response = client.patch(
            "/me/settings", json={"selected_role_prompt_id": role_id}, headers=alice.headers
        )
        assert schema.is_valid({"selected_role_prompt_id": role_id}) and response.status_code == 404
