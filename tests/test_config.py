"""Configuration: reference names and defaults, derived choices, production refusals."""

from __future__ import annotations

import pytest

from webapp.config import DEFAULT_JWT_SECRET, ConfigError, load_settings, signing_secret

SECRET = "s" * 40


def test_defaults_are_embedded_backends(tmp_path):
    values = load_settings(env={"DATA_DIR": str(tmp_path), "JWT_SECRET_KEY": SECRET})
    assert (
        values["CHAT_DB"],
        values["PROJECTS_DB"],
        values["STORAGE"],
        values["LLM_PROVIDER"],
    ) == ("sqlite", "sqlite", "local", "auto")
    assert values["EVIDENCE_CACHE_DIR"] == str(tmp_path / "cache")
    assert values["MAX_CONCURRENT_REQUESTS"] == 2 and values["MAX_QUEUE_SIZE"] == 50
    assert values["ACCESS_TOKEN_EXPIRE_MINUTES"] == 60


def test_production_backends_chosen_by_their_variables(tmp_path):
    values = load_settings(
        env={
            "DATA_DIR": str(tmp_path),
            "JWT_SECRET_KEY": SECRET,
            "SUPABASE_URL": "http://x",
            "SUPABASE_PROJECTS_URL": "http://y",
            "R2_ENDPOINT_URL": "http://z",
            "GOOGLE_API_KEY": "k",
        }
    )
    assert (
        values["CHAT_DB"],
        values["PROJECTS_DB"],
        values["STORAGE"],
        values["LLM_PROVIDER"],
    ) == ("supabase", "supabase", "s3", "gemini")
    assert values["DEFAULT_GEMINI_API_KEY"] == "k"
    explicit = load_settings(
        env={
            "DATA_DIR": str(tmp_path),
            "JWT_SECRET_KEY": SECRET,
            "SUPABASE_URL": "http://x",
            "CHAT_DB": "sqlite",
        }
    )
    assert explicit["CHAT_DB"] == "sqlite"


@pytest.mark.parametrize("secret", [None, "", DEFAULT_JWT_SECRET, "short-secret"])
def test_production_refuses_weak_jwt_secret_where_it_is_used(tmp_path, secret):
    env = {"DATA_DIR": str(tmp_path), "DEBUG": "false"}
    if secret is not None:
        env["JWT_SECRET_KEY"] = secret
    values = load_settings(env=env)  # loading settings needs no secret (CLI commands)
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        signing_secret(values)
    debug = load_settings(env={**env, "DEBUG": "true"})
    assert signing_secret(debug) == debug["JWT_SECRET_KEY"]
    assert signing_secret(load_settings(env={**env, "JWT_SECRET_KEY": SECRET})) == SECRET


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"CHAT_DB": "mysql"}, "CHAT_DB"),
        ({"MEDIA_RESOLUTION": "4k"}, "MEDIA_RESOLUTION"),
        ({"LOCAL_TOKEN_DELAY": "-1"}, "LOCAL_TOKEN_DELAY"),
        ({"LOCAL_TOKEN_DELAY": "60"}, "LOCAL_TOKEN_DELAY"),
    ],
)
def test_bad_values_are_named(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env={"DATA_DIR": str(tmp_path), "JWT_SECRET_KEY": SECRET, **env})


def test_app_without_secret_serves_nothing_signed(tmp_path, monkeypatch):
    """The app is made (CLI commands use it), but a serving worker refuses to start, and a
    request never gets a token signed with the default secret."""
    from webapp import create_app
    from webapp.auth.tokens import generate_static_token, hash_token
    from webapp.warmup import warm_up

    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    app = create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "DEBUG": False})
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        warm_up(app)
    token = generate_static_token()
    with app.app_context():
        from webapp.stores import chat_db

        chat_db().create_user("u", hash_token(token))
    exchange = app.test_client().post("/auth/exchange", json={"static_token": token})
    assert exchange.status_code == 500 and "access_token" not in (exchange.json or {})
