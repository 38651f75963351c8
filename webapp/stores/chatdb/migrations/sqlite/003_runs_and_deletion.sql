-- Runs (one answer to one user message), their persisted events, durable chat deletion jobs,
-- and users' own Gemini keys (encrypted).
CREATE TABLE chat_runs (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL REFERENCES chats(id),
    message_id TEXT NOT NULL REFERENCES chat_messages(id),
    user_id TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    mode TEXT,
    error TEXT,
    worker TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    heartbeat_at TEXT
);
CREATE INDEX idx_runs_message ON chat_runs(message_id, created_at);
CREATE UNIQUE INDEX idx_runs_one_active_per_chat ON chat_runs(chat_id)
    WHERE status IN ('queued', 'running');

CREATE TABLE chat_run_events (
    run_id TEXT NOT NULL REFERENCES chat_runs(id),
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE chat_deletion_jobs (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
    step TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE user_api_keys (
    user_id TEXT PRIMARY KEY,
    provider TEXT NOT NULL DEFAULT 'gemini',
    encrypted_key TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
