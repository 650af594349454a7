//! Security events (SPEC §2 "Abuse"): sign-ins and their failures, account creation, token
//! reuse, revocations, pairing. Each is one JSON log line (`console_log`, so it reaches
//! `wrangler tail` / Workers Logs) and a row in `security_events`, which the user can read back
//! (`GET /auth/security-events`).
//!
//! What an event may hold is fixed by [`Event`]'s fields: ids, the client address, an account
//! name and a short reason. Never a token, code, secret or invite: the type has no place for one.

use serde::{Deserialize, Serialize};
use worker::Response;

use super::error::AuthResult;
use super::{int, json, opt_text, session, text, Ctx};

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    SignIn,
    SignInFailure,
    AccountCreated,
    RegistrationRefused,
    TotpEnabled,
    TotpDisabled,
    PasskeyAdded,
    PasskeyRemoved,
    RefreshReuse,
    SessionRevoked,
    Logout,
    AnchorRevoked,
    AnchorRenamed,
    DevicePaired,
    DeviceApproved,
    DeviceDenied,
    UserCodeRefused,
    InviteCreated,
    RateLimited,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SignIn => "sign_in",
            Kind::SignInFailure => "sign_in_failure",
            Kind::AccountCreated => "account_created",
            Kind::RegistrationRefused => "registration_refused",
            Kind::TotpEnabled => "totp_enabled",
            Kind::TotpDisabled => "totp_disabled",
            Kind::PasskeyAdded => "passkey_added",
            Kind::PasskeyRemoved => "passkey_removed",
            Kind::RefreshReuse => "refresh_reuse",
            Kind::SessionRevoked => "session_revoked",
            Kind::Logout => "logout",
            Kind::AnchorRevoked => "anchor_revoked",
            Kind::AnchorRenamed => "anchor_renamed",
            Kind::DevicePaired => "device_paired",
            Kind::DeviceApproved => "device_approved",
            Kind::DeviceDenied => "device_denied",
            Kind::UserCodeRefused => "user_code_refused",
            Kind::InviteCreated => "invite_created",
            Kind::RateLimited => "rate_limited",
        }
    }
}

/// The facts of one event. `detail` is a short fixed reason (an error code, a method name, an
/// account name), never user-supplied secret material.
#[derive(Debug, Clone, Default)]
pub struct Event<'a> {
    pub user_id: Option<&'a str>,
    pub session_id: Option<&'a str>,
    pub anchor_id: Option<&'a str>,
    pub detail: Option<&'a str>,
}

/// Logs `kind` now and stores it after the answer. A failure to store is logged and otherwise
/// ignored: an event must never turn a sign-in or a revocation into an error.
pub fn record(ctx: &Ctx<'_>, kind: Kind, event: Event<'_>) {
    let line = serde_json::json!({
        "security": kind.as_str(),
        "at": ctx.now_ms,
        "userId": event.user_id,
        "sessionId": event.session_id,
        "anchorId": event.anchor_id,
        "address": ctx.address,
        "detail": event.detail,
    });
    worker::console_log!("{line}");
    let row = [
        int(ctx.now_ms),
        text(kind.as_str()),
        opt_text(event.user_id),
        opt_text(event.session_id),
        opt_text(event.anchor_id),
        text(&ctx.address),
        opt_text(event.detail),
    ];
    ctx.background(move |env| async move {
        let stored = async {
            env.d1("DB")?
                .prepare(
                    "INSERT INTO security_events (at, kind, user_id, session_id, anchor_id, address, detail) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(&row)?
                .run()
                .await
        };
        if let Err(e) = stored.await {
            worker::console_error!("storing a security event failed: {e}");
        }
    });
}

#[derive(Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
struct Row {
    at: u64,
    kind: String,
    #[serde(rename(deserialize = "session_id"))]
    session_id: Option<String>,
    #[serde(rename(deserialize = "anchor_id"))]
    anchor_id: Option<String>,
    address: Option<String>,
    detail: Option<String>,
}

/// `GET /auth/security-events`: the signed-in user's 100 latest events, newest first.
pub async fn list(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = session::require_web(ctx).await?;
    let rows = ctx
        .db
        .prepare(
            "SELECT at, kind, session_id, anchor_id, address, detail FROM security_events \
             WHERE user_id = ?1 ORDER BY at DESC, id DESC LIMIT 100",
        )
        .bind(&[text(&me.user_id)])?
        .all()
        .await?
        .results::<Row>()?;
    json(200, &serde_json::json!({ "events": rows }))
}
