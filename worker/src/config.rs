//! Configuration read from the Worker's environment (wrangler vars and secrets).

use orbit_shared::auth::device_code;
use orbit_shared::auth::rate_limit::Policy;
use orbit_shared::gate::parse_origins;
use worker::Env;

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
}

impl Config {
    pub fn from_env(env: &Env) -> Self {
        let read = |name: &str| {
            env.secret(name)
                .map(|s| s.to_string())
                .or_else(|_| env.var(name).map(|v| v.to_string()))
                .unwrap_or_default()
        };
        Config {
            jwt_secret: read("ORBIT_JWT_SECRET").into_bytes(),
            allowed_origins: parse_origins(&read("ORBIT_ALLOWED_ORIGINS")),
            dev_api: read("ORBIT_DEV_API") == "1",
            seal_secret: read("ORBIT_SEAL_KEY"),
            open_registration: matches!(
                read("ORBIT_OPEN_REGISTRATION")
                    .trim()
                    .to_ascii_lowercase()
                    .as_str(),
                "true" | "1" | "yes"
            ),
            public_url: Some(
                read("ORBIT_PUBLIC_URL")
                    .trim()
                    .trim_end_matches('/')
                    .to_string(),
            )
            .filter(|u| !u.is_empty()),
            rate_limits: rate_limits(&read("ORBIT_RATE_LIMITS")),
            device_code_lifetime_s: read("ORBIT_DEVICE_CODE_LIFETIME")
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map_or(device_code::LIFETIME_SECONDS, |s| {
                    s.min(device_code::LIFETIME_SECONDS)
                }),
        }
    }
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
