"""AIZoomDoc Server: answers questions about construction drawing sets, zooming into drawings.

`create_app()` is the application factory; each package registers itself through `init_app`.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

from webapp.config import VERSION as __version__  # noqa: F401  (the package's version)


def create_app(overrides: Mapping[str, Any] | None = None):
    """Build the app from the environment (and `.env`), with `overrides` on top (tests)."""
    from apiflask import APIFlask
    from dotenv import load_dotenv
    from flask_cors import CORS

    from webapp import cli, errors, metrics, requestlog, routes, stores, web
    from webapp.accounts import cli as roles_cli
    from webapp.auth import cli as users_cli
    from webapp.auth import guard, jwt
    from webapp.chats import cli as chats_cli
    from webapp.chats import purge
    from webapp.config import load_settings
    from webapp.documents import catalog_sync
    from webapp.documents import cli as documents_cli
    from webapp.documents import search
    from webapp.drawings import cli as drawings_cli
    from webapp.evidence import cli as evidence_cli
    from webapp.evidence import service as evidence
    from webapp.offhub import OffHubJSONProvider
    from webapp.pipeline import cli as pipeline_cli
    from webapp.pipeline.loop import answer_question
    from webapp.projects import cli as projects_cli
    from webapp.runs import cli as runs_cli
    from webapp.runs import manager as runs_manager
    from webapp.stores import cli as stores_cli

    env_file = os.environ.get("AIZOOMDOC_ENV_FILE", os.path.join(os.getcwd(), ".env"))
    if env_file and not (overrides or {}).get("TESTING"):
        load_dotenv(env_file, override=False)  # the real environment wins over the file
    settings = load_settings(overrides)
    os.makedirs(settings["DATA_DIR"], exist_ok=True)  # indexes and scratch live there always
    requestlog.configure_logging(settings["LOG_LEVEL"])

    app = APIFlask(
        __name__,
        title="AIZoomDoc Server",
        version=__version__,
        spec_path="/openapi.json",
        docs_path="/docs",
    )
    app.config.update(settings)
    app.config.update(
        DESCRIPTION="Answers engineers' questions about construction drawing sets, zooming into "
        "the drawings. Authenticate with `POST /auth/exchange`, then send "
        "`Authorization: Bearer <access_token>`.",
        JSON_AS_ASCII=False,
        VALIDATION_ERROR_STATUS_CODE=422,
    )
    # apispec warns when one schema class is both nested and a response; the spec is still right.
    warnings.filterwarnings("ignore", "has already been added to the spec", UserWarning)
    app.json = OffHubJSONProvider(app)  # large bodies are encoded off the gevent hub
    app.json.ensure_ascii = False
    app.json.sort_keys = False

    errors.init_app(app)
    requestlog.init_app(app)
    stores.init_app(app)
    search.init_app(app)
    catalog_sync.init_app(app)
    evidence.init_app(app)
    stores_cli.init_app(app)
    jwt.init_app(app)
    guard.init_app(app)
    metrics.init_app(app)
    runs_manager.init_app(app, answer_question)
    routes.init_app(app)
    web.init_app(app)  # the page at / for browsers, and its static files
    cli.init_app(app)
    users_cli.init_app(app)
    roles_cli.init_app(app)
    projects_cli.init_app(app)
    documents_cli.init_app(app)
    drawings_cli.init_app(app, projects_cli.run_import)  # `flask demo` imports like any set
    evidence_cli.init_app(app)
    chats_cli.init_app(app)
    purge.init_app(app)
    runs_cli.init_app(app)
    pipeline_cli.init_app(app)
    origins = settings["CORS_ORIGINS"]
    CORS(app, origins="*" if origins == ["*"] else origins, expose_headers=["X-Request-ID"])
    return app
