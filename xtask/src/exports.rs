//! The check that the entry module wires every entry point the Rust code exports.
//!
//! `worker/js/entry.js` is written by hand and imports the wasm-bindgen glue's exports by name.
//! esbuild already refuses an import that does not exist; this catches the other direction: an
//! entry point nobody wires (a new `#[event(scheduled)]`, or a `#[durable_object]` class) that
//! workerd would never see.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The module the entry imports the glue from.
const GLUE_SPECIFIER: &str = "./index.js";
/// `#[event(...)]` handlers: workers-rs exports each as a function of this name.
const EVENT_HANDLERS: [&str; 6] = ["fetch", "scheduled", "queue", "email", "tail", "connect"];

pub fn check_entry_wires_all(glue: &Path, entry: &Path) -> Result<()> {
    let glue_js =
        std::fs::read_to_string(glue).with_context(|| format!("reading {}", glue.display()))?;
    let entry_js =
        std::fs::read_to_string(entry).with_context(|| format!("reading {}", entry.display()))?;
    let points = entry_points(&glue_js);
    if points.is_empty() {
        bail!(
            "found no entry point in {}: has the shape of wasm-bindgen's output changed?",
            glue.display()
        );
    }
    let imported = entry_imports(&entry_js, GLUE_SPECIFIER);
    let unwired: Vec<_> = points.difference(&imported).cloned().collect();
    if !unwired.is_empty() {
        bail!(
            "the Worker exports {} but {} does not import {}: wire each one up there",
            unwired.join(", "),
            entry.display(),
            if unwired.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

/// What workerd calls in the glue: event-handler functions, and the classes with a `fetch`
/// method, which is what every workers-rs Durable Object has (plain data classes that the SDK
/// exports, such as `R2Range`, have none).
pub fn entry_points(glue: &str) -> BTreeSet<String> {
    let mut points = BTreeSet::new();
    let mut class: Option<&str> = None;
    for line in glue.lines() {
        if let Some(name) = class {
            if line.starts_with('}') {
                class = None;
            } else if line.trim_start().starts_with("fetch(") {
                points.insert(name.to_string());
            }
            continue;
        }
        let Some(decl) = line.strip_prefix("export ") else {
            continue;
        };
        let decl = decl.strip_prefix("async ").unwrap_or(decl);
        if let Some(rest) = decl.strip_prefix("class ") {
            class = Some(identifier(rest)).filter(|name| !name.is_empty());
        } else if let Some(rest) = decl.strip_prefix("function ") {
            let name = identifier(rest);
            if EVENT_HANDLERS.contains(&name) {
                points.insert(name.to_string());
            }
        }
    }
    points
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == '$'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Names imported from `specifier` by `import { a, b as c } from "specifier"`, across lines.
pub fn entry_imports(js: &str, specifier: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = js;
    while let Some(start) = rest.find("import {") {
        let after = &rest[start + "import {".len()..];
        let Some(close) = after.find('}') else { break };
        let list = &after[..close];
        rest = &after[close + 1..];
        let source = rest
            .trim_start()
            .strip_prefix("from")
            .map(str::trim_start)
            .and_then(|t| t.strip_prefix(['"', '\'']))
            .and_then(|t| t.split(['"', '\'']).next());
        if source == Some(specifier) {
            names.extend(
                list.split(',')
                    .map(|item| item.split(" as ").next().unwrap_or(item).trim())
                    .filter(|name| !name.is_empty())
                    .map(str::to_string),
            );
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const GLUE: &str = r#"import * as snippet from "./snippets/x/inline0.js";
export class R2Range {
    get offset() {}
}
export class UserHub {
    free() {}
    fetch(req) {
        return 1;
    }
}
export function fetch(req, env, ctx) {
    return wasm.fetch(req, env, ctx);
}
export async function scheduled(event, env, ctx) {}
export function __wbg_reset_state() {}
function queue() {}
"#;

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn entry_points_are_event_handlers_and_classes_with_fetch() {
        assert_eq!(entry_points(GLUE), set(&["UserHub", "fetch", "scheduled"]));
    }

    #[test]
    fn entry_imports_reads_only_the_glue_import_across_lines() {
        let entry = r#"import { DurableObject } from "cloudflare:workers";
import {
  fetch as wasmFetch,
  UserHub,
} from "./index.js";
import { other } from "./index.json";
"#;
        assert_eq!(
            entry_imports(entry, "./index.js"),
            set(&["UserHub", "fetch"])
        );
    }

    #[test]
    fn an_unwired_entry_point_is_an_error_naming_it() {
        let dir = std::env::temp_dir().join(format!("xtask-exports-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let glue = dir.join("index.js");
        let entry = dir.join("entry.js");
        std::fs::write(&glue, GLUE).unwrap();
        std::fs::write(&entry, "import { UserHub, fetch } from \"./index.js\";\n").unwrap();
        let err = check_entry_wires_all(&glue, &entry)
            .unwrap_err()
            .to_string();
        assert!(err.contains("exports scheduled but"), "{err}");

        std::fs::write(
            &entry,
            "import { UserHub, fetch, scheduled } from \"./index.js\";\n",
        )
        .unwrap();
        let wired = check_entry_wires_all(&glue, &entry);
        let _ = std::fs::remove_dir_all(&dir);
        wired.unwrap();
    }
}
