//! Return addresses encoded into request ids.
//!
//! Two clients may use the same request ids at the same time, so Orbit rewrites the id of each
//! client request on its way to an anchor. The rewritten id *is* the return address: the
//! client's connection id, the anchor the request was routed to, and the client's original id,
//! so answering needs no table that a Durable Object hibernation could lose. Orbit accepts an
//! answer only from the anchor the address names: another anchor of the same user cannot
//! answer (or forge an answer to) a request that was never routed to it.
//!
//! An address made for a request that creates or resumes a thread (`thread/start`,
//! `thread/resume`, `thread/fork`) has its own prefix, `orbit-thread:`: only the answer to
//! such a request may bind the thread in its `result.thread.id` to the answering anchor.
//!
//! ```
//! use orbit_protocol::request_id::{client_request_id, parse_client_request_id, ReturnAddress};
//! let id = client_request_id("c0ffee", "laptop", false, "17");
//! assert_eq!(id, r#""orbit:c0ffee:laptop:17""#);
//! let back = parse_client_request_id(&id, "laptop").unwrap();
//! assert_eq!((back.conn.as_str(), back.original.as_str(), back.binds_thread), ("c0ffee", "17", false));
//! // The same address is no return address for another anchor.
//! assert_eq!(parse_client_request_id(&id, "desktop"), None);
//! let start = client_request_id("c0ffee", "laptop", true, "18");
//! assert_eq!(start, r#""orbit-thread:c0ffee:laptop:18""#);
//! assert!(parse_client_request_id(&start, "laptop").unwrap().binds_thread);
//! ```
//!
//! Requests from an anchor to clients (approvals) get ids of the form `"orbit-srv:N"`, with a
//! per-user counter; those need state anyway, because each may be answered only once.

const CLIENT_PREFIX: &str = "orbit:";
const SERVER_PREFIX: &str = "orbit-srv:";

/// The prefix of an address whose answer may bind a thread (see the module docs).
const THREAD_PREFIX: &str = "orbit-thread:";

/// Client request methods whose answer binds `result.thread.id` to the answering anchor: those
/// that create a thread or resume one on that anchor.
pub fn binds_thread(method: &str) -> bool {
    matches!(method, "thread/start" | "thread/resume" | "thread/fork")
}

/// The JSON text of the id Orbit sends to anchor `anchor` for a client request.
///
/// `conn` must not contain `:` (connection ids are hex); `original` is the id's JSON text.
pub fn client_request_id(conn: &str, anchor: &str, binds_thread: bool, original: &str) -> String {
    let prefix = if binds_thread {
        THREAD_PREFIX
    } else {
        CLIENT_PREFIX
    };
    serde_json::Value::String(format!("{prefix}{conn}:{anchor}:{original}")).to_string()
}

/// A return address read back from an anchor's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnAddress {
    /// The client connection that asked.
    pub conn: String,
    /// The client's own id, as JSON text.
    pub original: String,
    /// The request created or resumed a thread (see [`binds_thread`]).
    pub binds_thread: bool,
}

/// Reads a rewritten id (its JSON text) answered by `anchor` back into its return address.
/// Anything Orbit did not make for a request routed to `anchor` gives `None`.
pub fn parse_client_request_id(id_json: &str, anchor: &str) -> Option<ReturnAddress> {
    let id: String = serde_json::from_str(id_json).ok()?;
    let (binds_thread, rest) = match id.strip_prefix(THREAD_PREFIX) {
        Some(rest) => (true, rest),
        None => (false, id.strip_prefix(CLIENT_PREFIX)?),
    };
    let (conn, rest) = rest.split_once(':')?;
    // The anchor id is matched whole rather than split off: what follows it must be `:` and a
    // JSON number or string, and neither holds `:` followed by a whole JSON value, so no
    // anchor id (whatever it holds) reads another's address.
    let original = rest.strip_prefix(anchor)?.strip_prefix(':')?;
    if conn.is_empty() || anchor.is_empty() || !valid_original(original) {
        return None;
    }
    Some(ReturnAddress {
        conn: conn.to_string(),
        original: original.to_string(),
        binds_thread,
    })
}

/// Whether an id (JSON text) has the form of a return address at all, for whichever anchor:
/// an anchor answering with one made for another anchor is told apart from a stray id.
pub fn is_return_address(id_json: &str) -> bool {
    serde_json::from_str::<String>(id_json)
        .is_ok_and(|id| id.starts_with(CLIENT_PREFIX) || id.starts_with(THREAD_PREFIX))
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
        let id = client_request_id("ab12", "anchor:1", false, original);
        assert_eq!(
            parse_client_request_id(&id, "anchor:1"),
            Some(ReturnAddress {
                conn: "ab12".to_string(),
                original: original.to_string(),
                binds_thread: false,
            })
        );
    }

    #[test]
    fn foreign_ids_are_not_return_addresses() {
        assert_eq!(parse_client_request_id("5", "a"), None);
        assert_eq!(parse_client_request_id(r#""x:1""#, "a"), None);
        assert_eq!(parse_client_request_id(r#""orbit::a:1""#, "a"), None);
        assert_eq!(parse_client_request_id(r#""orbit:c:a:{}""#, "a"), None);
        assert_eq!(parse_client_request_id(r#""orbit:c:1""#, "a"), None);
        assert_eq!(parse_server_request_key(r#""orbit-srv:x""#), None);
        assert_eq!(
            parse_server_request_key(r#""orbit-srv:4""#).as_deref(),
            Some("orbit-srv:4")
        );
    }

    #[test]
    fn an_address_made_for_one_anchor_is_no_address_for_another() {
        let id = client_request_id("c1", "anchor-1", true, "5");
        assert!(parse_client_request_id(&id, "anchor-1").is_some());
        for other in [
            "anchor-2",
            "anchor-",
            "anchor-10",
            "",
            "c1:anchor-1",
            "anchor-1:5",
        ] {
            assert_eq!(parse_client_request_id(&id, other), None, "{other}");
        }
        assert!(is_return_address(&id));
        assert!(!is_return_address(r#""orbit-srv:1""#));
    }

    proptest! {
        #[test]
        fn any_client_id_round_trips(conn in "[0-9a-f]{1,32}", anchor in "[ -~]{1,40}", n in any::<i64>(), s in ".*", mark in any::<bool>()) {
            let num = n.to_string();
            let back = parse_client_request_id(&client_request_id(&conn, &anchor, mark, &num), &anchor);
            prop_assert_eq!(back, Some(ReturnAddress { conn: conn.clone(), original: num, binds_thread: mark }));
            let st = serde_json::Value::String(s).to_string();
            let back = parse_client_request_id(&client_request_id(&conn, &anchor, mark, &st), &anchor);
            prop_assert_eq!(back, Some(ReturnAddress { conn, original: st, binds_thread: mark }));
        }

        #[test]
        fn no_other_anchor_reads_an_address(conn in "[0-9a-f]{1,8}", a in "[a-z:]{1,6}", b in "[a-z:]{1,6}", n in any::<u32>()) {
            prop_assume!(a != b);
            let id = client_request_id(&conn, &a, false, &n.to_string());
            prop_assert_eq!(parse_client_request_id(&id, &b), None);
        }
    }
}
