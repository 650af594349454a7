//! The Orbit Worker: HTTP entry point of the relay (SPEC §1).
//!
//! * `GET /health` — liveness and version.
//! * `GET /ws/client`, `GET /ws/anchor` — authenticated WebSocket upgrades, handed to the
//!   user's [`hub::UserHub`] Durable Object.
//! * `/auth/*` — accounts, sign-in, sessions and anchor pairing ([`auth`], SPEC §2).
//! * `/__dev/*` — development-only helpers, off unless `ORBIT_DEV_API=1`.
//!
//! The routing logic itself lives in `orbit-shared`; this crate only adapts it to the
//! Workers runtime.

mod auth;
mod config;
mod db;
mod dev_api;
mod http;
mod hub;
mod upgrade;
mod web;

use worker::{event, Context, Env, Method, Request, Response, Result};

use orbit_protocol::ErrorCode;
use orbit_shared::gate::GateError;
use orbit_shared::token::Audience;

pub use hub::UserHub;

/// The crate version, reported by `/health`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The answer of `GET /health`.
#[derive(serde::Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    // A second handle on the same JavaScript request, to finish reading its body afterwards
    // (not `Request.clone()`, which would tee the body).
    let raw = Clone::clone(req.inner());
    let response = route(req, env, ctx).await;
    http::drain_unread_body(raw).await;
    response
}

async fn route(req: Request, env: Env, ctx: Context) -> Result<Response> {
    let config = config::Config::from_env(&env);
    let path = req.path();
    match path.as_str() {
        "/health" if req.method() == Method::Get => http::json(&Health {
            status: "ok",
            version: VERSION,
        }),
        "/ws/client" | "/ws/anchor" => {
            if config.jwt_secret.is_empty() {
                return http::refusal(
                    ErrorCode::ServerMisconfigured,
                    "ORBIT_JWT_SECRET is not set",
                );
            }
            let audience = if path == "/ws/client" {
                Audience::Web
            } else {
                Audience::Anchor
            };
            if req.method() != Method::Get {
                let refusal = GateError::NotAnUpgrade;
                return http::refusal(refusal.code(), &refusal.to_string());
            }
            upgrade::handle(req, &env, &config, audience).await
        }
        p if p.starts_with("/auth/") => auth::handle(req, &env, &ctx, &config).await,
        p if p.starts_with("/__dev/") => dev_api::handle(req, &env, &config).await,
        p if orbit_shared::web::is_api_path(p) => {
            http::refusal(ErrorCode::NotFound, "no such endpoint")
        }
        _ => web::serve(req, &env).await,
    }
}
