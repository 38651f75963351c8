"""Configuration: reference names and defaults, derived choices, production refusals."""

from __future__ import annotations

import pytest

from webapp.config import DEFAULT_JWT_SECRET, ConfigError, load_settings

SECRET = "s" * 40


def test_defaults_are_embedded_backends(tmp_path):
    values = load_settings(env={"DATA_DIR": str(tmp_path), "JWT_SECRET_KEY": SECRET})
    assert (
        values["CHAT_DB"],
        values["PROJECTS_DB"],
        values["STORAGE"],
        values["LLM_PROVIDER"],
    ) == ("sqlite", "sqlite", "local", "local")
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
def test_production_refuses_weak_jwt_secret(tmp_path, secret):
    env = {"DATA_DIR": str(tmp_path), "DEBUG": "false"}
    if secret is not None:
        env["JWT_SECRET_KEY"] = secret
    with pytest.raises(ConfigError, match="JWT_SECRET_KEY"):
        load_settings(env=env)
    assert load_settings(env={**env, "DEBUG": "true"})["DEBUG"] is True


@pytest.mark.parametrize(
    "env, message",
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"DEBUG": "perhaps"}, "DEBUG"),
        ({"CHAT_DB": "mysql"}, "CHAT_DB"),
        ({"MEDIA_RESOLUTION": "4k"}, "MEDIA_RESOLUTION"),
    ],
)
def test_bad_values_are_named(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        load_settings(env={"DATA_DIR": str(tmp_path), "JWT_SECRET_KEY": SECRET, **env})


def test_app_refuses_to_start_in_production_with_default_secret(tmp_path, monkeypatch):
    from webapp import create_app

    monkeypatch.delenv("JWT_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app({"TESTING": True, "DATA_DIR": str(tmp_path), "DEBUG": False})
