//! The device-code flow that pairs an anchor with an account (RFC 8628; SPEC §2), and anchor
//! refresh.
//!
//! 1. The anchor asks `POST /auth/device/code` and shows the user code (`XXXX-XXXX`) and the
//!    verification URI (`<public URL>/device`, `?code=` filled in for a QR code or link).
//! 2. The signed-in user enters the code in the web client: `POST /auth/device/lookup` shows what
//!    asked to be paired, `POST /auth/device/authorise {userCode, approve, name?}` answers. On
//!    approval the anchor row is created (named by the user, else by the anchor's request).
//! 3. The anchor polls `POST /auth/device/token {deviceCode}` every `interval` seconds and gets
//!    `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, or, once, its
//!    credentials: an anchor session with an access token (`aud` orbit-anchor, `aid`) and a
//!    refresh token (`ora_…`, 90 days), refreshed at `POST /auth/device/refresh`.
//!
//! The state machine is `orbit_shared::auth::device_code`'s; every transition is stored with a
//! conditional update on the state it was computed from, so concurrent polls or answers cannot
//! both act (only one poll collects the credentials; a code is answered once).

use serde::{Deserialize, Serialize};
use worker::Response;

use orbit_shared::auth::device_code::{
    self, authorise as decide_answer, device_code_hash, poll, DeviceAuthorization, Grant,
    GrantStatus, PollError, PollOutcome, UserCode, UserCodeError, USER_CODE_RANDOM_BYTES,
};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::refresh::RefreshKind;

use super::error::{ApiError, AuthResult};
use super::events::{self, Event, Kind};
use super::rate_limit::enforce;
use super::session::{require_web, rotate, NewSession};
use super::{clip, int, json, opt_text, text, Ctx};
use crate::http::{random_bytes, random_id};

/// Longest anchor name, in bytes.
pub const ANCHOR_NAME_MAX: usize = 64;

/// The path of the web client's code-entry page, under the public URL.
pub const VERIFICATION_PATH: &str = "/device";

/// A display name: trimmed, control characters dropped, cut to [`ANCHOR_NAME_MAX`] bytes; `None`
/// if nothing is left.
pub fn clean_name(input: Option<&str>) -> Option<String> {
    input
        .map(|s| clip(s.trim(), ANCHOR_NAME_MAX).trim().to_string())
        .filter(|s| !s.is_empty())
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CodeBody {
    /// The name the anchor suggests for itself (the user may change it when approving).
    name: Option<String>,
    hostname: Option<String>,
    platform: Option<String>,
}

/// `POST /auth/device/code`: a new grant → `{deviceCode, userCode, verificationUri,
/// verificationUriComplete, expiresIn, interval}`.
pub async fn code(ctx: &Ctx<'_>, body: CodeBody) -> AuthResult<Response> {
    enforce(ctx, Action::DeviceCodeCreation, None).await?;
    let lifetime = ctx.config.device_code_lifetime_s;
    let grant = Grant {
        expires_at: ctx.now_s() + lifetime,
        ..Grant::new(ctx.now_s())
    };
    let verification_uri = format!("{}{VERIFICATION_PATH}", ctx.public_url());
    // A user code clashing with another grant's (1 in 2.56e10 per stored grant; expired ones are
    // swept by `housekeeping`) draws again.
    for _ in 0..4 {
        let Some(user_code) = UserCode::from_random(&random_bytes::<USER_CODE_RANDOM_BYTES>()?)
        else {
            continue;
        };
        let device_code = device_code::device_code(random_bytes()?);
        let inserted = ctx
            .db
            .prepare(
                "INSERT INTO device_grants (device_code_hash, user_code, status, created_at, expires_at, \
                 interval_s, requested_name, hostname, platform) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT DO NOTHING RETURNING user_code",
            )
            .bind(&[
                text(&device_code_hash(&device_code)),
                text(user_code.as_str()),
                text(GrantStatus::Pending.as_str()),
                int(ctx.now_ms),
                int(grant.expires_at * 1000),
                int(grant.interval_s),
                opt_text(clean_name(body.name.as_deref()).as_deref()),
                opt_text(clean_name(body.hostname.as_deref()).as_deref()),
                opt_text(clean_name(body.platform.as_deref()).as_deref()),
            ])?
            .first::<serde_json::Value>(None)
            .await?;
        if inserted.is_some() {
            let mut answer = DeviceAuthorization::new(device_code, &user_code, &verification_uri);
            answer.expires_in = lifetime;
            return json(200, &answer);
        }
    }
    Err(ApiError::new(503, "try_again", "could not allocate a code; try again").into())
}

#[derive(Debug, Deserialize)]
struct GrantRow {
    device_code_hash: String,
    status: String,
    expires_at: u64,
    last_poll_at: Option<u64>,
    interval_s: u64,
    requested_name: Option<String>,
    hostname: Option<String>,
    platform: Option<String>,
}

impl GrantRow {
    fn grant(&self) -> Option<Grant> {
        Some(Grant {
            status: GrantStatus::parse(&self.status)?,
            expires_at: self.expires_at / 1000,
            last_poll_at: self.last_poll_at.map(|ms| ms / 1000),
            interval_s: self.interval_s,
        })
    }
}

const GRANT_COLUMNS: &str = "device_code_hash, status, expires_at, last_poll_at, interval_s, \
     requested_name, hostname, platform";

/// The grant of a user code typed by a signed-in user, after the user-code-entry limit.
async fn grant_by_user_code(
    ctx: &Ctx<'_>,
    user_id: &str,
    input: &str,
) -> AuthResult<(UserCode, GrantRow, Grant)> {
    enforce(ctx, Action::UserCodeEntry, Some(user_id)).await?;
    let refused = |e: UserCodeError| {
        events::record(
            ctx,
            Kind::UserCodeRefused,
            Event {
                user_id: Some(user_id),
                detail: Some(e.code()),
                ..Event::default()
            },
        );
        e
    };
    let code = match UserCode::parse(input) {
        Ok(code) => code,
        Err(e) => return Err(refused(e).into()),
    };
    let row = ctx
        .db
        .prepare(format!(
            "SELECT {GRANT_COLUMNS} FROM device_grants WHERE user_code = ?1"
        ))
        .bind(&[text(code.as_str())])?
        .first::<GrantRow>(None)
        .await?;
    let Some((row, grant)) = row.and_then(|r| r.grant().map(|g| (r, g))) else {
        return Err(refused(UserCodeError::Unknown).into());
    };
    // The same checks an answer makes: expired, already answered or collected.
    if let Err(e) = decide_answer(&grant, ctx.now_s(), true) {
        return Err(refused(e).into());
    }
    Ok((code, row, grant))
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LookupBody {
    user_code: String,
}

/// `POST /auth/device/lookup {userCode}` (signed in): what asked to be paired, before the user
/// approves. Counts as a user-code entry.
pub async fn lookup(ctx: &Ctx<'_>, body: LookupBody) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let (code, row, grant) = grant_by_user_code(ctx, &me.user_id, &body.user_code).await?;
    json(
        200,
        &serde_json::json!({
            "userCode": code.to_string(),
            "name": row.requested_name,
            "hostname": row.hostname,
            "platform": row.platform,
            "expiresIn": grant.expires_at.saturating_sub(ctx.now_s()),
        }),
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AuthoriseBody {
    user_code: String,
    approve: bool,
    /// The anchor's name; defaults to the name it asked for, else its hostname.
    name: Option<String>,
}

/// `POST /auth/device/authorise {userCode, approve, name?}` (signed in): approves (creating the
/// anchor) or denies a pairing request.
pub async fn authorise(ctx: &Ctx<'_>, body: AuthoriseBody) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let (_, row, grant) = grant_by_user_code(ctx, &me.user_id, &body.user_code).await?;
    let answered = decide_answer(&grant, ctx.now_s(), body.approve)?;
    if !body.approve {
        let denied = ctx
            .db
            .prepare(
                "UPDATE device_grants SET status = ?2, user_id = ?3 WHERE device_code_hash = ?1 \
                 AND status = 'pending' AND expires_at > ?4 RETURNING device_code_hash",
            )
            .bind(&[
                text(&row.device_code_hash),
                text(answered.status.as_str()),
                text(&me.user_id),
                int(ctx.now_ms),
            ])?
            .first::<serde_json::Value>(None)
            .await?;
        if denied.is_none() {
            return Err(UserCodeError::AlreadyUsed.into());
        }
        events::record(
            ctx,
            Kind::DeviceDenied,
            Event {
                user_id: Some(&me.user_id),
                ..Event::default()
            },
        );
        return json(200, &serde_json::json!({"status": "denied"}));
    }
    let name = clean_name(body.name.as_deref())
        .or_else(|| row.requested_name.clone())
        .or_else(|| row.hostname.clone())
        .unwrap_or_else(|| "anchor".to_string());
    let anchor_id = random_id(16)?;
    let results = ctx
        .db
        .batch(vec![
            ctx.db
                .prepare(
                    "UPDATE device_grants SET status = ?2, user_id = ?3, anchor_id = ?4, anchor_name = ?5 \
                     WHERE device_code_hash = ?1 AND status = 'pending' AND expires_at > ?6 \
                     RETURNING device_code_hash",
                )
                .bind(&[
                    text(&row.device_code_hash),
                    text(answered.status.as_str()),
                    text(&me.user_id),
                    text(&anchor_id),
                    text(&name),
                    int(ctx.now_ms),
                ])?,
            ctx.db
                .prepare(
                    "INSERT INTO anchors (id, user_id, name, created_at) SELECT ?1, ?2, ?3, ?4 \
                     WHERE EXISTS (SELECT 1 FROM device_grants WHERE device_code_hash = ?5 AND anchor_id = ?1)",
                )
                .bind(&[
                    text(&anchor_id),
                    text(&me.user_id),
                    text(&name),
                    int(ctx.now_ms),
                    text(&row.device_code_hash),
                ])?,
        ])
        .await?;
    let approved = results.first().is_some_and(|r| {
        r.results::<serde_json::Value>()
            .is_ok_and(|rows| !rows.is_empty())
    });
    if !approved {
        return Err(UserCodeError::AlreadyUsed.into());
    }
    events::record(
        ctx,
        Kind::DeviceApproved,
        Event {
            user_id: Some(&me.user_id),
            anchor_id: Some(&anchor_id),
            detail: Some(&name),
            ..Event::default()
        },
    );
    json(
        200,
        &serde_json::json!({"status": "approved", "anchorId": anchor_id, "name": name}),
    )
}

/// An anchor's credentials, as the token and refresh endpoints answer them.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AnchorCredentials<'a> {
    anchor_id: &'a str,
    access_token: String,
    refresh_token: String,
    expires_in: u64,
    refresh_expires_in: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TokenBody {
    device_code: Option<String>,
}

/// `POST /auth/device/token {deviceCode}`: one poll. Errors are RFC 8628's, shaped
/// `{"error": "<code>"}` with status 400.
pub async fn token(ctx: &Ctx<'_>, body: TokenBody) -> AuthResult<Response> {
    let Some(device_code) = body.device_code.filter(|c| !c.is_empty()) else {
        return Err(PollError::InvalidRequest.into());
    };
    if !device_code::is_well_formed_device_code(&device_code) {
        return Err(PollError::InvalidGrant.into());
    }
    let row = ctx
        .db
        .prepare(format!(
            "SELECT {GRANT_COLUMNS} FROM device_grants WHERE device_code_hash = ?1"
        ))
        .bind(&[text(&device_code_hash(&device_code))])?
        .first::<GrantRow>(None)
        .await?;
    let Some((row, grant)) = row.and_then(|r| r.grant().map(|g| (r, g))) else {
        return Err(PollError::InvalidGrant.into());
    };
    let polled = poll(&grant, ctx.now_s());
    match polled.outcome {
        PollOutcome::Approved => collect(ctx, &row).await,
        PollOutcome::Refused(error) => {
            if polled.grant != grant {
                // Record the poll; losing to a concurrent poll means polling too fast.
                let stored = ctx
                    .db
                    .prepare(
                        "UPDATE device_grants SET last_poll_at = ?2, interval_s = ?3 \
                         WHERE device_code_hash = ?1 AND status = ?4 AND last_poll_at IS ?5 \
                         RETURNING device_code_hash",
                    )
                    .bind(&[
                        text(&row.device_code_hash),
                        int(polled.grant.last_poll_at.unwrap_or(0) * 1000),
                        int(polled.grant.interval_s),
                        text(&row.status),
                        row.last_poll_at.map_or(wasm_bindgen::JsValue::NULL, int),
                    ])?
                    .first::<serde_json::Value>(None)
                    .await?;
                if stored.is_none() && error == PollError::AuthorizationPending {
                    return Err(PollError::SlowDown.into());
                }
            }
            Err(error.into())
        }
    }
}

#[derive(Deserialize)]
struct Collected {
    user_id: String,
    anchor_id: String,
}

/// The approved grant is consumed (once) and the anchor's first session created.
async fn collect(ctx: &Ctx<'_>, row: &GrantRow) -> AuthResult<Response> {
    let collected = ctx
        .db
        .prepare(
            "UPDATE device_grants SET status = 'consumed', last_poll_at = ?2 \
             WHERE device_code_hash = ?1 AND status = 'approved' RETURNING user_id, anchor_id",
        )
        .bind(&[text(&row.device_code_hash), int(ctx.now_ms)])?
        .first::<Collected>(None)
        .await?;
    let Some(collected) = collected else {
        return Err(PollError::InvalidGrant.into());
    };
    let session = NewSession::new(ctx, &collected.user_id, Some(&collected.anchor_id))?;
    let credentials = session.create(ctx).await?;
    events::record(
        ctx,
        Kind::DevicePaired,
        Event {
            user_id: Some(&collected.user_id),
            session_id: Some(&session.session_id),
            anchor_id: Some(&collected.anchor_id),
            ..Event::default()
        },
    );
    json(
        200,
        &AnchorCredentials {
            anchor_id: &collected.anchor_id,
            access_token: credentials.access_token,
            refresh_token: credentials.refresh_token,
            expires_in: credentials.expires_in,
            refresh_expires_in: credentials.refresh_expires_in,
        },
    )
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RefreshBody {
    refresh_token: String,
}

/// `POST /auth/device/refresh {refreshToken}`: an anchor's refresh, with rotation and reuse
/// detection (reuse revokes the anchor).
pub async fn refresh(ctx: &Ctx<'_>, body: RefreshBody) -> AuthResult<Response> {
    let rotated = rotate(ctx, &body.refresh_token, RefreshKind::Anchor).await?;
    let anchor_id = rotated.anchor_id.unwrap_or_default();
    json(
        200,
        &AnchorCredentials {
            anchor_id: &anchor_id,
            access_token: rotated.credentials.access_token,
            refresh_token: rotated.credentials.refresh_token,
            expires_in: rotated.credentials.expires_in,
            refresh_expires_in: rotated.credentials.refresh_expires_in,
        },
    )
}
