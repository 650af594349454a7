//! Configuration read from the Worker's environment (wrangler vars and secrets).

use orbit_protocol::limits::IDLE_THREAD_FORGET_MS;
use orbit_shared::auth::client_address::AddressSource;
use orbit_shared::auth::device_code;
use orbit_shared::auth::rate_limit::Policy;
use orbit_shared::auth::refresh::REUSE_GRACE_SECONDS;
use orbit_shared::auth::step_up;
use orbit_shared::gate::parse_origins;
use orbit_shared::revocation::RECHECK_INTERVAL_MS;
use orbit_shared::token::ACCESS_TOKEN_SECONDS;
use worker::{Env, Url};

/// Life of a passkey challenge in seconds (SPEC §2: 5 minutes).
pub const PASSKEY_CHALLENGE_SECONDS: u64 = 5 * 60;

/// The settings every request needs.
pub struct Config {
    /// HS256 key for access tokens (secret `ORBIT_JWT_SECRET`).
    pub jwt_secret: Vec<u8>,
    /// Browser origins allowed to open sockets (`ORBIT_ALLOWED_ORIGINS`, comma separated).
    pub allowed_origins: Vec<String>,
    /// Whether the development-only API under `/__dev/` is on (`ORBIT_DEV_API=1`). A deployed
    /// Worker never sets it.
    pub dev_api: bool,
    /// The configured secret TOTP secrets are sealed under (secret `ORBIT_SEAL_KEY`, 32+ bytes of
    /// entropy). Empty when unset: TOTP endpoints then answer 500 `server_misconfigured`.
    pub seal_secret: String,
    /// Anyone may create an account (`ORBIT_OPEN_REGISTRATION=true`); otherwise only the first
    /// account (bootstrap) or holders of an invite.
    pub open_registration: bool,
    /// The public base URL of the deployment (`ORBIT_PUBLIC_URL`, e.g. `https://orbit.example`),
    /// used for the device flow's verification URI; derived from the request URL when unset.
    pub public_url: Option<String>,
    /// Rate limits (`ORBIT_RATE_LIMITS`: a JSON object overriding some actions of the default
    /// policy, see `orbit_shared::auth::rate_limit::Policy`). An unreadable value is ignored
    /// (logged) and the defaults apply.
    pub rate_limits: Policy,
    /// Life of a device code in seconds (`ORBIT_DEVICE_CODE_LIFETIME`): it can only be
    /// shortened below the 10-minute default (tests use it to see codes expire).
    pub device_code_lifetime_s: u64,
    /// The WebAuthn relying party ID (`ORBIT_RP_ID`, e.g. `orbit.example`); when unset, the host
    /// of `ORBIT_PUBLIC_URL`, else the host of the first allowed origin. Never taken from a
    /// request. Empty when none of them gives one: the passkey endpoints then answer 500
    /// `server_misconfigured`. The origins passkeys may be used from are `allowed_origins`.
    pub rp_id: String,
    /// The relying party's name shown by authenticators (`ORBIT_RP_NAME`, default `Orbit`).
    pub rp_name: String,
    /// Life of a passkey challenge in seconds (`ORBIT_PASSKEY_CHALLENGE_LIFETIME`): it can only
    /// be shortened below the 5-minute default (tests use it to see challenges expire).
    pub passkey_challenge_lifetime_s: u64,
    /// Life of an access token in seconds (`ORBIT_ACCESS_TOKEN_LIFETIME`): it can only be
    /// shortened below the 15-minute default (tests use it to see anchors refresh in time).
    pub access_token_lifetime_s: u64,
    /// How long after a refresh token is spent a retry with it gets the same successor instead
    /// of revoking the session, in seconds (`ORBIT_REFRESH_REUSE_GRACE`): it can only be
    /// shortened below the 30-second default, down to `0` (strict reuse detection, no retry);
    /// tests shorten it to see a late retry revoke.
    pub refresh_reuse_grace_s: u64,
    /// How long after a session last proved a way in it may make sensitive changes, in seconds
    /// (`ORBIT_STEP_UP_WINDOW`): it can only be shortened below the 5-minute default; tests
    /// shorten it to see a session go stale.
    pub step_up_window_s: u64,
    /// Where the client address the per-address rate limits count comes from
    /// (`ORBIT_CLIENT_ADDRESS`: `cf-connecting-ip`, the default, on Cloudflare; `peer` or
    /// `header:<Name>` self-hosted; `none`). An unreadable value is logged and means `none`
    /// (one shared bucket): never a bucket the client chooses.
    pub client_address: AddressSource,
    /// Whether `request.cf` is Cloudflare's (`ORBIT_TRUST_REQUEST_CF`, default true; `false`
    /// where it is not: under Miniflare (`wrangler dev`) or a workerd set up to read it from a
    /// header, a client's `MF-CF-Blob` header sets it). When false, a pairing request's country
    /// and network are recorded as unknown rather than as the requester says.
    pub trust_request_cf: bool,
}

impl Config {
    pub fn from_env(env: &Env) -> Self {
        let read = |name: &str| {
            env.secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .unwrap_or_default()
        };
        let allowed_origins = parse_origins(&read("ORBIT_ALLOWED_ORIGINS"));
        let public_url = Some(
            read("ORBIT_PUBLIC_URL")
                .trim()
                .trim_end_matches('/')
                .to_string(),
        )
        .filter(|u| !u.is_empty());
        let rp_id = Some(read("ORBIT_RP_ID").trim().to_ascii_lowercase())
            .filter(|id| !id.is_empty())
            .or_else(|| public_url.as_deref().and_then(host_of))
            .or_else(|| allowed_origins.first().and_then(|o| host_of(o)))
            .unwrap_or_default();
        let client_address_setting = read("ORBIT_CLIENT_ADDRESS");
        if let Err(e) = AddressSource::parse(&client_address_setting) {
            worker::console_error!(
                "ORBIT_CLIENT_ADDRESS: {e}; every client shares one rate-limit bucket"
            );
        }
        let rp_name = Some(read("ORBIT_RP_NAME").trim().to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Orbit".to_string());
        Config {
            jwt_secret: read("ORBIT_JWT_SECRET").into_bytes(),
            allowed_origins,
            dev_api: read("ORBIT_DEV_API") == "1",
            seal_secret: read("ORBIT_SEAL_KEY"),
            open_registration: matches!(
                read("ORBIT_OPEN_REGISTRATION")
                    .trim()
                    .to_ascii_lowercase()
                    .as_str(),
                "true" | "1" | "yes"
            ),
            public_url,
            rate_limits: rate_limits(&read("ORBIT_RATE_LIMITS")),
            device_code_lifetime_s: shortened(
                &read("ORBIT_DEVICE_CODE_LIFETIME"),
                device_code::LIFETIME_SECONDS,
            ),
            rp_id,
            rp_name,
            passkey_challenge_lifetime_s: shortened(
                &read("ORBIT_PASSKEY_CHALLENGE_LIFETIME"),
                PASSKEY_CHALLENGE_SECONDS,
            ),
            access_token_lifetime_s: shortened(
                &read("ORBIT_ACCESS_TOKEN_LIFETIME"),
                ACCESS_TOKEN_SECONDS,
            ),
            refresh_reuse_grace_s: shortened_or_off(
                &read("ORBIT_REFRESH_REUSE_GRACE"),
                REUSE_GRACE_SECONDS,
            ),
            step_up_window_s: shortened(&read("ORBIT_STEP_UP_WINDOW"), step_up::WINDOW_SECONDS),
            client_address: client_address(&client_address_setting),
            trust_request_cf: !matches!(
                read("ORBIT_TRUST_REQUEST_CF")
                    .trim()
                    .to_ascii_lowercase()
                    .as_str(),
                "false" | "0" | "no"
            ),
        }
    }
}

/// How often a hub re-checks its sockets' credentials, in ms (`ORBIT_REVOCATION_RECHECK`, in
/// seconds): it can only be shortened below the 10-second default (tests use 1). Read by each
/// hub when it is created, apart from [`Config`], which is the requests'.
pub fn revocation_recheck_ms(env: &Env) -> u64 {
    let value = env
        .var("ORBIT_REVOCATION_RECHECK")
        .map(|v| v.to_string())
        .unwrap_or_default();
    shortened(&value, RECHECK_INTERVAL_MS / 1000).saturating_mul(1000)
}

/// How long after its last logged frame a thread's replay log is forgotten, in ms
/// (`ORBIT_IDLE_THREAD_SECONDS`, in seconds): it can only be shortened below the 7-day default
/// (`IDLE_THREAD_FORGET_MS`; tests shorten it to see idle threads forgotten). Read by each hub
/// when it is created, like [`revocation_recheck_ms`].
pub fn idle_thread_ms(env: &Env) -> u64 {
    let value = env
        .var("ORBIT_IDLE_THREAD_SECONDS")
        .map(|v| v.to_string())
        .unwrap_or_default();
    shortened(&value, IDLE_THREAD_FORGET_MS / 1000).saturating_mul(1000)
}

/// A lifetime in seconds from configuration that may only shorten `default`: tests use these
/// to watch things expire, and no setting can make a credential outlive its designed life.
fn shortened(value: &str, default: u64) -> u64 {
    value
        .trim()
        .parse::<u64>()
        .ok()
        .filter(|s| *s > 0)
        .map_or(default, |s| s.min(default))
}

/// Like [`shortened`], but `0` is accepted too: it turns the feature off.
fn shortened_or_off(value: &str, default: u64) -> u64 {
    value
        .trim()
        .parse::<u64>()
        .map_or(default, |s| s.min(default))
}

/// The host of a configured URL or origin (`https://orbit.example:8443` → `orbit.example`).
fn host_of(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()?
        .host_str()
        .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase())
        .filter(|h| !h.is_empty())
}

/// The configured source; an unreadable setting trusts nothing (one shared bucket), never a
/// header the client could write.
fn client_address(setting: &str) -> AddressSource {
    AddressSource::parse(setting).unwrap_or(AddressSource::Untrusted)
}

fn rate_limits(json: &str) -> Policy {
    if json.trim().is_empty() {
        return Policy::default();
    }
    serde_json::from_str(json).unwrap_or_else(|e| {
        worker::console_error!("ORBIT_RATE_LIMITS is not a valid policy ({e}); using the defaults");
        Policy::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_client_address_setting_trusts_no_header() {
        assert_eq!(client_address(""), AddressSource::Cloudflare);
        assert_eq!(client_address("peer"), AddressSource::Peer);
        assert_eq!(client_address("x-real-ip"), AddressSource::Untrusted);
        assert_eq!(client_address("header:"), AddressSource::Untrusted);
    }

    #[test]
    fn configured_lifetimes_can_only_shorten() {
        assert_eq!(shortened("2", 600), 2);
        assert_eq!(shortened("9999", 600), 600);
        assert_eq!(shortened("0", 600), 600);
        assert_eq!(shortened("", 600), 600);
        assert_eq!(shortened("x", 600), 600);
        // The grace window may also be turned off.
        assert_eq!(shortened_or_off("0", REUSE_GRACE_SECONDS), 0);
        assert_eq!(shortened_or_off("3", REUSE_GRACE_SECONDS), 3);
        assert_eq!(shortened_or_off("3600", REUSE_GRACE_SECONDS), 30);
        assert_eq!(shortened_or_off("", REUSE_GRACE_SECONDS), 30);
        assert_eq!(shortened_or_off("-1", REUSE_GRACE_SECONDS), 30);
    }
}
