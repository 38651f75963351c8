"""`/me`, settings (all seven persist) and role prompts."""

from __future__ import annotations

import pytest


def _add_role(app, name="Инженер", active=True):
    with app.app_context():
        from webapp.stores import chat_db

        role = chat_db().add_role(name, f"Ты {name}.", "описание")
        if not active:
            chat_db().set_role_active(role["id"], False)
        return role


def test_me_defaults(client, alice):
    body = client.get("/me", headers=alice.headers).json
    assert body["user"]["username"] == "alice"
    assert body["settings"] == {
        "model_profile": "simple",
        "selected_role_prompt_id": None,
        "temperature": 1.0,
        "top_p": 0.95,
        "thinking_enabled": False,
        "thinking_budget": 0,
        "media_resolution": "high",
    }
    assert body["gemini_api_key_configured"] is False


def test_all_seven_settings_persist(app, client, alice):
    role = _add_role(app)
    changes = {
        "model_profile": "complex",
        "selected_role_prompt_id": role["id"],
        "temperature": 0,
        "top_p": 0.5,
        "thinking_enabled": True,
        "thinking_budget": 2048,
        "media_resolution": "low",
    }
    response = client.patch("/me/settings", json=changes, headers=alice.headers)
    assert response.status_code == 200
    assert response.json == changes
    assert client.get("/me", headers=alice.headers).json["settings"] == changes


def test_empty_patch_returns_current(client, alice):
    client.patch("/me/settings", json={"top_p": 0.3}, headers=alice.headers)
    response = client.patch("/me/settings", json={}, headers=alice.headers)
    assert response.status_code == 200 and response.json["top_p"] == 0.3


def test_null_role_clears(app, client, alice):
    role = _add_role(app)
    client.patch(
        "/me/settings", json={"selected_role_prompt_id": role["id"]}, headers=alice.headers
    )
    response = client.patch(
        "/me/settings", json={"selected_role_prompt_id": None}, headers=alice.headers
    )
    assert response.status_code == 200 and response.json["selected_role_prompt_id"] is None
    assert (
        client.get("/me", headers=alice.headers).json["settings"]["selected_role_prompt_id"] is None
    )


def test_unknown_or_disabled_role_404(app, client, alice):
    disabled = _add_role(app, "Экономист", active=False)
    for role_id in (9999, disabled["id"]):
        response = client.patch(
            "/me/settings", json={"selected_role_prompt_id": role_id}, headers=alice.headers
        )
        assert response.status_code == 404 and response.json["error"] == "role_not_found"


@pytest.mark.parametrize(
    "changes",
    [
        {"temperature": 2.5},
        {"temperature": -0.1},
        {"top_p": 1.5},
        {"thinking_budget": 24577},
        {"thinking_budget": -1},
        {"media_resolution": "ultra"},
        {"model_profile": "turbo"},
        {"temperature": "hot"},
        {"thinking_enabled": "maybe"},
    ],
)
def test_settings_ranges(client, alice, changes):
    response = client.patch("/me/settings", json=changes, headers=alice.headers)
    assert response.status_code == 422
    assert next(iter(changes)) in response.json["details"]


def test_settings_are_per_user(client, alice, bob):
    client.patch("/me/settings", json={"temperature": 0.2}, headers=alice.headers)
    assert client.get("/me", headers=bob.headers).json["settings"]["temperature"] == 1.0


def test_roles_lists_only_active(app, client, alice):
    active = _add_role(app, "Инженер")
    _add_role(app, "Скрытая", active=False)
    body = client.get("/prompts/roles", headers=alice.headers).json
    assert [r["name"] for r in body] == ["Инженер"]
    assert body[0]["id"] == active["id"] and isinstance(body[0]["id"], int)
    assert set(body[0]) == {
        "id",
        "name",
        "content",
        "description",
        "is_active",
        "version",
        "created_at",
        "updated_at",
    }
    anonymous = client.get("/prompts/roles")
    assert anonymous.status_code == 401 and anonymous.json["error"] == "missing_token"
