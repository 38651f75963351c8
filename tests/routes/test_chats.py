"""Chats and messages: shapes, ordering, limits, validation and ownership."""

from __future__ import annotations

import uuid

import pytest

from tests.support.chat_session import parse_sse
from tests.support.links import fetch

CHAT_NOT_FOUND = "chat_not_found"


def _error(response, status: int, code: str) -> dict:
    """The JSON error body of a refused request (every error has the same shape)."""
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert body["error"] == code and body["message"] == body["detail"], body
    return body


def _stream(client, user, chat_id, query=""):
    response = client.get(f"/chats/{chat_id}/stream{query}", headers=user.headers)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return parse_sse(response.get_data(as_text=True))


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
    for title in (5, "x" * 501):
        response = client.post("/chats", json={"title": title}, headers=alice.headers)
        assert "title" in _error(response, 422, "validation_error")["details"]
    assert client.get("/chats", headers=alice.headers).json == []


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
    _error(unknown, 404, "message_not_found")


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
        client.get(f"/chats/{chat['id']}/stream", headers=bob.headers),
    ]
    for response in checks:
        _error(response, 404, CHAT_NOT_FOUND)
    history = client.get(f"/chats/{chat['id']}", headers=alice.headers).json
    assert [m["content"] for m in history["messages"]] == ["Какая толщина стены?"]
    assert client.get("/chats", headers=bob.headers).json == []


def test_admin_reads_and_deletes_others_chats_but_does_not_write_into_them(
    app, client, alice, make_user
):
    """Admins moderate: they read any chat (and follow its answers) and may delete it; they may
    not ask in it (403), since a question there would read as the owner's and run as theirs."""
    admin = make_user("root", role="admin")
    chat = _chat(client, alice, title="Кладка")
    question = _message(client, alice, chat["id"], "Где ось 1?").json

    read = client.get(f"/chats/{chat['id']}", headers=admin.headers)
    assert read.status_code == 200
    assert read.json["user_id"] == "alice" and read.json["title"] == "Кладка"
    assert [m["id"] for m in read.json["messages"]] == [question["id"]]

    posted = client.post(
        f"/chats/{chat['id']}/messages", json={"content": "Мой вопрос"}, headers=admin.headers
    )
    assert _error(posted, 403, "not_chat_owner")["message"] == (
        "Only the chat's owner can ask questions in it."
    )
    assert [
        (seq, name, data["code"]) for seq, name, data in _stream(client, admin, chat["id"])
    ] == [
        (1, "error", "not_chat_owner")
    ]  # nor start the answer to the owner's question
    with app.app_context():
        from webapp.stores import chat_db

        assert chat_db().latest_run(question["id"]) is None
    history = client.get(f"/chats/{chat['id']}", headers=alice.headers).json["messages"]
    assert [m["content"] for m in history] == ["Где ось 1?"]

    answered = _stream(client, alice, chat["id"])
    assert answered[-1][1] == "completed"
    followed = _stream(client, admin, chat["id"])  # the owner's answer, replayed
    assert [(seq, name) for seq, name, _ in followed] == [
        (seq, name) for seq, name, _ in answered if name != "llm_token"
    ]
    rerun = _stream(client, admin, chat["id"], "?rerun=1")
    assert [(name, data["code"]) for _, name, data in rerun] == [("error", "not_chat_owner")]

    own = _chat(client, admin)  # in their own chats admins ask as anyone does
    assert _message(client, admin, own["id"]).status_code == 201

    deleted = client.delete(f"/chats/{chat['id']}", headers=admin.headers)
    assert deleted.status_code == 202
    assert deleted.json == {"message": "Deletion scheduled", "chat_id": chat["id"]}
    _error(client.get(f"/chats/{chat['id']}", headers=alice.headers), 404, CHAT_NOT_FOUND)
    assert client.get("/chats", headers=alice.headers).json == []
    with app.app_context():
        from webapp.stores import chat_db

        assert [job["chat_id"] for job in chat_db().pending_deletions()] == [chat["id"]]


def test_bob_cannot_attach_alices_file(client, alice, bob):
    upload = client.post(
        "/files/upload",
        headers=alice.headers,
        data={"file": (__import__("io").BytesIO(b"hello"), "a.txt")},
    )
    chat = _chat(client, bob)
    response = _message(client, bob, chat["id"], "x", attached_file_ids=[upload.json["id"]])
    body = _error(response, 422, "validation_error")
    assert body["details"] == {"attached_file_ids": [f"unknown file {upload.json['id']}"]}


def test_delete_hides_at_once(client, alice):
    chat = _chat(client, alice)
    response = client.delete(f"/chats/{chat['id']}", headers=alice.headers)
    assert response.status_code == 202
    assert response.json == {"message": "Deletion scheduled", "chat_id": chat["id"]}
    assert client.get("/chats", headers=alice.headers).json == []
    _error(client.get(f"/chats/{chat['id']}", headers=alice.headers), 404, CHAT_NOT_FOUND)
    _error(client.delete(f"/chats/{chat['id']}", headers=alice.headers), 404, CHAT_NOT_FOUND)


@pytest.mark.parametrize("chat_id", ["nope", str(uuid.uuid4()), "' OR 1=1 --"])
def test_unknown_chat_ids(client, alice, chat_id):
    _error(client.get(f"/chats/{chat_id}", headers=alice.headers), 404, CHAT_NOT_FOUND)
    _error(_message(client, alice, chat_id), 404, CHAT_NOT_FOUND)


def test_rename_chat(client, alice, bob, make_user):
    """Owners rename their chats (a blank title becomes the default, as on creation); the list
    keeps its order; others get 404, an admin 403 (renaming is a write), bad input 422."""
    first = _chat(client, alice, title="Первый")
    second = _chat(client, alice, title="Второй", description="о кладке")
    url = f"/chats/{first['id']}"
    renamed = client.patch(url, json={"title": "  Кладка 1-го этажа "}, headers=alice.headers)
    assert renamed.status_code == 200, renamed.json
    assert renamed.json["title"] == "Кладка 1-го этажа" and renamed.json["id"] == first["id"]
    assert client.get(url, headers=alice.headers).json["title"] == "Кладка 1-го этажа"
    listed = client.get("/chats", headers=alice.headers).json
    assert [c["id"] for c in listed] == [second["id"], first["id"]]  # not bumped by the rename

    same = client.patch(url, json={}, headers=alice.headers)
    assert same.status_code == 200 and same.json["title"] == "Кладка 1-го этажа"
    blank = client.patch(url, json={"title": " ", "description": "план"}, headers=alice.headers)
    assert (blank.json["title"], blank.json["description"]) == ("Новый чат", "план")

    _error(client.patch(url, json={"title": "x"}, headers=bob.headers), 404, CHAT_NOT_FOUND)
    admin = make_user("root", role="admin")
    _error(client.patch(url, json={"title": "x"}, headers=admin.headers), 403, "not_chat_owner")
    _error(
        client.patch(url, json={"title": "x" * 501}, headers=alice.headers), 422, "validation_error"
    )
    assert client.patch(url, json={"title": "x"}).status_code == 401
    missing = f"/chats/{uuid.uuid4()}"
    _error(client.patch(missing, json={"title": "x"}, headers=alice.headers), 404, CHAT_NOT_FOUND)


def test_history_carries_each_answers_citations_with_fresh_image_links(client, alice, demo):
    """A page shows an old answer as it was streamed: its citations (block, page, sheet) and
    the images rendered of each cited block, linked anew."""
    chat = _chat(client, alice)
    asked = _message(
        client, alice, chat["id"], "Какая площадь кладовой 107?", attached_document_ids=[demo]
    )
    assert asked.status_code == 201
    events = _stream(client, alice, chat["id"])
    final = next(data for _, name, data in events if name == "llm_final")
    messages = client.get(f"/chats/{chat['id']}", headers=alice.headers).json["messages"]
    question, answer = messages
    assert question["citations"] == []
    assert [c["block_id"] for c in answer["citations"]] == [
        c["block_id"] for c in final["citations"]
    ]
    plan = next(c for c in answer["citations"] if c["block_id"] == "DEMO-PLAN-001")
    assert plan["page_number"] == 4 and plan["sheet"] == "2" and plan["document_id"] == demo
    rendered = {i["url"] for i in question["images"] if i["description"] == "DEMO-PLAN-001"}
    assert plan["images"] and set(plan["images"]) == rendered
    status, body, _ = fetch(client, plan["images"][0])
    assert status == 200 and body[:4] == b"\x89PNG"
