//! `echo-codex`: a stand-in for `codex app-server` in the anchor benchmark, so that what is
//! measured is the anchor's own cost and not codex's.
//!
//! It reads JSON lines on stdin (its arguments, e.g. `app-server`, are ignored) and answers at
//! once on stdout:
//!
//! * `{"id":…,"method":"initialize",…}` → `{"id":…,"result":{"userAgent":"echo-codex/0.0.0 (bench)"}}`;
//! * any other request `{"id":…,"method":…,"params":P}` → `{"id":…,"result":{"echo":P}}`;
//! * notifications (no `id`, e.g. `initialized`), answers to server requests (no `method`)
//!   and lines that are not JSON are ignored.
//!
//! Output is buffered and flushed whenever no more input is already waiting, so a burst of
//! requests is answered with few writes and a lone request is answered at once. It exits at
//! the end of its input, or when its output is closed.

use std::io::{BufRead, BufReader, BufWriter, Write};

use serde::Deserialize;
use serde_json::value::RawValue;

const USER_AGENT: &str = "echo-codex/0.0.0 (bench)";

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    method: Option<&'a str>,
    #[serde(borrow)]
    params: Option<&'a RawValue>,
}

/// The answer to one input line, if it needs one (without the newline).
fn answer(line: &[u8]) -> Option<String> {
    let line: Line = serde_json::from_slice(line).ok()?;
    let id = line.id.filter(|id| id.get() != "null")?;
    let method = line.method?;
    if method == "initialize" {
        return Some(format!(
            r#"{{"id":{},"result":{{"userAgent":"{USER_AGENT}"}}}}"#,
            id.get()
        ));
    }
    let params = line.params.map_or("null", RawValue::get);
    Some(format!(
        r#"{{"id":{},"result":{{"echo":{params}}}}}"#,
        id.get()
    ))
}

fn serve() -> std::io::Result<()> {
    let mut input = BufReader::with_capacity(256 * 1024, std::io::stdin().lock());
    let mut output = BufWriter::with_capacity(256 * 1024, std::io::stdout().lock());
    let mut line = Vec::with_capacity(4096);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        if let Some(text) = answer(&line) {
            output.write_all(text.as_bytes())?;
            output.write_all(b"\n")?;
        }
        // Nothing more already read: the answers so far go out before waiting for more.
        if input.buffer().is_empty() {
            output.flush()?;
        }
    }
    output.flush()
}

fn main() {
    // A closed stdout (the anchor went away) ends it like the end of stdin does.
    if let Err(e) = serve() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("echo-codex: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::answer;

    #[test]
    fn requests_are_echoed_and_notifications_ignored() {
        assert_eq!(
            answer(br#"{"id":"anchor-init-1","method":"initialize","params":{}}"#).as_deref(),
            Some(r#"{"id":"anchor-init-1","result":{"userAgent":"echo-codex/0.0.0 (bench)"}}"#)
        );
        assert_eq!(
            answer(b"{\"id\":7,\"method\":\"bench/echo\",\"params\":{\"pad\":\"xx\"}}\n")
                .as_deref(),
            Some(r#"{"id":7,"result":{"echo":{"pad":"xx"}}}"#)
        );
        assert_eq!(
            answer(br#"{"id":8,"method":"x"}"#).as_deref(),
            Some(r#"{"id":8,"result":{"echo":null}}"#)
        );
        assert_eq!(answer(br#"{"method":"initialized"}"#), None);
        assert_eq!(answer(br#"{"id":3,"result":{}}"#), None);
        assert_eq!(answer(b"not json"), None);
    }
}
