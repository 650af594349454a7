//! `POST /auth/invites` and `GET /auth/security-events`: what a signed-in user does for and
//! learns about their account beyond sessions and credentials.

use worker::Response;

use orbit_protocol::auth::{Invite, SecurityEventKind, SecurityEventList};
use orbit_shared::auth::hash::storage_hash;

use super::answer;
use crate::auth::ctx::Ctx;
use crate::auth::error::AuthResult;
use crate::auth::service::audit::{self, Event};
use crate::auth::service::caller::require_web;
use crate::auth::service::step_up::{require_fresh, Change};
use crate::auth::store::{accounts, events};
use crate::http::random_id;

/// Life of an invite, in seconds (7 days).
pub const INVITE_SECONDS: u64 = 7 * 24 * 60 * 60;

/// Prefix of invite codes (the rest is 128 random bits in hex).
pub const INVITE_PREFIX: &str = "inv_";

/// `POST /auth/invites`: a one-time invite (7 days) for someone to create an account. Only its
/// hash is stored; the code is shown this once.
pub async fn create_invite(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    // An invite lets someone in for 7 days: more than a 15-minute stolen token should buy.
    require_fresh(ctx, &me, Change::CreateInvite).await?;
    let invite = format!("{INVITE_PREFIX}{}", random_id(16)?);
    let expires_at = ctx.now_ms + INVITE_SECONDS * 1000;
    accounts::insert_invite(&ctx.store, &storage_hash(&invite), &me.user_id, expires_at).await?;
    audit::record(
        ctx,
        SecurityEventKind::InviteCreated,
        Event {
            user_id: Some(&me.user_id),
            session_id: Some(&me.session_id),
            ..Event::default()
        },
    );
    answer(
        201,
        &Invite {
            invite,
            expires_at,
            expires_in: INVITE_SECONDS,
        },
    )
}

/// `GET /auth/security-events`: the signed-in user's 100 latest events, newest first.
pub async fn security_events(ctx: &Ctx<'_>) -> AuthResult<Response> {
    let me = require_web(ctx).await?;
    let events = events::latest(&ctx.store, &me.user_id).await?;
    answer(200, &SecurityEventList { events })
}
