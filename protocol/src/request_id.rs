//! Return addresses encoded into request ids.
//!
//! Two clients may use the same request ids at the same time, so Orbit rewrites the id of each
//! client request on its way to an anchor. The rewritten id *is* the return address: the
//! client's connection id and its original id, so answering needs no table that a Durable
//! Object hibernation could lose.
//!
//! ```
//! use orbit_protocol::request_id::{client_request_id, parse_client_request_id};
//! let id = client_request_id("c0ffee", "17");
//! assert_eq!(id, r#""orbit:c0ffee:17""#);
//! let back = parse_client_request_id(&id).unwrap();
//! assert_eq!((back.0.as_str(), back.1.as_str()), ("c0ffee", "17"));
//! ```
//!
//! Requests from an anchor to clients (approvals) get ids of the form `"orbit-srv:N"`, with a
//! per-user counter; those need state anyway, because each may be answered only once.

const CLIENT_PREFIX: &str = "orbit:";
const SERVER_PREFIX: &str = "orbit-srv:";

/// The JSON text of the id Orbit sends to the anchor for a client request.
///
/// `conn` must not contain `:` (connection ids are hex); `original` is the id's JSON text.
pub fn client_request_id(conn: &str, original: &str) -> String {
    serde_json::Value::String(format!("{CLIENT_PREFIX}{conn}:{original}")).to_string()
}

/// Splits a rewritten id (its JSON text) back into `(connection id, original id JSON text)`.
/// Anything Orbit did not make gives `None`.
pub fn parse_client_request_id(id_json: &str) -> Option<(String, String)> {
    let id: String = serde_json::from_str(id_json).ok()?;
    let rest = id.strip_prefix(CLIENT_PREFIX)?;
    let (conn, original) = rest.split_once(':')?;
    if conn.is_empty() || !valid_original(original) {
        return None;
    }
    Some((conn.to_string(), original.to_string()))
}

fn valid_original(text: &str) -> bool {
    matches!(
        serde_json::from_str::<serde_json::Value>(text),
        Ok(serde_json::Value::String(_) | serde_json::Value::Number(_))
    )
}

/// The id clients see for the `n`th server request of a user.
pub fn server_request_key(n: u64) -> String {
    format!("{SERVER_PREFIX}{n}")
}

/// Reads a client's answer id (JSON text) as a server-request key, if it is one.
pub fn parse_server_request_key(id_json: &str) -> Option<String> {
    let id: String = serde_json::from_str(id_json).ok()?;
    let n = id.strip_prefix(SERVER_PREFIX)?;
    n.parse::<u64>().ok()?;
    Some(id)
}

/// The counter value inside a key made by [`server_request_key`].
pub fn server_request_number(key: &str) -> Option<u64> {
    key.strip_prefix(SERVER_PREFIX)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn string_ids_with_colons_and_quotes_round_trip() {
        let original = r#""a:b\"c""#;
        let id = client_request_id("ab12", original);
        assert_eq!(
            parse_client_request_id(&id),
            Some(("ab12".to_string(), original.to_string()))
        );
    }

    #[test]
    fn foreign_ids_are_not_return_addresses() {
        assert_eq!(parse_client_request_id("5"), None);
        assert_eq!(parse_client_request_id(r#""x:1""#), None);
        assert_eq!(parse_client_request_id(r#""orbit::1""#), None);
        assert_eq!(parse_client_request_id(r#""orbit:c:{}""#), None);
        assert_eq!(parse_server_request_key(r#""orbit-srv:x""#), None);
        assert_eq!(
            parse_server_request_key(r#""orbit-srv:4""#).as_deref(),
            Some("orbit-srv:4")
        );
    }

    proptest! {
        #[test]
        fn any_client_id_round_trips(conn in "[0-9a-f]{1,32}", n in any::<i64>(), s in ".*") {
            let num = n.to_string();
            prop_assert_eq!(parse_client_request_id(&client_request_id(&conn, &num)), Some((conn.clone(), num)));
            let st = serde_json::Value::String(s).to_string();
            prop_assert_eq!(parse_client_request_id(&client_request_id(&conn, &st)), Some((conn, st)));
        }
    }
}
