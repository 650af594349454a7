//! JSON-RPC error answers: the one place their envelope is written.
//!
//! ```
//! use orbit_protocol::rpc::{error_response, RpcCode};
//! use orbit_protocol::ErrorCode;
//!
//! assert_eq!(
//!     error_response("7", RpcCode::Routing, ErrorCode::AnchorOffline, "anchor a1 is offline"),
//!     r#"{"id":7,"error":{"code":-32000,"message":"anchor a1 is offline","data":{"code":"anchor_offline"}}}"#
//! );
//! ```

use serde::Serialize;

use crate::error_code::ErrorCode;

/// The JSON-RPC `error.code` of Orbit's and the anchor's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RpcCode {
    /// -32000 (server error range): a routing refusal, or the anchor's own failure.
    Routing,
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
            RpcCode::InvalidRequest => -32600,
            RpcCode::MethodNotFound => -32601,
            RpcCode::InvalidParams => -32602,
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

/// A JSON-RPC error answering the request whose id is `id_json` (JSON text).
pub fn error_response(id_json: &str, rpc_code: RpcCode, code: ErrorCode, message: &str) -> String {
    let body = ErrorBody {
        code: rpc_code.number(),
        message,
        data: Data { code },
    };
    // A struct of a number, a string and an enum: serialising cannot fail.
    let body = serde_json::to_string(&body).unwrap_or_default();
    format!("{{\"id\":{id_json},\"error\":{body}}}")
}
