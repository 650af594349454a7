//! Accounts: names, who may create one, invites, and the ways an account can sign in.
//!
//! **Names.** An account has a unique name chosen at sign-up: 3 to 32 characters `a-z 0-9 . _ -`,
//! starting with a letter or digit, compared case-insensitively (stored lower-case). Passkey
//! sign-in needs no name (discoverable credentials); TOTP sign-in does, since a 6-digit code
//! cannot identify anyone.
//!
//! **Who may create an account** (SPEC §2): the first account, by anyone (bootstrap); after that
//! anyone while `ORBIT_OPEN_REGISTRATION=true`; otherwise only the holder of an unused, unexpired
//! invite made by a signed-in user. Sign-up is two steps (start, then confirm with a first
//! credential), and the rule is checked at both: at the start to answer early, and at the
//! confirmation atomically, inside the batch that writes the account — the user row is inserted
//! with a `WHERE` that encodes the rule (no named account yet, or the invite just consumed by
//! this user), so two racing bootstrap sign-ups cannot both win and an invite is spent once.
//! "Account" means a user with a name: users made by the development API have none and do not
//! close bootstrap.

use serde::{Deserialize, Serialize};
use worker::{D1PreparedStatement, D1Result, Response};

use orbit_shared::auth::hash::storage_hash;

use super::error::{ApiError, AuthResult};
use super::events::{self, Event, Kind};
use orbit_shared::auth::names::account_name;

use super::session::require_web;
use super::{int, json, text, Ctx};
use crate::http::random_id;

/// Life of an invite, in seconds (7 days).
pub const INVITE_SECONDS: u64 = 7 * 24 * 60 * 60;

/// Prefix of invite codes (the rest is 128 random bits in hex).
pub const INVITE_PREFIX: &str = "inv_";

/// The canonical form of an account name, or 400 `invalid_name`.
pub fn normalise_name(input: &str) -> Result<String, ApiError> {
    account_name(input).map_err(|e| ApiError::new(e.status(), e.code(), &e.to_string()))
}

/// Whether an account already has this (canonical) name.
pub async fn name_taken(ctx: &Ctx<'_>, name: &str) -> AuthResult<bool> {
    Ok(ctx
        .db
        .prepare("SELECT 1 AS x FROM users WHERE name = ?1")
        .bind(&[text(name)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// The ways an account can sign in. Each sign-in method reports itself here; removing a method
/// is refused when it would leave [`WaysIn::count`] at zero.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaysIn {
    /// A confirmed TOTP secret.
    pub totp: bool,
    /// Registered passkeys.
    pub passkeys: u32,
}

impl WaysIn {
    pub fn count(&self) -> u32 {
        u32::from(self.totp) + self.passkeys
    }
}

/// The query behind [`ways_in`], to batch with others; read it with [`WaysIn::from_result`].
pub fn ways_in_statement(ctx: &Ctx<'_>, user_id: &str) -> AuthResult<D1PreparedStatement> {
    Ok(ctx
        .db
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM totp WHERE user_id = ?1) AS totp, \
             (SELECT COUNT(*) FROM passkeys WHERE user_id = ?1) AS passkeys",
        )
        .bind(&[text(user_id)])?)
}

#[derive(Deserialize)]
struct WaysRow {
    totp: u64,
    passkeys: u64,
}

impl WaysIn {
    /// Reads the result of [`ways_in_statement`].
    pub fn from_result(result: Option<&D1Result>) -> AuthResult<WaysIn> {
        let row = match result {
            Some(result) => result.results::<WaysRow>()?.into_iter().next(),
            None => None,
        };
        Ok(WaysIn {
            totp: row.as_ref().is_some_and(|r| r.totp == 1),
            passkeys: row.map_or(0, |r| u32::try_from(r.passkeys).unwrap_or(u32::MAX)),
        })
    }
}

/// The sign-in methods `user_id` has.
pub async fn ways_in(ctx: &Ctx<'_>, user_id: &str) -> AuthResult<WaysIn> {
    let result = ways_in_statement(ctx, user_id)?.all().await?;
    WaysIn::from_result(Some(&result))
}

/// The early check of a sign-up: may someone create an account now, with this invite (if any)?
/// Returns the invite's storage hash to carry to the confirmation. Refusals: 403
/// `registration_closed`, 403 `invite_invalid`.
pub async fn admission(ctx: &Ctx<'_>, invite: Option<&str>) -> AuthResult<Option<String>> {
    let invite = invite.map(str::trim).filter(|i| !i.is_empty());
    if ctx.config.open_registration {
        return Ok(None);
    }
    if let Some(invite) = invite {
        let hash = storage_hash(invite);
        let live = ctx
            .db
            .prepare(
                "SELECT 1 AS x FROM invites WHERE code_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
            )
            .bind(&[text(&hash), int(ctx.now_ms)])?
            .first::<serde_json::Value>(None)
            .await?
            .is_some();
        return if live {
            Ok(Some(hash))
        } else {
            Err(invite_invalid().into())
        };
    }
    let any_account = ctx
        .db
        .prepare("SELECT 1 AS x FROM users WHERE name IS NOT NULL LIMIT 1")
        .first::<serde_json::Value>(None)
        .await?
        .is_some();
    if any_account {
        Err(registration_closed().into())
    } else {
        Ok(None)
    }
}

fn registration_closed() -> ApiError {
    ApiError::new(
        403,
        "registration_closed",
        "new accounts need an invite from someone who has one",
    )
}

fn invite_invalid() -> ApiError {
    ApiError::new(
        403,
        "invite_invalid",
        "the invite is unknown, expired or already used",
    )
}

/// An account about to be created, the moment its first sign-in method is confirmed.
pub struct NewAccount {
    pub user_id: String,
    pub name: String,
    /// The invite the sign-up started with, if any.
    pub invite_hash: Option<String>,
}

/// The statements that create an account, and which of them is the user insert.
pub struct AccountStatements {
    pub statements: Vec<D1PreparedStatement>,
    user_insert: usize,
}

impl NewAccount {
    /// The statements that create the account if the rule allows it now (see the module docs);
    /// the user insert returns the id when it took effect. [`NewAccount::create`] runs them with
    /// the method's own statements (a credential, the first session), which must be conditioned
    /// on the user existing.
    pub fn statements(&self, ctx: &Ctx<'_>) -> AuthResult<AccountStatements> {
        let args = [text(&self.user_id), text(&self.name), int(ctx.now_ms)];
        let mut statements = Vec::new();
        let insert = if ctx.config.open_registration {
            "INSERT INTO users (id, name, created_at) VALUES (?1, ?2, ?3) RETURNING id"
        } else if let Some(hash) = &self.invite_hash {
            statements.push(
                ctx.db
                    .prepare(
                        "UPDATE invites SET used_at = ?3, used_by = ?1 \
                         WHERE code_hash = ?2 AND used_at IS NULL AND expires_at > ?3",
                    )
                    .bind(&[text(&self.user_id), text(hash), int(ctx.now_ms)])?,
            );
            "INSERT INTO users (id, name, created_at) SELECT ?1, ?2, ?3 \
             WHERE EXISTS (SELECT 1 FROM invites WHERE code_hash = ?4 AND used_by = ?1) RETURNING id"
        } else {
            "INSERT INTO users (id, name, created_at) SELECT ?1, ?2, ?3 \
             WHERE NOT EXISTS (SELECT 1 FROM users WHERE name IS NOT NULL) RETURNING id"
        };
        let mut bound = args.to_vec();
        if !ctx.config.open_registration {
            if let Some(hash) = &self.invite_hash {
                bound.push(text(hash));
            }
        }
        statements.push(ctx.db.prepare(insert).bind(&bound)?);
        Ok(AccountStatements {
            user_insert: statements.len() - 1,
            statements,
        })
    }

    /// Whether the batch created the account; if not, the refusal to answer with.
    fn created(&self, user_insert: usize, results: &[D1Result]) -> Result<(), ApiError> {
        let created = results.get(user_insert).is_some_and(|r| {
            r.results::<serde_json::Value>()
                .is_ok_and(|rows| !rows.is_empty())
        });
        match (created, &self.invite_hash) {
            (true, _) => Ok(()),
            (false, Some(_)) => Err(invite_invalid()),
            (false, None) => Err(registration_closed()),
        }
    }

    /// Runs `plan` followed by `rest` as one transaction. A clash on the name (someone took it
    /// since the sign-up started) is 409 `name_taken`; the rule refusing is 403.
    pub async fn create(
        &self,
        ctx: &Ctx<'_>,
        plan: AccountStatements,
        rest: Vec<D1PreparedStatement>,
    ) -> AuthResult<()> {
        let user_insert = plan.user_insert;
        let mut statements = plan.statements;
        statements.extend(rest);
        let results = match ctx.db.batch(statements).await {
            Ok(results) => results,
            Err(e) => {
                if name_taken(ctx, &self.name).await? {
                    return Err(name_taken_error().into());
                }
                return Err(e.into());
            }
        };
        if let Err(refusal) = self.created(user_insert, &results) {
            events::record(
                ctx,
                Kind::RegistrationRefused,
                Event {
                    detail: Some(refusal.code),
                    ..Event::default()
                },
            );
            return Err(refusal.into());
        }
        events::record(
            ctx,
            Kind::AccountCreated,
            Event {
                user_id: Some(&self.user_id),
                detail: Some(&self.name),
                ..Event::default()
            },
        );
        Ok(())
    }
}

/// 409 `name_taken`.
pub fn name_taken_error() -> ApiError {
    ApiError::new(409, "name_taken", "an account with this name exists")
}

/// `POST /auth/invites`: a one-time invite (7 days) for someone to create an account.
pub async fn create_invite(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let invite = format!("{INVITE_PREFIX}{}", random_id(16)?);
    let expires_at = ctx.now_ms + INVITE_SECONDS * 1000;
    ctx.db
        .prepare(
            "INSERT INTO invites (code_hash, created_by, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(&[
            text(&storage_hash(&invite)),
            text(&me.user_id),
            int(ctx.now_ms),
            int(expires_at),
        ])?
        .run()
        .await?;
    events::record(
        ctx,
        Kind::InviteCreated,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            ..Event::default()
        },
    );
    json(
        201,
        &serde_json::json!({
            "invite": invite,
            "expiresAt": expires_at,
            "expiresIn": INVITE_SECONDS,
        }),
    )
}
