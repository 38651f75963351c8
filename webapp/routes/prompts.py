"""Role prompts users can choose from."""

from __future__ import annotations

from apiflask import APIBlueprint

from webapp.routes.common import AUTH_RESPONSES, protected
from webapp.routes.schemas import RoleOut
from webapp.stores import chat_db

bp = APIBlueprint("prompts", __name__, tag="Prompts")


@bp.get("/prompts/roles")
@protected
@bp.output(RoleOut(many=True))
@bp.doc(responses=AUTH_RESPONSES)
def roles():
    """Active role prompts."""
    return chat_db().list_roles(active_only=True)
