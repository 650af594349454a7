//! `anchor.info`: versions, uptime, roots.

use serde_json::{json, Value};

use super::{path_string, HelperContext};

/// `anchor.info`.
pub fn info(ctx: &HelperContext) -> Value {
    let roots: Vec<String> = ctx.sandbox.roots().iter().map(|r| path_string(r)).collect();
    json!({
        "anchorVersion": ctx.anchor_version,
        "codexVersion": ctx.codex_version,
        "uptimeSecs": ctx.started_at.elapsed().as_secs(),
        "roots": roots,
        "codexHome": path_string(&ctx.codex_home),
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
    })
}

#[cfg(test)]
mod tests {
    use super::super::handle;
    use super::super::test_support::ctx;
    use serde_json::Value;

    #[tokio::test]
    async fn info_reports_inputs() {
        let tmp = tempfile::tempdir().unwrap();
        let c = ctx(tmp.path());
        let v = handle(&c, "anchor.info", &Value::Null).await.unwrap();
        assert_eq!(v["anchorVersion"], "0.1.0");
        assert_eq!(v["codexVersion"], "codex 9.9");
        assert_eq!(v["roots"].as_array().unwrap().len(), 1);
        assert!(v["uptimeSecs"].as_u64().is_some());
    }
}
