"""Configuration from the environment (and `.env`), with the reference server's names and defaults.

Every setting is declared once in `SECTIONS` below: its name, type, default and a one-line help
text. The same table fills `app.config`, generates `env.example` (`flask config example`) and
documents the knobs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VERSION = "2.0.0"  # the server's version, as /health and /openapi.json show it
DEFAULT_JWT_SECRET = "change-me-in-production"
MIN_JWT_SECRET_LENGTH = 32


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type | str  # str, int, float, bool, "list", "path", "table" (name=int,… as a dict)
    default: Any
    help: str
    secret: bool = False
    section: str = ""


def _s(name: str, kind: Any, default: Any, help: str, secret: bool = False) -> Setting:
    return Setting(name, kind, default, help, secret)


def _section(title: str, *settings: Setting) -> tuple[str, list[Setting]]:
    return title, [Setting(s.name, s.kind, s.default, s.help, s.secret, title) for s in settings]


SECTIONS: list[tuple[str, list[Setting]]] = [
    _section(
        "Server",
        _s(
            "HOST",
            str,
            "127.0.0.1",
            "Address gunicorn binds to (nginx proxies to it in production).",
        ),
        _s("PORT", int, 8000, "Port gunicorn binds to."),
        _s("DEBUG", bool, False, "Development mode: error bodies carry exception text."),
        _s("LOG_LEVEL", str, "INFO", "Log level: DEBUG, INFO, WARNING, ERROR."),
        _s(
            "WEB_CONCURRENCY",
            int,
            2,
            "gunicorn worker processes (each runs MAX_CONCURRENT_REQUESTS runs).",
        ),
        _s(
            "GUNICORN_TIMEOUT",
            int,
            120,
            "Seconds a silent worker may live before gunicorn restarts it.",
        ),
        _s("CORS_ORIGINS", "list", ["*"], "Comma-separated origins allowed by CORS ('*' for any)."),
        _s("DATA_DIR", "path", "var", "Where the embedded databases, objects and caches live."),
    ),
    _section(
        "Authentication",
        _s(
            "JWT_SECRET_KEY",
            str,
            DEFAULT_JWT_SECRET,
            "Secret signing access tokens and links; at least 32 characters when DEBUG=false"
            " (the server and `flask ask` refuse to run without one; other commands do not"
            " need it).",
            secret=True,
        ),
        _s("JWT_ALGORITHM", str, "HS256", "JWT signing algorithm."),
        _s("ACCESS_TOKEN_EXPIRE_MINUTES", int, 60, "Lifetime of an access token."),
        _s(
            "AUTH_CACHE_SECONDS",
            int,
            30,
            "How long a user's status is cached before it is read again.",
        ),
    ),
    _section(
        "Backends",
        _s("CHAT_DB", str, "", "sqlite or supabase (default: supabase when SUPABASE_URL is set)."),
        _s(
            "PROJECTS_DB",
            str,
            "",
            "sqlite or supabase (default: supabase when SUPABASE_PROJECTS_URL is set).",
        ),
        _s("STORAGE", str, "", "local or s3 (default: s3 when R2_ENDPOINT_URL is set)."),
        _s("SUPABASE_URL", str, "", "Chat database Supabase URL."),
        _s("SUPABASE_ANON_KEY", str, "", "Chat database anon key (fallback).", secret=True),
        _s("SUPABASE_SERVICE_KEY", str, "", "Chat database service key.", secret=True),
        _s("SUPABASE_PROJECTS_URL", str, "", "Projects database Supabase URL."),
        _s("SUPABASE_PROJECTS_ANON_KEY", str, "", "Projects database anon key.", secret=True),
        _s("SUPABASE_PROJECTS_SERVICE_KEY", str, "", "Projects database service key.", secret=True),
        _s("R2_ENDPOINT_URL", str, "", "S3-compatible endpoint (Cloudflare R2)."),
        _s("R2_ACCESS_KEY_ID", str, "", "S3 access key id.", secret=True),
        _s("R2_SECRET_ACCESS_KEY", str, "", "S3 secret access key.", secret=True),
        _s("R2_BUCKET_NAME", str, "", "Bucket holding tree_docs/, uploads and renders."),
        _s("R2_PUBLIC_DOMAIN", str, "", "Public base URL of the bucket, if any."),
        _s("USE_S3_DEV_URL", bool, False, "Use S3_DEV_URL as the public base of the bucket."),
        _s("S3_DEV_URL", str, "", "Public development URL of the bucket (r2.dev)."),
        _s("S3_PROJECTS_DEV_URL", str, "", "Public URL of the projects bucket (crop links)."),
        _s(
            "BACKEND_TIMEOUT_SECONDS",
            float,
            30.0,
            "A Supabase or S3 request that has not answered after this long fails (503).",
        ),
        _s(
            "SQLITE_BUSY_TIMEOUT_SECONDS",
            float,
            10.0,
            "How long a write waits for another process's lock on a SQLite store before it "
            "gives up (503 with Retry-After).",
        ),
    ),
    _section(
        "Language model",
        _s(
            "LLM_PROVIDER",
            str,
            "",
            "local, gemini or auto (default: gemini with DEFAULT_GEMINI_API_KEY, else auto: "
            "Gemini for users who stored their own key, the offline engine for the others).",
        ),
        _s(
            "LOCAL_TOKEN_DELAY",
            float,
            0.0,
            "Seconds the offline engine waits after each token (demos and browser tests watch "
            "an answer being written).",
        ),
        _s(
            "DEFAULT_GEMINI_API_KEY",
            str,
            "",
            "Server Gemini key (alias GOOGLE_API_KEY).",
            secret=True,
        ),
        _s(
            "GEMINI_BASE_URL", str, "", "Another Gemini endpoint (tests point it at a fake server)."
        ),
        _s("DEFAULT_MODEL", str, "gemini-3-flash-preview", "Default model."),
        _s("DEFAULT_FLASH_MODEL", str, "gemini-3-flash-preview", "Model that collects evidence."),
        _s("DEFAULT_PRO_MODEL", str, "gemini-3-pro-preview", "Model that answers in complex mode."),
        _s("MAX_TOKENS", int, 8192, "Maximum output tokens per LLM call."),
        _s("LLM_TEMPERATURE", float, 1.0, "Default temperature."),
        _s("LLM_TOP_P", float, 0.95, "Default top_p."),
        _s("MEDIA_RESOLUTION", str, "high", "Default media resolution: low, medium, high."),
        _s("THINKING_ENABLED", bool, False, "Default for the thinking setting."),
        _s("THINKING_BUDGET", int, 0, "Default thinking budget (tokens)."),
        _s("CONTEXT_CACHE_TTL_SECONDS", int, 900, "Lifetime of a Gemini context cache."),
        _s(
            "CONTEXT_CACHE_MIN_CHARS",
            int,
            16000,
            "Document materials shorter than this are sent inline, not cached (a cost choice).",
        ),
        _s(
            "GEMINI_CACHE_MIN_TOKENS",
            "table",
            {
                "gemini-2.5-flash": 1024,
                "gemini-2.5-flash-lite": 2048,
                "gemini-2.5-pro": 4096,
                "*": 4096,
            },
            "Smallest context cache Gemini accepts per model (model name prefix=tokens, * for "
            "others; tokens estimated as characters/4); smaller materials are sent inline.",
        ),
        _s("LLM_MAX_RETRIES", int, 2, "Retries of a failed LLM call (429, 5xx, transport)."),
        _s("MAX_ITERATIONS", int, 10, "Answering rounds per question at most."),
        _s("LLM_LOG_ENABLED", bool, False, "Write every LLM request and response to a dialog log."),
        _s("LLM_LOG_DIR", "path", "", "Dialog log folder (default DATA_DIR/logs)."),
        _s("LLM_LOG_TRUNCATE_CHARS", int, 4000, "Long sections of the dialog log are cut here."),
        _s("LLM_LOG_MAX_MB", int, 20, "A dialog log is rotated past this size."),
    ),
    _section(
        "Evidence rendering",
        _s("PREVIEW_MAX_SIDE", int, 2000, "Long side of an overview image, pixels."),
        _s("ZOOM_PREVIEW_MAX_SIDE", int, 2000, "Long side of a quadrant or ROI image, pixels."),
        _s(
            "AUTO_QUADRANTS_THRESHOLD",
            float,
            2.5,
            "Quadrants are added when the crop at 150 dpi is this many times the overview.",
        ),
        _s("ROI_MARGIN", float, 0.05, "Margin added around a sector ROI (fraction of the crop)."),
        _s(
            "MAX_RENDER_PIXELS", int, 40_000_000, "Pixel cap of one render (dpi is lowered to fit)."
        ),
        _s("RENDER_WORKERS", int, 2, "Renders running at once per worker process."),
        _s("RENDER_TIMEOUT_SECONDS", float, 60.0, "A Ghostscript run longer than this is stopped."),
        _s("EVIDENCE_CACHE_ENABLED", bool, True, "Keep rendered images in the disk cache."),
        _s("EVIDENCE_CACHE_DIR", "path", "", "Render cache folder (default DATA_DIR/cache)."),
        _s("EVIDENCE_CACHE_MAX_MB", int, 2000, "Render cache size cap."),
        _s(
            "EVIDENCE_CACHE_TTL_DAYS",
            int,
            14,
            "Cache entries expire this long after their last use (shared ones: after sharing).",
        ),
        _s(
            "SHARED_RENDER_CACHE_MAX_MB",
            int,
            10_000,
            "Size cap of render_cache/ in the bucket, shared by all hosts (flask cache prune).",
        ),
        _s("IMAGE_URL_TTL_SECONDS", int, 7 * 24 * 3600, "Lifetime of a signed /images URL."),
        _s("CROP_FETCH_ALLOWED_HOSTS", "list", [], "Hosts crops may be fetched from by URL."),
    ),
    _section(
        "Limits",
        _s("MAX_FILE_SIZE_MB", int, 100, "Largest upload accepted by /files/upload."),
        _s(
            "MAX_JSON_BODY_MB",
            int,
            1,
            "Largest JSON request body (413 past it); a question is at most 20,000 characters.",
        ),
        _s("MAX_CONCURRENT_REQUESTS", int, 2, "Runs executing at once per worker process."),
        _s("MAX_QUEUE_SIZE", int, 50, "Runs waiting for a slot per worker process."),
        _s("REQUEST_TIMEOUT", int, 300, "Longest wait for a slot, seconds."),
        _s("RUN_TIMEOUT", int, 900, "Longest run, seconds."),
        _s(
            "RUN_STALE_SECONDS",
            int,
            60,
            "A run whose process stopped beating this long is marked failed.",
        ),
        _s("SSE_HEARTBEAT_SECONDS", int, 15, "A ': ping' comment is sent after this much silence."),
        _s(
            "SSE_CLIENT_BUFFER_EVENTS",
            int,
            1000,
            "Live events a stream may fall behind before it is dropped (its client re-attaches "
            "with Last-Event-ID).",
        ),
        _s("MAX_IMAGES_PER_CALL", int, 12, "Images sent to the model per call."),
        _s("MAX_ROIS_PER_ITERATION", int, 6, "Zoomed regions rendered per round."),
        _s("MAX_BLOCKS_IN_MATERIALS", int, 80, "Blocks in the materials of one call."),
        _s("MAX_CONTEXT_CHARS", int, 120_000, "Document text per call, characters."),
        _s(
            "MATERIALS_TARGET_CHARS",
            int,
            40_000,
            "Block text a round aims for: full texts of the best matches, excerpts of the rest"
            " (MAX_CONTEXT_CHARS stays the cap).",
        ),
        _s(
            "DOCUMENT_MAP_MAX_CHARS",
            int,
            25_000,
            "The document map sent with every call (longer documents get a coarser map).",
        ),
        _s(
            "PREFIX_DOCUMENT_CHARS",
            int,
            24_000,
            "Documents this short are sent whole in the cached prompt prefix instead of searched.",
        ),
        _s("AUTO_DOCUMENTS", int, 2, "Documents picked by search for a question without any."),
        _s(
            "AUTO_INDEX_PER_QUESTION",
            int,
            2,
            "Documents a question without any adds to the cross-document index itself when they"
            " are new or changed (the rest are queued for the worker's background indexer).",
        ),
    ),
    _section(
        "Operations",
        _s("METRICS_ENABLED", bool, False, "Serve /metrics (Prometheus)."),
        _s("PURGE_INTERVAL_SECONDS", int, 30, "How often deleted chats are purged (0: only CLI)."),
        _s(
            "METRICS_TOKEN",
            str,
            "",
            "Bearer token for /metrics; without it only loopback.",
            secret=True,
        ),
        _s(
            "HUB_MONITOR_SECONDS",
            float,
            0.0,
            "Watch each gevent worker's hub: count (in /metrics) and log every block longer than "
            "this (0: off).",
        ),
    ),
]

SETTINGS: dict[str, Setting] = {s.name: s for _, items in SECTIONS for s in items}

ALIASES = {
    "DEFAULT_GEMINI_API_KEY": ("GOOGLE_API_KEY",),
    "GEMINI_BASE_URL": ("GOOGLE_GEMINI_BASE_URL",),
}


class ConfigError(ValueError):
    """A setting has a value the server cannot run with."""


def _parse(setting: Setting, raw: str) -> Any:
    kind = setting.kind
    text = raw.strip()
    try:
        if kind is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
        if kind == "list":
            return [part.strip() for part in text.split(",") if part.strip()]
        if kind == "table":
            return parse_table(text)
        return raw if kind is str else text
    except ValueError:
        hint = " (name=count,…, e.g. gemini-2.5-flash=1024,*=4096)" if kind == "table" else ""
        raise ConfigError(
            f"{setting.name}={raw!r} is not a valid {getattr(kind, '__name__', kind)}{hint}"
        )


def parse_table(text: str) -> dict[str, int]:
    """`name=count,…` (e.g. `gemini-2.5-flash=1024,*=4096`) as a dict; ValueError if bad."""
    table: dict[str, int] = {}
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, count = item.partition("=")
        if not sep or not name.strip() or int(count) < 0:
            raise ValueError(item)
        table[name.strip()] = int(count)
    return table


def format_value(setting: Setting, value: Any) -> str:
    """A value as it is written in the environment (`env.example`, `flask config show`)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    if isinstance(value, dict):
        return ",".join(f"{name}={count}" for name, count in value.items())
    return str(value)


def read_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """Every declared setting, from `env` where present, else its default."""
    values: dict[str, Any] = {}
    for name, setting in SETTINGS.items():
        raw = env.get(name)
        for alias in ALIASES.get(name, ()):
            if not raw:
                raw = env.get(alias)
        values[name] = _parse(setting, raw) if raw is not None else setting.default
    return values


def derive(values: dict[str, Any]) -> dict[str, Any]:
    """Fill the settings whose defaults depend on others (paths under DATA_DIR, backend choices)."""
    data_dir = Path(values["DATA_DIR"]).expanduser().resolve()
    values["DATA_DIR"] = str(data_dir)
    values["EVIDENCE_CACHE_DIR"] = str(Path(values["EVIDENCE_CACHE_DIR"] or data_dir / "cache"))
    values["LLM_LOG_DIR"] = str(Path(values["LLM_LOG_DIR"] or data_dir / "logs"))
    values["CHAT_DB"] = values["CHAT_DB"] or ("supabase" if values["SUPABASE_URL"] else "sqlite")
    values["PROJECTS_DB"] = values["PROJECTS_DB"] or (
        "supabase" if values["SUPABASE_PROJECTS_URL"] else "sqlite"
    )
    values["STORAGE"] = values["STORAGE"] or ("s3" if values["R2_ENDPOINT_URL"] else "local")
    values["LLM_PROVIDER"] = values["LLM_PROVIDER"] or (
        "gemini" if values["DEFAULT_GEMINI_API_KEY"] else "auto"
    )
    for name, setting in SETTINGS.items():  # tables given as text (overrides) are parsed too
        if setting.kind == "table" and isinstance(values[name], str):
            values[name] = _parse(setting, values[name])
    return values


def validate(values: dict[str, Any]) -> None:
    """Refuse settings nothing can run with (the secret is checked where it is used:
    `signing_secret`)."""
    choices = {
        "CHAT_DB": ("sqlite", "supabase"),
        "PROJECTS_DB": ("sqlite", "supabase"),
        "STORAGE": ("local", "s3"),
        "LLM_PROVIDER": ("local", "gemini", "auto"),
        "MEDIA_RESOLUTION": ("low", "medium", "high"),
    }
    for name, allowed in choices.items():
        if values[name] not in allowed:
            raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {values[name]!r}")
    for name in ("MAX_FILE_SIZE_MB", "MAX_JSON_BODY_MB"):
        if values[name] < 1:
            raise ConfigError(f"{name} must be at least 1, not {values[name]}")
    if not 0 <= values["LOCAL_TOKEN_DELAY"] <= 10:
        raise ConfigError(
            f"LOCAL_TOKEN_DELAY must be 0 to 10 seconds, not {values['LOCAL_TOKEN_DELAY']}"
        )


def signing_secret(values: Mapping[str, Any]) -> str:
    """The secret that signs tokens and links and encrypts users' keys, or ConfigError when it
    must not be used (missing, the default or short, outside DEBUG).

    Asked for where something is signed, verified or encrypted — by a serving worker before it
    serves, by a run before it starts — not when the app is made: commands that sign nothing
    (`flask search`, `flask demo`, `flask projects import`, …) run without it.
    """
    secret = values["JWT_SECRET_KEY"]
    if not values["DEBUG"] and (
        not secret or secret == DEFAULT_JWT_SECRET or len(secret) < MIN_JWT_SECRET_LENGTH
    ):
        raise ConfigError(
            "JWT_SECRET_KEY is missing, the default, or shorter than "
            f"{MIN_JWT_SECRET_LENGTH} characters; set a random one (for example "
            "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`) or DEBUG=true"
        )
    return secret


def load_settings(
    overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Settings from `env` (default: the process environment) with `overrides` on top, checked."""
    values = read_environment(os.environ if env is None else env)
    values.update(overrides or {})
    values = derive(values)
    validate(values)
    return values


def example_env() -> str:
    """The text of `env.example`: every setting with its default and help."""
    lines = [
        "# AIZoomDoc Server configuration. Copy to .env and edit; every line is optional.",
        "# Generated by `flask config example`; defaults shown are the embedded ones.",
        "",
    ]
    for section, items in SECTIONS:
        lines.append(f"# --- {section} ---")
        for s in items:
            if s.secret or s.default in ("", None, [], {}):
                value = ""
            else:
                value = format_value(s, s.default)
            lines.append(f"# {s.help}")
            lines.append(f"{s.name}={value}")
        lines.append("")
    return "\n".join(lines)
