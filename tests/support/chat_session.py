"""Fixtures for whole questions: a chat with the demo document, answered by the real pipeline on
the local engine or on google-genai talking to the fake Gemini server."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from tests.conftest import app_settings
from tests.support.fake_gemini import API_KEY, FakeGemini
from webapp import create_app
from webapp.auth.tokens import generate_static_token, hash_token


def parse_sse(text: str) -> list[tuple[int | None, str, dict]]:
    events = []
    for block in text.split("\n\n"):
        fields = {}
        for line in block.split("\n"):
            if line.startswith(":") or ": " not in line:
                continue
            key, value = line.split(": ", 1)
            fields[key] = value
        if "event" in fields:
            seq = int(fields["id"]) if "id" in fields else None
            events.append((seq, fields["event"], json.loads(fields["data"])))
    return events


@dataclass
class Session:
    app: object
    client: object
    headers: dict
    document_id: str
    fake: FakeGemini | None = None
    chat_id: str = ""
    last_events: list = field(default_factory=list)

    def new_chat(self) -> str:
        self.chat_id = self.client.post("/chats", json={}, headers=self.headers).json["id"]
        return self.chat_id

    def ask(
        self, question: str, documents: list[str] | None = None, query: str = "", **message
    ) -> list[tuple[int | None, str, dict]]:
        if not self.chat_id:
            self.new_chat()
        body = {"content": question, **message}
        if documents is None:
            body["attached_document_ids"] = [self.document_id]
        elif documents:
            body["attached_document_ids"] = documents
        posted = self.client.post(
            f"/chats/{self.chat_id}/messages", json=body, headers=self.headers
        )
        assert posted.status_code == 201, posted.json
        return self.stream(query)

    def stream(self, query: str = "", headers: dict | None = None):
        response = self.client.get(
            f"/chats/{self.chat_id}/stream{query}", headers={**self.headers, **(headers or {})}
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        self.last_events = parse_sse(response.get_data(as_text=True))
        return self.last_events

    def settings(self, **values) -> None:
        assert (
            self.client.patch("/me/settings", json=values, headers=self.headers).status_code == 200
        )

    def history(self) -> list[dict]:
        return self.client.get(f"/chats/{self.chat_id}", headers=self.headers).json["messages"]


def names(events) -> list[str]:
    return [name for _, name, _ in events]


def of(events, name: str) -> list[dict]:
    return [data for _, event, data in events if event == name]


def _session(tmp_path, fake: FakeGemini | None, **extra) -> Session:
    settings = app_settings(tmp_path / "data")
    if fake is not None:
        settings.update(
            LLM_PROVIDER="gemini",
            DEFAULT_GEMINI_API_KEY=API_KEY,
            GEMINI_BASE_URL=fake.url,
            DEFAULT_FLASH_MODEL="gemini-2.5-flash",
            DEFAULT_PRO_MODEL="gemini-2.5-pro",
        )
    settings.update(extra)
    app = create_app(settings)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["demo", "--quiet"])
    assert result.exit_code == 0, result.output
    document_id = result.output.strip().splitlines()[-1]
    token = generate_static_token()
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().create_user("engineer", hash_token(token))
    client = app.test_client()
    access = client.post("/auth/exchange", json={"static_token": token}).json["access_token"]
    return Session(app, client, {"Authorization": f"Bearer {access}"}, document_id, fake)


@pytest.fixture
def fake_gemini():
    fake = FakeGemini().start()
    yield fake
    fake.stop()


@pytest.fixture
def make_session(tmp_path, fake_gemini):
    def make(gemini: bool = True, **extra) -> Session:
        return _session(tmp_path, fake_gemini if gemini else None, **extra)

    return make
