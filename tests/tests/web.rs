//! The web client as Orbit serves it: its files under a strict Content-Security-Policy and the
//! usual hardening headers, `index.html` for every client route (single-page app), and Orbit's
//! own endpoints never answered with the app.

use anyhow::{Context, Result};
use orbit_tests::orbit_shared::web::CONTENT_SECURITY_POLICY;
use orbit_tests::Orbit;
use reqwest::header::HeaderMap;

async fn get(orbit: &Orbit, path: &str) -> Result<(u16, HeaderMap, String)> {
    let response = reqwest::get(format!("{}{path}", orbit.base_url()))
        .await
        .with_context(|| format!("GET {path}"))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    Ok((status, headers, response.text().await?))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn the_app_is_served_under_a_policy_that_lets_no_injected_script_run() -> Result<()> {
    let orbit = Orbit::shared()?;
    let (status, headers, body) = get(orbit, "/").await?;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("text/html"));
    assert!(body.contains(r#"<div id="app">"#), "{body}");
    assert_eq!(
        header(&headers, "content-security-policy"),
        CONTENT_SECURITY_POLICY
    );
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
    assert_eq!(header(&headers, "cache-control"), "no-cache");
    // The built page itself has no inline script for the policy to forbid.
    assert!(
        !body.contains("<script>")
            && body.contains(r#"<script type="module" crossorigin src="/assets/"#)
    );
    Ok(())
}

#[tokio::test]
async fn client_routes_get_the_app_and_built_files_are_cached_for_good() -> Result<()> {
    let orbit = Orbit::shared()?;
    let (_, _, index) = get(orbit, "/").await?;
    for route in ["/device?code=BCDF-GHJK", "/thread/a1/t1", "/settings"] {
        let (status, headers, body) = get(orbit, route).await?;
        assert_eq!(status, 200, "{route}");
        assert_eq!(body, index, "{route} is not the app");
        assert_eq!(
            header(&headers, "content-security-policy"),
            CONTENT_SECURITY_POLICY
        );
    }
    let script = index
        .split(r#"src="/assets/"#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no script in index.html")?;
    let (status, headers, _) = get(orbit, &format!("/assets/{script}")).await?;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").contains("javascript"));
    assert_eq!(
        header(&headers, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    Ok(())
}

#[tokio::test]
async fn orbits_own_paths_are_never_answered_with_the_app() -> Result<()> {
    let orbit = Orbit::shared()?;
    for (path, status_wanted, code) in [
        ("/auth/nope", 404, "not_found"),
        ("/ws/nope", 404, "not_found"),
        ("/__dev/nope", 405, "method_not_allowed"),
    ] {
        let (status, headers, body) = get(orbit, path).await?;
        assert_eq!(status, status_wanted, "{path}");
        assert!(
            header(&headers, "content-type").starts_with("application/json"),
            "{path}"
        );
        assert!(body.contains(code), "{path}: {body}");
    }
    let (status, _, body) = get(orbit, "/health").await?;
    assert_eq!((status, body.contains(r#""status":"ok""#)), (200, true));
    Ok(())
}
