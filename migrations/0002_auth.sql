-- Sign-in, sessions and pairing (SPEC §2; docs/auth.md). Applied after 0001_init.sql.
-- Times are INTEGER milliseconds since the Unix epoch, as in 0001 (set by the Worker).
-- Bearer secrets (refresh tokens, device codes, invites) are stored only as SHA-256 hex hashes;
-- TOTP secrets only sealed (AES-256-GCM under ORBIT_SEAL_KEY, bound to their user id).

-- Accounts: a unique name chosen at sign-up identifies an account for TOTP sign-in. Users made
-- by the development API have none; a user with a name is an "account" for bootstrap purposes.
ALTER TABLE users ADD COLUMN name TEXT;
CREATE UNIQUE INDEX users_name ON users(name);

-- Sessions slide: expires_at follows the session's current refresh token (NULL: no expiry, as
-- for development-API sessions). client is a label shown in the session list (User-Agent, cut).
ALTER TABLE sessions ADD COLUMN expires_at INTEGER;
ALTER TABLE sessions ADD COLUMN last_used_at INTEGER;
ALTER TABLE sessions ADD COLUMN client TEXT;
CREATE INDEX sessions_anchor_id ON sessions(anchor_id);

-- A user's confirmed TOTP secret and the step of the last accepted code (replay refusal).
-- last_session_id names the session the last sign-in opened: the session insert is conditioned
-- on it in the same batch as the step update, so only the request that recorded the step gets one.
CREATE TABLE totp (
    user_id         TEXT PRIMARY KEY REFERENCES users(id),
    secret_sealed   TEXT NOT NULL,
    last_step       INTEGER,
    last_session_id TEXT,
    confirmed_at    INTEGER NOT NULL
);

-- TOTP enrolments waiting for their first code. For a new account the user id is allocated here
-- and the users row is only written when the enrolment is confirmed (so no FK); name and
-- invite_hash are set only for new accounts.
CREATE TABLE totp_enrollments (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL,
    new_account   INTEGER NOT NULL CHECK (new_account IN (0, 1)),
    name          TEXT,
    invite_hash   TEXT,
    secret_sealed TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX totp_enrollments_expires_at ON totp_enrollments(expires_at);

-- Refresh tokens, web and anchor alike: single use, rotated on every refresh. A row with used_at
-- set that is presented again is reuse, and revokes the session. replaced_by is the hash of the
-- token it was exchanged for (the rotation's next link; it also guards that rotation's inserts).
CREATE TABLE refresh_tokens (
    hash        TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER,
    replaced_by TEXT
);
CREATE INDEX refresh_tokens_session_id ON refresh_tokens(session_id);
CREATE INDEX refresh_tokens_expires_at ON refresh_tokens(expires_at);

-- One-time invitations to create an account while registration is closed.
CREATE TABLE invites (
    code_hash  TEXT PRIMARY KEY,
    created_by TEXT NOT NULL REFERENCES users(id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    used_by    TEXT
);
CREATE INDEX invites_created_by ON invites(created_by);

-- Device-code grants (RFC 8628). user_code is the canonical 8-letter code (no dash): only 34.6
-- bits, protected by its 10-minute life and the user-code-entry rate limit, not by hashing.
CREATE TABLE device_grants (
    device_code_hash TEXT PRIMARY KEY,
    user_code        TEXT NOT NULL UNIQUE,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'consumed')),
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    last_poll_at     INTEGER,
    interval_s       INTEGER NOT NULL,
    requested_name   TEXT,
    hostname         TEXT,
    platform         TEXT,
    user_id          TEXT REFERENCES users(id),
    anchor_name      TEXT,
    anchor_id        TEXT
);
CREATE INDEX device_grants_expires_at ON device_grants(expires_at);

-- Rate-limit state (GCRA): one theoretical arrival time per key "action:scope:id". A row whose
-- tat_ms has passed equals a fresh key and may be deleted.
CREATE TABLE rate_limits (
    key    TEXT PRIMARY KEY,
    tat_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX rate_limits_tat_ms ON rate_limits(tat_ms);

-- Security events (sign-ins, failures, token reuse, revocations). Never holds a secret.
CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    session_id TEXT,
    anchor_id  TEXT,
    address    TEXT,
    detail     TEXT
);
CREATE INDEX security_events_user_id ON security_events(user_id, at);
