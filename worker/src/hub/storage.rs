//! The relay's durable state in the Durable Object's own SQLite storage: the replay log,
//! thread bindings, subscriptions, anchor records and open server requests.
//!
//! Writes are the router's [`StoreOp`]s, applied in order as they come. SQLite storage in a
//! Durable Object is local and synchronous, and every write made while handling one event is
//! committed together, so a burst of frames costs one commit per event, not per table.
//!
//! Every operation returns its failure ([`StoreError`]); none is swallowed. A failed write makes
//! the hub deliver nothing of its batch and reset (docs/architecture.md), and a failed read of
//! the log is answered `truncated`, never as an empty replay.
//!
//! A thread's highest `seq` is kept in `seqs`, apart from the log rows, so that trimming or
//! losing rows can never make a `seq` be handed out twice; log rows are added with a plain
//! `INSERT`, so a duplicate `seq` is an error rather than a silent overwrite.

use std::cell::Cell;
use std::rc::Rc;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use orbit_shared::router::budget;
use orbit_shared::router::{
    AnchorRecord, ConnId, LogReadError, PendingRequest, ReplayLog, Snapshot, StoreOp, ThreadRecord,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    thread TEXT NOT NULL, seq INTEGER NOT NULL, frame TEXT NOT NULL,
    PRIMARY KEY (thread, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS threads (thread TEXT PRIMARY KEY, anchor TEXT);
CREATE TABLE IF NOT EXISTS subs (
    conn TEXT NOT NULL, thread TEXT NOT NULL, PRIMARY KEY (conn, thread)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS anchors (anchor TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS seqs (thread TEXT PRIMARY KEY, high INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS activity (thread TEXT PRIMARY KEY, at INTEGER NOT NULL);
";

/// A storage operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage read failed: {0}")]
    Read(String),
    #[error("storage write failed: {0}")]
    Write(String),
}

impl From<StoreError> for worker::Error {
    fn from(e: StoreError) -> Self {
        worker::Error::RustError(e.to_string())
    }
}

impl From<StoreError> for LogReadError {
    fn from(e: StoreError) -> Self {
        LogReadError(e.to_string())
    }
}

/// Storage failures to inject, for tests (the development fault switch,
/// `POST /__dev/hub-fault`): how many of the next writes, and of the next reads of logged
/// frames and sequence numbers (a replay, or the threads' state read at a wake), fail. Shared
/// by every [`Store`] the hub opens, so a reset does not forget it.
#[derive(Debug, Default)]
pub struct InjectedFaults {
    pub writes: Cell<u32>,
    pub log_reads: Cell<u32>,
}

impl InjectedFaults {
    fn take(counter: &Cell<u32>) -> bool {
        let left = counter.get();
        counter.set(left.saturating_sub(1));
        left > 0
    }
}

/// The hub's SQLite storage.
pub struct Store {
    sql: SqlStorage,
    faults: Rc<InjectedFaults>,
}

fn text(s: &str) -> SqlStorageValue {
    SqlStorageValue::String(s.to_string())
}

fn int(n: u64) -> SqlStorageValue {
    // Sequence numbers stay far below 2^53, JavaScript's exact-integer range.
    SqlStorageValue::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens the storage, creating the tables on first use.
    pub fn open(sql: SqlStorage, faults: Rc<InjectedFaults>) -> Result<Self, StoreError> {
        sql.exec(SCHEMA, None)
            .map_err(|e| StoreError::Write(e.to_string()))?;
        Ok(Store { sql, faults })
    }

    fn rows<T: DeserializeOwned>(
        &self,
        query: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>, StoreError> {
        self.sql
            .exec(query, args)
            .and_then(|c| c.to_array::<T>())
            .map_err(|e| {
                worker::console_error!("storage read failed: {e}");
                StoreError::Read(e.to_string())
            })
    }

    /// A read of logged frames or sequence numbers, which the fault switch can make fail.
    fn log_rows<T: DeserializeOwned>(
        &self,
        query: &str,
        args: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>, StoreError> {
        if InjectedFaults::take(&self.faults.log_reads) {
            worker::console_error!("storage read failed: injected by the fault switch");
            return Err(StoreError::Read("injected by the fault switch".into()));
        }
        self.rows(query, args)
    }

    fn write(&self, query: &str, args: Vec<SqlStorageValue>) -> Result<(), StoreError> {
        if InjectedFaults::take(&self.faults.writes) {
            worker::console_error!("storage write failed: injected by the fault switch");
            return Err(StoreError::Write("injected by the fault switch".into()));
        }
        self.sql.exec(query, args).map(drop).map_err(|e| {
            worker::console_error!("storage write failed: {e}");
            StoreError::Write(e.to_string())
        })
    }

    /// The user this hub belongs to, once recorded.
    pub fn user_id(&self) -> Result<Option<String>, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        Ok(self
            .rows::<Row>("SELECT v FROM meta WHERE k = 'user'", vec![])?
            .pop()
            .map(|r| r.v))
    }

    pub fn set_user_id(&self, user_id: &str) -> Result<(), StoreError> {
        self.write(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('user', ?)",
            vec![text(user_id)],
        )
    }

    /// Counts a rebuild of the in-memory state (a first start or a wake after eviction) and
    /// returns the new count. Only used to observe hibernation in development.
    pub fn count_wake(&self) -> Result<u64, StoreError> {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        let n = self
            .rows::<Row>("SELECT v FROM meta WHERE k = 'wakes'", vec![])?
            .pop()
            .and_then(|r| r.v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        self.write(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('wakes', ?)",
            vec![text(&n.to_string())],
        )?;
        Ok(n)
    }

    /// Raises a thread's `seq` high-water mark to `seq` without a log row (see
    /// `router::lost_seqs`).
    pub fn reserve_seq(&self, thread_id: &str, seq: u64) -> Result<(), StoreError> {
        self.write(
            "INSERT INTO seqs (thread, high) VALUES (?, ?) \
             ON CONFLICT (thread) DO UPDATE SET high = MAX(high, excluded.high)",
            vec![text(thread_id), int(seq)],
        )
    }

    /// Carries out one router write.
    pub fn apply(&self, op: &StoreOp) -> Result<(), StoreError> {
        match op {
            StoreOp::AppendLog {
                thread_id,
                seq,
                text: frame,
            } => {
                // The high-water mark first: a `seq` once handed out is never handed out again,
                // whatever becomes of the log's rows.
                self.write(
                    "INSERT INTO seqs (thread, high) VALUES (?, ?) \
                     ON CONFLICT (thread) DO UPDATE SET high = MAX(high, excluded.high)",
                    vec![text(thread_id), int(*seq)],
                )?;
                self.write(
                    "INSERT INTO activity (thread, at) VALUES (?, ?) \
                     ON CONFLICT (thread) DO UPDATE SET at = excluded.at",
                    vec![text(thread_id), int(crate::http::now_ms())],
                )?;
                self.write(
                    "INSERT INTO log (thread, seq, frame) VALUES (?, ?, ?)",
                    vec![text(thread_id), int(*seq), text(frame)],
                )
            }
            StoreOp::TrimLog {
                thread_id,
                max_frames,
                max_bytes,
            } => {
                // Only the rows' sizes are read, never their frames.
                #[derive(Deserialize)]
                struct Row {
                    seq: f64,
                    bytes: f64,
                }
                let rows: Vec<(u64, u64)> = self
                    .rows::<Row>(
                        "SELECT seq, length(CAST(frame AS BLOB)) AS bytes FROM log \
                         WHERE thread = ? ORDER BY seq",
                        vec![text(thread_id)],
                    )?
                    .into_iter()
                    .map(|r| (r.seq as u64, r.bytes as u64))
                    .collect();
                match budget::trim_through(&rows, *max_frames, *max_bytes) {
                    Some(through) => self.write(
                        "DELETE FROM log WHERE thread = ? AND seq <= ?",
                        vec![text(thread_id), int(through)],
                    ),
                    None => Ok(()),
                }
            }
            StoreOp::BindThread {
                thread_id,
                anchor_id,
            } => self.write(
                "INSERT OR REPLACE INTO threads (thread, anchor) VALUES (?, ?)",
                vec![text(thread_id), text(anchor_id)],
            ),
            StoreOp::Subscribe { conn, thread_id } => self.write(
                "INSERT OR IGNORE INTO subs (conn, thread) VALUES (?, ?)",
                vec![text(conn), text(thread_id)],
            ),
            StoreOp::Unsubscribe { conn, thread_id } => self.write(
                "DELETE FROM subs WHERE conn = ? AND thread = ?",
                vec![text(conn), text(thread_id)],
            ),
            StoreOp::ForgetConn { conn } => {
                self.write("DELETE FROM subs WHERE conn = ?", vec![text(conn)])
            }
            StoreOp::SaveAnchor(record) => self.write(
                "INSERT OR REPLACE INTO anchors (anchor, record) VALUES (?, ?)",
                vec![text(&record.anchor_id), text(&to_json(record))],
            ),
            StoreOp::SavePending(request) => self.write(
                "INSERT OR REPLACE INTO pending (key, record) VALUES (?, ?)",
                vec![text(&request.key), text(&to_json(request))],
            ),
            StoreOp::SettlePending { key } => self.write(
                "UPDATE pending SET record = json_set(record, '$.resolved', json('true')) WHERE key = ?",
                vec![text(key)],
            ),
            StoreOp::ForgetPending { key } => {
                self.write("DELETE FROM pending WHERE key = ?", vec![text(key)])
            }
        }
    }

    /// Forgets the log rows of threads not logged to for `idle_ms` (their `seq` high-water mark,
    /// binding and the subscriptions of open sockets stay). Threads logged before activity was
    /// recorded count as active now. Called at a wake, before any event, so never during a
    /// replay.
    pub fn forget_idle_threads(&self, now_ms: u64, idle_ms: u64) -> Result<(), StoreError> {
        self.write(
            "INSERT OR IGNORE INTO activity (thread, at) SELECT thread, ? FROM seqs",
            vec![int(now_ms)],
        )?;
        let cutoff = int(budget::idle_cutoff(now_ms, idle_ms));
        self.write(
            "DELETE FROM log WHERE thread IN (SELECT thread FROM activity WHERE at <= ?)",
            vec![cutoff.clone()],
        )?;
        self.write("DELETE FROM activity WHERE at <= ?", vec![cutoff])
    }

    /// Reads back everything the router needs, for the sockets that are still open.
    ///
    /// A failed read is an error, never an empty state: an empty snapshot would restart the
    /// threads' numbering.
    pub fn snapshot(
        &self,
        conns: Vec<(ConnId, orbit_shared::router::Peer)>,
    ) -> Result<Snapshot, StoreError> {
        #[derive(Deserialize)]
        struct ThreadRow {
            thread: String,
            anchor: Option<String>,
            last: Option<f64>,
        }
        #[derive(Deserialize)]
        struct SubRow {
            conn: String,
            thread: String,
        }
        #[derive(Deserialize)]
        struct RecordRow {
            record: String,
        }
        let threads = self
            .log_rows::<ThreadRow>(
                // Threads bound to an anchor and threads only numbered (an anchor's traffic
                // binds no thread) alike.
                "SELECT k.thread AS thread, \
                 (SELECT anchor FROM threads t WHERE t.thread = k.thread) AS anchor, \
                 MAX(COALESCE((SELECT high FROM seqs s WHERE s.thread = k.thread), 0), \
                     COALESCE((SELECT MAX(seq) FROM log l WHERE l.thread = k.thread), 0)) \
                 AS last FROM (SELECT thread FROM threads UNION SELECT thread FROM seqs) k",
                vec![],
            )?
            .into_iter()
            .map(|r| ThreadRecord {
                thread_id: r.thread,
                anchor_id: r.anchor,
                last_seq: r.last.map_or(0, |n| n as u64),
            })
            .collect();
        let open: std::collections::HashSet<&str> = conns.iter().map(|(c, _)| c.as_str()).collect();
        let mut subscriptions = Vec::new();
        for row in self.rows::<SubRow>("SELECT conn, thread FROM subs", vec![])? {
            if open.contains(row.conn.as_str()) {
                subscriptions.push((row.conn, row.thread));
            } else {
                // The socket closed while nobody was listening for it.
                self.apply(&StoreOp::ForgetConn { conn: row.conn })?;
            }
        }
        let anchors = self
            .rows::<RecordRow>("SELECT record FROM anchors", vec![])?
            .into_iter()
            .filter_map(|r| serde_json::from_str::<AnchorRecord>(&r.record).ok())
            .collect();
        let pending = self
            .rows::<RecordRow>("SELECT record FROM pending", vec![])?
            .into_iter()
            .filter_map(|r| serde_json::from_str::<PendingRequest>(&r.record).ok())
            .collect();
        Ok(Snapshot {
            conns,
            subscriptions,
            threads,
            anchors,
            pending,
        })
    }
}

/// Deletes every row of the replay log, keeping the rest: what a storage that lost the rows
/// would leave. Only the development fault switch calls this.
pub fn empty_log(sql: &SqlStorage) -> Result<(), StoreError> {
    sql.exec("DELETE FROM log", None)
        .map(drop)
        .map_err(|e| StoreError::Write(e.to_string()))
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl ReplayLog for Store {
    fn frames_after(
        &self,
        thread_id: &str,
        after_seq: u64,
    ) -> Result<Vec<(u64, String)>, LogReadError> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
            frame: String,
        }
        Ok(self
            .log_rows::<Row>(
                "SELECT seq, frame FROM log WHERE thread = ? AND seq > ? ORDER BY seq",
                vec![text(thread_id), int(after_seq)],
            )?
            .into_iter()
            .map(|r| (r.seq as u64, r.frame))
            .collect())
    }

    fn bytes_after(&self, thread_id: &str, after_seq: u64) -> Result<u64, LogReadError> {
        // Summed in SQLite: the frames are not brought into the object's memory.
        #[derive(Deserialize)]
        struct Row {
            bytes: Option<f64>,
        }
        Ok(self
            .rows::<Row>(
                "SELECT SUM(length(CAST(frame AS BLOB))) AS bytes FROM log \
                 WHERE thread = ? AND seq > ?",
                vec![text(thread_id), int(after_seq)],
            )?
            .pop()
            .and_then(|r| r.bytes)
            .map_or(0, |n| n as u64))
    }

    fn oldest_seq(&self, thread_id: &str) -> Result<Option<u64>, LogReadError> {
        #[derive(Deserialize)]
        struct Row {
            seq: Option<f64>,
        }
        Ok(self
            .rows::<Row>(
                "SELECT MIN(seq) AS seq FROM log WHERE thread = ?",
                vec![text(thread_id)],
            )?
            .pop()
            .and_then(|r| r.seq)
            .map(|n| n as u64))
    }
}
