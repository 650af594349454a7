//! The relay's durable state in the Durable Object's own SQLite storage: the replay log,
//! thread bindings, subscriptions, anchor records and open server requests.
//!
//! Writes are the router's [`StoreOp`]s, applied in order as they come. SQLite storage in a
//! Durable Object is local and synchronous, and every write made while handling one event is
//! committed together, so a burst of frames costs one commit per event, not per table.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::{SqlStorage, SqlStorageValue};

use orbit_shared::router::{
    AnchorRecord, ConnId, PendingRequest, ReplayLog, Snapshot, StoreOp, ThreadRecord,
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
";

/// The hub's SQLite storage.
pub struct Store {
    sql: SqlStorage,
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
    pub fn open(sql: SqlStorage) -> worker::Result<Self> {
        sql.exec(SCHEMA, None)?;
        Ok(Store { sql })
    }

    fn rows<T: DeserializeOwned>(&self, query: &str, args: Vec<SqlStorageValue>) -> Vec<T> {
        match self.sql.exec(query, args).and_then(|c| c.to_array::<T>()) {
            Ok(rows) => rows,
            Err(e) => {
                worker::console_error!("storage read failed: {e}");
                Vec::new()
            }
        }
    }

    fn write(&self, query: &str, args: Vec<SqlStorageValue>) {
        if let Err(e) = self.sql.exec(query, args) {
            worker::console_error!("storage write failed: {e}");
        }
    }

    /// The user this hub belongs to, once recorded.
    pub fn user_id(&self) -> Option<String> {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        self.rows::<Row>("SELECT v FROM meta WHERE k = 'user'", vec![])
            .pop()
            .map(|r| r.v)
    }

    pub fn set_user_id(&self, user_id: &str) {
        self.write(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('user', ?)",
            vec![text(user_id)],
        );
    }

    /// Counts a rebuild of the in-memory state (a first start or a wake after eviction) and
    /// returns the new count. Only used to observe hibernation in development.
    pub fn count_wake(&self) -> u64 {
        #[derive(Deserialize)]
        struct Row {
            v: String,
        }
        let n = self
            .rows::<Row>("SELECT v FROM meta WHERE k = 'wakes'", vec![])
            .pop()
            .and_then(|r| r.v.parse::<u64>().ok())
            .unwrap_or(0)
            + 1;
        self.write(
            "INSERT OR REPLACE INTO meta (k, v) VALUES ('wakes', ?)",
            vec![text(&n.to_string())],
        );
        n
    }

    /// Carries out one router write.
    pub fn apply(&self, op: &StoreOp) {
        match op {
            StoreOp::AppendLog {
                thread_id,
                seq,
                text: frame,
            } => self.write(
                "INSERT OR REPLACE INTO log (thread, seq, frame) VALUES (?, ?, ?)",
                vec![text(thread_id), int(*seq), text(frame)],
            ),
            StoreOp::TrimLog {
                thread_id,
                through_seq,
            } => self.write(
                "DELETE FROM log WHERE thread = ? AND seq <= ?",
                vec![text(thread_id), int(*through_seq)],
            ),
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

    /// Reads back everything the router needs, for the sockets that are still open.
    pub fn snapshot(&self, conns: Vec<(ConnId, orbit_shared::router::Peer)>) -> Snapshot {
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
            .rows::<ThreadRow>(
                "SELECT t.thread AS thread, t.anchor AS anchor, \
                 (SELECT MAX(seq) FROM log l WHERE l.thread = t.thread) AS last FROM threads t",
                vec![],
            )
            .into_iter()
            .map(|r| ThreadRecord {
                thread_id: r.thread,
                anchor_id: r.anchor,
                last_seq: r.last.map_or(0, |n| n as u64),
            })
            .collect();
        let open: std::collections::HashSet<&str> = conns.iter().map(|(c, _)| c.as_str()).collect();
        let mut subscriptions = Vec::new();
        for row in self.rows::<SubRow>("SELECT conn, thread FROM subs", vec![]) {
            if open.contains(row.conn.as_str()) {
                subscriptions.push((row.conn, row.thread));
            } else {
                // The socket closed while nobody was listening for it.
                self.apply(&StoreOp::ForgetConn { conn: row.conn });
            }
        }
        let anchors = self
            .rows::<RecordRow>("SELECT record FROM anchors", vec![])
            .into_iter()
            .filter_map(|r| serde_json::from_str::<AnchorRecord>(&r.record).ok())
            .collect();
        let pending = self
            .rows::<RecordRow>("SELECT record FROM pending", vec![])
            .into_iter()
            .filter_map(|r| serde_json::from_str::<PendingRequest>(&r.record).ok())
            .collect();
        Snapshot {
            conns,
            subscriptions,
            threads,
            anchors,
            pending,
        }
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

impl ReplayLog for Store {
    fn frames_after(&self, thread_id: &str, after_seq: u64) -> Vec<(u64, String)> {
        #[derive(Deserialize)]
        struct Row {
            seq: f64,
            frame: String,
        }
        self.rows::<Row>(
            "SELECT seq, frame FROM log WHERE thread = ? AND seq > ? ORDER BY seq",
            vec![text(thread_id), int(after_seq)],
        )
        .into_iter()
        .map(|r| (r.seq as u64, r.frame))
        .collect()
    }

    fn oldest_seq(&self, thread_id: &str) -> Option<u64> {
        #[derive(Deserialize)]
        struct Row {
            seq: Option<f64>,
        }
        self.rows::<Row>(
            "SELECT MIN(seq) AS seq FROM log WHERE thread = ?",
            vec![text(thread_id)],
        )
        .pop()
        .and_then(|r| r.seq)
        .map(|n| n as u64)
    }
}
