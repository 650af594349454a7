//! [`Recorder`]: a client that subscribes to threads, records every frame it is sent, and
//! reconnects by itself after any close, resubscribing with the last `seq` it saw of each
//! thread (`sinceSeq`), as the web client does. The fault suite (`tests/tests/faults.rs`) runs
//! one or more of them through a fault and compares what each recorded with the ground truth.
//!
//! It runs as a task of its own, so it notices a close the moment it happens, whatever the
//! test is doing; the test reads its [`Record`] and sends through it.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{bail, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use crate::{summarize, Session, UpgradeHeaders, Ws};

/// The longest pause between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Everything a recorder saw, across all its connections.
#[derive(Debug, Default, Clone)]
pub struct Record {
    /// Every frame, in the order received.
    pub frames: Vec<Value>,
    /// How many connections were opened (counting the first).
    pub connections: u32,
    /// Every `orbit.subscribed` answer.
    pub subscribed: Vec<Value>,
    /// How each connection ended: the close code (1006 when the TCP connection just died).
    pub closes: Vec<u16>,
}

impl Record {
    /// The thread a frame belongs to: `params.threadId`, or `params.thread.id`.
    pub fn thread_of(frame: &Value) -> Option<&str> {
        frame["params"]["threadId"]
            .as_str()
            .or_else(|| frame["params"]["thread"]["id"].as_str())
    }

    /// The numbered frames of `thread`, in the order received.
    pub fn thread_frames(&self, thread: &str) -> Vec<Value> {
        self.frames
            .iter()
            .filter(|f| f["seq"].is_u64() && Record::thread_of(f) == Some(thread))
            .cloned()
            .collect()
    }

    /// The highest `seq` received for `thread`.
    pub fn last_seq(&self, thread: &str) -> Option<u64> {
        self.thread_frames(thread)
            .iter()
            .filter_map(|f| f["seq"].as_u64())
            .max()
    }

    /// The frames with `method`, of `thread`.
    pub fn with_method(&self, thread: &str, method: &str) -> Vec<Value> {
        self.thread_frames(thread)
            .into_iter()
            .filter(|f| f["method"] == method)
            .collect()
    }

    /// The concatenated `item/agentMessage/delta` texts of `thread`, in the order received.
    pub fn deltas(&self, thread: &str) -> Vec<String> {
        self.with_method(thread, "item/agentMessage/delta")
            .iter()
            .filter_map(|f| f["params"]["delta"].as_str().map(str::to_string))
            .collect()
    }

    /// The answers (JSON-RPC responses) to the request or server request `id`.
    pub fn answers_to(&self, id: &Value) -> Vec<Value> {
        self.frames
            .iter()
            .filter(|f| f["id"] == *id && f.get("method").is_none())
            .cloned()
            .collect()
    }
}

enum Command {
    Send(Value),
    /// Drop the TCP connection without a close handshake, as a lost network would.
    Drop,
}

/// A self-reconnecting, recording client; stopped on drop.
pub struct Recorder {
    pub label: String,
    record: Arc<Mutex<Record>>,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl Recorder {
    /// Connects to the Orbit at `ws_url` (`ws://127.0.0.1:port`) with `session`'s token,
    /// subscribes to `threads`, and waits until it is subscribed to all of them.
    pub async fn start(
        label: &str,
        ws_url: &str,
        session: &Session,
        threads: &[String],
    ) -> Result<Recorder> {
        let record = Arc::new(Mutex::new(Record::default()));
        let (commands, inbox) = mpsc::unbounded_channel();
        let task = tokio::spawn(run(
            label.to_string(),
            format!("{ws_url}/ws/client?token={}", session.access_token),
            threads.to_vec(),
            record.clone(),
            inbox,
        ));
        let recorder = Recorder {
            label: label.to_string(),
            record,
            commands,
            task,
        };
        let count = threads.len();
        recorder
            .wait("subscribed to its threads", Duration::from_secs(15), |r| {
                r.subscribed.len() >= count
            })
            .await?;
        Ok(recorder)
    }

    /// A copy of what was recorded so far.
    pub fn record(&self) -> Record {
        self.record
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Sends a frame on the current connection (lost if there is none at this moment, as
    /// with a real client; wait for [`Recorder::wait`] on `connections` first).
    pub fn send(&self, frame: Value) -> Result<()> {
        if self.commands.send(Command::Send(frame)).is_err() {
            bail!("{}: the recorder has stopped", self.label);
        }
        Ok(())
    }

    /// Drops the current connection abruptly; the recorder reconnects by itself.
    pub fn drop_connection(&self) -> Result<()> {
        if self.commands.send(Command::Drop).is_err() {
            bail!("{}: the recorder has stopped", self.label);
        }
        Ok(())
    }

    /// Waits until `check` holds of the record; fails after `within`, showing the last frames.
    pub async fn wait(
        &self,
        what: &str,
        within: Duration,
        check: impl Fn(&Record) -> bool,
    ) -> Result<Record> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let record = self.record();
            if check(&record) {
                return Ok(record);
            }
            if self.task.is_finished() {
                bail!("{}: the recorder stopped before {what}", self.label);
            }
            if tokio::time::Instant::now() >= deadline {
                let tail = &record.frames[record.frames.len().saturating_sub(10)..];
                bail!(
                    "{}: not {what} within {within:?} ({} connections, closes {:?}); last frames: {}",
                    self.label,
                    record.connections,
                    record.closes,
                    summarize(tail)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the first frame matching `predicate` and returns it.
    pub async fn wait_frame(
        &self,
        what: &str,
        within: Duration,
        predicate: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let record = self
            .wait(what, within, |r| r.frames.iter().any(&predicate))
            .await?;
        Ok(record
            .frames
            .into_iter()
            .find(|f| predicate(f))
            .unwrap_or(Value::Null))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The recorder's task: connect, subscribe, record until the connection ends, and again.
async fn run(
    label: String,
    url: String,
    threads: Vec<String>,
    record: Arc<Mutex<Record>>,
    mut inbox: mpsc::UnboundedReceiver<Command>,
) {
    let lock = || record.lock().unwrap_or_else(PoisonError::into_inner);
    let mut backoff = Duration::from_millis(50);
    loop {
        let Ok(ws) = Ws::connect(&url, &label, &UpgradeHeaders::default()).await else {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            continue;
        };
        backoff = Duration::from_millis(50);
        let mut stream = ws.into_stream();
        let subscribes: Vec<String> = {
            let mut r = lock();
            r.connections += 1;
            threads
                .iter()
                .map(|t| {
                    let mut frame = json!({"type": "orbit.subscribe", "threadId": t});
                    if let Some(seq) = r.last_seq(t) {
                        frame["sinceSeq"] = json!(seq);
                    }
                    frame.to_string()
                })
                .collect()
        };
        let mut sent = true;
        for frame in subscribes {
            sent &= stream.send(Message::text(frame)).await.is_ok();
        }
        let code = if !sent {
            1006
        } else {
            loop {
                tokio::select! {
                    command = inbox.recv() => match command {
                        Some(Command::Send(frame)) => {
                            if stream.send(Message::text(frame.to_string())).await.is_err() {
                                break 1006;
                            }
                        }
                        Some(Command::Drop) => break 1006,
                        None => return,
                    },
                    incoming = stream.next() => match incoming {
                        Some(Ok(Message::Text(text))) => {
                            let frame = serde_json::from_str(&text)
                                .unwrap_or(Value::String(text.to_string()));
                            let mut r = lock();
                            if frame["type"] == "orbit.subscribed" {
                                r.subscribed.push(frame.clone());
                            }
                            r.frames.push(frame);
                        }
                        Some(Ok(Message::Close(close))) => {
                            break close.map_or(1005, |c| u16::from(c.code));
                        }
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => break 1006,
                    },
                }
            }
        };
        drop(stream);
        lock().closes.push(code);
    }
}
