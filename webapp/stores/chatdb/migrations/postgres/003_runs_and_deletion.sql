-- 003_runs_and_deletion: runs (one answer to one user message) and their persisted events,
-- durable chat deletion jobs, and users' own Gemini keys (encrypted). New tables only.
-- Paste into the Supabase SQL editor, or run with psql; safe to run again.
BEGIN;

CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS chat_runs (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL REFERENCES chats (id),
    message_id uuid NOT NULL REFERENCES chat_messages (id),
    user_id varchar NOT NULL,
    status varchar NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    mode varchar,
    error text,
    worker text,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    finished_at timestamptz,
    heartbeat_at timestamptz
);
CREATE INDEX IF NOT EXISTS idx_runs_message ON chat_runs (message_id, created_at);
CREATE INDEX IF NOT EXISTS idx_runs_chat ON chat_runs (chat_id);
-- One active run per chat: a second queued/running run is a unique violation (HTTP 409).
CREATE UNIQUE INDEX IF NOT EXISTS idx_runs_one_active_per_chat ON chat_runs (chat_id)
    WHERE status IN ('queued', 'running');

CREATE TABLE IF NOT EXISTS chat_run_events (
    run_id uuid NOT NULL REFERENCES chat_runs (id),
    seq integer NOT NULL,
    event text NOT NULL,
    data jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

-- No foreign key to chats: the job outlives the chat it deletes.
CREATE TABLE IF NOT EXISTS chat_deletion_jobs (
    id uuid NOT NULL DEFAULT gen_random_uuid() PRIMARY KEY,
    chat_id uuid NOT NULL UNIQUE,
    status varchar NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    step varchar,
    attempts integer NOT NULL DEFAULT 0,
    error text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS idx_deletion_jobs_status ON chat_deletion_jobs (status, created_at);

CREATE TABLE IF NOT EXISTS user_api_keys (
    user_id varchar PRIMARY KEY,
    provider varchar NOT NULL DEFAULT 'gemini',
    encrypted_key text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO schema_migrations (version) VALUES ('003_runs_and_deletion')
    ON CONFLICT (version) DO NOTHING;

COMMIT;
NOTIFY pgrst, 'reload schema';
