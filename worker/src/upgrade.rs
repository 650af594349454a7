//! `GET /ws/client` and `GET /ws/anchor`: every upgrade is authenticated here, in the
//! stateless Worker, before it reaches the user's Durable Object (SPEC §1, §2).

use serde::{Deserialize, Serialize};
use worker::{Env, Headers, Method, Request, RequestInit, Response, Result};

use orbit_shared::gate::{find_token, offers_subprotocol, origin_allowed, GateError};
use orbit_shared::router::Peer;
use orbit_shared::token::{verify, Audience, Claims};
use worker::D1Database;

use crate::config::Config;
use crate::db;
use crate::http::{self, now_ms};

/// Header carrying the admitted identity from the Worker to the Durable Object. Only this
/// Worker can reach the object, and any client-sent copy is dropped, so the object trusts it.
pub const ADMIT_HEADER: &str = "X-Orbit-Admit";

/// Who was let in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Admitted {
    pub user_id: String,
    pub session_id: String,
    pub peer: Peer,
    /// The browser offered `orbit.v1`, so the answer must select it.
    pub subprotocol: bool,
    /// How a client's device names itself (from its User-Agent), for `orbit.answered`.
    #[serde(default)]
    pub device: Option<String>,
}

/// Authenticates an upgrade for `audience` and hands it to the user's Durable Object.
pub async fn handle(
    req: Request,
    env: &Env,
    config: &Config,
    audience: Audience,
) -> Result<Response> {
    let admitted = match admit(&req, env, config, audience).await? {
        Ok(admitted) => admitted,
        Err(refusal) => {
            worker::console_log!(
                "upgrade refused: {} ({})",
                refusal.code(),
                audience.as_str()
            );
            return http::refusal(refusal.code(), &refusal.to_string());
        }
    };
    let headers = Headers::new();
    headers.set("Upgrade", "websocket")?;
    headers.set(ADMIT_HEADER, &serde_json::to_string(&admitted)?)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Get).with_headers(headers);
    let inner = Request::new_with_init("https://hub.internal/connect", &init)?;
    let stub = env
        .durable_object("USER_HUB")?
        .id_from_name(&admitted.user_id)?
        .get_stub()?;
    stub.fetch_with_request(inner).await
}

/// The gate: `Ok(Err(refusal))` is a refused upgrade, `Err` an internal failure.
async fn admit(
    req: &Request,
    env: &Env,
    config: &Config,
    audience: Audience,
) -> Result<std::result::Result<Admitted, GateError>> {
    let headers = req.headers();
    let is_upgrade = headers
        .get("Upgrade")?
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return Ok(Err(GateError::NotAnUpgrade));
    }
    if !origin_allowed(headers.get("Origin")?.as_deref(), &config.allowed_origins) {
        return Ok(Err(GateError::OriginNotAllowed));
    }
    let protocols = headers.get("Sec-WebSocket-Protocol")?;
    let url = req.url()?;
    let Some((token, _source)) = find_token(
        url.query(),
        headers.get("Authorization")?.as_deref(),
        protocols.as_deref(),
    ) else {
        return Ok(Err(GateError::MissingToken));
    };
    let db = env.d1("DB")?;
    let Authenticated { claims, peer, .. } =
        match authenticate(&db, config, &token, audience).await? {
            Ok(who) => who,
            Err(refusal) => return Ok(Err(refusal)),
        };
    let device = match peer {
        Peer::Client => headers
            .get("User-Agent")?
            .map(|ua| orbit_shared::web::device_label(&ua)),
        Peer::Anchor { .. } => None,
    };
    Ok(Ok(Admitted {
        user_id: claims.sub,
        session_id: claims.sid,
        peer,
        subprotocol: offers_subprotocol(protocols.as_deref()),
        device,
    }))
}

/// Whom a verified access token speaks for: its claims, and the peer it may connect as.
#[derive(Debug, Clone)]
pub struct Authenticated {
    pub claims: Claims,
    pub peer: Peer,
    /// When the session last proved a way in (ms), for step-up; `None`: never.
    pub verified_at: Option<u64>,
}

/// Verifies an access token for `audience` and checks in D1 that its session is live (not
/// revoked, not expired, of the token's user and kind) and, for anchors, that the anchor is not
/// revoked. Shared by the upgrade gate and every authenticated HTTP call (`/auth/*`).
/// `Ok(Err(refusal))` is a refusal, `Err` an internal failure.
pub async fn authenticate(
    db: &D1Database,
    config: &Config,
    token: &str,
    audience: Audience,
) -> Result<std::result::Result<Authenticated, GateError>> {
    let now = now_ms();
    let claims = match verify(token, &config.jwt_secret, audience, now / 1000) {
        Ok(claims) => claims,
        Err(e) => return Ok(Err(GateError::Token(e))),
    };
    let Some(session) = db::session(db, &claims.sid).await? else {
        return Ok(Err(GateError::SessionRevoked));
    };
    let kind = match audience {
        Audience::Web => "web",
        Audience::Anchor => "anchor",
    };
    // A revoked anchor says so even though its sessions were revoked with it: the anchor
    // must pair again, which is more than a new sign-in.
    if audience == Audience::Anchor && session.anchor_revoked_at.is_some() {
        return Ok(Err(GateError::AnchorRevoked));
    }
    let expired = session.expires_at.is_some_and(|at| at <= now as f64);
    if session.revoked_at.is_some()
        || expired
        || session.user_id != claims.sub
        || session.kind != kind
    {
        return Ok(Err(GateError::SessionRevoked));
    }
    let peer = match audience {
        Audience::Web => Peer::Client,
        Audience::Anchor => {
            if session.anchor_id.is_none()
                || session.anchor_id != claims.aid
                || session.anchor_revoked_at.is_some()
            {
                return Ok(Err(GateError::AnchorRevoked));
            }
            Peer::Anchor {
                anchor_id: claims.aid.clone().unwrap_or_default(),
            }
        }
    };
    // D1 hands integers to JavaScript as doubles; these are ms instants, exact below 2^53.
    let verified_at = session.verified_at.map(|at| at.max(0.0) as u64);
    Ok(Ok(Authenticated {
        claims,
        peer,
        verified_at,
    }))
}
