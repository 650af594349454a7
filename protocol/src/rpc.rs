//! JSON-RPC answers that Orbit and the anchor write themselves: the one place their envelope is
//! built. Each [`ErrorCode`] has its JSON-RPC `error.code` number ([`RpcCode`]).
//!
//! ```
//! use orbit_protocol::rpc::{error_response, result_response};
//! use orbit_protocol::ErrorCode;
//!
//! assert_eq!(
//!     error_response("7", ErrorCode::AnchorOffline, "anchor a1 is offline"),
//!     r#"{"id":7,"error":{"code":-32000,"message":"anchor a1 is offline","data":{"code":"anchor_offline"}}}"#
//! );
//! assert_eq!(
//!     error_response(r#""orbit:c:1""#, ErrorCode::PathNotAllowed, "path not allowed: /etc"),
//!     r#"{"id":"orbit:c:1","error":{"code":-32001,"message":"path not allowed: /etc","data":{"code":"path_not_allowed"}}}"#
//! );
//! assert_eq!(result_response("3", r#"{"ok":true}"#), r#"{"id":3,"result":{"ok":true}}"#);
//! ```

use serde::Serialize;

use crate::error_code::ErrorCode;

/// The JSON-RPC `error.code` of an answer from Orbit or the anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcCode {
    /// -32000 (server error range): a routing refusal, or the anchor's own failure.
    Routing,
    /// -32001: a helper path the anchor refuses: outside its allowed roots, or denied inside
    /// them (`error.data.code` tells which).
    PathNotAllowed,
    /// -32002: a helper's file or directory that does not exist.
    NotFound,
    /// -32003: a helper's git call outside a repository.
    NotARepository,
    /// -32004: a helper answer over its size cap.
    TooLarge,
    /// -32600: the request itself is not acceptable (answering an unknown server request).
    InvalidRequest,
    /// -32601: no such method (an unknown `anchor.*` helper).
    MethodNotFound,
    /// -32602: the parameters do not fit the method.
    InvalidParams,
}

impl RpcCode {
    pub const fn number(self) -> i64 {
        match self {
            RpcCode::Routing => -32000,
            RpcCode::PathNotAllowed => -32001,
            RpcCode::NotFound => -32002,
            RpcCode::NotARepository => -32003,
            RpcCode::TooLarge => -32004,
            RpcCode::InvalidRequest => -32600,
            RpcCode::MethodNotFound => -32601,
            RpcCode::InvalidParams => -32602,
        }
    }

    /// The number that goes with `code` in a JSON-RPC error. The helpers' refusals about a
    /// path, a file, a repository or a size have had numbers of their own since the first
    /// helpers shipped, so clients may tell them apart by number too.
    pub const fn of(code: ErrorCode) -> RpcCode {
        match code {
            ErrorCode::PathNotAllowed | ErrorCode::PathDenied => RpcCode::PathNotAllowed,
            ErrorCode::NotFound => RpcCode::NotFound,
            ErrorCode::NotARepository => RpcCode::NotARepository,
            ErrorCode::TooLarge => RpcCode::TooLarge,
            ErrorCode::UnknownRequest => RpcCode::InvalidRequest,
            ErrorCode::UnknownMethod => RpcCode::MethodNotFound,
            ErrorCode::InvalidParams => RpcCode::InvalidParams,
            _ => RpcCode::Routing,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: i64,
    message: &'a str,
    data: Data,
}

#[derive(Serialize)]
struct Data {
    code: ErrorCode,
}

/// A JSON-RPC error answering the request whose id is `id_json` (JSON text), with `code` in
/// `error.data.code` and its number ([`RpcCode::of`]) in `error.code`.
pub fn error_response(id_json: &str, code: ErrorCode, message: &str) -> String {
    let body = ErrorBody {
        code: RpcCode::of(code).number(),
        message,
        data: Data { code },
    };
    // A number, a string and an enum: serialising cannot fail.
    let body = serde_json::to_string(&body).unwrap_or_default();
    format!("{{\"id\":{id_json},\"error\":{body}}}")
}

/// A JSON-RPC result answering the request whose id is `id_json`; `result_json` is JSON text.
pub fn result_response(id_json: &str, result_json: &str) -> String {
    format!("{{\"id\":{id_json},\"result\":{result_json}}}")
}
