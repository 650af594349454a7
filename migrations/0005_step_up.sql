-- Step-up (docs/auth.md, Step-up). Applied after 0004_anchor_origin.sql.
-- Times are INTEGER milliseconds since the Unix epoch, set by the Worker.

-- When the session last proved a way in: at sign-in (passkey or TOTP) or at a step-up. Adding
-- or removing a way in, invites and device approvals need it to be at most a few minutes old.
-- Refreshing tokens does not move it. NULL: never (sessions from before this column, anchors).
ALTER TABLE sessions ADD COLUMN verified_at INTEGER;

-- Passkey challenges gain a third ceremony, 'step_up', bound to the session that asked for it
-- (session_id; NULL for the other two). SQLite cannot change a CHECK constraint in place, so the
-- table is rebuilt with its rows (challenges live 5 minutes; none is lost at the switch).
CREATE TABLE passkey_challenges_new (
    id          TEXT PRIMARY KEY,
    ceremony    TEXT NOT NULL CHECK (ceremony IN ('register', 'login', 'step_up')),
    challenge   TEXT NOT NULL,
    user_id     TEXT,
    new_account INTEGER NOT NULL CHECK (new_account IN (0, 1)),
    name        TEXT,
    invite_hash TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    session_id  TEXT
);
INSERT INTO passkey_challenges_new
    (id, ceremony, challenge, user_id, new_account, name, invite_hash, created_at, expires_at, used_at)
    SELECT id, ceremony, challenge, user_id, new_account, name, invite_hash, created_at, expires_at, used_at
    FROM passkey_challenges;
DROP TABLE passkey_challenges;
ALTER TABLE passkey_challenges_new RENAME TO passkey_challenges;
CREATE INDEX passkey_challenges_expires_at ON passkey_challenges(expires_at);
