//! Frames the router refused because an anchor spoke for something that is not its own: what
//! the adapter logs as a security event.
//!
//! Every anchor of a user is trusted to relay its own codex, and only that. One that sends
//! traffic for a thread bound to another anchor, or answers a request that was routed to
//! another anchor, is either confused or hostile (a phished or compromised machine); either
//! way its frame is dropped, it is told so with `orbit.error`, and the adapter logs this.

use std::fmt;

/// A refused frame, for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The anchor that sent it (from its verified token).
    pub anchor_id: String,
    pub kind: AlertKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertKind {
    /// A notification or server request for a thread bound to another anchor.
    ForeignThread {
        method: String,
        thread_id: String,
        bound: String,
    },
    /// A response carrying a return address made for a request routed to another anchor.
    ForeignResponse { id: String },
}

impl fmt::Display for Alert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let anchor = &self.anchor_id;
        match &self.kind {
            AlertKind::ForeignThread {
                method,
                thread_id,
                bound,
            } => write!(
                f,
                "anchor {anchor} sent {method} for thread {thread_id}, which is bound to anchor \
                 {bound}: dropped"
            ),
            AlertKind::ForeignResponse { id } => write!(
                f,
                "anchor {anchor} answered request {id}, which was not routed to it: dropped"
            ),
        }
    }
}
