-- The reference projects tables the server reads (the tree of clients, projects and documents).
CREATE TABLE tree_nodes (
    id TEXT PRIMARY KEY,
    parent_id TEXT REFERENCES tree_nodes(id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    node_type TEXT NOT NULL,
    name TEXT NOT NULL,
    code TEXT,
    version INTEGER DEFAULT 1,
    status TEXT DEFAULT 'active',
    attributes TEXT DEFAULT '{}',
    sort_order INTEGER DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE node_files (
    id TEXT PRIMARY KEY,
    node_id TEXT NOT NULL REFERENCES tree_nodes(id) ON DELETE CASCADE,
    file_type TEXT NOT NULL,
    r2_key TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_size INTEGER DEFAULT 0,
    mime_type TEXT DEFAULT 'application/octet-stream',
    metadata TEXT DEFAULT '{}',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (node_id, r2_key)
);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    document_name TEXT NOT NULL,
    task_name TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'queued',
    progress REAL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    error_message TEXT,
    engine TEXT DEFAULT '',
    r2_prefix TEXT,
    node_id TEXT REFERENCES tree_nodes(id) ON DELETE SET NULL
);

CREATE TABLE job_files (
    id TEXT PRIMARY KEY,
    job_id TEXT NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    file_type TEXT NOT NULL,
    r2_key TEXT NOT NULL,
    file_name TEXT NOT NULL,
    file_size INTEGER DEFAULT 0,
    created_at TEXT NOT NULL
);

CREATE INDEX idx_tree_parent ON tree_nodes(parent_id, sort_order);
CREATE INDEX idx_tree_client ON tree_nodes(client_id, parent_id);
CREATE INDEX idx_node_files_node ON node_files(node_id, file_type);
CREATE INDEX idx_jobs_node ON jobs(node_id);
CREATE INDEX idx_job_files_job ON job_files(job_id);
