-- Passkeys (WebAuthn, SPEC §2; docs/auth.md). Applied after 0002_auth.sql.
-- Times are INTEGER milliseconds since the Unix epoch, set by the Worker. Nothing here is a
-- secret: a passkey's private key never leaves its authenticator, and a challenge is only good
-- for one ceremony, once, for 5 minutes.

-- A user's registered passkeys. credential_id is the authenticator's credential id (base64url,
-- unique across all accounts: one credential belongs to one account); public_key the COSE_Key it
-- registered (base64url); sign_count the last signature counter seen (0 for authenticators
-- without one, such as synced passkeys). The user handle a passkey returns is its user's id.
-- id is Orbit's own short id, used in the API (`DELETE /auth/passkeys/{id}`).
CREATE TABLE passkeys (
    id                 TEXT PRIMARY KEY,
    user_id            TEXT NOT NULL REFERENCES users(id),
    credential_id      TEXT NOT NULL UNIQUE,
    public_key         TEXT NOT NULL,
    algorithm          INTEGER NOT NULL,
    sign_count         INTEGER NOT NULL,
    user_verified      INTEGER NOT NULL CHECK (user_verified IN (0, 1)),
    backup_eligible    INTEGER NOT NULL CHECK (backup_eligible IN (0, 1)),
    backed_up          INTEGER NOT NULL CHECK (backed_up IN (0, 1)),
    transports         TEXT NOT NULL,
    aaguid             TEXT NOT NULL,
    attestation_format TEXT NOT NULL,
    label              TEXT,
    created_at         INTEGER NOT NULL,
    last_used_at       INTEGER
);
CREATE INDEX passkeys_user_id ON passkeys(user_id);

-- Challenges of ceremonies in progress: single use (used_at is set by the one conditional update
-- that takes it), expiring after 5 minutes, bound to their ceremony ('register' or 'login').
-- A registration challenge names the user it creates a passkey for: an existing user
-- (new_account 0), or, for a sign-up, the user id allocated here with the account name and
-- invite the sign-up started with (the users row is written only when the passkey is verified,
-- so no FK). A login challenge names nobody (discoverable credentials).
CREATE TABLE passkey_challenges (
    id          TEXT PRIMARY KEY,
    ceremony    TEXT NOT NULL CHECK (ceremony IN ('register', 'login')),
    challenge   TEXT NOT NULL,
    user_id     TEXT,
    new_account INTEGER NOT NULL CHECK (new_account IN (0, 1)),
    name        TEXT,
    invite_hash TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX passkey_challenges_expires_at ON passkey_challenges(expires_at);
