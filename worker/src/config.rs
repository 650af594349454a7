//! Configuration read from the Worker's environment (wrangler vars and secrets).

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
        }
    }
}
