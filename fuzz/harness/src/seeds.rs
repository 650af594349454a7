//! The seed corpus: meaningful inputs for each target, made from the real encoders (Orbit's own
//! token and code issuers, the test authenticator's CBOR, COSE keys and signatures) and from
//! the shapes the protocol and SPEC describe, plus the hostile cases each target exists for.
//! `orbit-fuzz-seeds` writes them to `fuzz/corpus/<target>/seed-<name>`; files not named
//! `seed-*` (inputs the fuzzer found, crashes fixed since) are left alone.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use orbit_shared::auth::device_code::{device_code, UserCode};
use orbit_shared::auth::refresh::{issue as issue_refresh, RefreshKind};
use orbit_shared::token::{issue, Claims};
use orbit_shared::webauthn::test_authenticator::{
    Attestation, Ceremony, TestAuthenticator, BE, BS, ED, UP, UV,
};
use sha2::{Digest, Sha256};

use crate::{token, webauthn};

/// One seed: its target, its name (the file is `seed-<name>`) and its bytes.
pub struct Seed {
    pub target: &'static str,
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Nesting depth of the deeply nested frames (SPEC §7: must not crash the object).
pub const DEEP: usize = 10_000;

pub fn all() -> Vec<Seed> {
    let mut out = Vec::new();
    let mut add = |target: &'static str, name: &str, bytes: Vec<u8>| {
        out.push(Seed {
            target,
            name: name.to_string(),
            bytes,
        })
    };
    for (name, text) in frames() {
        add("frame", &name, text.into_bytes());
    }
    for (i, bytes) in pseudo_random(24, 48, 400).into_iter().enumerate() {
        add("router", &format!("session-{i:02}"), bytes);
    }
    for (name, bytes) in cose() {
        add("cose", &name, bytes);
    }
    for (name, bytes) in auth_data() {
        add("auth_data", &name, bytes);
    }
    for (name, bytes) in attestation() {
        add("attestation", &name, bytes);
    }
    for (name, bytes) in ceremony() {
        add("ceremony", &name, bytes);
    }
    for (name, text) in tokens() {
        add("token", &name, text.into_bytes());
    }
    for (name, bytes) in refresh() {
        add("refresh", &name, bytes);
    }
    for (name, text) in codes() {
        add("codes", &name, text.into_bytes());
    }
    for (name, text) in paths() {
        add("sandbox", &name, text.into_bytes());
    }
    out
}

fn named<T>(list: impl IntoIterator<Item = (&'static str, T)>) -> Vec<(String, T)> {
    list.into_iter().map(|(n, t)| (n.to_string(), t)).collect()
}

/// A deterministic byte stream (xorshift), for inputs whose meaning is their decoding.
fn pseudo_random(count: usize, min: usize, max: usize) -> Vec<Vec<u8>> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    (0..count)
        .map(|_| {
            let len = min + (next() as usize) % (max - min);
            (0..len).map(|_| next() as u8).collect()
        })
        .collect()
}

fn nested(open: &str, inner: &str, close: &str) -> String {
    format!("{}{inner}{}", open.repeat(DEEP), close.repeat(DEEP))
}

fn frames() -> Vec<(String, String)> {
    let mut out = named([
        ("ping", r#"{"type":"ping"}"#.to_string()),
        ("subscribe", r#"{"type":"orbit.subscribe","threadId":"t1","sinceSeq":41}"#.into()),
        ("unsubscribe", r#"{"type":"orbit.unsubscribe","threadId":"t1"}"#.into()),
        ("list-anchors", r#"{"type":"orbit.list-anchors"}"#.into()),
        ("anchor-hello", r#"{"type":"anchor.hello","anchorId":"a1","name":"laptop","version":"0.1.0","capabilities":["anchor.listDirs"]}"#.into()),
        ("hello", r#"{"type":"orbit.hello","role":"client","userId":"u1","connectionId":"c0ffee","serverTime":1}"#.into()),
        ("request", r#"{"id":7,"method":"turn/start","params":{"threadId":"t1","anchorId":"a1","input":[{"type":"text","text":"hi"}]}}"#.into()),
        ("request-string-id", r#"{"id":"x","method":"thread/list","params":{}}"#.into()),
        ("notification-seq", r#"{"seq":3,"method":"item/agentMessage/delta","params":{"threadId":"t1","delta":"a"}}"#.into()),
        ("response-thread", r#"{"id":"orbit:c0ffee:7","result":{"thread":{"id":"t9"}}}"#.into()),
        ("response-error", r#"{"id":2,"error":{"code":-32600,"message":"no","data":{"code":"bad"}}}"#.into()),
        ("server-request", r#"{"id":0,"method":"item/commandExecution/requestApproval","params":{"threadId":"t1","turnId":"u","itemId":"i"}}"#.into()),
        ("resolved", r#"{"method":"serverRequest/resolved","params":{"threadId":"t1","requestId":0}}"#.into()),
        ("answer", r#"{"id":"orbit-srv:3","result":{"decision":"accept"}}"#.into()),
        ("thread-started", r#"{"method":"thread/started","params":{"thread":{"id":"t2","preview":""}}}"#.into()),
        ("anchor-helper", r#"{"id":1,"method":"anchor.file.read","params":{"path":"../../etc/passwd","anchorId":"a1"}}"#.into()),
        ("duplicate-id", r#"{"id":1,"id":2,"method":"m"}"#.into()),
        ("duplicate-thread", r#"{"method":"m","params":{"threadId":"a","threadId":"b"}}"#.into()),
        ("escaped-name", r#"{"id":1,"me\u0074hod":"m"}"#.into()),
        ("escaped-value", r#"{"method":"m","params":{"threadId":"t\u0031","anchorId":"\u0061"}}"#.into()),
        ("object-id", r#"{"id":{},"method":"m"}"#.into()),
        ("method-and-result", r#"{"id":1,"method":"m","result":1}"#.into()),
        ("type-null", r#"{"type":null,"method":"m"}"#.into()),
        ("type-number", r#"{"type":7}"#.into()),
        ("whitespace", " \n{ \"method\" : \"m\" , \"params\" : { \"anchorId\" : \"a\" } , \"seq\" : 1 }\t".into()),
        ("anchor-id-last", r#"{"method":"m","params":{"x":1,"anchorId":"a"}}"#.into()),
        ("big-number", r#"{"method":"m","params":{"n":1e400}}"#.into()),
        ("array", "[1]".into()),
        ("not-json", "{".into()),
        ("empty", String::new()),
        ("client-id-forged", r#""orbit:c0ffee:{\"a\":1}""#.into()),
        ("server-key", r#""orbit-srv:18446744073709551615""#.into()),
    ]);
    out.push(("deep-array".into(), nested("[", "", "]")));
    out.push(("deep-object".into(), nested(r#"{"a":"#, "1", "}")));
    out.push((
        "deep-params".into(),
        format!(
            r#"{{"id":1,"method":"m","params":{{"threadId":"t","x":{}}}}}"#,
            nested("[", "0", "]")
        ),
    ));
    // Frames codex app-server really sent and received (recorded transcripts, one per shape).
    for (i, line) in include_str!("seeds/codex-frames.jsonl").lines().enumerate() {
        out.push((format!("codex-{i:02}"), line.to_string()));
    }
    out
}

fn authenticators() -> &'static [TestAuthenticator; 3] {
    webauthn::authenticators()
}

fn ceremony_for(flags: u8) -> Ceremony {
    let mut c = Ceremony::new(webauthn::RP_ID, webauthn::ORIGIN, &webauthn::CHALLENGE);
    c.flags = flags;
    c
}

fn cose() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = authenticators()
        .iter()
        .map(|a| (format!("key{}", a.alg()), a.cose_key()))
        .collect();
    let es256 = authenticators()[0].cose_key();
    let mut truncated = es256.clone();
    truncated.truncate(es256.len() - 5);
    out.push(("truncated".into(), truncated));
    let mut trailing = es256.clone();
    trailing.push(0);
    out.push(("trailing".into(), trailing));
    // {1: 2, 1: 2, 3: -7}: a repeated label.
    out.push((
        "duplicate-label".into(),
        vec![0xa3, 0x01, 0x02, 0x01, 0x02, 0x03, 0x26],
    ));
    // An indefinite-length map, and a map claiming 2^32 entries.
    out.push(("indefinite".into(), vec![0xbf, 0x01, 0x02, 0xff]));
    out.push(("huge-map".into(), vec![0xba, 0xff, 0xff, 0xff, 0xff, 0x01]));
    out
}

fn auth_data() -> Vec<(String, Vec<u8>)> {
    let a = &authenticators()[0];
    let mut out = vec![
        (
            "assertion".into(),
            a.auth_data(&ceremony_for(UP | UV), false),
        ),
        ("attested".into(), a.auth_data(&ceremony_for(UP | UV), true)),
        (
            "attested-rsa".into(),
            authenticators()[2].auth_data(&ceremony_for(UP), true),
        ),
        (
            "backed-up-not-eligible".into(),
            a.auth_data(&ceremony_for(UP | BS), false),
        ),
        (
            "backup".into(),
            a.auth_data(&ceremony_for(UP | BE | BS), false),
        ),
    ];
    let mut ext = a.auth_data(&ceremony_for(UP | ED), false);
    ext.extend_from_slice(&[0xa1, 0x63, b'c', b'r', b'p', 0xf5]);
    out.push(("extensions".into(), ext));
    let mut short = a.auth_data(&ceremony_for(UP), true);
    short.truncate(60);
    out.push(("truncated".into(), short));
    out.push(("too-short".into(), vec![0; 36]));
    out
}

fn attestation() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for a in authenticators() {
        let c = ceremony_for(UP | UV);
        let cdj = TestAuthenticator::client_data_json(&c, "webauthn.create");
        let data = a.auth_data(&c, true);
        for (kind, att) in [
            ("none", Attestation::None),
            ("packed", Attestation::PackedSelf),
        ] {
            out.push((
                format!("{kind}{}", a.alg()),
                a.attestation_object(att, &data, &cdj),
            ));
        }
    }
    out
}

fn ceremony() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for a in authenticators() {
        let mut c = ceremony_for(UP | UV);
        out.push((format!("register{}", a.alg()), a.register(&c)));
        c.attestation = Attestation::PackedSelf;
        out.push((format!("register-packed{}", a.alg()), a.register(&c)));
        c.counter = 1;
        out.push((format!("assert{}", a.alg()), a.assert(&c)));
        let mut wrong = c.clone();
        wrong.origin = "https://evil.example".into();
        out.push((format!("assert-wrong-origin{}", a.alg()), a.assert(&wrong)));
    }
    out.into_iter()
        .map(|(n, v)| (n, v.to_string().into_bytes()))
        .collect()
}

fn tokens() -> Vec<(String, String)> {
    let sign = |claims: &Claims, key: &[u8]| issue(claims, key).unwrap_or_default();
    let web = Claims::web("user-1", "session-1", 1_000, 900);
    let anchor = Claims::anchor("user-1", "session-1", "anchor-1", 1_000, 900);
    let good = sign(&web, token::KEY);
    // The same claims under {"alg":"none"} and without a signature.
    let body = good.split('.').nth(1).unwrap_or("");
    let none = format!(
        "{}.{body}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
    );
    named([
        ("web", good.clone()),
        ("anchor", sign(&anchor, token::KEY)),
        ("expired", sign(&Claims::web("u", "s", 0, 900), token::KEY)),
        ("other-key", sign(&web, token::OTHER_KEY)),
        (
            "empty-subject",
            sign(&Claims::web("", "s", 1_000, 900), token::KEY),
        ),
        ("alg-none", none),
        (
            "no-signature",
            format!("{}.", good.rsplit_once('.').map_or("", |p| p.0)),
        ),
        ("garbage", "not.a.jwt".into()),
        ("empty", String::new()),
    ])
}

/// The refresh target's header (see `refresh::State::read`): now, kind and row flags,
/// expiry, use, successor expiry, window; then the token.
fn refresh() -> Vec<(String, Vec<u8>)> {
    let web = issue_refresh(RefreshKind::Web, [7; 32], 0).token;
    let anchor = issue_refresh(RefreshKind::Anchor, [9; 32], 0).token;
    let header = |now: u8, flags: u8, expires: u8, used_at: u8, succ_exp: u8, window: u8| {
        vec![now, flags, expires, used_at, succ_exp, window]
    };
    let with = |mut h: Vec<u8>, token: &str| {
        h.extend_from_slice(token.as_bytes());
        h
    };
    const FOUND: u8 = 0b110;
    const ANCHOR: u8 = 0b1;
    const USED: u8 = 0b1000;
    const SUCCESSOR: u8 = 0b1_0000;
    const DERIVED: u8 = 0b10_0000;
    const SUCCESSOR_USED: u8 = 0b100_0000;
    const REVOKED: u8 = 0b1000_0000;
    named([
        ("live", with(header(10, FOUND, 100, 0, 0, 1), &web)),
        (
            "live-anchor",
            with(header(10, FOUND | ANCHOR, 100, 0, 0, 1), &anchor),
        ),
        ("expired", with(header(100, FOUND, 100, 0, 0, 1), &web)),
        (
            "retry-in-grace",
            with(
                header(20, FOUND | USED | SUCCESSOR | DERIVED, 100, 10, 200, 1),
                &web,
            ),
        ),
        (
            "retry-late",
            with(
                header(90, FOUND | USED | SUCCESSOR | DERIVED, 100, 10, 200, 1),
                &web,
            ),
        ),
        (
            "retry-successor-used",
            with(
                header(
                    20,
                    FOUND | USED | SUCCESSOR | DERIVED | SUCCESSOR_USED,
                    100,
                    10,
                    200,
                    1,
                ),
                &web,
            ),
        ),
        (
            "retry-not-derived",
            with(header(20, FOUND | USED | SUCCESSOR, 100, 10, 200, 1), &web),
        ),
        (
            "retry-strict",
            with(
                header(20, FOUND | USED | SUCCESSOR | DERIVED, 100, 10, 200, 0),
                &web,
            ),
        ),
        (
            "revoked",
            with(header(10, FOUND | REVOKED, 100, 0, 0, 1), &web),
        ),
        ("wrong-row", with(header(10, 0b010, 100, 0, 0, 1), &web)),
        ("no-row", with(header(10, 0, 100, 0, 0, 1), &web)),
        (
            "wrong-kind",
            with(header(10, FOUND | ANCHOR, 100, 0, 0, 1), &web),
        ),
        (
            "padded",
            with(header(10, FOUND, 100, 0, 0, 1), &format!("{web}=")),
        ),
        (
            "non-canonical",
            with(
                header(10, FOUND, 100, 0, 0, 1),
                &format!("{}B", &web[..web.len() - 1]),
            ),
        ),
    ])
}

fn codes() -> Vec<(String, String)> {
    let drawn = UserCode::from_random(&Sha256::digest(b"orbit user code"))
        .map_or_else(|| "BCDF-GHJK".to_string(), |c| c.to_string());
    named([
        ("user-code", drawn),
        ("canonical", "BCDFGHJK".into()),
        ("typed", " bcdf ghjk ".into()),
        ("dashes", "-B-C-D-F-G-H-J-K-".into()),
        ("vowel", "BCDF-GHJA".into()),
        ("digit", "BCDF-GHJ1".into()),
        ("short", "BCDF-GHJ".into()),
        ("long", "BCDF-GHJK-L".into()),
        ("unicode", "ＢＣＤＦ-ＧＨＪＫ".into()),
        ("unicode-space", "BCDF\u{3000}GHJK".into()),
        ("device-code", device_code([3; 32])),
        ("device-code-padded", format!("{}=", device_code([3; 32]))),
        ("status", "approved".into()),
    ])
}

fn paths() -> Vec<(String, String)> {
    named([
        ("empty", ""),
        ("dot", "."),
        ("file", "notes.txt"),
        ("nested", "proj/src/main.rs"),
        ("new-file", "proj/src/new.rs"),
        ("dotdot", ".."),
        ("dotdot-file", "../outside/secret.txt"),
        ("dotdot-inside", "proj/../notes.txt"),
        ("deep-dotdot", "proj/src/../../../outside/secret.txt"),
        ("absolute", "/etc/passwd"),
        ("root", "/"),
        ("link-in", "link-in/main.rs"),
        ("link-out", "link-out/secret.txt"),
        ("link-out-new", "link-out/new.txt"),
        ("link-sibling", "link-sibling/secret.txt"),
        ("link-abs", "link-abs/etc/passwd"),
        ("dangling", "dangling"),
        ("loop", "loop/x"),
        ("dir-up", "dir/up/outside/secret.txt"),
        ("option", "-n"),
        ("long-option", "--output=../outside/x"),
        ("repo-option", "proj/-n"),
        ("escape-in-repo", "escape/secret.txt"),
        ("nul", "notes.txt\0../../x"),
        ("trailing-slash", "dir/"),
        ("sibling-prefix", "../root-sibling/secret.txt"),
        ("denied-state", "state/credentials.json"),
        ("denied-codex", "codex/auth.json"),
        ("denied-listed", ".ssh/id"),
        ("denied-missing", ".ssh/missing/new"),
        ("denied-dotdot", "proj/../.ssh/id"),
        ("denied-link", "to-ssh"),
        ("denied-link-state", "to-state"),
    ])
    .into_iter()
    .map(|(n, p)| (n, p.to_string()))
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orbit_shared::auth::refresh::{decide, Grace, RefreshDecision, RotationKey};
    use orbit_shared::token::{verify, Audience};
    use orbit_shared::webauthn::{
        verify_authentication, verify_registration, AuthenticationResponseJson,
        RegistrationResponseJson,
    };

    fn seed(target: &str, name: &str) -> Vec<u8> {
        all()
            .into_iter()
            .find(|s| s.target == target && s.name == name)
            .map(|s| s.bytes)
            .unwrap()
    }

    /// The seeds reach the accepting paths, where the targets check the most: a corpus of
    /// inputs that are all refused early would check nearly nothing.
    #[test]
    fn seeds_reach_the_paths_that_accept() {
        let web = String::from_utf8(seed("token", "web")).unwrap();
        assert!(verify(&web, token::KEY, Audience::Web, token::NOW).is_ok());

        let config = webauthn::config();
        for alg in ["-7", "-8", "-257"] {
            let reg: RegistrationResponseJson =
                serde_json::from_slice(&seed("ceremony", &format!("register-packed{alg}")))
                    .unwrap();
            assert!(verify_registration(&config, &webauthn::CHALLENGE, &reg).is_ok());
            let auth: AuthenticationResponseJson =
                serde_json::from_slice(&seed("ceremony", &format!("assert{alg}"))).unwrap();
            let stored = webauthn::stored_credentials();
            let ok = stored
                .iter()
                .filter(|c| verify_authentication(&config, &webauthn::CHALLENGE, c, &auth).is_ok())
                .count();
            assert_eq!(ok, 1, "assert{alg}");
        }

        let live = seed("refresh", "live");
        let key = RotationKey::derive(crate::refresh::SECRET);
        let grace = Grace {
            key: &key,
            window_s: 30,
        };
        let token = std::str::from_utf8(&live[6..]).unwrap();
        let row = orbit_shared::auth::refresh::StoredRefresh {
            hash: orbit_shared::auth::refresh::lookup_hash(token),
            expires_at: 100,
            used_at: None,
            successor: None,
            session_revoked: false,
        };
        let decision = decide(token, RefreshKind::Web, Some(&row), 10, grace);
        assert!(matches!(decision, RefreshDecision::Rotate(_)));

        assert!(UserCode::parse(std::str::from_utf8(&seed("codes", "typed")).unwrap()).is_ok());
    }
}
