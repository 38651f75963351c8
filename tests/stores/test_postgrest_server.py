"""The PostgREST-compatible test server (tests/support/postgrest.py) keeps to PostgREST's rules,
checked over raw HTTP: the Supabase store tests are only as good as this stand-in."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.support.fixtures import postgrest_database

OBJECT = "application/vnd.pgrst.object+json"


def _setup(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE items (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
            "name text NOT NULL UNIQUE, rank integer, tags jsonb DEFAULT '{}', "
            "made timestamptz NOT NULL DEFAULT now(), flag boolean)"
        )
        conn.execute(
            "CREATE TABLE parts (id serial PRIMARY KEY, item_id uuid REFERENCES items (id))"
        )
        conn.execute(
            "INSERT INTO items (name, rank, flag) VALUES ('a,b', 1, true), ('c.d', 2, false), "
            "('e(f)', NULL, NULL), ('g\"h\\i', 4, true), ('100%', 5, true)"
        )


@pytest.fixture
def api(postgres_cluster):
    with postgrest_database(postgres_cluster, _setup) as database:
        with httpx.Client(
            base_url=f"{database.url}/rest/v1", headers={"apikey": database.key}
        ) as client:
            yield client


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["name"] for row in response.json()]


def test_apikey_is_required(api):
    response = api.get("/items", headers={"apikey": "wrong"})
    assert response.status_code == 401
    assert set(response.json()) == {"code", "details", "hint", "message"}


def test_horizontal_filters_take_the_value_as_is(api):
    assert names(api.get("/items", params={"name": "eq.a,b"})) == ["a,b"]
    assert names(api.get("/items", params={"name": 'eq.g"h\\i'})) == ['g"h\\i']
    assert names(api.get("/items", params={"rank": "gte.4", "order": "rank.desc"})) == [
        "100%",
        'g"h\\i',
    ]
    assert names(api.get("/items", params={"rank": "is.null"})) == ["e(f)"]
    assert names(api.get("/items", params={"flag": "not.is.true", "order": "name"})) == [
        "c.d",
        "e(f)",
    ]
    assert len(names(api.get("/items", params={"name": "like.*"}))) == 5  # `*` is `%`
    assert names(api.get("/items", params={"name": "like.*\\%*"})) == ["100%"]
    assert names(api.get("/items", params={"name": "ilike.E(*"})) == ["e(f)"]


def test_in_lists_and_logic_trees_use_postgrest_quoting(api):
    assert sorted(names(api.get("/items", params={"name": 'in.("a,b","e(f)",x)'}))) == [
        "a,b",
        "e(f)",
    ]
    assert names(api.get("/items", params={"name": "in.()"})) == []
    tree = '(name.eq."a,b",and(rank.gt.1,name.eq."g\\"h\\\\i"))'
    assert sorted(names(api.get("/items", params={"or": tree}))) == ["a,b", 'g"h\\i']
    assert names(api.get("/items", params={"not.or": "(rank.is.null,rank.lt.5)"})) == ["100%"]
    bad = api.get("/items", params={"or": "(name.eq.a,"})
    assert bad.status_code == 400 and bad.json()["code"] == "PGRST100"


def test_order_limit_offset_and_count(api):
    response = api.get(
        "/items",
        params={"order": "rank.desc.nullslast", "limit": "2", "offset": "1"},
        headers={"Prefer": "count=exact"},
    )
    assert response.status_code == 206
    assert [row["name"] for row in response.json()] == ['g"h\\i', "c.d"]
    assert response.headers["Content-Range"] == "1-2/5"
    first = api.get("/items", params={"order": "rank.asc.nullsfirst", "limit": "1"})
    assert names(first) == ["e(f)"]
    assert api.get("/items", params={"select": "label:name", "rank": "eq.1"}).json() == [
        {"label": "a,b"}
    ]


def test_writes_prefer_and_single_objects(api):
    created = api.post(
        "/items",
        json={"name": "new", "tags": {"k": [1]}},
        headers={"Prefer": "return=representation"},
    )
    assert created.status_code == 201
    row = created.json()[0]
    assert row["tags"] == {"k": [1]} and row["rank"] is None and row["made"].endswith("+00:00")
    assert api.post("/items", json={"name": "quiet"}).status_code == 201
    patched = api.patch(
        "/items",
        params={"name": "eq.new"},
        json={"rank": 9},
        headers={"Prefer": "return=representation", "Accept": OBJECT},
    )
    assert patched.status_code == 200 and patched.json()["rank"] == 9
    many = api.patch(
        "/items",
        params={"rank": "gt.0"},
        json={"rank": 0},
        headers={"Accept": OBJECT, "Prefer": "return=representation"},
    )
    assert many.status_code == 406 and many.json()["code"] == "PGRST116"
    assert names(api.get("/items", params={"name": "eq.a,b"})) == ["a,b"]
    assert api.get("/items", params={"rank": "eq.1"}).json()[0]["rank"] == 1  # rolled back
    upsert = api.post(
        "/items",
        params={"on_conflict": "name"},
        json={"name": "new", "rank": 3},
        headers={"Prefer": "return=representation,resolution=merge-duplicates"},
    )
    assert upsert.json()[0]["rank"] == 3 and upsert.json()[0]["id"] == row["id"]
    ignored = api.post(
        "/items",
        params={"on_conflict": "name"},
        json={"name": "new", "rank": 4},
        headers={"Prefer": "return=representation,resolution=ignore-duplicates"},
    )
    assert ignored.json() == []
    bulk = api.post(
        "/items",
        params={"columns": "name,rank"},
        json=[{"name": "x1", "rank": 1}, {"name": "x2"}],
        headers={"Prefer": "return=representation"},
    )
    assert [r["rank"] for r in bulk.json()] == [1, None]
    deleted = api.delete(
        "/items",
        params={"name": "like.x*"},
        headers={"Prefer": "return=representation,count=exact"},
    )
    assert len(deleted.json()) == 2 and deleted.headers["Content-Range"] == "*/2"
    assert api.delete("/items", params={"name": "eq.quiet"}).status_code == 204


def test_errors_carry_sqlstates_mapped_like_postgrest(api):
    duplicate = api.post("/items", json={"name": "a,b"})
    assert duplicate.status_code == 409
    body = duplicate.json()
    assert body["code"] == "23505" and "already exists" in body["details"]
    assert set(body) == {"code", "details", "hint", "message"}
    orphan = api.post("/parts", json={"item_id": "00000000-0000-0000-0000-000000000000"})
    assert orphan.status_code == 409 and orphan.json()["code"] == "23503"
    assert api.get("/items", params={"id": "eq.nope"}).json()["code"] == "22P02"
    assert api.get("/items", params={"id": "eq.nope"}).status_code == 400
    missing_table = api.get("/nothing")
    assert missing_table.status_code == 404 and missing_table.json()["code"] == "PGRST205"
    missing_column = api.get("/items", params={"nope": "eq.1"})
    assert missing_column.status_code == 400 and missing_column.json()["code"] == "42703"
    unknown_key = api.post("/items", json={"name": "z", "nope": 1})
    assert unknown_key.status_code == 400 and unknown_key.json()["code"] == "PGRST204"
    not_null = api.post("/items", json={"rank": 1})
    assert not_null.status_code == 400 and not_null.json()["code"] == "23502"
    injected = api.get("/items", params={"order": "name;drop table items"})
    assert injected.status_code == 400
    assert len(api.get("/items").json()) == 5
