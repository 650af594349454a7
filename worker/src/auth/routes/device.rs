//! The device-code flow that pairs an anchor with an account (RFC 8628; SPEC §2), and anchor
//! refresh.
//!
//! 1. The anchor asks `POST /auth/device/code` and shows the user code (`XXXX-XXXX`) and the
//!    verification URI (`<public URL>/device`; `?link=<token>` added for a QR code or link).
//! 2. The signed-in user enters the code in the web client, or opens the link (`?link=`, a
//!    token that names the grant without carrying the code): `POST /auth/device/lookup` shows
//!    what asked to be paired and where from (`request.cf` and the address, recorded at step
//!    1), `POST /auth/device/authorise {userCode | link, confirm?, approve, name?}` answers. An
//!    approval by link must carry the code's first characters, typed from the terminal. On
//!    approval the anchor row is created (named by the user, else by the anchor's request), and
//!    the user's hub is told, so connected clients see the new anchor under that name.
//! 3. The anchor polls `POST /auth/device/token {deviceCode}` every `interval` seconds and gets
//!    `authorization_pending`, `slow_down`, `access_denied`, `expired_token`, or, once, its
//!    credentials: an anchor session with an access token (`aud` orbit-anchor, `aid`) and a
//!    refresh token (`ora_…`, 90 days), refreshed at `POST /auth/device/refresh`.
//!
//! The state machine is `orbit_shared::auth::device_code`'s; the stored transitions are
//! [`crate::auth::store::device`]'s conditional updates.

use worker::Response;

use orbit_protocol::auth::{
    AnchorCredentials, DeviceAuthoriseRequest, DeviceAuthorised, DeviceCodeRequest, DeviceLookup,
    DeviceLookupRequest, DeviceTokenRequest, RefreshRequest, SecurityEventKind,
};
use orbit_protocol::ErrorCode;
use orbit_shared::auth::device_code::{
    self, authorise as decide_answer, authorization, confirm_answer, device_code_hash,
    is_well_formed_link_token, link_hash, link_token, poll, Grant, PollError, PollOutcome,
    UserCode, UserCodeError, USER_CODE_RANDOM_BYTES,
};
use orbit_shared::auth::names::{display_name, ANCHOR_NAME_MAX};
use orbit_shared::auth::rate_limit::Action;
use orbit_shared::auth::refresh::RefreshKind;

use super::answer;
use crate::auth::ctx::Ctx;
use crate::auth::error::{ApiError, AuthResult};
use crate::auth::service::audit::{self, Event};
use crate::auth::service::caller::require_web;
use crate::auth::service::limits::{self, enforce};
use crate::auth::service::refresh::rotate;
use crate::auth::service::sessions;
use crate::auth::service::step_up::{require_fresh, Change};
use crate::auth::store::accounts;
use crate::auth::store::device::{self as grants, GrantRow, NewGrant};
use crate::http::{random_bytes, random_id};
use crate::hub;

/// The path of the web client's code-entry page, under the public URL.
pub const VERIFICATION_PATH: &str = "/device";

/// What the anchor says about itself, as stored: trimmed, cut, empty as none.
fn described(input: Option<&str>) -> Option<String> {
    display_name(input, ANCHOR_NAME_MAX)
}

/// `POST /auth/device/code`: a new grant.
pub async fn code(ctx: &Ctx<'_>, body: DeviceCodeRequest) -> AuthResult<Response> {
    enforce(ctx, Action::DeviceCodeCreation, None).await?;
    let lifetime = ctx.config.device_code_lifetime_s;
    let grant = Grant {
        expires_at: ctx.now_s() + lifetime,
        ..Grant::new(ctx.now_s())
    };
    let verification_uri = format!("{}{VERIFICATION_PATH}", ctx.public_url());
    let requested_name = described(body.name.as_deref());
    let hostname = described(body.hostname.as_deref());
    let platform = described(body.platform.as_deref());
    // A user code clashing with another grant's (1 in 2.56e10 per stored grant; expired ones are
    // swept by housekeeping) draws again.
    for _ in 0..4 {
        let Some(user_code) = UserCode::from_random(&random_bytes::<USER_CODE_RANDOM_BYTES>()?)
        else {
            continue;
        };
        let device_code = device_code::device_code(random_bytes()?);
        let link = link_token(random_bytes()?);
        let inserted = grants::insert(
            &ctx.store,
            &NewGrant {
                device_code_hash: &device_code_hash(&device_code),
                user_code: user_code.as_str(),
                grant: &grant,
                requested_name: requested_name.as_deref(),
                hostname: hostname.as_deref(),
                platform: platform.as_deref(),
                origin: &ctx.request_origin,
                link_hash: &link_hash(&link),
            },
        )
        .await?;
        if inserted {
            let mut answer_body = authorization(device_code, &user_code, &link, &verification_uri);
            answer_body.expires_in = lifetime;
            return answer(200, &answer_body);
        }
    }
    Err(ApiError::new(ErrorCode::TryAgain, "could not allocate a code; try again").into())
}

/// How a page named a grant: by the code the user typed, or by the link token of
/// `verification_uri_complete` (then the user may only have clicked what someone sent them).
enum Named<'a> {
    Typed(&'a str),
    Link(&'a str),
}

impl<'a> Named<'a> {
    fn new(user_code: &'a str, link: Option<&'a str>) -> Self {
        match link {
            Some(token) => Named::Link(token),
            None => Named::Typed(user_code),
        }
    }

    fn via_link(&self) -> bool {
        matches!(self, Named::Link(_))
    }
}

/// The grant a signed-in user named, after the user-code-entry limit; a refused code is a
/// security event.
async fn named_grant(
    ctx: &Ctx<'_>,
    user_id: &str,
    named: &Named<'_>,
) -> AuthResult<(UserCode, GrantRow, Grant)> {
    enforce(ctx, Action::UserCodeEntry, Some(user_id)).await?;
    let found = async {
        let row = match named {
            Named::Typed(input) => {
                let code = UserCode::parse(input)?;
                grants::by_user_code(&ctx.store, code.as_str()).await?
            }
            Named::Link(token) if is_well_formed_link_token(token) => {
                grants::by_link_hash(&ctx.store, &link_hash(token)).await?
            }
            Named::Link(_) => None,
        };
        let Some((row, grant)) = row.and_then(|r| r.grant().map(|g| (r, g))) else {
            return Err(UserCodeError::Unknown.into());
        };
        let Ok(code) = UserCode::parse(&row.user_code) else {
            return Err(UserCodeError::Unknown.into());
        };
        // The same checks an answer makes: expired, already answered or collected.
        decide_answer(&grant, ctx.now_s(), true)?;
        AuthResult::Ok((code, row, grant))
    };
    let found = found.await;
    if let Err(e) = &found {
        if let Some(code) = e.refusal_code() {
            audit::record(
                ctx,
                SecurityEventKind::UserCodeRefused,
                Event {
                    user_id: Some(user_id),
                    detail: Some(code.as_str()),
                    ..Event::default()
                },
            );
        }
    }
    found
}

/// Records a refused confirmation like a refused code.
fn confirmed(
    ctx: &Ctx<'_>,
    user_id: &str,
    code: &UserCode,
    named: &Named<'_>,
    body: &DeviceAuthoriseRequest,
) -> AuthResult<()> {
    let checked = confirm_answer(
        code,
        named.via_link(),
        body.approve,
        body.confirm.as_deref(),
    );
    if let Err(e) = checked {
        audit::record(
            ctx,
            SecurityEventKind::UserCodeRefused,
            Event {
                user_id: Some(user_id),
                detail: Some(e.code().as_str()),
                ..Event::default()
            },
        );
    }
    Ok(checked?)
}

/// `POST /auth/device/lookup {userCode | link}` (signed in): what asked to be paired and from
/// where, before the user approves. Counts as a user-code entry. Named by a link, the answer
/// holds only the code's end: its first characters are for the user to type.
pub async fn lookup(ctx: &Ctx<'_>, body: DeviceLookupRequest) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let named = Named::new(&body.user_code, body.link.as_deref());
    let (code, row, grant) = named_grant(ctx, &me.user_id, &named).await?;
    answer(
        200,
        &DeviceLookup {
            user_code: (!named.via_link()).then(|| code.to_string()),
            code_end: code.end().to_string(),
            origin: row.origin(),
            name: row.requested_name,
            hostname: row.hostname,
            platform: row.platform,
            requested_at: row.created_at,
            expires_in: grant.expires_at.saturating_sub(ctx.now_s()),
        },
    )
}

/// `POST /auth/device/authorise {userCode, approve, name?}` (signed in): approves (creating the
/// anchor) or denies a pairing request.
pub async fn authorise(ctx: &Ctx<'_>, body: DeviceAuthoriseRequest) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    // Approving mints a 90-day anchor credential: a stale session must prove itself first. A
    // denial only protects, and needs nothing more.
    if body.approve {
        require_fresh(ctx, &me, Change::ApproveDevice).await?;
    }
    let named = Named::new(&body.user_code, body.link.as_deref());
    let (code, row, grant) = named_grant(ctx, &me.user_id, &named).await?;
    decide_answer(&grant, ctx.now_s(), body.approve)?;
    confirmed(ctx, &me.user_id, &code, &named, &body)?;
    if !body.approve {
        if !grants::deny(&ctx.store, &row.device_code_hash, &me.user_id).await? {
            return Err(UserCodeError::AlreadyUsed.into());
        }
        audit::record(
            ctx,
            SecurityEventKind::DeviceDenied,
            Event {
                user_id: Some(&me.user_id),
                ..Event::default()
            },
        );
        return answer(200, &DeviceAuthorised::Denied);
    }
    let name = described(body.name.as_deref())
        .or_else(|| row.requested_name.clone())
        .or_else(|| row.hostname.clone())
        .unwrap_or_else(|| "anchor".to_string());
    let anchor_id = random_id(16)?;
    if !grants::approve(
        &ctx.store,
        &row.device_code_hash,
        &me.user_id,
        &anchor_id,
        &name,
    )
    .await?
    {
        return Err(UserCodeError::AlreadyUsed.into());
    }
    // Clients already connected see the new anchor, by the name it was approved with.
    hub::announce_anchors_changed(ctx.env, &me.user_id).await;
    audit::record(
        ctx,
        SecurityEventKind::DeviceApproved,
        Event {
            user_id: Some(&me.user_id),
            anchor_id: Some(&anchor_id),
            detail: Some(&name),
            ..Event::default()
        },
    );
    answer(200, &DeviceAuthorised::Approved { anchor_id, name })
}

/// `POST /auth/device/token {deviceCode}`: one poll. Errors are RFC 8628's, shaped
/// `{"error": "<code>"}` with status 400. An address polling faster than the poll limit
/// (`device_token_poll`) hears `slow_down` (RFC 8628 §3.5: the client adds 5 s to its interval),
/// with `Retry-After`, before any grant is looked up.
pub async fn token(ctx: &Ctx<'_>, body: DeviceTokenRequest) -> AuthResult<Response> {
    let keys = limits::keys(
        &ctx.config.rate_limits,
        Action::DeviceTokenPoll,
        Some(&ctx.address),
        None,
    );
    if let Err(limited) = limits::spend(&ctx.store, &keys).await? {
        audit::refused(ctx, Action::DeviceTokenPoll);
        let slow_down: ApiError = PollError::SlowDown.into();
        return Err(slow_down.retry_after(limited.retry_after_header()).into());
    }
    let Some(device_code) = body.device_code.filter(|c| !c.is_empty()) else {
        return Err(PollError::InvalidRequest.into());
    };
    if !device_code::is_well_formed_device_code(&device_code) {
        return Err(PollError::InvalidGrant.into());
    }
    let row = grants::by_device_code_hash(&ctx.store, &device_code_hash(&device_code)).await?;
    let Some((row, grant)) = row.and_then(|r| r.grant().map(|g| (r, g))) else {
        return Err(PollError::InvalidGrant.into());
    };
    let polled = poll(&grant, ctx.now_s());
    match polled.outcome {
        PollOutcome::Approved => collect(ctx, &row).await,
        PollOutcome::Refused(error) => {
            // Record the poll; losing to a concurrent poll means polling too fast.
            if polled.grant != grant
                && !grants::record_poll(&ctx.store, &row, &polled.grant).await?
                && error == PollError::AuthorizationPending
            {
                return Err(PollError::SlowDown.into());
            }
            Err(error.into())
        }
    }
}

/// The approved grant is consumed (once) and the anchor's first session created.
async fn collect(ctx: &Ctx<'_>, row: &GrantRow) -> AuthResult<Response> {
    let Some(collected) = grants::collect(&ctx.store, &row.device_code_hash).await? else {
        return Err(PollError::InvalidGrant.into());
    };
    let (session, credentials) =
        sessions::open(ctx, &collected.user_id, Some(&collected.anchor_id)).await?;
    // The grant is spent: a failed read of the name must not cost the anchor its credentials,
    // so it falls back to the id.
    let account = accounts::name_of(&ctx.store, &collected.user_id)
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| collected.user_id.clone());
    audit::record(
        ctx,
        SecurityEventKind::DevicePaired,
        Event {
            user_id: Some(&collected.user_id),
            session_id: Some(&session.session_id),
            anchor_id: Some(&collected.anchor_id),
            ..Event::default()
        },
    );
    answer(
        200,
        &AnchorCredentials {
            anchor_id: collected.anchor_id,
            access_token: credentials.access_token,
            refresh_token: credentials.refresh_token,
            expires_in: credentials.expires_in,
            refresh_expires_in: credentials.refresh_expires_in,
            account: Some(account),
        },
    )
}

/// `POST /auth/device/refresh {refreshToken}`: an anchor's refresh, with rotation and reuse
/// detection (reuse revokes the anchor).
pub async fn refresh(ctx: &Ctx<'_>, body: RefreshRequest) -> AuthResult<Response> {
    let rotated = rotate(ctx, &body.refresh_token, RefreshKind::Anchor).await?;
    answer(
        200,
        &AnchorCredentials {
            anchor_id: rotated.anchor_id.unwrap_or_default(),
            access_token: rotated.credentials.access_token,
            refresh_token: rotated.credentials.refresh_token,
            expires_in: rotated.credentials.expires_in,
            refresh_expires_in: rotated.credentials.refresh_expires_in,
            account: None,
        },
    )
}
