//! The decisions of the passkey routes, as pure functions: no D1, no clock, no randomness, no
//! JavaScript — so they run, and are tested, natively (`cargo test -p orbit-worker`). The
//! handlers in [`super::register`], [`super::login`] and [`super::manage`] gather the inputs
//! (rows, the caller, the instant) and carry the outcome out.

use serde::de::DeserializeOwned;

use orbit_protocol::auth::{PasskeyInfo, SignInMethods};
use orbit_protocol::ErrorCode;
use orbit_shared::auth::names::clip;
use orbit_shared::webauthn::{
    base64url, CredentialDescriptorJson, NewCredential, WebauthnConfig, WebauthnError,
};

use crate::auth::error::ApiError;
use crate::auth::store::challenges::{Ceremony, ChallengeState, Taker};
use crate::auth::store::passkeys::{DescriptorRow, NewPasskey, PasskeyRow, RegisterError};
use crate::config::Config;

/// Most passkeys one account may have.
pub const MAX_PASSKEYS: usize = 32;

/// Longest passkey label, in bytes.
pub const LABEL_MAX: usize = 64;

/// The status of a refused `verify`: a failed sign-in is 401, a refused registration 400 (the
/// one place where a code's status depends on where it is answered).
pub fn refusal_status(ceremony: Ceremony) -> u16 {
    match ceremony {
        Ceremony::Register => 400,
        Ceremony::Login | Ceremony::StepUp => 401,
    }
}

/// The reason of a failed ceremony's `sign_in_failure` event: `passkey: bad_signature`,
/// `passkey registration: origin_not_allowed`.
pub fn failure_detail(ceremony: Ceremony, code: ErrorCode) -> String {
    let context = match ceremony {
        Ceremony::Register => "passkey registration",
        Ceremony::Login => "passkey",
        Ceremony::StepUp => "passkey step-up",
    };
    format!("{context}: {code}")
}

/// A verifier's refusal as an answer.
pub fn refusal(ceremony: Ceremony, e: &WebauthnError) -> ApiError {
    ApiError::with_status(refusal_status(ceremony), e.code(), e.to_string())
}

/// The relying party from configuration (never from the request), or 500
/// `server_misconfigured`. The options' `timeout` is the challenge's life.
pub fn relying_party(config: &Config) -> Result<WebauthnConfig, ApiError> {
    if config.rp_id.is_empty() || config.allowed_origins.is_empty() {
        return Err(ApiError::new(
            ErrorCode::ServerMisconfigured,
            "passkeys need an RP ID (ORBIT_RP_ID or ORBIT_PUBLIC_URL) and ORBIT_ALLOWED_ORIGINS",
        ));
    }
    let mut rp = WebauthnConfig::new(&config.rp_id, &config.rp_name, &config.allowed_origins);
    rp.timeout_ms =
        u32::try_from(config.passkey_challenge_lifetime_s.saturating_mul(1000)).unwrap_or(u32::MAX);
    Ok(rp)
}

/// The browser's answer (`PublicKeyCredential.toJSON()`), read from the request body's
/// `credential`; a malformed one is a bad request body, as any other.
pub fn credential<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_json::from_value(value)
        .map_err(|e| ApiError::bad_request(format!("bad request body: credential: {e}")))
}

/// Why a challenge could not be taken, from its stored state: `challenge_unknown` (no such
/// challenge for this ceremony and caller, which leaves someone else's alone),
/// `challenge_used`, or `challenge_expired`.
pub fn challenge_refusal(
    ceremony: Ceremony,
    taker: Taker<'_>,
    state: Option<&ChallengeState>,
    now_ms: u64,
) -> ApiError {
    let status = refusal_status(ceremony);
    let used = || {
        ApiError::with_status(
            status,
            ErrorCode::ChallengeUsed,
            "this challenge has been used; ask for new options",
        )
    };
    let theirs = state.filter(|s| {
        s.ceremony == ceremony.as_str()
            && match taker {
                Taker::Anyone => true,
                Taker::NewAccount => s.new_account == 1,
                Taker::User(user_id) => s.new_account == 0 && s.user_id.as_deref() == Some(user_id),
                Taker::Session {
                    user_id,
                    session_id,
                } => {
                    s.new_account == 0
                        && s.user_id.as_deref() == Some(user_id)
                        && s.session_id.as_deref() == Some(session_id)
                }
            }
    });
    match theirs {
        None => ApiError::with_status(
            status,
            ErrorCode::ChallengeUnknown,
            "no such challenge for this ceremony; ask for new options",
        ),
        Some(s) if s.used_at.is_some() => used(),
        Some(s) if s.expires_at <= now_ms => ApiError::with_status(
            status,
            ErrorCode::ChallengeExpired,
            "this challenge has expired; ask for new options",
        ),
        // Taken by a concurrent request between the take and this read.
        Some(_) => used(),
    }
}

/// 409 `too_many_passkeys` when an account with `existing` passkeys may not add another.
pub fn room_for_another(existing: usize) -> Result<(), ApiError> {
    if existing >= MAX_PASSKEYS {
        return Err(ApiError::new(
            ErrorCode::TooManyPasskeys,
            "this account has as many passkeys as it may have; remove one first",
        ));
    }
    Ok(())
}

/// The account's passkeys as credential descriptors: `excludeCredentials` of a registration, so
/// one authenticator is not registered twice, and `allowCredentials` of a step-up, so the
/// browser offers this account's passkeys only; a row that does not read is left out.
pub fn exclude_list(rows: &[DescriptorRow]) -> Vec<CredentialDescriptorJson> {
    rows.iter()
        .filter_map(|r| {
            let id = base64url::decode(&r.credential_id)?;
            let transports: Vec<String> = serde_json::from_str(&r.transports).unwrap_or_default();
            Some(CredentialDescriptorJson::new(&id, &transports))
        })
        .collect()
}

/// The name authenticators show for a new passkey (`user.name`): the account's, or `orbit` for
/// a user without one (a development user).
pub fn shown_name(name: &str) -> &str {
    if name.is_empty() {
        "orbit"
    } else {
        name
    }
}

/// A passkey's label as stored: trimmed, cut to [`LABEL_MAX`] bytes, none if empty.
pub fn label(input: Option<&str>) -> Option<String> {
    input
        .map(|l| clip(l.trim(), LABEL_MAX))
        .filter(|l| !l.is_empty())
}

/// Whom a registration's events name: the signed-in user adding a passkey, but nobody for a
/// sign-up (its account does not exist).
pub fn known_user(user_id: &str, new_account: bool) -> Option<&str> {
    (!new_account).then_some(user_id)
}

/// 409 `credential_exists`: a credential id belongs to one account.
pub fn credential_exists() -> ApiError {
    ApiError::new(
        ErrorCode::CredentialExists,
        RegisterError::CredentialExists.to_string(),
    )
}

/// Whether the verified credential is one the batch found registered already: the answer's
/// claimed id is believed only once verification has tied it to the attested credential.
pub fn already_registered(
    claimed_exists: bool,
    claimed: Option<&str>,
    credential_id: &str,
) -> bool {
    claimed_exists && claimed == Some(credential_id)
}

/// The row to store for a verified registration.
pub fn new_passkey(
    id: String,
    user_id: String,
    credential: &NewCredential,
    label: Option<String>,
) -> serde_json::Result<NewPasskey> {
    Ok(NewPasskey {
        id,
        user_id,
        credential_id: base64url::encode(&credential.credential_id),
        public_key: base64url::encode(&credential.public_key),
        algorithm: credential.algorithm.cose_id(),
        sign_count: credential.sign_count,
        user_verified: credential.user_verified,
        backup_eligible: credential.backup_eligible,
        backed_up: credential.backed_up,
        transports: serde_json::to_string(&credential.transports)?,
        aaguid: credential.aaguid.clone(),
        attestation_format: credential.attestation_format.clone(),
        label,
    })
}

/// A passkey just added, as the list shows it.
pub fn added_info(passkey: &NewPasskey, transports: &[String], now_ms: u64) -> PasskeyInfo {
    PasskeyInfo {
        id: passkey.id.clone(),
        credential_id: passkey.credential_id.clone(),
        label: passkey.label.clone(),
        created_at: now_ms,
        last_used_at: None,
        backup_eligible: passkey.backup_eligible,
        backed_up: passkey.backed_up,
        user_verified: passkey.user_verified,
        transports: transports.to_vec(),
        aaguid: passkey.aaguid.clone(),
        algorithm: passkey.algorithm,
    }
}

/// The credential a sign-in names, or why not: the answer's own fault (`wrong_type`,
/// `unknown_credential` for a malformed id), else `unknown_credential`.
pub fn signing_credential(
    named: Result<(), WebauthnError>,
    row: Option<PasskeyRow>,
) -> Result<PasskeyRow, WebauthnError> {
    match row {
        Some(row) => Ok(row),
        None => Err(named.err().unwrap_or(WebauthnError::UnknownCredential)),
    }
}

/// The credential a step-up names, which must be `user_id`'s own: another account's passkey
/// proves nothing about this session, and is as unknown to it as none.
pub fn own_credential(
    named: Result<(), WebauthnError>,
    row: Option<PasskeyRow>,
    user_id: &str,
) -> Result<PasskeyRow, WebauthnError> {
    signing_credential(named, row.filter(|r| r.user_id == user_id))
}

/// 404 `passkey_not_found` when an account has no passkey to step up with.
pub fn has_passkeys(existing: usize) -> Result<(), ApiError> {
    if existing == 0 {
        return Err(ApiError::new(
            ErrorCode::PasskeyNotFound,
            "this account has no passkey; confirm with a TOTP code instead",
        ));
    }
    Ok(())
}

/// 404 `passkey_not_found` unless the passkey is the caller's (another user's is as good as
/// none).
pub fn ensure_owned(mine: bool) -> Result<(), ApiError> {
    if mine {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PasskeyNotFound,
            "you have no such passkey",
        ))
    }
}

/// 409 `last_sign_in_method` when removing one passkey would leave an account with `ways` ways
/// in without any.
pub fn ensure_not_last(ways: SignInMethods) -> Result<(), ApiError> {
    if ways.count() <= 1 {
        return Err(last_way_in());
    }
    Ok(())
}

/// 409 `last_sign_in_method`: also the answer when the delete's own re-check refuses.
pub fn last_way_in() -> ApiError {
    ApiError::new(
        ErrorCode::LastSignInMethod,
        "this passkey is this account's only way to sign in; add another before removing it",
    )
}

#[cfg(test)]
mod tests;
