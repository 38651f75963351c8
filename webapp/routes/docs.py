"""ReDoc beside Swagger UI (`/docs`, served by APIFlask): both read `/openapi.json`."""

from __future__ import annotations

from apiflask import APIBlueprint
from apiflask.ui_templates import ui_templates
from flask import current_app, render_template_string

bp = APIBlueprint("redoc", __name__, enable_openapi=False)


@bp.get("/redoc")
def redoc():
    app = current_app
    return render_template_string(
        ui_templates["redoc"], title=app.title, version=app.version, config=app.config
    )
