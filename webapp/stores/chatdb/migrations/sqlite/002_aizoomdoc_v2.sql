-- This server's additive changes: hashed tokens, revoked JWTs, all seven settings persisted,
-- hidden (deleted) chats, attachments stored with their message.
ALTER TABLE users ADD COLUMN token_hash TEXT;
CREATE UNIQUE INDEX idx_users_token_hash ON users(token_hash);

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    expires_at TEXT NOT NULL
);

ALTER TABLE settings ADD COLUMN temperature REAL;
ALTER TABLE settings ADD COLUMN top_p REAL;
ALTER TABLE settings ADD COLUMN thinking_enabled INTEGER;
ALTER TABLE settings ADD COLUMN thinking_budget INTEGER;
ALTER TABLE settings ADD COLUMN media_resolution TEXT;

ALTER TABLE chats ADD COLUMN deleted_at TEXT;

ALTER TABLE chat_messages ADD COLUMN attachments TEXT;
ALTER TABLE chat_messages ADD COLUMN metadata TEXT;
