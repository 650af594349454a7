//! The passkey routes' decisions, natively.

use orbit_shared::auth::rate_limit::Policy;
use orbit_shared::webauthn::Algorithm;

use super::*;

fn config(rp_id: &str, origins: &[&str]) -> Config {
    Config {
        jwt_secret: b"k".to_vec(),
        allowed_origins: origins.iter().map(|o| o.to_string()).collect(),
        dev_api: false,
        seal_secret: String::new(),
        open_registration: false,
        public_url: None,
        rate_limits: Policy::default(),
        device_code_lifetime_s: 600,
        rp_id: rp_id.into(),
        rp_name: "Orbit".into(),
        passkey_challenge_lifetime_s: 300,
        access_token_lifetime_s: 900,
        refresh_reuse_grace_s: 30,
        step_up_window_s: 300,
        client_address: Default::default(),
        trust_request_cf: true,
    }
}

fn state(ceremony: &str, user_id: Option<&str>, new_account: bool) -> ChallengeState {
    ChallengeState {
        ceremony: ceremony.into(),
        user_id: user_id.map(str::to_string),
        new_account: u64::from(new_account),
        used_at: None,
        expires_at: 2_000,
        session_id: None,
    }
}

#[test]
fn a_refused_registration_is_400_and_a_refused_sign_in_401() {
    let e = WebauthnError::OriginNotAllowed;
    let register = refusal(Ceremony::Register, &e);
    let login = refusal(Ceremony::Login, &e);
    assert_eq!(
        (register.status, register.code),
        (400, ErrorCode::OriginNotAllowed)
    );
    assert_eq!(
        (login.status, login.code),
        (401, ErrorCode::OriginNotAllowed)
    );
    // The same code has a status of its own elsewhere (a WebSocket upgrade): not here.
    assert_eq!(ErrorCode::OriginNotAllowed.http_status(), Some(403));
    assert_eq!(
        failure_detail(Ceremony::Register, ErrorCode::OriginNotAllowed),
        "passkey registration: origin_not_allowed"
    );
    assert_eq!(
        failure_detail(Ceremony::Login, ErrorCode::BadSignature),
        "passkey: bad_signature"
    );
}

#[test]
fn the_relying_party_comes_from_configuration_or_is_a_misconfiguration() {
    let rp = relying_party(&config("orbit.example", &["https://orbit.example"])).unwrap();
    assert_eq!(rp.rp_id, "orbit.example");
    assert_eq!(rp.timeout_ms, 300_000);
    for broken in [
        config("", &["https://orbit.example"]),
        config("orbit.example", &[]),
    ] {
        let e = relying_party(&broken).unwrap_err();
        assert_eq!((e.status, e.code), (500, ErrorCode::ServerMisconfigured));
    }
    let mut long = config("orbit.example", &["https://orbit.example"]);
    long.passkey_challenge_lifetime_s = u64::MAX;
    assert_eq!(relying_party(&long).unwrap().timeout_ms, u32::MAX);
}

#[test]
fn a_challenge_that_is_not_the_callers_is_unknown_and_left_alone() {
    let code = |taker, s: Option<&ChallengeState>| {
        challenge_refusal(Ceremony::Register, taker, s, 1_000).code
    };
    let mine = state("register", Some("u1"), false);
    let signup = state("register", Some("new"), true);
    let login = state("login", None, false);
    // Another user's, a sign-up's, the other ceremony's, or none at all.
    assert_eq!(
        code(Taker::User("u2"), Some(&mine)),
        ErrorCode::ChallengeUnknown
    );
    assert_eq!(
        code(Taker::User("u1"), Some(&signup)),
        ErrorCode::ChallengeUnknown
    );
    assert_eq!(
        code(Taker::NewAccount, Some(&mine)),
        ErrorCode::ChallengeUnknown
    );
    assert_eq!(
        code(Taker::User("u1"), Some(&login)),
        ErrorCode::ChallengeUnknown
    );
    assert_eq!(code(Taker::Anyone, None), ErrorCode::ChallengeUnknown);
    // The caller's own that could not be taken: raced (it was live a moment ago).
    assert_eq!(
        code(Taker::User("u1"), Some(&mine)),
        ErrorCode::ChallengeUsed
    );
    assert_eq!(
        code(Taker::NewAccount, Some(&signup)),
        ErrorCode::ChallengeUsed
    );
}

#[test]
fn a_challenge_is_used_before_it_is_expired() {
    let login =
        |s: &ChallengeState, now| challenge_refusal(Ceremony::Login, Taker::Anyone, Some(s), now);
    let mut s = state("login", None, false);
    s.expires_at = 1_000;
    let expired = login(&s, 1_000);
    assert_eq!(
        (expired.status, expired.code),
        (401, ErrorCode::ChallengeExpired)
    );
    s.used_at = Some(900);
    assert_eq!(login(&s, 1_000).code, ErrorCode::ChallengeUsed);
    let register = challenge_refusal(Ceremony::Register, Taker::Anyone, None, 0);
    assert_eq!(register.status, 400);
}

#[test]
fn an_account_has_at_most_32_passkeys() {
    assert!(room_for_another(0).is_ok());
    assert!(room_for_another(MAX_PASSKEYS - 1).is_ok());
    let e = room_for_another(MAX_PASSKEYS).unwrap_err();
    assert_eq!((e.status, e.code), (409, ErrorCode::TooManyPasskeys));
}

#[test]
fn registered_passkeys_are_excluded_with_their_transports() {
    let rows = [
        DescriptorRow {
            credential_id: base64url::encode(b"one"),
            transports: r#"["usb"]"#.into(),
        },
        DescriptorRow {
            credential_id: "%%%".into(),
            transports: "[]".into(),
        },
        DescriptorRow {
            credential_id: base64url::encode(b"two"),
            transports: "garbled".into(),
        },
    ];
    let list = exclude_list(&rows);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, b"one");
    assert_eq!(list[0].transports, ["usb"]);
    assert_eq!(list[0].kind, "public-key");
    assert!(list[1].transports.is_empty());
}

#[test]
fn names_and_labels_are_cleaned() {
    assert_eq!(shown_name(""), "orbit");
    assert_eq!(shown_name("ada"), "ada");
    assert_eq!(label(Some("  pho\u{7}ne \t")).as_deref(), Some("phone"));
    assert_eq!(label(Some("   ")), None);
    assert_eq!(label(None), None);
    assert_eq!(
        label(Some(&"é".repeat(40))).map(|l| l.len()),
        Some(LABEL_MAX)
    );
    assert_eq!(known_user("u1", false), Some("u1"));
    assert_eq!(known_user("u1", true), None);
}

#[test]
fn a_credential_is_a_duplicate_only_when_the_verified_id_is_the_one_found() {
    assert!(already_registered(true, Some("abc"), "abc"));
    // The claim named another id than the one the attestation proved: not believed.
    assert!(!already_registered(true, Some("abc"), "xyz"));
    assert!(!already_registered(false, Some("abc"), "abc"));
    assert!(!already_registered(true, None, "abc"));
}

fn new_credential() -> NewCredential {
    NewCredential {
        credential_id: b"cred".to_vec(),
        public_key: b"cose".to_vec(),
        algorithm: Algorithm::Es256,
        sign_count: 7,
        aaguid: "00000000-0000-0000-0000-000000000000".into(),
        user_verified: true,
        backup_eligible: true,
        backed_up: false,
        transports: vec!["internal".into()],
        attestation_format: "none".into(),
    }
}

#[test]
fn a_verified_registration_is_stored_and_listed_as_it_came() {
    let c = new_credential();
    let p = new_passkey("p1".into(), "u1".into(), &c, Some("phone".into())).unwrap();
    assert_eq!(p.credential_id, base64url::encode(b"cred"));
    assert_eq!(p.public_key, base64url::encode(b"cose"));
    assert_eq!(p.algorithm, c.algorithm.cose_id());
    assert_eq!(p.transports, r#"["internal"]"#);
    let info = added_info(&p, &c.transports, 1_234);
    assert_eq!(info.created_at, 1_234);
    assert_eq!(info.last_used_at, None);
    assert_eq!(info.transports, ["internal"]);
    assert!(info.user_verified && info.backup_eligible && !info.backed_up);
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["lastUsedAt"], serde_json::Value::Null);
    assert_eq!(json["credentialId"], p.credential_id.as_str());
}

#[test]
fn a_sign_in_needs_a_known_credential() {
    let row = PasskeyRow {
        id: "p1".into(),
        user_id: "u1".into(),
        name: None,
        credential_id: "x".into(),
        public_key: "y".into(),
        sign_count: 0,
        user_verified: 0,
        backup_eligible: 0,
    };
    assert_eq!(signing_credential(Ok(()), Some(row.clone())), Ok(row));
    assert_eq!(
        signing_credential(Ok(()), None),
        Err(WebauthnError::UnknownCredential)
    );
    assert_eq!(
        signing_credential(Err(WebauthnError::WrongType), None),
        Err(WebauthnError::WrongType)
    );
}

#[test]
fn a_malformed_credential_is_a_bad_request() {
    let e = credential::<orbit_shared::webauthn::AuthenticationResponseJson>(
        serde_json::json!({"id": 1}),
    )
    .unwrap_err();
    assert_eq!((e.status, e.code), (400, ErrorCode::BadRequest));
}

#[test]
fn the_last_way_in_stays() {
    let ways = |totp, passkeys| SignInMethods { totp, passkeys };
    assert!(ensure_not_last(ways(true, 1)).is_ok());
    assert!(ensure_not_last(ways(false, 2)).is_ok());
    let last = ensure_not_last(ways(false, 1)).unwrap_err();
    assert_eq!((last.status, last.code), (409, ErrorCode::LastSignInMethod));
    assert!(ensure_owned(true).is_ok());
    let theirs = ensure_owned(false).unwrap_err();
    assert_eq!(
        (theirs.status, theirs.code),
        (404, ErrorCode::PasskeyNotFound)
    );
    let taken = credential_exists();
    assert_eq!(
        (taken.status, taken.code),
        (409, ErrorCode::CredentialExists)
    );
}

#[test]
fn a_step_up_accepts_only_the_callers_own_passkey() {
    let row = |user: &str| PasskeyRow {
        id: "p1".into(),
        user_id: user.into(),
        name: None,
        credential_id: "AQID".into(),
        public_key: "AQID".into(),
        sign_count: 0,
        user_verified: 0,
        backup_eligible: 0,
    };
    assert_eq!(
        own_credential(Ok(()), Some(row("me")), "me").map(|r| r.id),
        Ok("p1".to_string())
    );
    assert_eq!(
        own_credential(Ok(()), Some(row("someone-else")), "me"),
        Err(WebauthnError::UnknownCredential)
    );
    assert_eq!(
        own_credential(Ok(()), None, "me"),
        Err(WebauthnError::UnknownCredential)
    );
    assert!(has_passkeys(0).is_err());
    assert!(has_passkeys(1).is_ok());
}
