"""Token exchange, logout and every way a bearer token can be bad."""

from __future__ import annotations

import time

import jwt as pyjwt

from tests.conftest import TEST_SECRET


def _error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.json
    assert body["error"] == code and body["message"] == body["detail"], body
    return body


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
    assert response.json["user"]["id"] == alice.id and response.json["token_type"] == "bearer"
    headers = {"Authorization": f"Bearer {response.json['access_token']}"}
    assert client.get("/me", headers=headers).json["user"]["username"] == "alice"


def test_exchange_unknown_token_401(client):
    response = client.post("/auth/exchange", json={"static_token": "nope"})
    _error(response, 401, "invalid_static_token")
    assert "access_token" not in response.json


def test_exchange_validation(client):
    missing = _error(client.post("/auth/exchange", json={}), 422, "validation_error")
    assert missing["details"] == {"static_token": ["Missing data for required field."]}
    response = client.post("/auth/exchange", json={"static_token": 5})
    assert "static_token" in _error(response, 422, "validation_error")["details"]
    bad = client.post("/auth/exchange", data="{not json", content_type="application/json")
    assert bad.status_code == 400
    assert bad.json["message"] == "Request body is not valid JSON."


def test_blocked_user_cannot_exchange_or_call(app, client, alice):
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().update_user(alice.id, status="blocked")
    refused = client.post("/auth/exchange", json={"static_token": alice.token})
    assert _error(refused, 403, "user_blocked")["message"] == "User is blocked."
    assert "access_token" not in refused.json
    for method, path in (
        ("get", "/me"),
        ("get", "/chats"),
        ("post", "/chats"),
        ("get", "/prompts/roles"),
        ("get", "/projects/tree"),
    ):
        response = getattr(client, method)(path, headers=alice.headers, json={})
        _error(response, 403, "user_blocked")


def test_inactive_user_gets_403(app, client, alice):
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().update_user(alice.id, status="inactive")
    body = _error(client.get("/me", headers=alice.headers), 403, "user_inactive")
    assert body["message"] == "User is inactive."


def _forge(claims: dict, secret: str = TEST_SECRET) -> str:
    return pyjwt.encode(claims, secret, algorithm="HS256")


def test_every_bad_token_is_401(client, alice):
    good = pyjwt.decode(alice.access, TEST_SECRET, algorithms=["HS256"])
    now = int(time.time())
    tampered = alice.access[:-4] + ("AAAA" if not alice.access.endswith("AAAA") else "BBBB")
    cases = {
        "tampered": (tampered, "invalid_token", "Signature verification failed"),
        "wrong secret": (
            _forge(good, "another-secret-" + "y" * 40),
            "invalid_token",
            "Signature verification failed",
        ),
        "expired": (
            _forge({**good, "exp": now - 10, "iat": now - 100}),
            "token_expired",
            "Token has expired",
        ),
        "malformed": ("not.a.jwt", "invalid_token", "Invalid token"),
        "garbage": ("abc", "invalid_token", "Invalid token"),
        "none alg": (
            pyjwt.encode(good, None, algorithm="none"),
            "invalid_token",
            "alg value is not allowed",
        ),
        "unknown user": (
            _forge({**good, "sub": "00000000-0000-0000-0000-000000000000"}),
            "invalid_token",
            "no longer exists",
        ),
        "refresh type": (_forge({**good, "type": "refresh"}), "invalid_token", "non-refresh"),
    }
    for name, (token, code, words) in cases.items():
        response = client.get("/me", headers={"Authorization": f"Bearer {token}"})
        body = _error(response, 401, code)
        assert words in body["message"], (name, body)
        assert response.headers["WWW-Authenticate"] == "Bearer", name
        assert "user" not in body
    for headers in ({}, {"Authorization": "Basic abc"}):
        body = _error(client.get("/me", headers=headers), 401, "missing_token")
        assert body["message"] == "Missing bearer token: send 'Authorization: Bearer <token>'."


def test_logout_revokes_presented_token(client, alice, make_user):
    assert client.get("/me", headers=alice.headers).status_code == 200
    response = client.post("/auth/logout", headers=alice.headers)
    assert response.status_code == 200 and response.json == {"message": "Logged out"}
    revoked = client.get("/me", headers=alice.headers)
    assert revoked.status_code == 401
    assert revoked.json["error"] == "token_revoked"
    fresh = client.post("/auth/exchange", json={"static_token": alice.token}).json["access_token"]
    assert client.get("/me", headers={"Authorization": f"Bearer {fresh}"}).status_code == 200


def test_logout_without_token(client):
    response = client.post("/auth/logout")
    assert response.status_code == 200 and response.json == {"message": "Logged out"}


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
    assert client.get("/me", headers=headers).json["user"]["status"] == "active"
    with app.app_context():
        chat_db().update_user(user["id"], status="blocked")
    cached = client.get("/me", headers=headers)  # still cached as active
    assert cached.status_code == 200 and cached.json["user"]["status"] == "active"
    with app.app_context():
        forget_user(user["id"])
    _error(client.get("/me", headers=headers), 403, "user_blocked")
