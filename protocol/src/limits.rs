//! Sizes and caps. One place, so the Worker, the anchor, the tests and the docs agree.

/// Largest WebSocket text frame Orbit relays, in bytes (SPEC §1 rule 8).
pub const MAX_FRAME_BYTES: usize = 1024 * 1024;

/// Deepest nesting of arrays and objects (the frame's own object counts) in a frame Orbit
/// relays: serde_json's recursion limit, which codex's parser has too, so nothing Orbit
/// relays is too deep for codex to read.
pub const MAX_FRAME_DEPTH: usize = 127;

/// Frames kept per thread in the replay log before the oldest are trimmed.
pub const REPLAY_LOG_FRAMES_PER_THREAD: u64 = 20_000;

/// How many appends to a thread's log happen between two trims of it, so trimming is batched.
pub const REPLAY_TRIM_EVERY: u64 = 256;

/// Bytes of logged frames kept per thread before the oldest are trimmed, whatever their count:
/// 20,000 frames of up to 1 MiB would otherwise be 20 GiB of one thread's log.
pub const REPLAY_LOG_BYTES_PER_THREAD: u64 = 64 * 1024 * 1024;

/// Bytes appended to a thread's log between two trims of it by bytes, so a thread of large
/// frames is trimmed long before it has seen `REPLAY_TRIM_EVERY` of them.
pub const REPLAY_TRIM_EVERY_BYTES: u64 = 8 * 1024 * 1024;

/// Most bytes of logged frames one `orbit.subscribe` replays. A replay that would need more is
/// answered `truncated` (the client reloads the thread) rather than read whole into the
/// Durable Object's 128 MB of memory.
pub const REPLAY_BUDGET_BYTES: u64 = 8 * 1024 * 1024;

/// Time after its last logged frame when a thread's log rows are forgotten (7 days); its `seq`
/// high-water mark is kept, so a `seq` is never given twice. `ORBIT_IDLE_THREAD_SECONDS` can only
/// shorten it.
pub const IDLE_THREAD_FORGET_MS: u64 = 7 * 24 * 60 * 60 * 1000;

/// Threads one socket may be subscribed to at once.
pub const MAX_SUBSCRIPTIONS_PER_SOCKET: usize = 1_000;

/// Longest thread id or anchor id accepted in a control frame.
pub const MAX_ID_BYTES: usize = 128;

/// Settled server requests remembered so that late answers get `already_resolved`.
pub const RESOLVED_SERVER_REQUESTS_REMEMBERED: usize = 1_000;

/// Server requests (approvals) open at once per user. Past it the oldest is withdrawn: settled
/// and announced to clients as `serverRequest/resolved` with `reason: "expired"`.
pub const MAX_OPEN_SERVER_REQUESTS: usize = 256;

/// Age after which an open server request is withdrawn the same way (24 hours): no codex
/// waits that long, and an open request is replayed on every connect and subscribe.
pub const OPEN_SERVER_REQUEST_MAX_AGE_MS: u64 = 24 * 60 * 60 * 1000;
