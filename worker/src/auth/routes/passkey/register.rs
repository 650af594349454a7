//! `POST /auth/passkey/register/options` and `…/verify`: a new account's first passkey, or
//! another passkey for a signed-in user.

use worker::Response;

use orbit_protocol::auth::{
    PasskeyAdded, PasskeyRegisterOptions, PasskeyRegisterOptionsRequest,
    PasskeyRegisterVerifyRequest, SignedIn,
};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::webauthn::{
    base64url, creation_options, verify_registration, NewCredential, RegistrationResponseJson,
    UserInfo,
};

use super::decide;
use super::{
    added, challenge_refused, failure, issue_challenge, relying_party, signed_in, Subject,
};
use crate::auth::ctx::Ctx;
use crate::auth::error::{AuthResult, Failure};
use crate::auth::routes::answer;
use crate::auth::service::accounts::{self, admission, free_name};
use crate::auth::service::caller::{bearer_present, require_web, WebUser};
use crate::auth::service::limits::enforce;
use crate::auth::service::sessions;
use crate::auth::service::step_up::{require_fresh, Change};
use crate::auth::store::challenges::{Ceremony, Taken, Taker};
use crate::auth::store::passkeys::{self, NewPasskey};
use crate::http::random_id;

const CEREMONY: Ceremony = Ceremony::Register;

/// `POST /auth/passkey/register/options`.
///
/// Signed in (`Authorization: Bearer`): options to add a passkey to the account (its existing
/// passkeys excluded). Not signed in: `{name, invite?}` starts a new account, admitted by the
/// same rule as TOTP sign-up.
pub async fn options(ctx: &Ctx<'_>, body: PasskeyRegisterOptionsRequest) -> AuthResult<Response> {
    let rp = relying_party(ctx)?;
    let (user_id, name, new_account, invite_hash, exclude) = if bearer_present(ctx) {
        let me = require_web(ctx).await?;
        // Adding a way in: a stolen access token must not plant the thief's passkey, which
        // would outlive the session's revocation.
        require_fresh(ctx, &me, Change::AddPasskey).await?;
        let (name, existing) = passkeys::registration_context(&ctx.store, &me.user_id).await?;
        decide::room_for_another(existing.len())?;
        let exclude = decide::exclude_list(&existing);
        (me.user_id, name.unwrap_or_default(), false, None, exclude)
    } else {
        let name = free_name(ctx, body.name.as_deref().unwrap_or_default()).await?;
        let invite_hash = admission(ctx, body.invite.as_deref()).await?;
        (random_id(16)?, name, true, invite_hash, Vec::new())
    };
    let (challenge_id, challenge) = issue_challenge(
        ctx,
        CEREMONY,
        Subject {
            user_id: Some(&user_id),
            new_account,
            name: new_account.then_some(name.as_str()),
            invite_hash: invite_hash.as_deref(),
            session_id: None,
        },
    )
    .await?;
    // The user handle is the user id: random, no personal data (WebAuthn §14.6.1).
    let shown = decide::shown_name(&name);
    let options = creation_options(
        &rp,
        &UserInfo {
            id: user_id.as_bytes(),
            name: shown,
            display_name: shown,
        },
        &challenge,
        &exclude,
    );
    answer(
        200,
        &PasskeyRegisterOptions {
            challenge_id,
            new_account,
            name,
            expires_in: ctx.config.passkey_challenge_lifetime_s,
            public_key: serde_json::to_value(&options.public_key)?,
        },
    )
}

/// `POST /auth/passkey/register/verify {challengeId, credential, label?}`.
///
/// For a sign-up: creates the account with this passkey and its first session (201
/// [`SignedIn`], as TOTP sign-up). Signed in: adds the passkey (201 [`PasskeyAdded`]).
pub async fn verify(ctx: &Ctx<'_>, body: PasskeyRegisterVerifyRequest) -> AuthResult<Response> {
    let response: RegistrationResponseJson = decide::credential(body.credential)?;
    let rp = relying_party(ctx)?;
    let me: Option<WebUser> = if bearer_present(ctx) {
        let me = require_web(ctx).await?;
        // Checked again here, before the challenge is spent: the proof may have gone stale
        // since the options.
        require_fresh(ctx, &me, Change::AddPasskey).await?;
        Some(me)
    } else {
        None
    };
    let my_id = me.as_ref().map(|m| m.user_id.as_str());
    enforce(ctx, Action::PasskeySignIn, my_id).await?;
    let taker = my_id.map_or(Taker::NewAccount, Taker::User);
    // Take the challenge and see whether the credential the answer names is registered, in one
    // round trip (the answer is only believed after verification).
    let claimed = response.credential_id().map(base64url::encode).ok();
    let (taken, claimed_exists) =
        passkeys::take_for_registration(&ctx.store, &body.challenge_id, taker, claimed.as_deref())
            .await?;
    let Some(taken) = taken else {
        let refusal = challenge_refused(ctx, &body.challenge_id, CEREMONY, taker, my_id).await?;
        return Err(refusal.into());
    };
    let Some(user_id) = taken.user_id.as_deref() else {
        return Err(Failure::Bug("a registration challenge names no user"));
    };
    let known = decide::known_user(user_id, taken.new_account);
    let credential = match verify_registration(&rp, &taken.bytes, &response) {
        Ok(credential) => credential,
        Err(e) => {
            failure(ctx, CEREMONY, known, e.code());
            return Err(decide::refusal(CEREMONY, &e).into());
        }
    };
    let passkey = decide::new_passkey(
        random_id(16)?,
        user_id.to_string(),
        &credential,
        decide::label(body.label.as_deref()),
    )?;
    if decide::already_registered(claimed_exists, claimed.as_deref(), &passkey.credential_id) {
        let refusal = decide::credential_exists();
        failure(ctx, CEREMONY, known, refusal.code);
        return Err(refusal.into());
    }
    if taken.new_account {
        sign_up(ctx, &taken, &passkey).await
    } else {
        add(ctx, me.as_ref(), &credential, &passkey).await
    }
}

/// A signed-in user's new passkey.
async fn add(
    ctx: &Ctx<'_>,
    me: Option<&WebUser>,
    credential: &NewCredential,
    passkey: &NewPasskey,
) -> AuthResult<Response> {
    passkeys::add(&ctx.store, passkey).await?;
    added(
        ctx,
        &passkey.user_id,
        me.map(|m| m.session_id.as_str()),
        &passkey.id,
    );
    let info = decide::added_info(passkey, &credential.transports, ctx.now_ms);
    answer(201, &PasskeyAdded { passkey: info })
}

/// A new account with this passkey as its first way in, signed in.
async fn sign_up(ctx: &Ctx<'_>, taken: &Taken, passkey: &NewPasskey) -> AuthResult<Response> {
    let name = taken.name.clone().unwrap_or_default();
    let account = accounts::new_account(ctx, &passkey.user_id, &name, taken.invite_hash.as_deref());
    let session = sessions::draw(ctx, &account.user_id, None)?;
    // A name taken since the options were issued makes the batch fail on the unique index:
    // 409 `name_taken`.
    let created = passkeys::create_account(&ctx.store, &account, passkey, &session).await;
    accounts::created(ctx, &account, created)?;
    let credentials = sessions::credentials_of(ctx, &session)?;
    added(
        ctx,
        &account.user_id,
        Some(&session.session_id),
        &passkey.id,
    );
    signed_in(ctx, &account.user_id, &session.session_id);
    answer(
        201,
        &SignedIn {
            user_id: account.user_id,
            name: account.name,
            passkey_id: Some(passkey.id.clone()),
            credentials,
        },
    )
}
