"""The API driven the way the public `aizoomdoc` client drives it, start to finish."""

from __future__ import annotations

import io


def test_aizoomdoc_client_session(app, client, alice):
    with app.app_context():
        from webapp.stores import chat_db, projects_db

        role = chat_db().add_role("Инженер", "Ты инженер-проектировщик.")
        db = projects_db()
        root = db.upsert_node(client_id="c1", node_type="client", name="Клиент")
        doc = db.upsert_node(
            client_id="c1",
            node_type="document",
            name="Кладочные планы",
            code="АР4",
            parent_id=root["id"],
        )
        db.upsert_node_file(
            node_id=doc["id"],
            file_type="result_md",
            file_name="d.md",
            r2_key=f"tree_docs/{doc['id']}/d.md",
        )

    exchange = client.post("/auth/exchange", json={"static_token": alice.token}).json
    headers = {"Authorization": f"{exchange['token_type'].title()} {exchange['access_token']}"}

    me = client.get("/me", headers=headers).json
    assert me["user"]["username"] == "alice"
    roles = client.get("/prompts/roles", headers=headers).json
    assert roles[0]["id"] == role["id"]
    settings = client.patch(
        "/me/settings",
        headers=headers,
        json={"selected_role_prompt_id": roles[0]["id"], "model_profile": "complex"},
    ).json
    assert settings["model_profile"] == "complex"

    chat = client.post("/chats", headers=headers, json={"title": "Вопросы по АР4"}).json
    listed = client.get("/chats", headers=headers, query_string={"limit": 10}).json
    assert listed[0]["id"] == chat["id"]

    history = client.get(f"/chats/{chat['id']}", headers=headers).json
    flat_id, nested = history["id"], history["chat"]  # old and new client shapes
    assert flat_id == nested["id"] == chat["id"] and history["messages"] == []

    message = client.post(
        f"/chats/{chat['id']}/messages", headers=headers, json={"content": "Какая марка кирпича?"}
    ).json
    assert message["role"] == "user"
    history = client.get(f"/chats/{chat['id']}", headers=headers).json
    assert [m["content"] for m in history["messages"]] == ["Какая марка кирпича?"]

    upload = client.post(
        "/files/upload", headers=headers, data={"file": (io.BytesIO(b"%PDF-1.4"), "plan.pdf")}
    )
    assert upload.status_code == 201 and upload.json["size_bytes"] == 8
    assert client.get(f"/files/{upload.json['id']}", headers=headers).json["filename"] == "plan.pdf"

    nodes = client.get(
        "/projects/tree",
        headers=headers,
        query_string={"all_nodes": "true", "include_files": "true"},
    ).json
    document = next(n for n in nodes if n["node_type"] == "document")
    assert document["files"][0]["file_type"] == "result_md"
    found = client.get("/projects/search", headers=headers, query_string={"q": "кладочные"}).json
    assert [n["id"] for n in found] == [doc["id"]]

    assert client.post("/auth/logout", headers=headers).json == {"message": "Logged out"}
    after = client.get("/me", headers=headers)
    assert after.status_code == 401 and after.json["error"] == "token_revoked"
