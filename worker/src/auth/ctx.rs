//! What every `/auth/*` handler is given: the bindings, the configuration, the accounts
//! database, the request's one instant, and who is calling from where.

use std::future::Future;

use worker::{Context, Env};

use orbit_protocol::auth::DeviceOrigin;

use crate::config::Config;

use super::store::Store;

/// The context of one request.
pub struct Ctx<'a> {
    pub env: &'a Env,
    /// The request's execution context, for work that may finish after the answer.
    pub context: &'a Context,
    pub config: &'a Config,
    /// The accounts database, at [`Ctx::now_ms`].
    pub store: Store,
    /// Read once per request, so one request sees one instant.
    pub now_ms: u64,
    /// The client address as a rate-limit id, from the trusted source (`Config::client_address`).
    pub address: String,
    /// Where the request came from as the platform saw it (`request.cf`) and the address.
    pub request_origin: DeviceOrigin,
    /// The request's `User-Agent`, cut, to label sessions.
    pub user_agent: Option<String>,
    /// `Authorization` header value, if any.
    pub authorization: Option<String>,
    /// `scheme://host` of the request, for URLs in answers when `ORBIT_PUBLIC_URL` is unset.
    pub origin: String,
}

impl Ctx<'_> {
    /// The instant of this request in seconds since the epoch.
    pub fn now_s(&self) -> u64 {
        self.now_ms / 1000
    }

    /// Runs `work` after the answer is sent (it is given its own handle on the environment). For
    /// bookkeeping whose failure must not fail the request: security events, housekeeping.
    pub fn background<F, Fut>(&self, work: F)
    where
        F: FnOnce(Env) -> Fut,
        Fut: Future<Output = ()> + 'static,
    {
        self.context.wait_until(work(self.env.clone()));
    }

    /// The deployment's public base URL, without a trailing slash.
    pub fn public_url(&self) -> String {
        self.config
            .public_url
            .clone()
            .unwrap_or_else(|| self.origin.clone())
    }
}
