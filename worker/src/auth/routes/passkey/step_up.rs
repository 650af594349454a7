//! `POST /auth/step-up/passkey/options` and `…/verify`: a signed-in session proves one of its
//! account's passkeys again (docs/auth.md, Step-up).
//!
//! The challenge is bound to the session that asked (ceremony `step_up`, its user and session
//! id): another session, even of the same user, cannot spend it, and neither ceremony of
//! sign-in or registration can. The assertion must be made by one of the caller's own passkeys
//! (the options name them in `allowCredentials`; another account's is `unknown_credential`),
//! and passes the same checks as a sign-in: origin, RP ID, signature, user handle and counter.

use worker::Response;

use orbit_protocol::auth::{StepUpPasskeyOptions, StepUpPasskeyVerifyRequest, SteppedUp};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::gate::GateError;
use orbit_shared::webauthn::{
    base64url, request_options, verify_authentication, AuthenticationResponseJson, WebauthnError,
};

use super::decide;
use super::{challenge_refused, failure, issue_challenge, relying_party, Subject};
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::routes::answer;
use crate::auth::service::caller::require_web;
use crate::auth::service::limits::enforce;
use crate::auth::service::step_up::stepped_up;
use crate::auth::store::challenges::{Ceremony, Taker};
use crate::auth::store::{passkeys, sessions};

const CEREMONY: Ceremony = Ceremony::StepUp;

/// `POST /auth/step-up/passkey/options` (signed in): request options over a challenge bound to
/// this session, allowing the account's passkeys only. 404 `passkey_not_found` when it has none.
pub async fn options(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let rp = relying_party(ctx)?;
    let me = require_web(ctx).await?;
    let (_, existing) = passkeys::registration_context(&ctx.store, &me.user_id).await?;
    decide::has_passkeys(existing.len())?;
    let (challenge_id, challenge) = issue_challenge(
        ctx,
        CEREMONY,
        Subject {
            user_id: Some(&me.user_id),
            new_account: false,
            name: None,
            invite_hash: None,
            session_id: Some(&me.session_id),
        },
    )
    .await?;
    let options = request_options(&rp, &challenge, &decide::exclude_list(&existing));
    answer(
        200,
        &StepUpPasskeyOptions {
            challenge_id,
            expires_in: ctx.config.passkey_challenge_lifetime_s,
            public_key: serde_json::to_value(&options.public_key)?,
        },
    )
}

/// `POST /auth/step-up/passkey/verify {challengeId, credential}` (signed in): verifies the
/// assertion and marks the session freshly verified. Refusals are 401 with the verifier's or the
/// challenge's code, as at sign-in; 429 under the passkey sign-in limits.
pub async fn verify(ctx: &Ctx<'_>, body: StepUpPasskeyVerifyRequest) -> AuthResult<Response> {
    let response: AuthenticationResponseJson = decide::credential(body.credential)?;
    let rp = relying_party(ctx)?;
    let me = require_web(ctx).await?;
    enforce(ctx, Action::PasskeySignIn, Some(&me.user_id)).await?;
    let named = response.credential_id().map(base64url::encode);
    let (taken, row) = passkeys::take_for_step_up(
        &ctx.store,
        &body.challenge_id,
        &me.user_id,
        &me.session_id,
        named.as_deref().ok(),
    )
    .await?;
    let Some(taken) = taken else {
        let taker = Taker::Session {
            user_id: &me.user_id,
            session_id: &me.session_id,
        };
        let refusal =
            challenge_refused(ctx, &body.challenge_id, CEREMONY, taker, Some(&me.user_id)).await?;
        return Err(refusal.into());
    };
    let row = match decide::own_credential(named.map(|_| ()), row, &me.user_id) {
        Ok(row) => row,
        Err(e) => {
            failure(ctx, CEREMONY, Some(&me.user_id), e.code());
            return Err(decide::refusal(CEREMONY, &e).into());
        }
    };
    let stored = row.stored()?;
    let outcome = match verify_authentication(&rp, &taken.bytes, &stored, &response) {
        Ok(outcome) => outcome,
        Err(e) => {
            failure(ctx, CEREMONY, Some(&me.user_id), e.code());
            return Err(decide::refusal(CEREMONY, &e).into());
        }
    };
    // As at sign-in: the counter moves only forward, so a cloned authenticator's second
    // assertion with one counter value is refused.
    if !passkeys::count_use(&ctx.store, &row.id, outcome.sign_count, outcome.backed_up).await? {
        let e = WebauthnError::CounterRegressed;
        failure(ctx, CEREMONY, Some(&me.user_id), e.code());
        return Err(decide::refusal(CEREMONY, &e).into());
    }
    if !sessions::mark_verified(&ctx.store, &me.user_id, &me.session_id).await? {
        // Revoked between the check and the stamp.
        return Err(GateError::SessionRevoked.into());
    }
    stepped_up(ctx, &me, "passkey");
    answer(
        200,
        &SteppedUp {
            verified_at: ctx.now_ms,
            fresh_for: ctx.config.step_up_window_s,
        },
    )
}
