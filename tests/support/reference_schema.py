"""The reference server's PostgreSQL tables, written from the facts gathered from its repository
(not from our migrations), so tests can build a database as the reference left it."""

from __future__ import annotations

import psycopg

# The chat DB as the reference creates it: its base schema, then its migration 002 (`role`).
REFERENCE_CHAT_SQL = """
CREATE TABLE users (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    username character varying NOT NULL,
    static_token text NOT NULL,
    status character varying DEFAULT 'active'::character varying,
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now()),
    last_seen_at timestamp with time zone,
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_username_key UNIQUE (username),
    CONSTRAINT users_static_token_key UNIQUE (static_token),
    CONSTRAINT users_status_check CHECK (status IN ('active', 'inactive', 'blocked'))
);
CREATE TABLE prompts_system (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    name character varying NOT NULL UNIQUE,
    content text NOT NULL,
    description text,
    is_active boolean DEFAULT true,
    version integer DEFAULT 1,
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now()),
    updated_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
CREATE TABLE user_prompts (
    id bigint NOT NULL DEFAULT nextval('user_prompts_id_seq'::regclass) PRIMARY KEY,
    user_id text NOT NULL DEFAULT 'default_user'::text,
    name text NOT NULL,
    content text NOT NULL,
    created_at timestamp with time zone DEFAULT now(),
    updated_at timestamp with time zone DEFAULT now(),
    description text,
    is_active boolean DEFAULT true,
    version integer DEFAULT 1
);
CREATE TABLE settings (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id character varying NOT NULL UNIQUE,
    page_settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now()),
    updated_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now()),
    model_profile character varying DEFAULT 'simple'::character varying
        CHECK (model_profile IN ('simple', 'complex')),
    selected_role_prompt_id bigint REFERENCES user_prompts (id) ON DELETE SET NULL
);
CREATE TABLE storage_files (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id character varying,
    source_type character varying NOT NULL,
    storage_path character varying,
    external_url text,
    filename character varying,
    mime_type character varying,
    size_bytes bigint,
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
CREATE TABLE chats (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    title character varying NOT NULL,
    description text,
    user_id character varying,
    is_archived boolean DEFAULT false,
    document_file_id uuid REFERENCES storage_files (id),
    document_path character varying,
    metadata jsonb DEFAULT '{}'::jsonb,
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now()),
    updated_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
CREATE TABLE chat_messages (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL REFERENCES chats (id),
    role character varying NOT NULL,
    content text NOT NULL,
    message_type character varying DEFAULT 'text'::character varying,
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
CREATE TABLE chat_images (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL REFERENCES chats (id),
    message_id uuid NOT NULL REFERENCES chat_messages (id),
    file_id uuid REFERENCES storage_files (id),
    image_type character varying,
    description text,
    width integer,
    height integer,
    uploaded_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
CREATE TABLE message_attachments (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    message_id uuid NOT NULL REFERENCES chat_messages (id),
    file_id uuid NOT NULL REFERENCES storage_files (id),
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
CREATE TABLE search_results (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL REFERENCES chats (id),
    message_id uuid NOT NULL REFERENCES chat_messages (id),
    block_id character varying,
    page_number integer,
    block_text text,
    coords_norm jsonb,
    coords_px jsonb,
    created_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
CREATE TABLE folders (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id character varying NOT NULL,
    name character varying NOT NULL,
    parent_id uuid REFERENCES folders (id),
    created_at timestamp with time zone DEFAULT timezone('utc'::text, now()),
    updated_at timestamp with time zone DEFAULT timezone('utc'::text, now()),
    slug character varying
);
CREATE TABLE folder_items (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    folder_id uuid NOT NULL REFERENCES folders (id),
    file_id uuid NOT NULL REFERENCES storage_files (id),
    added_at timestamp with time zone NOT NULL DEFAULT timezone('utc'::text, now())
);
-- the reference's migration 002
ALTER TABLE users ADD COLUMN role character varying DEFAULT 'user'::character varying;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN ('user', 'admin'));
"""
REFERENCE_CHAT_PRELUDE = "CREATE SEQUENCE user_prompts_id_seq;"
REFERENCE_CHAT_POSTLUDE = "ALTER SEQUENCE user_prompts_id_seq OWNED BY user_prompts.id;"

# The projects DB (read-only for this server).
REFERENCE_PROJECTS_SQL = """
CREATE TABLE tree_nodes (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    parent_id uuid REFERENCES tree_nodes (id) ON DELETE CASCADE,
    client_id text NOT NULL,
    node_type text NOT NULL,
    name text NOT NULL,
    code text,
    version integer DEFAULT 1,
    status text DEFAULT 'active',
    attributes jsonb DEFAULT '{}'::jsonb,
    sort_order integer DEFAULT 0,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    pdf_status text DEFAULT 'unknown',
    pdf_status_message text,
    pdf_status_updated_at timestamp with time zone,
    is_locked boolean DEFAULT false
);
CREATE TABLE node_files (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    node_id uuid NOT NULL REFERENCES tree_nodes (id) ON DELETE CASCADE,
    file_type text NOT NULL,
    r2_key text NOT NULL,
    file_name text NOT NULL,
    file_size bigint DEFAULT 0,
    mime_type text DEFAULT 'application/octet-stream',
    metadata jsonb DEFAULT '{}'::jsonb,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    UNIQUE (node_id, r2_key)
);
CREATE TABLE jobs (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    client_id text NOT NULL,
    document_id text NOT NULL,
    document_name text NOT NULL,
    task_name text NOT NULL DEFAULT '',
    status text NOT NULL DEFAULT 'queued',
    progress real DEFAULT 0,
    created_at timestamp with time zone NOT NULL DEFAULT now(),
    updated_at timestamp with time zone NOT NULL DEFAULT now(),
    error_message text,
    engine text DEFAULT '',
    r2_prefix text,
    node_id uuid REFERENCES tree_nodes (id) ON DELETE SET NULL
);
CREATE TABLE job_files (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    job_id uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    file_type text NOT NULL,
    r2_key text NOT NULL,
    file_name text NOT NULL,
    file_size bigint DEFAULT 0,
    created_at timestamp with time zone NOT NULL DEFAULT now()
);
"""


def reference_chat_script() -> str:
    return "\n".join([REFERENCE_CHAT_PRELUDE, REFERENCE_CHAT_SQL, REFERENCE_CHAT_POSTLUDE])


def seed_reference_rows(dsn: str) -> dict:
    """Rows as the reference server writes them: plain static tokens, username owner keys."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO users (username, static_token, role) VALUES "
            "('admin', 'dev-static-token-admin-12345', 'admin'), "
            "('test_user', 'dev-static-token-test-67890', 'user')"
        )
        role_id = conn.execute(
            "INSERT INTO user_prompts (name, content) VALUES ('Инженер', 'Ты инженер') "
            "RETURNING id"
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO settings (user_id, page_settings, model_profile, "
            "selected_role_prompt_id) VALUES ('test_user', '{\"theme\": \"dark\"}', 'complex', %s)",
            (role_id,),
        )
        chat = conn.execute(
            "INSERT INTO chats (title, user_id, created_at, updated_at) VALUES "
            "('Старый чат', 'test_user', '2025-01-01T10:00:00Z', '2025-01-01T10:05:00Z') "
            "RETURNING id"
        ).fetchone()[0]
        messages = [
            conn.execute(
                "INSERT INTO chat_messages (chat_id, role, content, created_at) "
                "VALUES (%s, %s, %s, %s) RETURNING id",
                (chat, role, text, at),
            ).fetchone()[0]
            for role, text, at in (
                ("user", "Где ось 1?", "2025-01-01T10:00:00Z"),
                ("assistant", "На листе 3.", "2025-01-01T10:01:00.5Z"),
            )
        ]
        file_id = conn.execute(
            "INSERT INTO storage_files (user_id, source_type, storage_path, filename) VALUES "
            "('test_user', 'chat_render', %s, 'a.png') RETURNING id",
            (f"chat_images/{chat}/a.png",),
        ).fetchone()[0]
        conn.execute(
            "INSERT INTO chat_images (chat_id, message_id, file_id, image_type, width, height) "
            "VALUES (%s, %s, %s, 'overview', 10, 20)",
            (chat, messages[1], file_id),
        )
        conn.execute(
            "INSERT INTO search_results (chat_id, message_id, block_id, page_number) "
            "VALUES (%s, %s, 'AAAA-BBBB-CCC', 3)",
            (chat, messages[1]),
        )
    return {
        "chat": str(chat),
        "messages": [str(m) for m in messages],
        "role": role_id,
        "file": str(file_id),
    }
