"""Token exchange, logout and every way a bearer token can be bad (SPEC §4.2–4.3)."""

from __future__ import annotations

import time

import jwt as pyjwt

from tests.conftest import TEST_SECRET


def test_exchange_returns_token_and_user(client, alice):
    response = client.post("/auth/exchange", json={"static_token": alice.token})
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    assert body["user"]["username"] == "alice"
    assert set(body["user"]) == {"id", "username", "status", "created_at"}
    claims = pyjwt.decode(body["access_token"], TEST_SECRET, algorithms=["HS256"])
    assert claims["sub"] == alice.id and claims["type"] == "access"
    assert {"exp", "iat", "jti"} <= set(claims)


def test_exchange_ignores_unknown_keys_and_trims(client, alice):
    response = client.post("/auth/exchange", json={"static_token": f" {alice.token} ", "x": 1})
    assert response.status_code == 200


def test_exchange_unknown_token_401(client):
    response = client.post("/auth/exchange", json={"static_token": "nope"})
    assert response.status_code == 401
    assert response.json["error"] == "invalid_static_token"
    assert response.json["message"] == response.json["detail"]


def test_exchange_validation(client):
    assert client.post("/auth/exchange", json={}).status_code == 422
    response = client.post("/auth/exchange", json={"static_token": 5})
    assert response.status_code == 422
    assert "static_token" in response.json["details"]
    bad = client.post("/auth/exchange", data="{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.json["message"] == "Request body is not valid JSON."


def test_blocked_user_cannot_exchange_or_call(app, client, alice):
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().update_user(alice.id, status="blocked")
    assert client.post("/auth/exchange", json={"static_token": alice.token}).status_code == 403
    for method, path in (
        ("get", "/me"),
        ("get", "/chats"),
        ("post", "/chats"),
        ("get", "/prompts/roles"),
        ("get", "/projects/tree"),
    ):
        response = getattr(client, method)(path, headers=alice.headers, json={})
        assert response.status_code == 403, path
        assert response.json["error"] == "user_blocked"


def test_inactive_user_gets_403(app, client, alice):
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().update_user(alice.id, status="inactive")
    assert client.get("/me", headers=alice.headers).status_code == 403


def _forge(claims: dict, secret: str = TEST_SECRET) -> str:
    return pyjwt.encode(claims, secret, algorithm="HS256")


def test_every_bad_token_is_401(client, alice):
    good = pyjwt.decode(alice.access, TEST_SECRET, algorithms=["HS256"])
    now = int(time.time())
    tampered = alice.access[:-4] + ("AAAA" if not alice.access.endswith("AAAA") else "BBBB")
    cases = {
        "tampered": tampered,
        "wrong secret": _forge(good, "another-secret-" + "y" * 40),
        "expired": _forge({**good, "exp": now - 10, "iat": now - 100}),
        "malformed": "not.a.jwt",
        "garbage": "abc",
        "none alg": pyjwt.encode(good, None, algorithm="none") if hasattr(pyjwt, "encode") else "x",
        "unknown user": _forge({**good, "sub": "00000000-0000-0000-0000-000000000000"}),
        "refresh type": _forge({**good, "type": "refresh"}),
    }
    for name, token in cases.items():
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, (name, response.json)
        assert response.json["error"] and response.json["message"]
    assert client.get("/me").status_code == 401
    assert client.get("/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_logout_revokes_presented_token(client, alice, make_user):
    assert client.get("/me", headers=alice.headers).status_code == 200
    response = client.post("/auth/logout", headers=alice.headers)
    assert response.status_code == 200 and response.json["message"]
    revoked = client.get("/me", headers=alice.headers)
    assert revoked.status_code == 401
    assert revoked.json["error"] == "token_revoked"
    fresh = client.post("/auth/exchange", json={"static_token": alice.token}).json["access_token"]
    assert client.get("/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_logout_without_token(client):
    assert client.post("/auth/logout").status_code == 200


def test_status_cache_applies_within_its_window(tmp_path):
    from tests.conftest import app_settings
    from webapp import create_app
    from webapp.auth.tokens import generate_static_token, hash_token

    app = create_app(app_settings(tmp_path, AUTH_CACHE_SECONDS=3600))
    client = app.test_client()
    token = generate_static_token()
    with app.app_context():
        from webapp.auth.guard import forget_user
        from webapp.stores import chat_db

        user = chat_db().create_user("carol", hash_token(token))
    access = client.post("/auth/exchange", json={"static_token": token}).json["access_token"]
    headers = {"Authorization": f"Bearer {access}"}
    assert client.get("/me", headers=headers).status_code == 200
    with app.app_context():
        chat_db().update_user(user["id"], status="blocked")
    assert client.get("/me", headers=headers).status_code == 200  # still cached
    with app.app_context():
        forget_user(user["id"])
    assert client.get("/me", headers=headers).status_code == 403
