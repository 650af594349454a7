//! `POST /auth/passkey/login/options` and `…/verify`: discoverable sign-in.

use worker::Response;

use orbit_protocol::auth::{PasskeyLoginOptions, PasskeyLoginVerifyRequest, SignedIn};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::webauthn::{
    base64url, request_options, verify_authentication, AuthenticationResponseJson, WebauthnError,
};

use super::decide;
use super::{challenge_refused, failure, issue_challenge, relying_party, signed_in, Subject};
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::routes::answer;
use crate::auth::service::limits::enforce;
use crate::auth::service::sessions;
use crate::auth::store::challenges::{Ceremony, Taker};
use crate::auth::store::passkeys;

const CEREMONY: Ceremony = Ceremony::Login;

/// `POST /auth/passkey/login/options`: options for a discoverable sign-in (no user named,
/// `allowCredentials` empty).
pub async fn options(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let rp = relying_party(ctx)?;
    let (challenge_id, challenge) = issue_challenge(
        ctx,
        CEREMONY,
        Subject {
            user_id: None,
            new_account: false,
            name: None,
            invite_hash: None,
            session_id: None,
        },
    )
    .await?;
    let options = request_options(&rp, &challenge, &[]);
    answer(
        200,
        &PasskeyLoginOptions {
            challenge_id,
            expires_in: ctx.config.passkey_challenge_lifetime_s,
            public_key: serde_json::to_value(&options.public_key)?,
        },
    )
}

/// `POST /auth/passkey/login/verify {challengeId, credential}`: a new web session.
///
/// Refusals are 401 with the verifier's code (`unknown_credential`, `origin_not_allowed`,
/// `rp_id_mismatch`, `challenge_mismatch`, `bad_signature`, `counter_regressed`, …) or the
/// challenge's (`challenge_unknown`, `challenge_used`, `challenge_expired`); 429 when limited.
pub async fn verify(ctx: &Ctx<'_>, body: PasskeyLoginVerifyRequest) -> AuthResult<Response> {
    let response: AuthenticationResponseJson = decide::credential(body.credential)?;
    let rp = relying_party(ctx)?;
    let named = response.credential_id().map(base64url::encode);
    // Take the challenge and find the credential in one round trip. Every attempt spends its
    // challenge, even one refused by the rate limit below.
    let (taken, row) =
        passkeys::take_for_login(&ctx.store, &body.challenge_id, named.as_deref().ok()).await?;
    let user_id = row.as_ref().map(|r| r.user_id.clone());
    // Every attempt counts, per address and (when the credential is known) per account.
    enforce(ctx, Action::PasskeySignIn, user_id.as_deref()).await?;
    let Some(taken) = taken else {
        let refusal = challenge_refused(
            ctx,
            &body.challenge_id,
            CEREMONY,
            Taker::Anyone,
            user_id.as_deref(),
        )
        .await?;
        return Err(refusal.into());
    };
    let row = match decide::signing_credential(named.map(|_| ()), row) {
        Ok(row) => row,
        Err(e) => {
            failure(ctx, CEREMONY, None, e.code());
            return Err(decide::refusal(CEREMONY, &e).into());
        }
    };
    let stored = row.stored()?;
    let outcome = match verify_authentication(&rp, &taken.bytes, &stored, &response) {
        Ok(outcome) => outcome,
        Err(e) => {
            failure(ctx, CEREMONY, Some(&row.user_id), e.code());
            return Err(decide::refusal(CEREMONY, &e).into());
        }
    };
    // The counter moves only forward (or stays 0), so of two racing assertions with one counter
    // value only one gets here.
    if !passkeys::count_use(&ctx.store, &row.id, outcome.sign_count, outcome.backed_up).await? {
        let e = WebauthnError::CounterRegressed;
        failure(ctx, CEREMONY, Some(&row.user_id), e.code());
        return Err(decide::refusal(CEREMONY, &e).into());
    }
    let (session, credentials) = sessions::open(ctx, &row.user_id, None).await?;
    signed_in(ctx, &row.user_id, &session.session_id);
    answer(
        200,
        &SignedIn {
            user_id: row.user_id,
            name: row.name.unwrap_or_default(),
            passkey_id: Some(row.id),
            credentials,
        },
    )
}
