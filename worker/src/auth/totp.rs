//! TOTP (SPEC §2): enrolment for new accounts and signed-in users, sign-in, disabling.
//!
//! The codes are `orbit_shared::auth::totp`'s (RFC 6238, SHA-1, 6 digits, 30 s, ±1 step, each
//! code at most once); the secret is sealed with `orbit_shared::auth::sealed` under
//! `ORBIT_SEAL_KEY`, bound to its user id, and opened only to check a code. The step of the
//! last accepted code is stored with a conditional update (`… WHERE last_step < step`), so of
//! two requests racing with one code only one wins.
//!
//! Enrolment is two calls: `start` draws the secret and keeps it sealed in `totp_enrollments`
//! for 10 minutes, answering the `otpauth://` URI (the QR code's content) and the base32 secret;
//! `verify` confirms it with a first valid code. For a new account, `verify` also creates the
//! account and its first session, if sign-up is still allowed (see [`super::accounts`]).

use serde::{Deserialize, Serialize};
use worker::Response;

use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::sealed::{aad, open, seal, SealKey, PURPOSE_TOTP};
use orbit_shared::auth::totp::{self as codes, enrollment, TotpError, TotpSecret};

use super::accounts::{self, admission, name_taken, name_taken_error, normalise_name, NewAccount};
use super::error::{ApiError, AuthResult};
use super::events::{self, Event, Kind};
use super::rate_limit::enforce;
use super::session::{bearer_present, require_web, Credentials, Guard, NewSession};
use super::{int, json, opt_text, text, Ctx};
use crate::http::{random_bytes, random_id};

/// Life of an unconfirmed enrolment, in seconds.
pub const ENROLLMENT_SECONDS: u64 = 10 * 60;

fn seal_key(ctx: &Ctx<'_>) -> AuthResult<SealKey> {
    Ok(SealKey::derive(&ctx.config.seal_secret)?)
}

fn open_secret(key: &SealKey, sealed: &str, user_id: &str) -> AuthResult<TotpSecret> {
    let bytes = open(key, sealed, &aad(PURPOSE_TOTP, user_id))?;
    Ok(TotpSecret::from_bytes(&bytes)?)
}

/// A sign-in's answer: who, and the session's credentials.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedIn<'a> {
    user_id: &'a str,
    name: &'a str,
    #[serde(flatten)]
    credentials: Credentials,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StartBody {
    /// New accounts: the account name to create.
    name: Option<String>,
    /// New accounts while registration is closed: an invite.
    invite: Option<String>,
    /// Signed-in users who already have TOTP: a current code, to replace the authenticator.
    code: Option<String>,
}

#[derive(Deserialize)]
struct NameRow {
    name: Option<String>,
}

/// `POST /auth/totp/enroll/start`.
///
/// Signed in (`Authorization: Bearer`): adds TOTP to the account, or replaces it given a current
/// `code`. Not signed in: `{name, invite?}` starts a new account.
pub async fn enroll_start(ctx: &Ctx<'_>, body: StartBody) -> AuthResult<Response> {
    let key = seal_key(ctx)?;
    let (user_id, name, new_account, invite_hash) = if bearer_present(ctx) {
        let me = require_web(ctx).await?;
        if accounts::ways_in(ctx, &me.user_id).await?.totp {
            let Some(code) = body.code.as_deref() else {
                return Err(ApiError::new(
                    409,
                    "totp_already_enabled",
                    "TOTP is on for this account: send a current code to replace the authenticator",
                )
                .into());
            };
            check_current_code(ctx, &me.user_id, code).await?;
        }
        let name = ctx
            .db
            .prepare("SELECT name FROM users WHERE id = ?1")
            .bind(&[text(&me.user_id)])?
            .first::<NameRow>(None)
            .await?
            .and_then(|r| r.name)
            .unwrap_or_default();
        (me.user_id, name, false, None)
    } else {
        let name = normalise_name(body.name.as_deref().unwrap_or_default())?;
        if name_taken(ctx, &name).await? {
            return Err(name_taken_error().into());
        }
        let invite_hash = admission(ctx, body.invite.as_deref()).await?;
        (random_id(16)?, name, true, invite_hash)
    };
    let secret = TotpSecret::from_random(random_bytes()?);
    let sealed = seal(
        &key,
        random_bytes()?,
        secret.as_bytes(),
        &aad(PURPOSE_TOTP, &user_id),
    )?;
    let enrollment_id = random_id(16)?;
    ctx.db
        .prepare(
            "INSERT INTO totp_enrollments (id, user_id, new_account, name, invite_hash, secret_sealed, created_at, expires_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .bind(&[
            text(&enrollment_id),
            text(&user_id),
            int(u64::from(new_account)),
            opt_text(new_account.then_some(name.as_str())),
            opt_text(invite_hash.as_deref()),
            text(&sealed),
            int(ctx.now_ms),
            int(ctx.now_ms + ENROLLMENT_SECONDS * 1000),
        ])?
        .run()
        .await?;
    let shown = enrollment(&secret, &name);
    json(
        201,
        &serde_json::json!({
            "enrollmentId": enrollment_id,
            "newAccount": new_account,
            "name": name,
            "secret": shown.secret_base32,
            "uri": shown.uri,
            "expiresIn": ENROLLMENT_SECONDS,
        }),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct VerifyBody {
    /// The enrolment to confirm; a signed-in user may leave it out (their latest).
    enrollment_id: Option<String>,
    code: String,
}

#[derive(Deserialize)]
struct EnrollmentRow {
    id: String,
    user_id: String,
    new_account: u64,
    name: Option<String>,
    invite_hash: Option<String>,
    secret_sealed: String,
}

/// `POST /auth/totp/enroll/verify {enrollmentId?, code}`: confirms an enrolment with a first
/// valid code. A new account is created and signed in (201 with credentials); a signed-in
/// user's TOTP is switched on (200 `{"totp": true}`).
pub async fn enroll_verify(ctx: &Ctx<'_>, body: VerifyBody) -> AuthResult<Response> {
    let key = seal_key(ctx)?;
    let row = match (&body.enrollment_id, bearer_present(ctx)) {
        (Some(id), _) => {
            ctx.db
                .prepare(
                    "SELECT id, user_id, new_account, name, invite_hash, secret_sealed \
                     FROM totp_enrollments WHERE id = ?1 AND expires_at > ?2",
                )
                .bind(&[text(id), int(ctx.now_ms)])?
                .first::<EnrollmentRow>(None)
                .await?
        }
        (None, true) => {
            let me = require_web(ctx).await?;
            ctx.db
                .prepare(
                    "SELECT id, user_id, new_account, name, invite_hash, secret_sealed \
                     FROM totp_enrollments WHERE user_id = ?1 AND new_account = 0 AND expires_at > ?2 \
                     ORDER BY created_at DESC LIMIT 1",
                )
                .bind(&[text(&me.user_id), int(ctx.now_ms)])?
                .first::<EnrollmentRow>(None)
                .await?
        }
        (None, false) => return Err(ApiError::bad_request("enrollmentId is required").into()),
    };
    let not_found = || {
        ApiError::not_found(
            "enrollment_not_found",
            "no such enrolment, or it has expired",
        )
    };
    let Some(row) = row else {
        return Err(not_found().into());
    };
    let new_account = row.new_account == 1;
    if !new_account {
        // Someone else's enrolment is "not found" to anyone but its user, signed in.
        let me = require_web(ctx).await?;
        if me.user_id != row.user_id {
            return Err(not_found().into());
        }
    }
    enforce(ctx, Action::TotpSignIn, Some(&row.user_id)).await?;
    let secret = open_secret(&key, &row.secret_sealed, &row.user_id)?;
    let step = match codes::verify(&secret, &body.code, ctx.now_s(), None) {
        Ok(step) => step,
        Err(e) => {
            failure(ctx, Some(&row.user_id), "enrolment", &e);
            return Err(e.into());
        }
    };
    let totp_insert = ctx
        .db
        .prepare(
            "INSERT INTO totp (user_id, secret_sealed, last_step, confirmed_at) \
             SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1) \
             ON CONFLICT (user_id) DO UPDATE SET secret_sealed = excluded.secret_sealed, \
             last_step = excluded.last_step, confirmed_at = excluded.confirmed_at",
        )
        .bind(&[
            text(&row.user_id),
            text(&row.secret_sealed),
            int(step),
            int(ctx.now_ms),
        ])?;
    let enrollment_delete = ctx
        .db
        .prepare(
            "DELETE FROM totp_enrollments WHERE id = ?1 AND EXISTS (SELECT 1 FROM users WHERE id = ?2)",
        )
        .bind(&[text(&row.id), text(&row.user_id)])?;
    if !new_account {
        ctx.db.batch(vec![totp_insert, enrollment_delete]).await?;
        events::record(
            ctx,
            Kind::TotpEnabled,
            Event {
                user_id: Some(&row.user_id),
                ..Event::default()
            },
        );
        return json(200, &serde_json::json!({"totp": true}));
    }
    let account = NewAccount {
        user_id: row.user_id.clone(),
        name: row.name.clone().unwrap_or_default(),
        invite_hash: row.invite_hash.clone(),
    };
    if name_taken(ctx, &account.name).await? {
        return Err(name_taken_error().into());
    }
    let plan = account.statements(ctx)?;
    let session = NewSession::new(ctx, &account.user_id, None)?;
    let mut rest = vec![totp_insert];
    rest.extend(session.statements(ctx, Guard::UserExists)?);
    rest.push(enrollment_delete);
    account.create(ctx, plan, rest).await?;
    let credentials = session.credentials(ctx)?;
    signed_in(ctx, &account.user_id, &session.session_id);
    json(
        201,
        &SignedIn {
            user_id: &account.user_id,
            name: &account.name,
            credentials,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoginBody {
    /// The account name.
    name: String,
    code: String,
}

#[derive(Deserialize)]
struct SecretRow {
    user_id: String,
    secret_sealed: String,
    last_step: Option<u64>,
}

/// `POST /auth/totp/login {name, code}`: a new web session.
///
/// An unknown name, an account without TOTP and a wrong code all answer 401 `invalid_code`
/// (a malformed code is 400 either way), so the endpoint does not tell which accounts exist.
pub async fn login(ctx: &Ctx<'_>, body: LoginBody) -> AuthResult<Response> {
    let key = seal_key(ctx)?;
    let name = normalise_name(&body.name).ok();
    let row = match &name {
        Some(name) => {
            ctx.db
                .prepare(
                    "SELECT u.id AS user_id, t.secret_sealed, t.last_step \
                     FROM users u JOIN totp t ON t.user_id = u.id WHERE u.name = ?1",
                )
                .bind(&[text(name)])?
                .first::<SecretRow>(None)
                .await?
        }
        None => None,
    };
    // Per account: the user id when the account exists, else the name asked for.
    let account_key = match (&row, &name) {
        (Some(row), _) => row.user_id.clone(),
        (None, Some(name)) => format!("name:{name}"),
        (None, None) => format!("name:{}", super::clip(&body.name.to_ascii_lowercase(), 40)),
    };
    enforce(ctx, Action::TotpSignIn, Some(&account_key)).await?;
    let Some(row) = row else {
        // Same work and the same answers as for a real account.
        let decoy = TotpSecret::from_random(random_bytes()?);
        let e = codes::verify(&decoy, &body.code, ctx.now_s(), None)
            .err()
            .unwrap_or(TotpError::InvalidCode);
        failure(ctx, None, "unknown_account", &e);
        return Err(e.into());
    };
    let secret = open_secret(&key, &row.secret_sealed, &row.user_id)?;
    let step = match codes::verify(&secret, &body.code, ctx.now_s(), row.last_step) {
        Ok(step) => step,
        Err(e) => {
            failure(ctx, Some(&row.user_id), "totp", &e);
            return Err(e.into());
        }
    };
    // Record the step and open the session in one transaction; the session is written only if
    // this request's update recorded the step (a racing request with the same code gets none).
    let session = NewSession::new(ctx, &row.user_id, None)?;
    let mut statements = vec![ctx
        .db
        .prepare(
            "UPDATE totp SET last_step = ?2, last_session_id = ?3 WHERE user_id = ?1 \
             AND (last_step IS NULL OR last_step < ?2) RETURNING user_id",
        )
        .bind(&[text(&row.user_id), int(step), text(&session.session_id)])?];
    statements.extend(session.statements(ctx, Guard::TotpStepRecorded)?);
    let results = ctx.db.batch(statements).await?;
    let recorded = results.first().is_some_and(|r| {
        r.results::<serde_json::Value>()
            .is_ok_and(|rows| !rows.is_empty())
    });
    if !recorded {
        let e = TotpError::Replayed;
        failure(ctx, Some(&row.user_id), "totp", &e);
        return Err(e.into());
    }
    let credentials = session.credentials(ctx)?;
    signed_in(ctx, &row.user_id, &session.session_id);
    json(
        200,
        &SignedIn {
            user_id: &row.user_id,
            name: name.as_deref().unwrap_or_default(),
            credentials,
        },
    )
}

/// Stores `step` as the last accepted one, unless a concurrent request stored it (or a later
/// one) first: then the code is a replay.
async fn record_step(ctx: &Ctx<'_>, user_id: &str, step: u64) -> AuthResult<Result<(), TotpError>> {
    let stored = ctx
        .db
        .prepare(
            "UPDATE totp SET last_step = ?2 WHERE user_id = ?1 \
             AND (last_step IS NULL OR last_step < ?2) RETURNING user_id",
        )
        .bind(&[text(user_id), int(step)])?
        .first::<serde_json::Value>(None)
        .await?;
    Ok(if stored.is_some() {
        Ok(())
    } else {
        Err(TotpError::Replayed)
    })
}

/// Checks a current code of a signed-in user's confirmed TOTP (re-authentication before a
/// sensitive change), spending it like a sign-in.
async fn check_current_code(ctx: &Ctx<'_>, user_id: &str, code: &str) -> AuthResult<()> {
    enforce(ctx, Action::TotpSignIn, Some(user_id)).await?;
    let Some(row) = ctx
        .db
        .prepare("SELECT user_id, secret_sealed, last_step FROM totp WHERE user_id = ?1")
        .bind(&[text(user_id)])?
        .first::<SecretRow>(None)
        .await?
    else {
        return Err(
            ApiError::new(409, "totp_not_enabled", "TOTP is not on for this account").into(),
        );
    };
    let secret = open_secret(&seal_key(ctx)?, &row.secret_sealed, user_id)?;
    let accepted = match codes::verify(&secret, code, ctx.now_s(), row.last_step) {
        Ok(step) => record_step(ctx, user_id, step).await?,
        Err(e) => Err(e),
    };
    if let Err(e) = accepted {
        failure(ctx, Some(user_id), "reauthentication", &e);
        return Err(e.into());
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DisableBody {
    code: String,
}

/// `POST /auth/totp/disable {code}`: turns TOTP off, given a current code, unless it is the
/// account's last way to sign in (409 `last_sign_in_method`).
pub async fn disable(ctx: &Ctx<'_>, body: DisableBody) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let ways = accounts::ways_in(ctx, &me.user_id).await?;
    if !ways.totp {
        return Err(
            ApiError::new(409, "totp_not_enabled", "TOTP is not on for this account").into(),
        );
    }
    if ways.count() <= 1 {
        return Err(ApiError::new(
            409,
            "last_sign_in_method",
            "TOTP is this account's only way to sign in; add another before turning it off",
        )
        .into());
    }
    check_current_code(ctx, &me.user_id, &body.code).await?;
    ctx.db
        .prepare("DELETE FROM totp WHERE user_id = ?1")
        .bind(&[text(&me.user_id)])?
        .run()
        .await?;
    events::record(
        ctx,
        Kind::TotpDisabled,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            ..Event::default()
        },
    );
    json(200, &serde_json::json!({"totp": false}))
}

fn signed_in(ctx: &Ctx<'_>, user_id: &str, session_id: &str) {
    events::record(
        ctx,
        Kind::SignIn,
        Event {
            user_id: Some(user_id),
            session_id: Some(session_id),
            detail: Some("totp"),
            ..Event::default()
        },
    );
}

fn failure(ctx: &Ctx<'_>, user_id: Option<&str>, context: &str, e: &TotpError) {
    let detail = format!("{context}: {}", e.code());
    events::record(
        ctx,
        Kind::SignInFailure,
        Event {
            user_id,
            detail: Some(&detail),
            ..Event::default()
        },
    );
}
