"""HTTP routes: one thin blueprint per resource; the logic lives in the service packages."""

from __future__ import annotations

from apiflask import APIFlask

from webapp.routes import (
    auth,
    chats,
    docs,
    files,
    health,
    images,
    me,
    openapi,
    projects,
    prompts,
    stream,
)
from webapp.routes.body import check_json_body, check_query

BLUEPRINTS = (health, auth, me, prompts, chats, stream, files, projects, images, docs)


def init_app(app: APIFlask) -> None:
    app.before_request(check_query)
    app.before_request(check_json_body)
    app.url_map.converters["file_id"] = files.FileIdConverter
    openapi.init_app(app)
    for module in BLUEPRINTS:
        app.register_blueprint(module.bp)
