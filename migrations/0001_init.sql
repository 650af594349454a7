-- Orbit D1 schema, applied with `wrangler d1 migrations apply DB`.
-- Timestamps are INTEGER Unix times set by the Worker.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL
);

CREATE TABLE anchors (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users(id),
    kind       TEXT NOT NULL CHECK (kind IN ('web', 'anchor')),
    anchor_id  TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE INDEX anchors_user_id ON anchors(user_id);
CREATE INDEX sessions_user_id ON sessions(user_id);
