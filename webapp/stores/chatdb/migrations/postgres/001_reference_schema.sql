-- 001_reference_schema: the reference server's chat tables, exactly as it creates them.
-- On a database the reference server already uses, every statement is a no-op (IF NOT EXISTS),
-- so this server can take over an existing deployment. No seed rows: the reference seeded
-- well-known development tokens, which must never reach production.
-- Paste into the Supabase SQL editor, or run with psql; safe to run again.
BEGIN;

CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS users (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    username varchar NOT NULL UNIQUE,
    static_token text NOT NULL UNIQUE,
    status varchar DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'blocked')),
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now()),
    last_seen_at timestamptz
);
-- The reference added `role` in its own migration 002.
ALTER TABLE users ADD COLUMN IF NOT EXISTS role varchar DEFAULT 'user'
    CHECK (role IN ('user', 'admin'));

CREATE TABLE IF NOT EXISTS prompts_system (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    name varchar NOT NULL UNIQUE,
    content text NOT NULL,
    description text,
    is_active boolean DEFAULT true,
    version integer DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now()),
    updated_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

CREATE TABLE IF NOT EXISTS user_prompts (
    id bigserial PRIMARY KEY,
    user_id text NOT NULL DEFAULT 'default_user',
    name text NOT NULL,
    content text NOT NULL,
    created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(),
    description text,
    is_active boolean DEFAULT true,
    version integer DEFAULT 1
);

CREATE TABLE IF NOT EXISTS settings (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id varchar NOT NULL UNIQUE,
    page_settings jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now()),
    updated_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now()),
    model_profile varchar DEFAULT 'simple' CHECK (model_profile IN ('simple', 'complex')),
    selected_role_prompt_id bigint REFERENCES user_prompts (id) ON DELETE SET NULL
);

CREATE TABLE IF NOT EXISTS storage_files (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id varchar,
    source_type varchar NOT NULL,
    storage_path varchar,
    external_url text,
    filename varchar,
    mime_type varchar,
    size_bytes bigint,
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

CREATE TABLE IF NOT EXISTS chats (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    title varchar NOT NULL,
    description text,
    user_id varchar,
    is_archived boolean DEFAULT false,
    document_file_id uuid REFERENCES storage_files (id),
    document_path varchar,
    metadata jsonb DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now()),
    updated_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

CREATE TABLE IF NOT EXISTS chat_messages (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL REFERENCES chats (id),
    role varchar NOT NULL,
    content text NOT NULL,
    message_type varchar DEFAULT 'text',
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

CREATE TABLE IF NOT EXISTS chat_images (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL REFERENCES chats (id),
    message_id uuid NOT NULL REFERENCES chat_messages (id),
    file_id uuid REFERENCES storage_files (id),
    image_type varchar,
    description text,
    width integer,
    height integer,
    uploaded_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

CREATE TABLE IF NOT EXISTS message_attachments (
    id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
    message_id uuid NOT NULL REFERENCES chat_messages (id),
    file_id uuid NOT NULL REFERENCES storage_files (id),
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

CREATE TABLE IF NOT EXISTS search_results (
    id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL REFERENCES chats (id),
    message_id uuid NOT NULL REFERENCES chat_messages (id),
    block_id varchar,
    page_number integer,
    block_text text,
    coords_norm jsonb,
    coords_px jsonb,
    created_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

CREATE TABLE IF NOT EXISTS folders (
    id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
    user_id varchar NOT NULL,
    name varchar NOT NULL,
    parent_id uuid REFERENCES folders (id),
    created_at timestamptz DEFAULT timezone('utc'::text, now()),
    updated_at timestamptz DEFAULT timezone('utc'::text, now()),
    slug varchar
);

CREATE TABLE IF NOT EXISTS folder_items (
    id uuid DEFAULT gen_random_uuid() PRIMARY KEY,
    folder_id uuid NOT NULL REFERENCES folders (id),
    file_id uuid NOT NULL REFERENCES storage_files (id),
    added_at timestamptz NOT NULL DEFAULT timezone('utc'::text, now())
);

INSERT INTO schema_migrations (version) VALUES ('001_reference_schema')
    ON CONFLICT (version) DO NOTHING;

COMMIT;
NOTIFY pgrst, 'reload schema';
