-- The reference server's chat tables, in SQLite types (TEXT ids and ISO timestamps).
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    username TEXT NOT NULL UNIQUE,
    static_token TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'blocked')),
    role TEXT NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at TEXT NOT NULL,
    last_seen_at TEXT
);

CREATE TABLE user_prompts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id TEXT NOT NULL DEFAULT 'default_user',
    name TEXT NOT NULL,
    content TEXT NOT NULL,
    description TEXT,
    is_active INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE prompts_system (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    content TEXT NOT NULL,
    description TEXT,
    is_active INTEGER NOT NULL DEFAULT 1,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE settings (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE,
    page_settings TEXT NOT NULL DEFAULT '{}',
    model_profile TEXT DEFAULT 'simple' CHECK (model_profile IN ('simple', 'complex')),
    selected_role_prompt_id INTEGER REFERENCES user_prompts(id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE storage_files (
    id TEXT PRIMARY KEY,
    user_id TEXT,
    source_type TEXT NOT NULL,
    storage_path TEXT,
    external_url TEXT,
    filename TEXT,
    mime_type TEXT,
    size_bytes INTEGER,
    created_at TEXT NOT NULL
);

CREATE TABLE chats (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    description TEXT,
    user_id TEXT,
    is_archived INTEGER NOT NULL DEFAULT 0,
    document_file_id TEXT REFERENCES storage_files(id),
    document_path TEXT,
    metadata TEXT DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE chat_messages (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL REFERENCES chats(id),
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    message_type TEXT DEFAULT 'text',
    created_at TEXT NOT NULL
);

CREATE TABLE chat_images (
    id TEXT PRIMARY KEY,
    chat_id TEXT NOT NULL REFERENCES chats(id),
    message_id TEXT NOT NULL REFERENCES chat_messages(id),
    file_id TEXT REFERENCES storage_files(id),
    image_type TEXT,
    description TEXT,
    width INTEGER,
    height INTEGER,
    uploaded_at TEXT NOT NULL
);

CREATE TABLE message_attachments (
    id TEXT PRIMARY KEY,
    message_id TEXT NOT NULL REFERENCES chat_messages(id),
    file_id TEXT NOT NULL REFERENCES storage_files(id),
    created_at TEXT NOT NULL
);

CREATE INDEX idx_chats_user ON chats(user_id, is_archived, updated_at);
CREATE INDEX idx_messages_chat ON chat_messages(chat_id, created_at);
CREATE INDEX idx_images_message ON chat_images(message_id);
CREATE INDEX idx_images_chat ON chat_images(chat_id);
CREATE INDEX idx_attachments_message ON message_attachments(message_id);
