"""The chat DB contract: every implementation behaves the same."""

from __future__ import annotations

import uuid

import pytest

from webapp.stores.chatdb.base import Conflict


def test_schema_is_idempotent(chat_store):
    assert chat_store.init_schema() == []
    chat_store.ping()


def test_users(chat_store):
    user = chat_store.create_user("анна", "h1", "admin")
    assert user["username"] == "анна" and user["role"] == "admin" and user["status"] == "active"
    uuid.UUID(user["id"])
    assert chat_store.get_user_by_token_hash("h1")["id"] == user["id"]
    assert chat_store.get_user_by_username("анна")["id"] == user["id"]
    assert chat_store.get_user_by_token_hash("nope") is None
    with pytest.raises(Conflict):
        chat_store.create_user("анна", "h2")
    updated = chat_store.update_user(user["id"], status="blocked", token_hash="h3")
    assert updated["status"] == "blocked" and chat_store.get_user_by_token_hash("h1") is None
    with pytest.raises(ValueError):
        chat_store.update_user(user["id"], username="x")
    assert [u["username"] for u in chat_store.list_users()] == ["анна"]


def test_revoked_tokens(chat_store):
    assert not chat_store.is_token_revoked("j1")
    chat_store.revoke_token("j1", "2999-01-01T00:00:00+00:00")
    chat_store.revoke_token("j1", "2999-01-01T00:00:00+00:00")
    assert chat_store.is_token_revoked("j1")


def test_settings_upsert(chat_store):
    assert chat_store.get_settings("u") is None
    row = chat_store.save_settings("u", {"temperature": 0.0, "thinking_enabled": True})
    assert row["temperature"] == 0.0 and row["thinking_enabled"] is True
    assert row["model_profile"] == "simple"
    row = chat_store.save_settings("u", {"model_profile": "complex"})
    assert row["temperature"] == 0.0 and row["model_profile"] == "complex"
    with pytest.raises(ValueError):
        chat_store.save_settings("u", {"username": "x"})


def test_roles(chat_store):
    first = chat_store.add_role("Инженер", "текст", "d")
    second = chat_store.add_role("Сметчик", "текст 2")
    assert isinstance(first["id"], int) and first["is_active"] is True
    assert [r["id"] for r in chat_store.list_roles()] == [first["id"], second["id"]]
    chat_store.set_role_active(first["id"], False)
    assert [r["id"] for r in chat_store.list_roles()] == [second["id"]]
    assert len(chat_store.list_roles(active_only=False)) == 2
    assert chat_store.get_role(999) is None
    assert chat_store.set_role_active(999, False) is None


def test_chats_and_messages(chat_store):
    a = chat_store.create_chat("u", "A", None)
    b = chat_store.create_chat("u", "B", "desc")
    chat_store.create_chat("other", "C", None)
    assert [c["id"] for c in chat_store.list_chats("u", 10)] == [b["id"], a["id"]]
    messages = [
        chat_store.add_message(a["id"], "user", f"m{i}", attachments={"x": [i]}) for i in range(4)
    ]
    assert messages[0]["attachments"] == {"x": [0]}
    assert [c["id"] for c in chat_store.list_chats("u", 10)] == [a["id"], b["id"]]
    assert [c["id"] for c in chat_store.list_chats("u", 1)] == [a["id"]]
    ids = [m["id"] for m in messages]
    assert [m["id"] for m in chat_store.list_messages(a["id"], 10)] == ids
    assert [m["id"] for m in chat_store.list_messages(a["id"], 2)] == ids[2:]
    assert [m["id"] for m in chat_store.list_messages(a["id"], 2, before=ids[2])] == ids[:2]
    chat_store.hide_chat(a["id"])
    assert chat_store.get_chat(a["id"]) is None
    assert [c["id"] for c in chat_store.list_chats("u", 10)] == [b["id"]]


def test_files_and_images(chat_store):
    chat = chat_store.create_chat("u", "A", None)
    message = chat_store.add_message(chat["id"], "user", "q")
    file = chat_store.add_file(
        {
            "user_id": "u",
            "source_type": "chat_render",
            "storage_path": "chat_images/x.png",
            "filename": "x.png",
            "mime_type": "image/png",
            "size_bytes": 3,
        }
    )
    assert chat_store.get_file(file["id"])["storage_path"] == "chat_images/x.png"
    with pytest.raises(ValueError):
        chat_store.add_file({"bogus": 1})
    chat_store.add_image(
        chat["id"], message["id"], file["id"], "overview", "AAAA-BBBB-CCC", 100, 50
    )
    images = chat_store.list_images([message["id"]])
    assert len(images) == 1 and images[0]["storage_path"] == "chat_images/x.png"
    assert images[0]["width"] == 100 and images[0]["description"] == "AAAA-BBBB-CCC"
    assert chat_store.list_images([]) == []
    with_files = chat_store.add_message(chat["id"], "user", "q2", file_ids=[file["id"]])
    assert with_files["id"]
