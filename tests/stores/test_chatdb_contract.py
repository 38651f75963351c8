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
    before = chat_store.get_chat(b["id"])
    chat_store.rename_chat(b["id"], {"title": "B2"})
    chat_store.rename_chat(b["id"], {"description": None})
    chat_store.rename_chat(b["id"], {})
    renamed = chat_store.get_chat(b["id"])
    assert (renamed["title"], renamed["description"]) == ("B2", None)
    assert renamed["updated_at"] == before["updated_at"]  # a rename keeps the list's order
    with pytest.raises(ValueError):
        chat_store.rename_chat(b["id"], {"user_id": "other"})
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
    llm = chat_store.add_file(
        {"user_id": "u", "source_type": "llm_upload", "external_url": "https://files.example/f/1"}
    )
    assert chat_store.get_file_by_url("https://files.example/f/1")["id"] == llm["id"]
    assert chat_store.get_file_by_url("https://files.example/f/2") is None
    chat_store.add_image(
        chat["id"], message["id"], file["id"], "overview", "AAAA-BBBB-CCC", 100, 50
    )
    images = chat_store.list_images([message["id"]])
    assert len(images) == 1 and images[0]["storage_path"] == "chat_images/x.png"
    assert images[0]["width"] == 100 and images[0]["description"] == "AAAA-BBBB-CCC"
    assert chat_store.list_images([]) == []
    with_files = chat_store.add_message(chat["id"], "user", "q2", file_ids=[file["id"]])
    assert with_files["id"]


def _chat_with_message(chat_store):
    chat = chat_store.create_chat("u", "A", None)
    return chat, chat_store.add_message(chat["id"], "user", "q")


def test_runs_one_active_per_chat(chat_store):
    chat, message = _chat_with_message(chat_store)
    run = chat_store.create_run(chat["id"], message["id"], "u", "simple")
    assert run["status"] == "queued" and run["mode"] == "simple"
    with pytest.raises(Conflict):
        chat_store.create_run(chat["id"], message["id"], "u", "simple")
    assert chat_store.active_run(chat["id"])["id"] == run["id"]
    chat_store.update_run(run["id"], status="running", started_at="2026-01-01T00:00:00+00:00")
    assert chat_store.active_run(chat["id"])["status"] == "running"
    chat_store.update_run(run["id"], status="succeeded")
    assert chat_store.active_run(chat["id"]) is None
    again = chat_store.create_run(chat["id"], message["id"], "u", "complex")
    assert chat_store.latest_run(message["id"])["id"] == again["id"]
    with pytest.raises(ValueError):
        chat_store.update_run(run["id"], chat_id="x")


def test_run_events_in_order(chat_store):
    chat, message = _chat_with_message(chat_store)
    run = chat_store.create_run(chat["id"], message["id"], "u", None)
    for seq, name in enumerate(["processing_started", "phase_started", "completed"], start=1):
        chat_store.append_event(run["id"], seq, name, {"n": seq, "text": "ё"})
    events = chat_store.list_events(run["id"])
    assert [(e["seq"], e["event"]) for e in events] == [
        (1, "processing_started"),
        (2, "phase_started"),
        (3, "completed"),
    ]
    assert events[0]["data"] == {"n": 1, "text": "ё"}
    assert [e["seq"] for e in chat_store.list_events(run["id"], after_seq=2)] == [3]
    with pytest.raises(Conflict):
        chat_store.append_event(run["id"], 3, "error", {})


def test_deletion_parts_leave_nothing(chat_store):
    chat, message = _chat_with_message(chat_store)
    other, other_message = _chat_with_message(chat_store)
    render = chat_store.add_file(
        {
            "user_id": "u",
            "source_type": "chat_render",
            "storage_path": f"chat_images/{chat['id']}/a.png",
        }
    )
    upload = chat_store.add_file(
        {"user_id": "u", "source_type": "user_upload", "storage_path": "uploads/u/x.pdf"}
    )
    chat_store.add_image(chat["id"], message["id"], render["id"], "overview", "B", 1, 1)
    chat_store.add_message(chat["id"], "user", "with file", file_ids=[upload["id"]])
    run = chat_store.create_run(chat["id"], message["id"], "u", None)
    chat_store.append_event(run["id"], 1, "completed", {})
    job = chat_store.enqueue_deletion(chat["id"])
    assert chat_store.enqueue_deletion(chat["id"])["id"] == job["id"]
    assert [j["id"] for j in chat_store.pending_deletions()] == [job["id"]]
    assert [f["id"] for f in chat_store.chat_render_files(chat["id"])] == [render["id"]]
    for part in ("objects", "images", "runs", "messages", "files", "chat"):
        chat_store.delete_chat_part(chat["id"], part)
        chat_store.delete_chat_part(chat["id"], part)  # idempotent
    chat_store.update_deletion(job["id"], status="done", step="chat")
    assert chat_store.pending_deletions() == []
    assert chat_store.get_chat(chat["id"]) is None and chat_store.get_run(run["id"]) is None
    assert chat_store.get_file(render["id"]) is None
    assert chat_store.get_file(upload["id"]) is not None  # the user's own upload stays
    assert chat_store.get_message(message["id"]) is None
    assert chat_store.list_messages(other["id"], 10)[0]["id"] == other_message["id"]


def test_api_keys(chat_store):
    assert chat_store.get_api_key("u") is None
    chat_store.set_api_key("u", "enc1")
    chat_store.set_api_key("u", "enc2")
    assert chat_store.get_api_key("u") == "enc2"
    chat_store.set_api_key("u", None)
    assert chat_store.get_api_key("u") is None
