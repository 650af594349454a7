//! Passkeys (WebAuthn, SPEC §2): registration for new accounts and signed-in users
//! ([`register`]), discoverable sign-in ([`login`]), and the signed-in user's list and removal
//! ([`manage`]), and the passkey step-up of a signed-in session ([`step_up`]); the routes' decisions are pure functions in [`decide`], tested natively.
//!
//! The ceremonies are verified by `orbit_shared::webauthn` (clock-free; these modules supply the
//! challenges, the clock and the storage). The relying party — RP ID, name, allowed origins —
//! comes from configuration only ([`crate::config::Config`]), never from a request header.
//!
//! **Challenges** ([`crate::auth::store::challenges`]). Every ceremony starts with an
//! `…/options` call that draws 32 random bytes and stores them with the ceremony, an expiry
//! (5 minutes; the row is deleted once as long again has passed, by a later issue) and, for
//! registrations, the user the passkey is for. The answer carries a
//! `challengeId` that the matching `…/verify` call sends back; `verify` takes the challenge with
//! one conditional update, so a challenge serves one attempt only — a failed attempt spends it
//! too — and a challenge of the other ceremony, or a registration challenge of another user, is
//! "unknown". Issuing is rate-limited (`challenge_issue`, per address and, signed in, per
//! account), so one address can only ever hold a bounded number of challenge rows.
//!
//! **New accounts** go through the same admission as TOTP sign-up
//! ([`crate::auth::service::accounts`]: checked at `options`, atomically at `verify`): the user
//! id is allocated at `options`, and the users row, the passkey and the first session are
//! written in one batch once the passkey verifies.
//!
//! **Sign-in** is discoverable: `login/options` names no user and allows any credential; `verify`
//! finds the credential by its id and checks that the user handle the authenticator returned is
//! the credential's user (a passkey's user handle is its user's id). The signature counter must
//! increase unless it stays 0 (synced passkeys have none): the stored counter moves with a
//! conditional update before the session is written, so two racing assertions with one counter
//! value (a cloned authenticator) cannot both sign in.
//!
//! Every refusal records a `sign_in_failure` event with the reason code; nothing a ceremony
//! carries is secret (the private key never leaves the authenticator), and no request body is
//! logged.

pub mod decide;
pub mod login;
pub mod manage;
pub mod register;
pub mod step_up;

use orbit_protocol::auth::SecurityEventKind;
use orbit_protocol::ErrorCode;
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::webauthn::WebauthnConfig;

use crate::auth::ctx::Ctx;
use crate::auth::error::{ApiError, AuthResult};
use crate::auth::service::audit::{self, Event};
use crate::auth::service::limits::enforce;
use crate::auth::store::challenges::{self, Ceremony, NewChallenge, Taker};
use crate::http::{random_bytes, random_id};

/// The relying party, or 500 `server_misconfigured`.
fn relying_party(ctx: &Ctx<'_>) -> AuthResult<WebauthnConfig> {
    Ok(decide::relying_party(ctx.config)?)
}

/// Who a registration challenge is for.
struct Subject<'a> {
    user_id: Option<&'a str>,
    new_account: bool,
    name: Option<&'a str>,
    invite_hash: Option<&'a str>,
    /// Step-ups: the session that asks.
    session_id: Option<&'a str>,
}

/// Draws and stores a challenge; returns its id and bytes. Each one is a row, mostly asked for
/// by strangers, so issuing is rate-limited per address (and per account when signed in).
async fn issue_challenge(
    ctx: &Ctx<'_>,
    ceremony: Ceremony,
    subject: Subject<'_>,
) -> AuthResult<(String, [u8; 32])> {
    let account = subject.user_id.filter(|_| !subject.new_account);
    enforce(ctx, Action::ChallengeIssue, account).await?;
    let challenge = random_bytes::<32>()?;
    let id = random_id(16)?;
    challenges::issue(
        &ctx.store,
        &NewChallenge {
            id: &id,
            ceremony,
            challenge: &challenge,
            user_id: subject.user_id,
            new_account: subject.new_account,
            name: subject.name,
            invite_hash: subject.invite_hash,
            session_id: subject.session_id,
            expires_at: ctx.now_ms + ctx.config.passkey_challenge_lifetime_s * 1000,
            // As long again as its life: enough for a late answer to hear why.
            retention_ms: ctx.config.passkey_challenge_lifetime_s * 1000,
        },
    )
    .await?;
    Ok((id, challenge))
}

/// The refusal of a challenge that could not be taken (why, read back from its row), recorded
/// as a failure of `user_id`'s.
async fn challenge_refused(
    ctx: &Ctx<'_>,
    id: &str,
    ceremony: Ceremony,
    taker: Taker<'_>,
    user_id: Option<&str>,
) -> AuthResult<ApiError> {
    let state = challenges::state(&ctx.store, id).await?;
    let refusal = decide::challenge_refusal(ceremony, taker, state.as_ref(), ctx.now_ms);
    failure(ctx, ceremony, user_id, refusal.code);
    Ok(refusal)
}

/// Records a failed ceremony (reason code only).
fn failure(ctx: &Ctx<'_>, ceremony: Ceremony, user_id: Option<&str>, code: ErrorCode) {
    audit::sign_in_failure(ctx, user_id, &decide::failure_detail(ceremony, code));
}

fn added(ctx: &Ctx<'_>, user_id: &str, session_id: Option<&str>, passkey_id: &str) {
    audit::record(
        ctx,
        SecurityEventKind::PasskeyAdded,
        Event {
            user_id: Some(user_id),
            session_id,
            detail: Some(passkey_id),
            ..Event::default()
        },
    );
}

fn signed_in(ctx: &Ctx<'_>, user_id: &str, session_id: &str) {
    audit::record(
        ctx,
        SecurityEventKind::SignIn,
        Event {
            user_id: Some(user_id),
            session_id: Some(session_id),
            detail: Some("passkey"),
            ..Event::default()
        },
    );
}
