"""What only the Supabase stores have to get right: user text inside PostgREST filters, ids that
are not UUIDs, Supabase's row cap on responses, and errors mapped to the store's own."""

from __future__ import annotations

import psycopg
import pytest
from postgrest.exceptions import APIError

from webapp.stores.chatdb.base import Conflict
from webapp.stores.chatdb.supabase import SupabaseChatStore
from webapp.stores.projectsdb.supabase import SupabaseProjectsStore

NASTY = 'a,b.c:d(e)f"g\\h*i%j_k l+m&n=o?p#q'


@pytest.fixture
def chat(supabase_chat_db):
    return SupabaseChatStore(supabase_chat_db.url, supabase_chat_db.key)


@pytest.fixture
def projects(supabase_projects_db):
    return SupabaseProjectsStore(supabase_projects_db.url, supabase_projects_db.key)


def _node(dsn: str, name: str, code: str | None = None, client: str = "c1") -> str:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return str(
            conn.execute(
                "INSERT INTO tree_nodes (client_id, node_type, name, code) "
                "VALUES (%s, 'document', %s, %s) RETURNING id",
                (client, name, code),
            ).fetchone()[0]
        )


def test_reserved_characters_in_values_round_trip(chat):
    user = chat.create_user(NASTY, "hash" + NASTY)
    assert chat.get_user_by_username(NASTY)["id"] == user["id"]
    assert chat.get_user_by_token_hash("hash" + NASTY)["id"] == user["id"]
    assert chat.get_user_by_username(NASTY[:-1]) is None
    made = chat.create_chat(NASTY, NASTY, NASTY)
    assert [c["title"] for c in chat.list_chats(NASTY, 5)] == [NASTY]
    chat.save_settings(NASTY, {"media_resolution": "low"})
    assert chat.get_settings(NASTY)["media_resolution"] == "low"
    chat.set_api_key(NASTY, "enc")
    assert chat.get_api_key(NASTY) == "enc"
    chat.revoke_token(NASTY, "2999-01-01T00:00:00+00:00")
    assert chat.is_token_revoked(NASTY) and not chat.is_token_revoked(NASTY + "x")
    assert chat.get_chat(made["id"])["description"] == NASTY


def test_search_treats_every_character_literally(projects, supabase_projects_db):
    dsn = supabase_projects_db.dsn
    exact = _node(dsn, f"Лист {NASTY}")
    _node(dsn, "Лист aXb")
    star = _node(dsn, "Схема a*b", code="К(1),2")
    for query in (NASTY, "c:d(e)", '"g\\h', "%j_k", "l+m&n=o?p#"):
        assert [n["id"] for n in projects.search_documents(query, None, 10)] == [exact], query
    assert [n["id"] for n in projects.search_documents("a*b", None, 10)] == [star]
    assert [n["id"] for n in projects.search_documents("к(1),", None, 10)] == [star]
    assert projects.search_documents("a*c", None, 10) == []


def test_ids_that_are_not_uuids_find_nothing(chat, projects):
    for bad in ("missing", "", "1' OR '1'='1", NASTY):
        assert chat.get_user(bad) is None and chat.get_chat(bad) is None
        assert chat.get_message(bad) is None and chat.get_file(bad) is None
        assert chat.get_run(bad) is None and chat.latest_run(bad) is None
        assert chat.list_messages(bad, 5) == [] and chat.list_events(bad) == []
        assert chat.list_images([bad]) == [] and chat.chat_render_files(bad) == []
        chat.delete_chat_part(bad, "messages")
        assert projects.get_node(bad) is None
        assert projects.list_nodes(parent_id=bad) == [] and projects.list_files([bad]) == []
    assert chat.get_role(10**12) is None


def test_id_guards_take_keywords_and_check_arguments_first(chat):
    made = chat.create_chat("u", "A", None)
    message = chat.add_message(made["id"], "user", "q")
    assert chat.get_chat(chat_id=made["id"])["id"] == made["id"]
    assert [m["id"] for m in chat.list_messages(chat_id=made["id"], limit=5, before=None)] == [
        message["id"]
    ]
    assert chat.list_messages(made["id"], 5, before="nope") == []
    for bad in ("nope", None):
        assert chat.update_user(bad, status="blocked") is None
        assert chat.update_run(bad, status="failed") is None
        chat.touch_chat(bad)
        chat.hide_chat(bad)
        chat.rename_chat(bad, {"title": "x"})
        chat.update_deletion(bad, status="done")
        with pytest.raises(ValueError):
            chat.update_user(bad, username="x")
        with pytest.raises(ValueError):
            chat.delete_chat_part(bad, "bogus")
    assert chat.get_role("1") is None and chat.set_role_active(True, False) is None


def test_long_reads_are_paged_past_the_row_cap(
    chat, projects, supabase_chat_db, supabase_projects_db, monkeypatch
):
    monkeypatch.setattr("webapp.stores.postgrest.PAGE_SIZE", 3)
    supabase_chat_db.server.max_rows = 3
    supabase_projects_db.server.max_rows = 3
    made = chat.create_chat("u", "A", None)
    message = chat.add_message(made["id"], "user", "q")
    run = chat.create_run(made["id"], message["id"], "u", None)
    for seq in range(1, 9):
        chat.append_event(run["id"], seq, "delta", {"n": seq})
    assert [e["seq"] for e in chat.list_events(run["id"])] == list(range(1, 9))
    assert [e["seq"] for e in chat.list_events(run["id"], after_seq=5)] == [6, 7, 8]
    for i in range(7):
        chat.add_role(f"r{i}", "x")
    assert len(chat.list_roles()) == 7
    names = [f"Документ {i}" for i in range(7)]
    for name in names:
        _node(supabase_projects_db.dsn, name)
    assert [n["name"] for n in projects.list_nodes()] == names
    for i in range(5):
        chat.add_message(made["id"], "user", f"m{i}")
    chat.delete_chat_part(made["id"], "runs")
    chat.delete_chat_part(made["id"], "messages")
    assert chat.list_messages(made["id"], 10) == []


def test_errors_map_to_the_store_exceptions(chat, supabase_chat_db):
    first = chat.create_user("a", "h1")
    chat.create_user("b", "h2")
    with pytest.raises(Conflict):
        chat.update_user(first["id"], token_hash="h2")
    made = chat.create_chat("u", "A", None)
    message = chat.add_message(made["id"], "user", "q")
    run = chat.create_run(made["id"], message["id"], "u", None)
    chat.append_event(run["id"], 1, "x", {})
    with pytest.raises(Conflict):
        chat.append_event(run["id"], 1, "x", {})
    with pytest.raises(APIError) as missing_parent:
        chat.add_message("00000000-0000-0000-0000-000000000000", "user", "q")
    assert missing_parent.value.code == "23503"
    wrong_key = SupabaseChatStore(supabase_chat_db.url, "not-the-key")
    with pytest.raises(APIError, match="Invalid API key"):
        wrong_key.ping()


def test_timestamps_come_back_in_one_iso_form(chat):
    made = chat.create_chat("u", "A", None)
    run = chat.create_run(made["id"], chat.add_message(made["id"], "user", "q")["id"], "u", None)
    updated = chat.update_run(run["id"], started_at="2026-01-01T03:00:00.1+03:00")
    assert updated["started_at"] == "2026-01-01T00:00:00.100000+00:00"
    assert made["created_at"].endswith("+00:00") and "T" in made["created_at"]


def test_listing_is_stable_for_equal_timestamps(chat, supabase_chat_db):
    made = chat.create_chat("u", "A", None)
    ids = [chat.add_message(made["id"], "user", f"m{i}")["id"] for i in range(4)]
    with psycopg.connect(supabase_chat_db.dsn, autocommit=True) as conn:
        conn.execute("UPDATE chat_messages SET created_at = '2026-01-01T00:00:00Z'")
    ordered = [m["id"] for m in chat.list_messages(made["id"], 10)]
    assert sorted(ordered) == sorted(ids) and ordered == sorted(ids)
    assert [m["id"] for m in chat.list_messages(made["id"], 2)] == ordered[2:]
    assert [m["id"] for m in chat.list_messages(made["id"], 10, before=ordered[2])] == ordered[:2]
