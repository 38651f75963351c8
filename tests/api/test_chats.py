"""Chats and messages: shapes, ordering, limits, validation and ownership."""

from __future__ import annotations

import uuid

import pytest


def _chat(client, user, **body):
    response = client.post("/chats", json=body, headers=user.headers)
    assert response.status_code == 201, response.json
    return response.json


def _message(client, user, chat_id, content="Какая толщина стены?", **extra):
    return client.post(
        f"/chats/{chat_id}/messages", json={"content": content, **extra}, headers=user.headers
    )


def test_create_chat_defaults_title(client, alice):
    chat = _chat(client, alice)
    assert chat["title"] == "Новый чат"
    assert chat["user_id"] == "alice" and chat["description"] is None
    assert set(chat) == {"id", "title", "description", "user_id", "created_at", "updated_at"}
    assert _chat(client, alice, title="   ")["title"] == "Новый чат"
    assert _chat(client, alice, title="Стены", description="АР4")["title"] == "Стены"


def test_create_chat_validation(client, alice):
    assert client.post("/chats", json={"title": 5}, headers=alice.headers).status_code == 422
    assert (
        client.post("/chats", json={"title": "x" * 501}, headers=alice.headers).status_code == 422
    )


def test_list_chats_order_limit_and_owner(client, alice, bob):
    first = _chat(client, alice, title="first")
    second = _chat(client, alice, title="second")
    _chat(client, bob, title="bob's")
    assert [c["title"] for c in client.get("/chats", headers=alice.headers).json] == [
        "second",
        "first",
    ]
    assert _message(client, alice, first["id"]).status_code == 201  # activity bumps the chat
    listed = client.get("/chats", headers=alice.headers).json
    assert [c["id"] for c in listed] == [first["id"], second["id"]]
    assert len(client.get("/chats?limit=1", headers=alice.headers).json) == 1
    for bad in ("0", "201", "-1", "abc"):
        response = client.get(f"/chats?limit={bad}", headers=alice.headers)
        assert response.status_code == 422, bad
        assert "limit" in response.json["details"]
    assert len(client.get("/chats?limit=200", headers=alice.headers).json) == 2


def test_get_chat_has_both_shapes(client, alice):
    chat = _chat(client, alice, title="Кладка")
    ids = [_message(client, alice, chat["id"], f"вопрос {i}").json["id"] for i in range(3)]
    body = client.get(f"/chats/{chat['id']}", headers=alice.headers).json
    for key in ("id", "title", "description", "user_id", "created_at", "updated_at"):
        assert key in body and body["chat"][key] == body[key]
    assert body["title"] == "Кладка"
    assert [m["id"] for m in body["messages"]] == ids
    message = body["messages"][0]
    assert message["role"] == "user" and message["message_type"] == "text"
    assert message["images"] == [] and message["chat_id"] == chat["id"]


def test_history_limit_and_before(client, alice):
    chat = _chat(client, alice)
    ids = [_message(client, alice, chat["id"], f"q{i}").json["id"] for i in range(5)]
    newest = client.get(f"/chats/{chat['id']}?limit=2", headers=alice.headers).json["messages"]
    assert [m["id"] for m in newest] == ids[3:]
    older = client.get(f"/chats/{chat['id']}?limit=2&before={ids[3]}", headers=alice.headers).json[
        "messages"
    ]
    assert [m["id"] for m in older] == ids[1:3]
    unknown = client.get(f"/chats/{chat['id']}?before={uuid.uuid4()}", headers=alice.headers)
    assert unknown.status_code == 404


def test_post_message_validation(client, alice):
    chat = _chat(client, alice)
    cases = [
        {"content": "   "},
        {"content": ""},
        {"content": "x" * 20_001},
        {},
        {"content": 12},
        {"content": "ok", "attached_file_ids": "not-a-list"},
        {"content": "ok", "attached_file_ids": [str(uuid.uuid4())]},
        {"content": "ok", "attached_document_ids": [str(uuid.uuid4())]},
        {"content": "ok", "tree_files": [{"r2_key": "uploads/bob/secret.pdf"}]},
        {"content": "ok", "tree_files": [{"r2_key": f"tree_docs/{uuid.uuid4()}/../../x"}]},
        {"content": "ok", "google_files": [{"mime_type": "application/pdf"}]},
    ]
    for body in cases:
        response = client.post(f"/chats/{chat['id']}/messages", json=body, headers=alice.headers)
        assert response.status_code == 422, (body, response.json)
        assert response.json["error"] == "validation_error"
    assert _message(client, alice, chat["id"], "x" * 20_000).status_code == 201
    history = client.get(f"/chats/{chat['id']}", headers=alice.headers).json["messages"]
    assert len(history) == 1  # nothing stored by the rejected posts


def test_message_with_attachments_is_stored(app, client, alice):
    chat = _chat(client, alice)
    upload = client.post(
        "/files/upload",
        headers=alice.headers,
        data={"file": (__import__("io").BytesIO(b"%PDF-1.4"), "spec.pdf")},
    )
    file_id = upload.json["id"]
    tree_key = f"tree_docs/{uuid.uuid4()}/x_document.md"
    response = _message(
        client,
        alice,
        chat["id"],
        "Сравни",
        attached_file_ids=[file_id],
        tree_files=[{"r2_key": tree_key, "file_type": "result_md"}],
        google_files=["aizoomdoc://files/1"],
    )
    assert response.status_code == 201
    with app.app_context():
        from webapp.stores import chat_db

        stored = chat_db().get_message(response.json["id"])
    assert stored["attachments"]["file_ids"] == [file_id]
    assert stored["attachments"]["tree_files"] == [{"r2_key": tree_key, "file_type": "result_md"}]
    assert stored["attachments"]["google_files"][0]["uri"] == "aizoomdoc://files/1"


def test_other_users_chat_is_404_everywhere(client, alice, bob):
    chat = _chat(client, alice)
    _message(client, alice, chat["id"])
    checks = [
        client.get(f"/chats/{chat['id']}", headers=bob.headers),
        client.post(f"/chats/{chat['id']}/messages", json={"content": "hi"}, headers=bob.headers),
        client.delete(f"/chats/{chat['id']}", headers=bob.headers),
    ]
    for response in checks:
        assert response.status_code == 404 and response.json["error"] == "chat_not_found"
    assert client.get(f"/chats/{chat['id']}", headers=alice.headers).status_code == 200
    assert client.get("/chats", headers=bob.headers).json == []


def test_admin_sees_other_users_chat(client, alice, make_user):
    admin = make_user("root", role="admin")
    chat = _chat(client, alice)
    assert client.get(f"/chats/{chat['id']}", headers=admin.headers).status_code == 200


def test_bob_cannot_attach_alices_file(client, alice, bob):
    upload = client.post(
        "/files/upload",
        headers=alice.headers,
        data={"file": (__import__("io").BytesIO(b"hello"), "a.txt")},
    )
    chat = _chat(client, bob)
    response = _message(client, bob, chat["id"], "x", attached_file_ids=[upload.json["id"]])
    assert response.status_code == 422


def test_delete_hides_at_once(client, alice):
    chat = _chat(client, alice)
    response = client.delete(f"/chats/{chat['id']}", headers=alice.headers)
    assert response.status_code == 202
    assert response.json == {"message": "Deletion scheduled", "chat_id": chat["id"]}
    assert client.get("/chats", headers=alice.headers).json == []
    assert client.get(f"/chats/{chat['id']}", headers=alice.headers).status_code == 404
    assert client.delete(f"/chats/{chat['id']}", headers=alice.headers).status_code == 404


@pytest.mark.parametrize("chat_id", ["nope", str(uuid.uuid4()), "' OR 1=1 --"])
def test_unknown_chat_ids(client, alice, chat_id):
    assert client.get(f"/chats/{chat_id}", headers=alice.headers).status_code == 404
    assert _message(client, alice, chat_id).status_code == 404
