//! `device_grants`: the device-code flow (RFC 8628), and the `anchors` row an approval creates.
//!
//! The state machine is `orbit_shared::auth::device_code`'s; every transition is written with a
//! conditional update on the state it was computed from, so concurrent polls or answers cannot
//! both act (only one poll collects the credentials; a code is answered once).

use serde::Deserialize;
use wasm_bindgen::JsValue;

use orbit_protocol::auth::DeviceOrigin;
use orbit_shared::auth::device_code::{Grant, GrantStatus};

use super::housekeeping::GRANT_RETENTION_MS;
use super::{int, opt_text, returned, text, Store, StoreResult};

/// A grant to store.
pub struct NewGrant<'a> {
    pub device_code_hash: &'a str,
    /// Canonical (no dash).
    pub user_code: &'a str,
    pub grant: &'a Grant,
    /// What the anchor says about itself, cleaned.
    pub requested_name: Option<&'a str>,
    pub hostname: Option<&'a str>,
    pub platform: Option<&'a str>,
    /// Where the request came from (`request.cf` and the address), not what it says.
    pub origin: &'a DeviceOrigin,
    /// The hash of the grant's link token.
    pub link_hash: &'a str,
}

/// How many long-expired grants one insert deletes (more than it adds, so they cannot pile up
/// between housekeeping sweeps).
const DELETE_PER_INSERT: u64 = 64;

/// Stores a new pending grant, deleting a bounded number of grants past their retention
/// ([`GRANT_RETENTION_MS`]); false if its user code clashes with another grant's.
pub async fn insert(store: &Store, g: &NewGrant<'_>) -> StoreResult<bool> {
    let sweep = store
        .db
        .prepare(
            "DELETE FROM device_grants WHERE device_code_hash IN \
             (SELECT device_code_hash FROM device_grants WHERE expires_at <= ?1 LIMIT ?2)",
        )
        .bind(&[
            int(store.now_ms.saturating_sub(GRANT_RETENTION_MS)),
            int(DELETE_PER_INSERT),
        ])?;
    let insert = store
        .db
        .prepare(
            "INSERT INTO device_grants (device_code_hash, user_code, status, created_at, expires_at, \
             interval_s, requested_name, hostname, platform, origin_country, origin_city, \
             origin_network, origin_asn, origin_address, link_hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) \
             ON CONFLICT DO NOTHING RETURNING user_code",
        )
        .bind(&[
            text(g.device_code_hash),
            text(g.user_code),
            text(g.grant.status.as_str()),
            int(store.now_ms),
            int(g.grant.expires_at.saturating_mul(1000)),
            int(g.grant.interval_s),
            opt_text(g.requested_name),
            opt_text(g.hostname),
            opt_text(g.platform),
            opt_text(g.origin.country.as_deref()),
            opt_text(g.origin.city.as_deref()),
            opt_text(g.origin.network.as_deref()),
            g.origin.asn.map_or(JsValue::NULL, |n| int(u64::from(n))),
            opt_text(g.origin.address.as_deref()),
            text(g.link_hash),
        ])?;
    let results = store.db.batch(vec![sweep, insert]).await?;
    Ok(returned(results.get(1)))
}

/// A stored grant.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct GrantRow {
    pub device_code_hash: String,
    pub status: String,
    /// ms.
    pub expires_at: u64,
    /// ms.
    pub last_poll_at: Option<u64>,
    pub interval_s: u64,
    /// ms.
    pub created_at: u64,
    pub requested_name: Option<String>,
    pub hostname: Option<String>,
    pub platform: Option<String>,
    /// Canonical (no dash).
    pub user_code: String,
    pub origin_country: Option<String>,
    pub origin_city: Option<String>,
    pub origin_network: Option<String>,
    pub origin_asn: Option<u32>,
    pub origin_address: Option<String>,
}

impl GrantRow {
    /// Where the request came from, as recorded when the code was asked for.
    pub fn origin(&self) -> DeviceOrigin {
        DeviceOrigin {
            country: self.origin_country.clone(),
            city: self.origin_city.clone(),
            network: self.origin_network.clone(),
            asn: self.origin_asn,
            address: self.origin_address.clone(),
        }
    }

    /// The state machine's view (seconds); `None` for a status Orbit never writes.
    pub fn grant(&self) -> Option<Grant> {
        Some(Grant {
            status: GrantStatus::parse(&self.status)?,
            expires_at: self.expires_at / 1000,
            last_poll_at: self.last_poll_at.map(|ms| ms / 1000),
            interval_s: self.interval_s,
        })
    }
}

const GRANT_COLUMNS: &str = "device_code_hash, status, expires_at, last_poll_at, interval_s, \
     created_at, requested_name, hostname, platform, user_code, origin_country, origin_city, \
     origin_network, origin_asn, origin_address";

/// The grant of a (canonical) user code.
pub async fn by_user_code(store: &Store, user_code: &str) -> StoreResult<Option<GrantRow>> {
    Ok(store
        .db
        .prepare(format!(
            "SELECT {GRANT_COLUMNS} FROM device_grants WHERE user_code = ?1"
        ))
        .bind(&[text(user_code)])?
        .first::<GrantRow>(None)
        .await?)
}

/// The grant a link token's hash names.
pub async fn by_link_hash(store: &Store, hash: &str) -> StoreResult<Option<GrantRow>> {
    Ok(store
        .db
        .prepare(format!(
            "SELECT {GRANT_COLUMNS} FROM device_grants WHERE link_hash = ?1"
        ))
        .bind(&[text(hash)])?
        .first::<GrantRow>(None)
        .await?)
}

/// The grant of a device code's hash.
pub async fn by_device_code_hash(store: &Store, hash: &str) -> StoreResult<Option<GrantRow>> {
    Ok(store
        .db
        .prepare(format!(
            "SELECT {GRANT_COLUMNS} FROM device_grants WHERE device_code_hash = ?1"
        ))
        .bind(&[text(hash)])?
        .first::<GrantRow>(None)
        .await?)
}

/// Denies a live pending grant on `user_id`'s behalf; false if it was answered (or expired)
/// meanwhile.
pub async fn deny(store: &Store, device_code_hash: &str, user_id: &str) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(
            "UPDATE device_grants SET status = ?2, user_id = ?3 WHERE device_code_hash = ?1 \
             AND status = 'pending' AND expires_at > ?4 RETURNING device_code_hash",
        )
        .bind(&[
            text(device_code_hash),
            text(GrantStatus::Denied.as_str()),
            text(user_id),
            int(store.now_ms),
        ])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// Approves a live pending grant for `user_id` and creates the anchor `anchor_id` named `name`,
/// in one transaction; false (and no anchor) if it was answered (or expired) meanwhile.
pub async fn approve(
    store: &Store,
    device_code_hash: &str,
    user_id: &str,
    anchor_id: &str,
    name: &str,
) -> StoreResult<bool> {
    let results = store
        .db
        .batch(vec![
            store
                .db
                .prepare(
                    "UPDATE device_grants SET status = ?2, user_id = ?3, anchor_id = ?4, anchor_name = ?5 \
                     WHERE device_code_hash = ?1 AND status = 'pending' AND expires_at > ?6 \
                     RETURNING device_code_hash",
                )
                .bind(&[
                    text(device_code_hash),
                    text(GrantStatus::Approved.as_str()),
                    text(user_id),
                    text(anchor_id),
                    text(name),
                    int(store.now_ms),
                ])?,
            store
                .db
                .prepare(
                    "INSERT INTO anchors (id, user_id, name, created_at, hostname, platform) \
                     SELECT ?1, ?2, ?3, ?4, g.hostname, g.platform FROM device_grants g \
                     WHERE g.device_code_hash = ?5 AND g.anchor_id = ?1",
                )
                .bind(&[
                    text(anchor_id),
                    text(user_id),
                    text(name),
                    int(store.now_ms),
                    text(device_code_hash),
                ])?,
        ])
        .await?;
    Ok(returned(results.first()))
}

/// Records a poll's new state (`next`) of the grant `row`; false if a concurrent poll recorded
/// one first.
pub async fn record_poll(store: &Store, row: &GrantRow, next: &Grant) -> StoreResult<bool> {
    Ok(store
        .db
        .prepare(
            "UPDATE device_grants SET last_poll_at = ?2, interval_s = ?3 \
             WHERE device_code_hash = ?1 AND status = ?4 AND last_poll_at IS ?5 \
             RETURNING device_code_hash",
        )
        .bind(&[
            text(&row.device_code_hash),
            int(next.last_poll_at.unwrap_or(0).saturating_mul(1000)),
            int(next.interval_s),
            text(&row.status),
            row.last_poll_at.map_or(JsValue::NULL, int),
        ])?
        .first::<serde_json::Value>(None)
        .await?
        .is_some())
}

/// Who collected an approved grant.
#[derive(Debug, Deserialize)]
pub struct Collected {
    pub user_id: String,
    pub anchor_id: String,
}

/// Consumes an approved grant, once.
pub async fn collect(store: &Store, device_code_hash: &str) -> StoreResult<Option<Collected>> {
    Ok(store
        .db
        .prepare(
            "UPDATE device_grants SET status = 'consumed', last_poll_at = ?2 \
             WHERE device_code_hash = ?1 AND status = 'approved' RETURNING user_id, anchor_id",
        )
        .bind(&[text(device_code_hash), int(store.now_ms)])?
        .first::<Collected>(None)
        .await?)
}
