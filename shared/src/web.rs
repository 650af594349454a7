//! The headers Orbit serves the web client with: a strict Content-Security-Policy (no inline
//! script or style, connections to Orbit's own origin only, nothing may frame the page) and the
//! usual hardening, plus caching by kind of file. Platform-free so the policy is tested here.
//!
//! ```
//! use orbit_shared::web::client_headers;
//! let headers = client_headers("/assets/index-abc123.js");
//! let csp = headers.iter().find(|(name, _)| *name == "Content-Security-Policy").unwrap();
//! assert!(csp.1.contains("script-src 'self'"));
//! assert!(headers.contains(&("Cache-Control", "public, max-age=31536000, immutable")));
//! ```

/// The client's Content-Security-Policy.
///
/// * scripts and styles only from Orbit's own files: nothing injected into a page (a model's
///   Markdown, a file shown) can run, and no inline `<style>` or `style=""` can restyle it;
/// * `connect-src 'self'`: the page talks to its own Orbit only (HTTP and WebSocket);
/// * images may also be `data:` and `blob:` URLs (QR codes, pasted images before upload);
/// * no plugins, no `<base>` rewriting, forms post nowhere else, no framing (clickjacking).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; font-src 'self'; connect-src 'self'; \
     manifest-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// The headers to add to the answer for `path` of the web client.
pub fn client_headers(path: &str) -> Vec<(&'static str, &'static str)> {
    // Built files carry a content hash in their name: they never change under one URL.
    let cache = if path.starts_with("/assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    vec![
        ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
        ("Cross-Origin-Resource-Policy", "same-origin"),
        (
            "Permissions-Policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        ),
        (
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        ),
        ("Cache-Control", cache),
    ]
}

/// Whether `path` is one of Orbit's own endpoints rather than a page or file of the client.
pub fn is_api_path(path: &str) -> bool {
    path == "/health"
        || ["/auth/", "/ws/", "/__dev/"]
            .iter()
            .any(|prefix| path.starts_with(prefix))
        || ["/auth", "/ws", "/__dev"].contains(&path)
}

/// A short name for the device behind a `User-Agent`: "Firefox on Android", "Safari on iOS".
/// Only for telling a user's own devices apart in the UI; never for a security decision.
pub fn device_label(user_agent: &str) -> String {
    let ua = user_agent;
    let has = |needle: &str| ua.contains(needle);
    // Order matters: Edge and Opera say "Chrome" too, Chrome says "Safari", iPads may say Mac.
    let browser = if has("Edg/") || has("EdgA/") || has("EdgiOS/") {
        "Edge"
    } else if has("OPR/") || has("Opera") {
        "Opera"
    } else if has("SamsungBrowser/") {
        "Samsung Internet"
    } else if has("Firefox/") || has("FxiOS/") {
        "Firefox"
    } else if has("Chrome/") || has("CriOS/") || has("Chromium/") {
        "Chrome"
    } else if has("Safari/") {
        "Safari"
    } else {
        "A browser"
    };
    let os = if has("Android") {
        "Android"
    } else if has("iPhone") || has("iPad") || has("iPod") {
        "iOS"
    } else if has("CrOS") {
        "ChromeOS"
    } else if has("Mac OS X") || has("Macintosh") {
        "macOS"
    } else if has("Windows") {
        "Windows"
    } else if has("Linux") {
        "Linux"
    } else {
        return browser.to_string();
    };
    format!("{browser} on {os}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_inline_script_or_style_is_allowed_and_nothing_may_frame_the_page() {
        let csp = CONTENT_SECURITY_POLICY;
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{directive} missing from {csp}");
        }
    }

    #[test]
    fn hashed_files_are_cached_for_good_and_pages_are_revalidated() {
        let cache = |p: &str| {
            client_headers(p)
                .into_iter()
                .find(|(n, _)| *n == "Cache-Control")
                .map(|(_, v)| v)
        };
        assert_eq!(
            cache("/assets/app-1a2b.js"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(cache("/"), Some("no-cache"));
        assert_eq!(cache("/device"), Some("no-cache"));
    }

    #[test]
    fn devices_are_named_by_browser_and_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36", "Chrome on Linux"),
            ("Mozilla/5.0 (Android 15; Mobile; rv:140.0) Gecko/140.0 Firefox/140.0", "Firefox on Android"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15", "Safari on macOS"),
            ("curl/8.5.0", "A browser"),
        ];
        for (ua, want) in cases {
            assert_eq!(device_label(ua), want, "{ua}");
        }
    }

    #[test]
    fn api_paths_are_never_the_clients() {
        for p in [
            "/health",
            "/auth/session",
            "/ws/client",
            "/__dev/session",
            "/auth",
            "/ws",
        ] {
            assert!(is_api_path(p), "{p}");
        }
        for p in [
            "/",
            "/device",
            "/thread/a/b",
            "/assets/x.js",
            "/authx",
            "/healthy",
            "/wsx",
        ] {
            assert!(!is_api_path(p), "{p}");
        }
    }
}
