-- 002_aizoomdoc_v2: this server's additive changes (new columns, tables and indexes only):
-- hashed static tokens, revoked access tokens, all seven settings persisted, hidden (deleted)
-- chats, attachments and metadata stored with their message, and the indexes our reads use.
-- Paste into the Supabase SQL editor, or run with psql; safe to run again.
BEGIN;

CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- New users get `sha256:<hash>` in the reference's NOT NULL UNIQUE static_token column.
ALTER TABLE users ADD COLUMN IF NOT EXISTS token_hash text;
CREATE UNIQUE INDEX IF NOT EXISTS idx_users_token_hash ON users (token_hash);

CREATE TABLE IF NOT EXISTS revoked_tokens (
    jti text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_revoked_tokens_expires ON revoked_tokens (expires_at);

ALTER TABLE settings ADD COLUMN IF NOT EXISTS temperature double precision;
ALTER TABLE settings ADD COLUMN IF NOT EXISTS top_p double precision;
ALTER TABLE settings ADD COLUMN IF NOT EXISTS thinking_enabled boolean;
ALTER TABLE settings ADD COLUMN IF NOT EXISTS thinking_budget integer;
ALTER TABLE settings ADD COLUMN IF NOT EXISTS media_resolution varchar;

ALTER TABLE chats ADD COLUMN IF NOT EXISTS deleted_at timestamptz;

ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS attachments jsonb;
ALTER TABLE chat_messages ADD COLUMN IF NOT EXISTS metadata jsonb;

CREATE INDEX IF NOT EXISTS idx_chats_user ON chats (user_id, is_archived, updated_at);
CREATE INDEX IF NOT EXISTS idx_messages_chat ON chat_messages (chat_id, created_at);
CREATE INDEX IF NOT EXISTS idx_images_message ON chat_images (message_id);
CREATE INDEX IF NOT EXISTS idx_images_chat ON chat_images (chat_id);
CREATE INDEX IF NOT EXISTS idx_attachments_message ON message_attachments (message_id);
CREATE INDEX IF NOT EXISTS idx_search_results_chat ON search_results (chat_id);
CREATE INDEX IF NOT EXISTS idx_storage_files_path ON storage_files (source_type, storage_path);

INSERT INTO schema_migrations (version) VALUES ('002_aizoomdoc_v2')
    ON CONFLICT (version) DO NOTHING;

COMMIT;
NOTIFY pgrst, 'reload schema';
