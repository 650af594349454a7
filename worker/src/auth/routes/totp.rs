//! TOTP (SPEC §2): `POST /auth/totp/enroll/start|verify`, `POST /auth/totp/login`,
//! `POST /auth/totp/disable`, and the TOTP step-up `POST /auth/step-up/totp`.
//!
//! The codes are `orbit_shared::auth::totp`'s (RFC 6238, SHA-1, 6 digits, 30 s, ±1 step, each
//! code at most once); the secret is sealed with `orbit_shared::auth::sealed` under
//! `ORBIT_SEAL_KEY`, bound to its user id, and opened only to check a code. The step of the
//! last accepted code only moves forward ([`crate::auth::store::totp`]), so of two requests
//! racing with one code only one wins.
//!
//! Enrolment is two calls: `start` draws the secret and keeps it sealed for 10 minutes,
//! answering the `otpauth://` URI (the QR code's content) and the base32 secret; `verify`
//! confirms it with a first valid code. For a new account, `verify` also creates the account
//! and its first session, if sign-up is still allowed.

use worker::Response;

use orbit_protocol::auth::{
    SecurityEventKind, SignedIn, StepUpTotpRequest, SteppedUp, TotpDisableRequest,
    TotpEnrollStartRequest, TotpEnrollVerifyRequest, TotpEnrollment, TotpLoginRequest, TotpStatus,
};
use orbit_protocol::ErrorCode;
use orbit_shared::auth::names::{account_name, clip};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::sealed::{aad, open, seal, SealKey, PURPOSE_TOTP};
use orbit_shared::auth::totp::{self as codes, enrollment, TotpError, TotpSecret};

use super::answer;
use crate::auth::ctx::Ctx;
use crate::auth::error::{ApiError, AuthResult};
use crate::auth::service::accounts::{self, admission, free_name};
use crate::auth::service::audit::{self, Event};
use crate::auth::service::caller::{bearer_present, require_web, WebUser};
use crate::auth::service::limits::enforce;
use crate::auth::service::sessions;
use crate::auth::service::step_up::{self, require_fresh, Change};
use crate::auth::store::accounts as account_rows;
use crate::auth::store::totp::{self as store, EnrollmentRow, NewEnrollment};
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

fn totp_not_enabled() -> ApiError {
    ApiError::new(ErrorCode::TotpNotEnabled, "TOTP is not on for this account")
}

/// `POST /auth/totp/enroll/start`.
///
/// Signed in (`Authorization: Bearer`): adds TOTP to the account, or replaces it given a current
/// `code`. Not signed in: `{name, invite?}` starts a new account.
pub async fn enroll_start(ctx: &Ctx<'_>, body: TotpEnrollStartRequest) -> AuthResult<Response> {
    let key = seal_key(ctx)?;
    let (user_id, name, new_account, invite_hash) = if bearer_present(ctx) {
        let me = require_web(ctx).await?;
        if account_rows::ways_in(&ctx.store, &me.user_id).await?.totp {
            let Some(code) = body.code.as_deref() else {
                return Err(ApiError::new(
                    ErrorCode::TotpAlreadyEnabled,
                    "TOTP is on for this account: send a current code to replace the authenticator",
                )
                .into());
            };
            // A current code is itself the fresh proof step-up asks for.
            check_current_code(ctx, &me, code).await?;
        } else {
            // Adding a way in: the session must have proved one recently (a stolen access
            // token must not plant the thief's authenticator).
            require_fresh(ctx, &me, Change::EnableTotp).await?;
        }
        let name = account_rows::name_of(&ctx.store, &me.user_id)
            .await?
            .unwrap_or_default();
        (me.user_id, name, false, None)
    } else {
        let name = free_name(ctx, body.name.as_deref().unwrap_or_default()).await?;
        let invite_hash = admission(ctx, body.invite.as_deref()).await?;
        (random_id(16)?, name, true, invite_hash)
    };
    // Each enrolment is a stored row, and strangers may start sign-ups: bounded like passkey
    // challenges.
    enforce(
        ctx,
        Action::ChallengeIssue,
        (!new_account).then_some(user_id.as_str()),
    )
    .await?;
    let secret = TotpSecret::from_random(random_bytes()?);
    let sealed = seal(
        &key,
        random_bytes()?,
        secret.as_bytes(),
        &aad(PURPOSE_TOTP, &user_id),
    )?;
    let enrollment_id = random_id(16)?;
    store::insert_enrollment(
        &ctx.store,
        &NewEnrollment {
            id: &enrollment_id,
            user_id: &user_id,
            new_account,
            name: new_account.then_some(name.as_str()),
            invite_hash: invite_hash.as_deref(),
            secret_sealed: &sealed,
            expires_at: ctx.now_ms + ENROLLMENT_SECONDS * 1000,
        },
    )
    .await?;
    let shown = enrollment(&secret, &name);
    answer(
        201,
        &TotpEnrollment {
            enrollment_id,
            new_account,
            name,
            secret: shown.secret_base32,
            uri: shown.uri,
            expires_in: ENROLLMENT_SECONDS,
        },
    )
}

/// The enrolment a `verify` confirms: the one named, else (signed in) the caller's latest.
/// Someone else's enrolment is "not found" to anyone but its user, signed in.
async fn enrollment_to_confirm(
    ctx: &Ctx<'_>,
    body: &TotpEnrollVerifyRequest,
) -> AuthResult<EnrollmentRow> {
    let row = match (&body.enrollment_id, bearer_present(ctx)) {
        (Some(id), _) => store::enrollment(&ctx.store, id).await?,
        (None, true) => {
            let me = require_web(ctx).await?;
            store::latest_enrollment(&ctx.store, &me.user_id).await?
        }
        (None, false) => return Err(ApiError::bad_request("enrollmentId is required").into()),
    };
    let not_found = || {
        ApiError::new(
            ErrorCode::EnrollmentNotFound,
            "no such enrolment, or it has expired",
        )
    };
    let Some(row) = row else {
        return Err(not_found().into());
    };
    if !row.is_new_account() {
        let me = require_web(ctx).await?;
        if me.user_id != row.user_id {
            return Err(not_found().into());
        }
    }
    Ok(row)
}

/// `POST /auth/totp/enroll/verify {enrollmentId?, code}`: confirms an enrolment with a first
/// valid code. A new account is created and signed in (201 [`SignedIn`]); a signed-in user's
/// TOTP is switched on (200 `{"totp": true}`).
pub async fn enroll_verify(ctx: &Ctx<'_>, body: TotpEnrollVerifyRequest) -> AuthResult<Response> {
    let key = seal_key(ctx)?;
    let row = enrollment_to_confirm(ctx, &body).await?;
    enforce(ctx, Action::TotpSignIn, Some(&row.user_id)).await?;
    let secret = open_secret(&key, &row.secret_sealed, &row.user_id)?;
    let step = match codes::verify(&secret, &body.code, ctx.now_s(), None) {
        Ok(step) => step,
        Err(e) => {
            failure(ctx, Some(&row.user_id), "enrolment", &e);
            return Err(e.into());
        }
    };
    if !row.is_new_account() {
        store::enable(&ctx.store, &row, step).await?;
        audit::record(
            ctx,
            SecurityEventKind::TotpEnabled,
            Event {
                user_id: Some(&row.user_id),
                ..Event::default()
            },
        );
        return answer(200, &TotpStatus { totp: true });
    }
    let name = row.name.clone().unwrap_or_default();
    accounts::ensure_free(ctx, &name).await?;
    let account = accounts::new_account(ctx, &row.user_id, &name, row.invite_hash.as_deref());
    let session = sessions::draw(ctx, &account.user_id, None)?;
    let created = store::create_account(&ctx.store, &account, &row, step, &session).await;
    accounts::created(ctx, &account, created)?;
    let credentials = sessions::credentials_of(ctx, &session)?;
    signed_in(ctx, &account.user_id, &session.session_id);
    answer(
        201,
        &SignedIn {
            user_id: account.user_id,
            name: account.name,
            passkey_id: None,
            credentials,
        },
    )
}

/// `POST /auth/totp/login {name, code}`: a new web session.
///
/// An unknown name, an account without TOTP and a wrong code all answer 401 `invalid_code`
/// (a malformed code is 400 either way), so the endpoint does not tell which accounts exist.
pub async fn login(ctx: &Ctx<'_>, body: TotpLoginRequest) -> AuthResult<Response> {
    let key = seal_key(ctx)?;
    let name = account_name(&body.name).ok();
    let row = match &name {
        Some(name) => store::secret_by_name(&ctx.store, name).await?,
        None => None,
    };
    // Per account: the user id when the account exists, else the name asked for.
    let account_key = match (&row, &name) {
        (Some(row), _) => row.user_id.clone(),
        (None, Some(name)) => format!("name:{name}"),
        (None, None) => format!("name:{}", clip(&body.name.to_ascii_lowercase(), 40)),
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
    // The session is written only if this request's update recorded the step.
    let session = sessions::draw(ctx, &row.user_id, None)?;
    if !store::sign_in(&ctx.store, step, &session).await? {
        let e = TotpError::Replayed;
        failure(ctx, Some(&row.user_id), "totp", &e);
        return Err(e.into());
    }
    let credentials = sessions::credentials_of(ctx, &session)?;
    signed_in(ctx, &row.user_id, &session.session_id);
    answer(
        200,
        &SignedIn {
            user_id: row.user_id,
            name: name.unwrap_or_default(),
            passkey_id: None,
            credentials,
        },
    )
}

/// Checks a current code of a signed-in user's confirmed TOTP (re-authentication before a
/// sensitive change), spending it like a sign-in; the session counts as freshly verified.
async fn check_current_code(ctx: &Ctx<'_>, me: &WebUser, code: &str) -> AuthResult<()> {
    let user_id = me.user_id.as_str();
    enforce(ctx, Action::TotpSignIn, Some(user_id)).await?;
    let Some(row) = store::secret_of(&ctx.store, user_id).await? else {
        return Err(totp_not_enabled().into());
    };
    let secret = open_secret(&seal_key(ctx)?, &row.secret_sealed, user_id)?;
    let accepted = match codes::verify(&secret, code, ctx.now_s(), row.last_step) {
        // A concurrent request that stored this step (or a later one) first makes it a replay.
        Ok(step) => {
            if store::step_up(&ctx.store, user_id, &me.session_id, step).await? {
                Ok(())
            } else {
                Err(TotpError::Replayed)
            }
        }
        Err(e) => Err(e),
    };
    if let Err(e) = accepted {
        failure(ctx, Some(user_id), "reauthentication", &e);
        return Err(e.into());
    }
    Ok(())
}

/// `POST /auth/totp/disable {code}`: turns TOTP off, given a current code, unless it is the
/// account's last way to sign in (409 `last_sign_in_method`).
pub async fn disable(ctx: &Ctx<'_>, body: TotpDisableRequest) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let ways = account_rows::ways_in(&ctx.store, &me.user_id).await?;
    if !ways.totp {
        return Err(totp_not_enabled().into());
    }
    if ways.count() <= 1 {
        return Err(ApiError::new(
            ErrorCode::LastSignInMethod,
            "TOTP is this account's only way to sign in; add another before turning it off",
        )
        .into());
    }
    // Removing a way in: the current code is the fresh proof (a stale session that knows
    // one may go ahead; one that does not cannot).
    check_current_code(ctx, &me, &body.code).await?;
    store::disable(&ctx.store, &me.user_id).await?;
    audit::record(
        ctx,
        SecurityEventKind::TotpDisabled,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            ..Event::default()
        },
    );
    answer(200, &TotpStatus { totp: false })
}

/// `POST /auth/step-up/totp {code}` (signed in): proves the session's TOTP again; the session
/// is fresh for the step-up window. The code is spent as at sign-in (replays are refused, even
/// raced) under the TOTP sign-in rate limits.
pub async fn step_up(ctx: &Ctx<'_>, body: StepUpTotpRequest) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    check_current_code(ctx, &me, &body.code).await?;
    step_up::stepped_up(ctx, &me, "totp");
    answer(
        200,
        &SteppedUp {
            verified_at: ctx.now_ms,
            fresh_for: ctx.config.step_up_window_s,
        },
    )
}

fn signed_in(ctx: &Ctx<'_>, user_id: &str, session_id: &str) {
    audit::record(
        ctx,
        SecurityEventKind::SignIn,
        Event {
            user_id: Some(user_id),
            session_id: Some(session_id),
            detail: Some("totp"),
            ..Event::default()
        },
    );
}

fn failure(ctx: &Ctx<'_>, user_id: Option<&str>, context: &str, e: &TotpError) {
    audit::sign_in_failure(ctx, user_id, &format!("{context}: {}", e.code()));
}
