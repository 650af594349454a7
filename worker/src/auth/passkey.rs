//! Passkeys (WebAuthn, SPEC §2): registration for new accounts and signed-in users, discoverable
//! sign-in, and the signed-in user's list and removal.
//!
//! The ceremonies are verified by `orbit_shared::webauthn` (clock-free; this module supplies the
//! challenges, the clock and the storage). The relying party — RP ID, name, allowed origins —
//! comes from configuration only ([`crate::config::Config`]), never from a request header.
//!
//! **Challenges.** Every ceremony starts with an `…/options` call that draws 32 random bytes and
//! stores them in `passkey_challenges` with the ceremony (`register` / `login`), an expiry
//! (5 minutes) and, for registrations, the user the passkey is for. The answer carries a
//! `challengeId` that the matching `…/verify` call sends back; `verify` takes the challenge with
//! one conditional update (`… WHERE used_at IS NULL AND expires_at > now RETURNING …`), so a
//! challenge serves one attempt only — a failed attempt spends it too — and a challenge of the
//! other ceremony, or a registration challenge of another user, is "unknown".
//!
//! **New accounts** go through the same admission as TOTP sign-up
//! ([`accounts::admission`] at `options`, [`NewAccount`] atomically at `verify`): the user id is
//! allocated at `options`, and the users row, the passkey and the first session are written in
//! one batch once the passkey verifies.
//!
//! **Sign-in** is discoverable: `login/options` names no user and allows any credential; `verify`
//! finds the credential by its id and checks that the user handle the authenticator returned is
//! the credential's user (a passkey's user handle is its user's id). The signature counter must
//! increase unless it stays 0 (synced passkeys have none): the stored counter moves with a
//! conditional update before the session is written, so two racing assertions with one counter
//! value (a cloned authenticator) cannot both sign in.
//!
//! Every refusal records a `sign_in_failure` event with the verifier's reason code; nothing a
//! ceremony carries is secret (the private key never leaves the authenticator), and no request
//! body is logged.

use serde::{Deserialize, Serialize};
use worker::{D1PreparedStatement, D1Result, Response};

use orbit_shared::auth::rate_limit::Action;
use orbit_shared::webauthn::{
    base64url, creation_options, request_options, verify_authentication, verify_registration,
    AuthenticationResponseJson, CredentialDescriptorJson, RegistrationResponseJson,
    StoredCredential, UserInfo, WebauthnConfig, WebauthnError,
};

use super::accounts::{self, admission, name_taken, name_taken_error, normalise_name, NewAccount};
use super::error::{ApiError, AuthResult, Failure};
use super::events::{self, Event, Kind};
use super::rate_limit::enforce;
use super::session::{bearer_present, require_web, Credentials, Guard, NewSession, WebUser};
use super::{clip, int, json, opt_text, text, Ctx};
use crate::http::{random_bytes, random_id};

/// Most passkeys one account may have.
pub const MAX_PASSKEYS: u32 = 32;

/// Longest passkey label, in bytes.
pub const LABEL_MAX: usize = 64;

/// How long a challenge row is kept after it expires (so a late `verify` still hears
/// `challenge_expired` rather than `challenge_unknown`), in ms. Older rows are deleted when
/// challenges are issued.
const CHALLENGE_RETENTION_MS: u64 = 60 * 60 * 1000;

/// The two ceremonies, as stored in `passkey_challenges.ceremony`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ceremony {
    Register,
    Login,
}

impl Ceremony {
    fn as_str(self) -> &'static str {
        match self {
            Ceremony::Register => "register",
            Ceremony::Login => "login",
        }
    }

    /// The status of a refused `verify`: a failed sign-in is 401, a refused registration 400.
    fn refusal_status(self) -> u16 {
        match self {
            Ceremony::Register => 400,
            Ceremony::Login => 401,
        }
    }

    /// The prefix of this ceremony's failure events.
    fn event_context(self) -> &'static str {
        match self {
            Ceremony::Register => "passkey registration",
            Ceremony::Login => "passkey",
        }
    }
}

/// The relying party from configuration, or 500 `server_misconfigured`.
fn relying_party(ctx: &Ctx<'_>) -> AuthResult<WebauthnConfig> {
    let config = ctx.config;
    if config.rp_id.is_empty() || config.allowed_origins.is_empty() {
        return Err(ApiError::new(
            500,
            "server_misconfigured",
            "passkeys need an RP ID (ORBIT_RP_ID or ORBIT_PUBLIC_URL) and ORBIT_ALLOWED_ORIGINS",
        )
        .into());
    }
    let mut rp = WebauthnConfig::new(&config.rp_id, &config.rp_name, &config.allowed_origins);
    rp.timeout_ms = u32::try_from(config.passkey_challenge_lifetime_s * 1000).unwrap_or(u32::MAX);
    Ok(rp)
}

/// A WebAuthn refusal as an answer.
fn refusal(ceremony: Ceremony, e: &WebauthnError) -> ApiError {
    ApiError::new(ceremony.refusal_status(), e.code(), &e.to_string())
}

/// Records a failed ceremony (reason code only).
fn failure(ctx: &Ctx<'_>, ceremony: Ceremony, user_id: Option<&str>, code: &str) {
    let detail = format!("{}: {code}", ceremony.event_context());
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

// ---------------------------------------------------------------------------------------------
// Challenges

/// Who a registration challenge is for.
struct Subject<'a> {
    user_id: Option<&'a str>,
    new_account: bool,
    name: Option<&'a str>,
    invite_hash: Option<&'a str>,
}

/// Draws and stores a challenge; returns its id and bytes.
async fn issue_challenge(
    ctx: &Ctx<'_>,
    ceremony: Ceremony,
    subject: Subject<'_>,
) -> AuthResult<(String, [u8; 32])> {
    let challenge = random_bytes::<32>()?;
    let id = random_id(16)?;
    let expires_at = ctx.now_ms + ctx.config.passkey_challenge_lifetime_s * 1000;
    ctx.db
        .batch(vec![
            ctx.db
                .prepare("DELETE FROM passkey_challenges WHERE expires_at <= ?1")
                .bind(&[int(ctx.now_ms.saturating_sub(CHALLENGE_RETENTION_MS))])?,
            ctx.db
                .prepare(
                    "INSERT INTO passkey_challenges \
                     (id, ceremony, challenge, user_id, new_account, name, invite_hash, created_at, expires_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .bind(&[
                    text(&id),
                    text(ceremony.as_str()),
                    text(&base64url::encode(&challenge)),
                    opt_text(subject.user_id),
                    int(u64::from(subject.new_account)),
                    opt_text(subject.name),
                    opt_text(subject.invite_hash),
                    int(ctx.now_ms),
                    int(expires_at),
                ])?,
        ])
        .await?;
    Ok((id, challenge))
}

/// Whose challenge a `verify` may take.
#[derive(Clone, Copy)]
enum Taker<'a> {
    /// A sign-in: anyone (the challenge names nobody).
    Anyone,
    /// A sign-up: only a challenge issued for a new account.
    NewAccount,
    /// A signed-in user adding a passkey: only a challenge issued to this user.
    User(&'a str),
}

#[derive(Deserialize)]
struct ChallengeRow {
    challenge: String,
    user_id: Option<String>,
    new_account: u64,
    name: Option<String>,
    invite_hash: Option<String>,
}

#[derive(Deserialize)]
struct ChallengeState {
    ceremony: String,
    user_id: Option<String>,
    new_account: u64,
    used_at: Option<u64>,
    expires_at: u64,
}

/// A taken challenge.
struct Taken {
    bytes: Vec<u8>,
    user_id: Option<String>,
    new_account: bool,
    name: Option<String>,
    invite_hash: Option<String>,
}

/// The statement that takes challenge `id` for `ceremony` (once, before it expires), to batch
/// with the lookups of a `verify`; read its result with [`take_result`].
fn take_statement(
    ctx: &Ctx<'_>,
    id: &str,
    ceremony: Ceremony,
    taker: Taker<'_>,
) -> AuthResult<D1PreparedStatement> {
    let mut args = vec![text(id), text(ceremony.as_str()), int(ctx.now_ms)];
    let condition = match taker {
        Taker::Anyone => "",
        Taker::NewAccount => " AND new_account = 1",
        Taker::User(user_id) => {
            args.push(text(user_id));
            " AND new_account = 0 AND user_id = ?4"
        }
    };
    Ok(ctx
        .db
        .prepare(format!(
            "UPDATE passkey_challenges SET used_at = ?3 \
             WHERE id = ?1 AND ceremony = ?2 AND used_at IS NULL AND expires_at > ?3{condition} \
             RETURNING challenge, user_id, new_account, name, invite_hash"
        ))
        .bind(&args)?)
}

/// The challenge [`take_statement`] took, or the refusal: `challenge_unknown` (no such
/// challenge for this ceremony and caller), `challenge_used` or `challenge_expired`.
async fn take_result(
    ctx: &Ctx<'_>,
    result: Option<&D1Result>,
    id: &str,
    ceremony: Ceremony,
    taker: Taker<'_>,
) -> AuthResult<Taken> {
    let row = match result {
        Some(result) => result.results::<ChallengeRow>()?.into_iter().next(),
        None => None,
    };
    if let Some(row) = row {
        let bytes = base64url::decode(&row.challenge).ok_or_else(|| {
            Failure::Internal(worker::Error::RustError(
                "a stored challenge is not base64url".into(),
            ))
        })?;
        return Ok(Taken {
            bytes,
            user_id: row.user_id,
            new_account: row.new_account == 1,
            name: row.name,
            invite_hash: row.invite_hash,
        });
    }
    // Why not: only for the answer; the challenge was not taken either way.
    let state = ctx
        .db
        .prepare(
            "SELECT ceremony, user_id, new_account, used_at, expires_at \
             FROM passkey_challenges WHERE id = ?1",
        )
        .bind(&[text(id)])?
        .first::<ChallengeState>(None)
        .await?;
    let status = ceremony.refusal_status();
    let refusal = match state {
        Some(s)
            if s.ceremony == ceremony.as_str()
                && match taker {
                    Taker::Anyone => true,
                    Taker::NewAccount => s.new_account == 1,
                    Taker::User(user_id) => {
                        s.new_account == 0 && s.user_id.as_deref() == Some(user_id)
                    }
                } =>
        {
            if s.used_at.is_some() {
                ApiError::new(
                    status,
                    "challenge_used",
                    "this challenge has been used; ask for new options",
                )
            } else if s.expires_at <= ctx.now_ms {
                ApiError::new(
                    status,
                    "challenge_expired",
                    "this challenge has expired; ask for new options",
                )
            } else {
                // Taken by a concurrent request between the update and this read.
                ApiError::new(
                    status,
                    "challenge_used",
                    "this challenge has been used; ask for new options",
                )
            }
        }
        _ => ApiError::new(
            status,
            "challenge_unknown",
            "no such challenge for this ceremony; ask for new options",
        ),
    };
    Err(refusal.into())
}

// ---------------------------------------------------------------------------------------------
// Registration

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RegisterOptionsBody {
    /// New accounts: the account name to create.
    name: Option<String>,
    /// New accounts while registration is closed: an invite.
    invite: Option<String>,
}

#[derive(Deserialize)]
struct NameRow {
    name: Option<String>,
}

#[derive(Deserialize)]
struct DescriptorRow {
    credential_id: String,
    transports: String,
}

/// `POST /auth/passkey/register/options`.
///
/// Signed in (`Authorization: Bearer`): options to add a passkey to the account (its existing
/// passkeys excluded). Not signed in: `{name, invite?}` starts a new account, admitted by the
/// same rule as TOTP sign-up.
pub async fn register_options(ctx: &Ctx<'_>, body: RegisterOptionsBody) -> AuthResult<Response> {
    let rp = relying_party(ctx)?;
    let (user_id, name, new_account, invite_hash, exclude) = if bearer_present(ctx) {
        let me = require_web(ctx).await?;
        let results = ctx
            .db
            .batch(vec![
                ctx.db
                    .prepare("SELECT name FROM users WHERE id = ?1")
                    .bind(&[text(&me.user_id)])?,
                ctx.db
                    .prepare("SELECT credential_id, transports FROM passkeys WHERE user_id = ?1")
                    .bind(&[text(&me.user_id)])?,
            ])
            .await?;
        let name = results
            .first()
            .and_then(|r| r.results::<NameRow>().ok())
            .and_then(|rows| rows.into_iter().next())
            .and_then(|r| r.name)
            .unwrap_or_default();
        let existing = match results.get(1) {
            Some(r) => r.results::<DescriptorRow>()?,
            None => Vec::new(),
        };
        if existing.len() >= MAX_PASSKEYS as usize {
            return Err(ApiError::new(
                409,
                "too_many_passkeys",
                "this account has as many passkeys as it may have; remove one first",
            )
            .into());
        }
        let exclude = existing
            .iter()
            .filter_map(|r| {
                let id = base64url::decode(&r.credential_id)?;
                let transports: Vec<String> =
                    serde_json::from_str(&r.transports).unwrap_or_default();
                Some(CredentialDescriptorJson::new(&id, &transports))
            })
            .collect();
        (me.user_id, name, false, None, exclude)
    } else {
        let name = normalise_name(body.name.as_deref().unwrap_or_default())?;
        if name_taken(ctx, &name).await? {
            return Err(name_taken_error().into());
        }
        let invite_hash = admission(ctx, body.invite.as_deref()).await?;
        (random_id(16)?, name, true, invite_hash, Vec::new())
    };
    let (challenge_id, challenge) = issue_challenge(
        ctx,
        Ceremony::Register,
        Subject {
            user_id: Some(&user_id),
            new_account,
            name: new_account.then_some(name.as_str()),
            invite_hash: invite_hash.as_deref(),
        },
    )
    .await?;
    // The user handle is the user id: random, no personal data (WebAuthn §14.6.1).
    let shown = if name.is_empty() { "orbit" } else { &name };
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
    let mut answer = serde_json::to_value(&options)?;
    answer["challengeId"] = challenge_id.into();
    answer["newAccount"] = new_account.into();
    answer["name"] = name.into();
    answer["expiresIn"] = ctx.config.passkey_challenge_lifetime_s.into();
    json(200, &answer)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegisterVerifyBody {
    challenge_id: String,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.create()`.
    credential: RegistrationResponseJson,
    /// A name for the passkey in the list ("phone", "laptop"); optional.
    #[serde(default)]
    label: Option<String>,
}

/// A sign-in's answer: who, and the session's credentials.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedIn<'a> {
    user_id: &'a str,
    name: &'a str,
    #[serde(flatten)]
    credentials: Credentials,
    /// The passkey used (sign-in) or created (sign-up).
    passkey_id: &'a str,
}

/// `POST /auth/passkey/register/verify {challengeId, credential, label?}`.
///
/// For a sign-up: creates the account with this passkey and its first session (201 with
/// credentials, as TOTP sign-up). Signed in: adds the passkey (201 `{passkey}`).
pub async fn register_verify(ctx: &Ctx<'_>, body: RegisterVerifyBody) -> AuthResult<Response> {
    let rp = relying_party(ctx)?;
    let me: Option<WebUser> = if bearer_present(ctx) {
        Some(require_web(ctx).await?)
    } else {
        None
    };
    let ceremony = Ceremony::Register;
    enforce(
        ctx,
        Action::PasskeySignIn,
        me.as_ref().map(|m| m.user_id.as_str()),
    )
    .await?;
    let taker = match &me {
        Some(me) => Taker::User(&me.user_id),
        None => Taker::NewAccount,
    };
    // Take the challenge and see whether the credential the answer names is registered, in one
    // round trip (the answer is only believed after verification).
    let claimed = body.credential.credential_id().map(base64url::encode).ok();
    let mut statements = vec![take_statement(ctx, &body.challenge_id, ceremony, taker)?];
    if let Some(credential_id) = &claimed {
        statements.push(
            ctx.db
                .prepare("SELECT 1 AS x FROM passkeys WHERE credential_id = ?1")
                .bind(&[text(credential_id)])?,
        );
    }
    let results = ctx.db.batch(statements).await?;
    let taken = match take_result(ctx, results.first(), &body.challenge_id, ceremony, taker).await {
        Ok(taken) => taken,
        Err(Failure::Api(e)) => {
            failure(
                ctx,
                ceremony,
                me.as_ref().map(|m| m.user_id.as_str()),
                e.code,
            );
            return Err(e.into());
        }
        Err(e) => return Err(e),
    };
    let claimed_exists = results.get(1).is_some_and(|r| {
        r.results::<serde_json::Value>()
            .is_ok_and(|rows| !rows.is_empty())
    });
    let Some(user_id) = taken.user_id.clone() else {
        return Err(
            worker::Error::RustError("a registration challenge names no user".into()).into(),
        );
    };
    let credential = match verify_registration(&rp, &taken.bytes, &body.credential) {
        Ok(credential) => credential,
        Err(e) => {
            let known = (!taken.new_account).then_some(user_id.as_str());
            failure(ctx, ceremony, known, e.code());
            return Err(refusal(ceremony, &e).into());
        }
    };
    let credential_id = base64url::encode(&credential.credential_id);
    // Verification checked that the answer's id is the attested credential's.
    if claimed_exists && claimed.as_deref() == Some(credential_id.as_str()) {
        let known = (!taken.new_account).then_some(user_id.as_str());
        failure(ctx, ceremony, known, "credential_exists");
        return Err(credential_exists().into());
    }
    let passkey_id = random_id(16)?;
    let label = body
        .label
        .as_deref()
        .map(|l| clip(l.trim(), LABEL_MAX))
        .filter(|l| !l.is_empty());
    let insert = ctx
        .db
        .prepare(
            "INSERT INTO passkeys (id, user_id, credential_id, public_key, algorithm, sign_count, \
             user_verified, backup_eligible, backed_up, transports, aaguid, attestation_format, \
             label, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14 \
             WHERE EXISTS (SELECT 1 FROM users WHERE id = ?2) RETURNING id",
        )
        .bind(&[
            text(&passkey_id),
            text(&user_id),
            text(&credential_id),
            text(&base64url::encode(&credential.public_key)),
            wasm_bindgen::JsValue::from_f64(credential.algorithm.cose_id() as f64),
            int(u64::from(credential.sign_count)),
            int(u64::from(credential.user_verified)),
            int(u64::from(credential.backup_eligible)),
            int(u64::from(credential.backed_up)),
            text(&serde_json::to_string(&credential.transports)?),
            text(&credential.aaguid),
            text(&credential.attestation_format),
            opt_text(label.as_deref()),
            int(ctx.now_ms),
        ])?;

    if !taken.new_account {
        let inserted = match insert.first::<serde_json::Value>(None).await {
            Ok(row) => row.is_some(),
            Err(e) => {
                // A racing registration of the same credential: the unique index refused it.
                if credential_registered(ctx, &credential_id).await? {
                    return Err(credential_exists().into());
                }
                return Err(e.into());
            }
        };
        if !inserted {
            return Err(worker::Error::RustError("the passkey's user is gone".into()).into());
        }
        added(
            ctx,
            &user_id,
            me.as_ref().map(|m| m.session_id.as_str()),
            &passkey_id,
        );
        return json(
            201,
            &serde_json::json!({
                "passkey": {
                    "id": passkey_id,
                    "credentialId": credential_id,
                    "label": label,
                    "createdAt": ctx.now_ms,
                    "lastUsedAt": null,
                    "backupEligible": credential.backup_eligible,
                    "backedUp": credential.backed_up,
                    "userVerified": credential.user_verified,
                    "transports": credential.transports,
                    "aaguid": credential.aaguid,
                    "algorithm": credential.algorithm.cose_id(),
                }
            }),
        );
    }

    let account = NewAccount {
        user_id: user_id.clone(),
        name: taken.name.clone().unwrap_or_default(),
        invite_hash: taken.invite_hash.clone(),
    };
    // A name taken since the options were issued makes the batch fail on the unique index;
    // `create` answers 409 `name_taken` then.
    let plan = account.statements(ctx)?;
    let session = NewSession::new(ctx, &user_id, None)?;
    let mut rest = vec![insert];
    rest.extend(session.statements(ctx, Guard::UserExists)?);
    if let Err(e) = account.create(ctx, plan, rest).await {
        if matches!(e, Failure::Internal(_)) && credential_registered(ctx, &credential_id).await? {
            return Err(credential_exists().into());
        }
        return Err(e);
    }
    let credentials = session.credentials(ctx)?;
    added(ctx, &user_id, Some(&session.session_id), &passkey_id);
    signed_in(ctx, &user_id, &session.session_id);
    json(
        201,
        &SignedIn {
            user_id: &user_id,
            name: &account.name,
            credentials,
            passkey_id: &passkey_id,
        },
    )
}

async fn credential_registered(ctx: &Ctx<'_>, credential_id: &str) -> AuthResult<bool> {
    Ok(ctx
        .db
        .prepare("SELECT 1 AS x FROM passkeys WHERE credential_id = ?1")
        .bind(&[text(credential_id)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

fn credential_exists() -> ApiError {
    ApiError::new(
        409,
        "credential_exists",
        "this passkey is already registered",
    )
}

fn added(ctx: &Ctx<'_>, user_id: &str, session_id: Option<&str>, passkey_id: &str) {
    events::record(
        ctx,
        Kind::PasskeyAdded,
        Event {
            user_id: Some(user_id),
            session_id,
            detail: Some(passkey_id),
            ..Event::default()
        },
    );
}

fn signed_in(ctx: &Ctx<'_>, user_id: &str, session_id: &str) {
    events::record(
        ctx,
        Kind::SignIn,
        Event {
            user_id: Some(user_id),
            session_id: Some(session_id),
            detail: Some("passkey"),
            ..Event::default()
        },
    );
}

// ---------------------------------------------------------------------------------------------
// Sign-in

/// `POST /auth/passkey/login/options`: options for a discoverable sign-in (no user named,
/// `allowCredentials` empty).
pub async fn login_options(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let rp = relying_party(ctx)?;
    let (challenge_id, challenge) = issue_challenge(
        ctx,
        Ceremony::Login,
        Subject {
            user_id: None,
            new_account: false,
            name: None,
            invite_hash: None,
        },
    )
    .await?;
    let mut answer = serde_json::to_value(request_options(&rp, &challenge, &[]))?;
    answer["challengeId"] = challenge_id.into();
    answer["expiresIn"] = ctx.config.passkey_challenge_lifetime_s.into();
    json(200, &answer)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginVerifyBody {
    challenge_id: String,
    /// `PublicKeyCredential.toJSON()` of `navigator.credentials.get()`.
    credential: AuthenticationResponseJson,
}

#[derive(Deserialize)]
struct PasskeyRow {
    id: String,
    user_id: String,
    name: Option<String>,
    credential_id: String,
    public_key: String,
    sign_count: u64,
    user_verified: u64,
    backup_eligible: u64,
}

impl PasskeyRow {
    fn stored(&self) -> AuthResult<StoredCredential> {
        let corrupt = || {
            Failure::Internal(worker::Error::RustError(
                "a stored passkey is not base64url".into(),
            ))
        };
        Ok(StoredCredential {
            credential_id: base64url::decode(&self.credential_id).ok_or_else(corrupt)?,
            public_key: base64url::decode(&self.public_key).ok_or_else(corrupt)?,
            sign_count: u32::try_from(self.sign_count).unwrap_or(u32::MAX),
            user_handle: self.user_id.as_bytes().to_vec(),
            user_verified: self.user_verified == 1,
            backup_eligible: self.backup_eligible == 1,
        })
    }
}

/// `POST /auth/passkey/login/verify {challengeId, credential}`: a new web session.
///
/// Refusals are 401 with the verifier's code (`unknown_credential`, `origin_not_allowed`,
/// `rp_id_mismatch`, `challenge_mismatch`, `bad_signature`, `counter_regressed`, …) or the
/// challenge's (`challenge_unknown`, `challenge_used`, `challenge_expired`); 429 when limited.
pub async fn login_verify(ctx: &Ctx<'_>, body: LoginVerifyBody) -> AuthResult<Response> {
    let rp = relying_party(ctx)?;
    let ceremony = Ceremony::Login;
    let named = body.credential.credential_id().map(base64url::encode);
    // Take the challenge and find the credential in one round trip. Every attempt spends its
    // challenge, even one refused by the rate limit below.
    let mut statements = vec![take_statement(
        ctx,
        &body.challenge_id,
        ceremony,
        Taker::Anyone,
    )?];
    if let Ok(credential_id) = &named {
        statements.push(
            ctx.db
                .prepare(
                    "SELECT p.id, p.user_id, u.name, p.credential_id, p.public_key, p.sign_count, \
                     p.user_verified, p.backup_eligible \
                     FROM passkeys p JOIN users u ON u.id = p.user_id WHERE p.credential_id = ?1",
                )
                .bind(&[text(credential_id)])?,
        );
    }
    let results = ctx.db.batch(statements).await?;
    let row = match results.get(1) {
        Some(result) => result.results::<PasskeyRow>()?.into_iter().next(),
        None => None,
    };
    let user_id = row.as_ref().map(|r| r.user_id.as_str());
    // Every attempt counts, per address and (when the credential is known) per account.
    enforce(ctx, Action::PasskeySignIn, user_id).await?;
    let taken = match take_result(
        ctx,
        results.first(),
        &body.challenge_id,
        ceremony,
        Taker::Anyone,
    )
    .await
    {
        Ok(taken) => taken,
        Err(Failure::Api(e)) => {
            failure(ctx, ceremony, user_id, e.code);
            return Err(e.into());
        }
        Err(e) => return Err(e),
    };
    let Some(row) = row else {
        let e = named.err().unwrap_or(WebauthnError::UnknownCredential);
        failure(ctx, ceremony, None, e.code());
        return Err(refusal(ceremony, &e).into());
    };
    let stored = row.stored()?;
    let outcome = match verify_authentication(&rp, &taken.bytes, &stored, &body.credential) {
        Ok(outcome) => outcome,
        Err(e) => {
            failure(ctx, ceremony, Some(&row.user_id), e.code());
            return Err(refusal(ceremony, &e).into());
        }
    };
    // The counter moves only forward (or stays 0), so of two racing assertions with one counter
    // value only one gets here.
    let counted = ctx
        .db
        .prepare(
            "UPDATE passkeys SET sign_count = ?2, backed_up = ?3, last_used_at = ?4 \
             WHERE id = ?1 AND (sign_count < ?2 OR (?2 = 0 AND sign_count = 0)) RETURNING id",
        )
        .bind(&[
            text(&row.id),
            int(u64::from(outcome.sign_count)),
            int(u64::from(outcome.backed_up)),
            int(ctx.now_ms),
        ])?
        .first::<serde_json::Value>(None)
        .await?;
    if counted.is_none() {
        let e = WebauthnError::CounterRegressed;
        failure(ctx, ceremony, Some(&row.user_id), e.code());
        return Err(refusal(ceremony, &e).into());
    }
    let session = NewSession::new(ctx, &row.user_id, None)?;
    let credentials = session.create(ctx).await?;
    signed_in(ctx, &row.user_id, &session.session_id);
    json(
        200,
        &SignedIn {
            user_id: &row.user_id,
            name: row.name.as_deref().unwrap_or_default(),
            credentials,
            passkey_id: &row.id,
        },
    )
}

// ---------------------------------------------------------------------------------------------
// The signed-in user's passkeys

#[derive(Deserialize)]
struct ListRow {
    id: String,
    credential_id: String,
    label: Option<String>,
    created_at: u64,
    last_used_at: Option<u64>,
    backup_eligible: u64,
    backed_up: u64,
    user_verified: u64,
    transports: String,
    aaguid: String,
    algorithm: i64,
}

/// `GET /auth/passkeys`: the caller's passkeys, oldest first.
pub async fn list(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let rows = ctx
        .db
        .prepare(
            "SELECT id, credential_id, label, created_at, last_used_at, backup_eligible, \
             backed_up, user_verified, transports, aaguid, algorithm \
             FROM passkeys WHERE user_id = ?1 ORDER BY created_at, id",
        )
        .bind(&[text(&me.user_id)])?
        .all()
        .await?
        .results::<ListRow>()?;
    let passkeys: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|r| {
            let transports: Vec<String> = serde_json::from_str(&r.transports).unwrap_or_default();
            serde_json::json!({
                "id": r.id,
                "credentialId": r.credential_id,
                "label": r.label,
                "createdAt": r.created_at,
                "lastUsedAt": r.last_used_at,
                "backupEligible": r.backup_eligible == 1,
                "backedUp": r.backed_up == 1,
                "userVerified": r.user_verified == 1,
                "transports": transports,
                "aaguid": r.aaguid,
                "algorithm": r.algorithm,
            })
        })
        .collect();
    json(200, &serde_json::json!({ "passkeys": passkeys }))
}

/// `DELETE /auth/passkeys/{id}`: removes one of the caller's passkeys, unless it is the
/// account's last way to sign in (409 `last_sign_in_method`). Another user's passkey is "not
/// found".
pub async fn remove(ctx: &Ctx<'_>, passkey_id: &str) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let not_found = || ApiError::not_found("passkey_not_found", "you have no such passkey");
    let last = || {
        ApiError::new(
            409,
            "last_sign_in_method",
            "this passkey is this account's only way to sign in; add another before removing it",
        )
    };
    let mine = ctx
        .db
        .prepare("SELECT 1 AS x FROM passkeys WHERE id = ?1 AND user_id = ?2")
        .bind(&[text(passkey_id), text(&me.user_id)])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some();
    if !mine {
        return Err(not_found().into());
    }
    if accounts::ways_in(ctx, &me.user_id).await?.count() <= 1 {
        return Err(last().into());
    }
    // The same rule inside the delete ([`accounts::WaysIn::count`] > 1), so two removals racing
    // for the last two ways in cannot both succeed.
    let removed = ctx
        .db
        .prepare(
            "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2 \
             AND (SELECT COUNT(*) FROM passkeys WHERE user_id = ?2) \
               + (SELECT COUNT(*) FROM totp WHERE user_id = ?2) > 1 RETURNING id",
        )
        .bind(&[text(passkey_id), text(&me.user_id)])?
        .first::<serde_json::Value>(None)
        .await?;
    if removed.is_none() {
        return Err(last().into());
    }
    events::record(
        ctx,
        Kind::PasskeyRemoved,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            detail: Some(passkey_id),
            ..Event::default()
        },
    );
    json(200, &serde_json::json!({ "removed": true }))
}
