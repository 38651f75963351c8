"""Fixtures for real backends; import the ones a conftest needs, e.g.

    from tests.support.fixtures import (  # noqa: F401
        moto_server, postgres_cluster, s3_bucket, supabase_chat_db, supabase_projects_db,
    )

The cluster and the moto server live for the session; each test gets its own database (with a
PostgREST-compatible server in front) or bucket. A part that cannot run on this machine skips the
test with the reason (fails it under CI: see tests/support/requirements.py).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row

from tests.support.postgres import PostgresCluster, PostgresUnavailable, apply_sql
from tests.support.postgrest import PostgrestServer
from tests.support.requirements import missing
from webapp.stores.postgrest import normalize

API_KEY = "test-service-key-" + "k" * 24
JSON_COLUMNS = ("attributes", "metadata")  # jsonb columns of the projects DB


@dataclass
class PostgrestDatabase:
    """A fresh database and the REST server in front of it: `url` and `key` are what
    SUPABASE_URL and SUPABASE_SERVICE_KEY would hold."""

    dsn: str
    url: str
    key: str
    server: PostgrestServer


@dataclass
class S3Bucket:
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    name: str


@contextmanager
def postgrest_database(
    cluster: PostgresCluster, setup: Callable[[str], None]
) -> Iterator[PostgrestDatabase]:
    """A new database prepared by `setup(dsn)`, served over REST; dropped afterwards."""
    name = cluster.create_database()
    dsn = cluster.dsn(name)
    try:
        setup(dsn)
        with PostgrestServer(dsn, API_KEY) as server:
            yield PostgrestDatabase(dsn, server.url, API_KEY, server)
    finally:
        cluster.drop_database(name)


def apply_chat_migrations(dsn: str) -> None:
    from webapp.stores.chatdb.supabase import migration_files

    apply_sql(dsn, migration_files())


def create_reference_projects(dsn: str) -> None:
    import psycopg

    from tests.support.reference_schema import REFERENCE_PROJECTS_SQL

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(REFERENCE_PROJECTS_SQL)


def insert_row(dsn: str, table: str, fields: dict) -> dict:
    """Write a row straight into PostgreSQL (the app never writes the projects DB)."""
    row = {"id": str(uuid.uuid4()), **fields}
    values = [json.dumps(v) if k in JSON_COLUMNS else v for k, v in row.items()]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        sql.Identifier(table),
        sql.SQL(", ").join(sql.Identifier(k) for k in row),
        sql.SQL(", ").join(sql.Placeholder() for _ in row),
    )
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        saved = conn.execute(query, values).fetchone()
    saved = {k: str(v) if isinstance(v, uuid.UUID) else v for k, v in saved.items()}
    saved = {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in saved.items()}
    return normalize(saved)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL 15 cluster in a temp folder, for the whole session."""
    try:
        cluster = PostgresCluster().start()
    except PostgresUnavailable as exc:
        missing(f"PostgreSQL is not available: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def supabase_chat_db(postgres_cluster: PostgresCluster) -> Iterator[PostgrestDatabase]:
    """A chat database with our PostgreSQL migrations applied, behind the REST server."""
    with postgrest_database(postgres_cluster, apply_chat_migrations) as database:
        yield database


@pytest.fixture
def supabase_projects_db(postgres_cluster: PostgresCluster) -> Iterator[PostgrestDatabase]:
    """A projects database with the reference tables (empty), behind the REST server."""
    with postgrest_database(postgres_cluster, create_reference_projects) as database:
        yield database


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a free port); yields its endpoint URL."""
    from tests.support.s3 import MotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log in test output
    server = MotoServer().start()
    try:
        yield server.endpoint_url
    finally:
        server.stop()


@pytest.fixture
def s3_bucket(moto_server: str) -> S3Bucket:
    """A new, empty bucket on the moto server."""
    import boto3

    from tests.support.s3 import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    name = f"test-{uuid.uuid4().hex[:16]}"
    boto3.session.Session().client(
        "s3",
        endpoint_url=moto_server,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        region_name="us-east-1",
    ).create_bucket(Bucket=name)
    return S3Bucket(moto_server, ACCESS_KEY_ID, SECRET_ACCESS_KEY, name)
