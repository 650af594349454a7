//! Unit tests with hand-built inputs: one or more per error code, plus the happy paths.

use minicbor::Encoder;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::test_authenticator::{
    Attestation, Ceremony, KeyKind, TestAuthenticator, AT, BE, BS, ED, UP, UV,
};
use super::*;

const RP_ID: &str = "orbit.example";
const ORIGIN: &str = "https://orbit.example";
const CHALLENGE: [u8; 32] = [42; 32];

fn config() -> WebauthnConfig {
    WebauthnConfig::new(RP_ID, "Orbit", [ORIGIN])
}

fn ceremony() -> Ceremony {
    Ceremony::new(RP_ID, ORIGIN, &CHALLENGE)
}

fn reg_json(value: Value) -> RegistrationResponseJson {
    serde_json::from_value(value).unwrap()
}

fn auth_json(value: Value) -> AuthenticationResponseJson {
    serde_json::from_value(value).unwrap()
}

fn register_with(auth: &TestAuthenticator, c: &Ceremony) -> Result<NewCredential, WebauthnError> {
    verify_registration(&config(), &CHALLENGE, &reg_json(auth.register(c)))
}

fn stored(auth: &TestAuthenticator) -> StoredCredential {
    register_with(auth, &ceremony())
        .unwrap()
        .to_stored(&auth.user_handle)
}

fn login_with(
    auth: &TestAuthenticator,
    stored: &StoredCredential,
    c: &Ceremony,
) -> Result<AuthOutcome, WebauthnError> {
    verify_authentication(&config(), &CHALLENGE, stored, &auth_json(auth.assert(c)))
}

fn code<T: std::fmt::Debug>(result: Result<T, WebauthnError>) -> &'static str {
    result.unwrap_err().code().as_str()
}

/// A registration whose attested credential data carries `cose_key` (attestation none).
fn registration_with_key(auth: &TestAuthenticator, cose_key: &[u8]) -> RegistrationResponseJson {
    let c = ceremony();
    let mut data = Sha256::digest(RP_ID.as_bytes()).to_vec();
    data.push(UP | UV | AT);
    data.extend_from_slice(&0u32.to_be_bytes());
    data.extend_from_slice(&[0; 16]);
    data.extend_from_slice(&(auth.credential_id.len() as u16).to_be_bytes());
    data.extend_from_slice(&auth.credential_id);
    data.extend_from_slice(cose_key);
    let client_data = TestAuthenticator::client_data_json(&c, "webauthn.create");
    let object = auth.attestation_object(Attestation::None, &data, &client_data);
    reg_json(auth.registration_json(&client_data, &object))
}

/// A registration with attestation object `object` around otherwise good client data.
fn registration_with_object(auth: &TestAuthenticator, object: &[u8]) -> RegistrationResponseJson {
    let client_data = TestAuthenticator::client_data_json(&ceremony(), "webauthn.create");
    reg_json(auth.registration_json(&client_data, object))
}

/// An assertion over arbitrary authenticator data, correctly signed.
fn assertion_over(auth: &TestAuthenticator, auth_data: &[u8]) -> AuthenticationResponseJson {
    let c = ceremony();
    let client_data = TestAuthenticator::client_data_json(&c, "webauthn.get");
    let mut signed = auth_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(&client_data));
    auth_json(auth.assertion_json(&c, &client_data, auth_data, &auth.sign(&signed)))
}

fn cose(entries: &[(i64, CoseValue<'_>)]) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    e.map(entries.len() as u64).unwrap();
    for (label, value) in entries {
        e.i64(*label).unwrap();
        match value {
            CoseValue::Int(i) => e.i64(*i).unwrap(),
            CoseValue::Bytes(b) => e.bytes(b).unwrap(),
            CoseValue::Bool(b) => e.bool(*b).unwrap(),
        };
    }
    e.into_writer()
}

enum CoseValue<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Bool(bool),
}
use CoseValue::{Bool, Bytes, Int};

// ---------------------------------------------------------------------------------------------
// Happy paths

#[test]
fn registers_and_signs_in_with_every_algorithm_and_attestation() {
    for kind in [KeyKind::Es256, KeyKind::EdDsa, KeyKind::Rs256] {
        for attestation in [Attestation::None, Attestation::PackedSelf] {
            let auth = TestAuthenticator::new(kind, 3);
            let mut c = ceremony();
            c.attestation = attestation;
            c.flags = UP | UV | BE | BS;
            let new = register_with(&auth, &c).unwrap();
            assert_eq!(new.credential_id, auth.credential_id);
            assert_eq!(new.public_key, auth.cose_key());
            assert_eq!(new.algorithm.cose_id(), auth.alg());
            assert_eq!(new.aaguid, "00000000-0000-0000-0000-000000000000");
            assert!(new.user_verified && new.backup_eligible && new.backed_up);
            assert_eq!(new.transports, ["internal", "hybrid"]);
            let expected_fmt = match attestation {
                Attestation::None => "none",
                Attestation::PackedSelf => "packed",
            };
            assert_eq!(new.attestation_format, expected_fmt);

            let stored = new.to_stored(&auth.user_handle);
            let mut c = ceremony();
            c.flags = UP | UV | BE;
            let outcome = login_with(&auth, &stored, &c).unwrap();
            assert_eq!(outcome.sign_count, 0);
            assert!(outcome.user_verified && outcome.backup_eligible && !outcome.backed_up);
            assert_eq!(outcome.user_handle.as_deref(), Some(&auth.user_handle[..]));
        }
    }
}

#[test]
fn counter_must_increase_when_used() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 1);
    let mut record = stored(&auth);
    let mut c = ceremony();
    c.counter = 5;
    let outcome = login_with(&auth, &record, &c).unwrap();
    assert_eq!(outcome.sign_count, 5);
    record.sign_count = outcome.sign_count;
    for (counter, expected) in [
        (6, None),
        (5, Some("counter_regressed")),
        (3, Some("counter_regressed")),
        (0, Some("counter_regressed")),
    ] {
        c.counter = counter;
        let result = login_with(&auth, &record, &c);
        assert_eq!(
            result.err().map(|e| e.code().as_str()),
            expected,
            "counter {counter}"
        );
    }
}

#[test]
fn zero_counters_are_accepted_repeatedly() {
    // Synced passkeys have no counter: both stay 0.
    let auth = TestAuthenticator::new(KeyKind::EdDsa, 2);
    let record = stored(&auth);
    for _ in 0..2 {
        assert_eq!(
            login_with(&auth, &record, &ceremony()).unwrap().sign_count,
            0
        );
    }
}

#[test]
fn user_handle_is_optional_in_assertions() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 4);
    let record = stored(&auth);
    let mut c = ceremony();
    c.send_user_handle = false;
    assert_eq!(login_with(&auth, &record, &c).unwrap().user_handle, None);
}

#[test]
fn high_s_es256_signatures_are_accepted() {
    // Authenticators do not normalise S; the verifier must not insist on low-S.
    let auth = TestAuthenticator::new(KeyKind::Es256, 5);
    let record = stored(&auth);
    let mut response = auth_json(auth.assert(&ceremony()));
    let sig = p256::ecdsa::Signature::from_der(&response.response.signature).unwrap();
    let (r, s) = sig.split_scalars();
    let flipped = p256::ecdsa::Signature::from_scalars(r, -*s).unwrap();
    response.response.signature = flipped.to_der().as_bytes().to_vec();
    assert_ne!(sig, flipped);
    verify_authentication(&config(), &CHALLENGE, &record, &response).unwrap();
}

#[test]
fn extensions_in_authenticator_data_are_skipped() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 6);
    let record = stored(&auth);
    let mut data = auth.auth_data(&ceremony(), false);
    data[32] |= ED;
    data.extend_from_slice(&[0xa1, 0x6b]); // {"credProtect": 2}
    data.extend_from_slice(b"credProtect");
    data.push(0x02);
    verify_authentication(
        &config(),
        &CHALLENGE,
        &record,
        &assertion_over(&auth, &data),
    )
    .unwrap();
}

#[test]
fn certificate_attestation_is_accepted_but_not_evaluated() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 7);
    let data = auth.auth_data(&ceremony(), true);
    let mut e = Encoder::new(Vec::new());
    e.map(3).unwrap();
    e.str("fmt").unwrap().str("packed").unwrap();
    e.str("attStmt").unwrap().map(3).unwrap();
    e.str("alg").unwrap().i64(-7).unwrap();
    e.str("sig").unwrap().bytes(b"not checked").unwrap();
    e.str("x5c")
        .unwrap()
        .array(1)
        .unwrap()
        .bytes(b"certificate")
        .unwrap();
    e.str("authData").unwrap().bytes(&data).unwrap();
    let response = registration_with_object(&auth, &e.into_writer());
    let new = verify_registration(&config(), &CHALLENGE, &response).unwrap();
    assert_eq!(new.attestation_format, "packed");
}

#[test]
fn records_round_trip_through_json() {
    let auth = TestAuthenticator::new(KeyKind::Rs256, 8);
    let new = register_with(&auth, &ceremony()).unwrap();
    let json = serde_json::to_string(&new).unwrap();
    assert!(json.contains(r#""algorithm":-257"#), "{json}");
    assert_eq!(serde_json::from_str::<NewCredential>(&json).unwrap(), new);
    let record = new.to_stored(&auth.user_handle);
    let json = serde_json::to_string(&record).unwrap();
    assert_eq!(
        serde_json::from_str::<StoredCredential>(&json).unwrap(),
        record
    );
}

#[test]
fn response_json_reads_browser_output() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 9);
    let mut value = auth.assert(&ceremony());
    value["response"]["userHandle"] = Value::String(String::new());
    value["clientExtensionResults"] = serde_json::json!({"credProps": {"rk": true}});
    let response = auth_json(value);
    assert_eq!(response.user_handle(), None);
    assert_eq!(response.credential_id().unwrap(), auth.credential_id);
    let round = serde_json::to_value(&response).unwrap();
    assert_eq!(auth_json(round), response);
}

#[test]
fn options_have_the_standard_shape() {
    let mut cfg = config();
    let user = UserInfo {
        id: b"user-handle-0001",
        name: "ada@example.com",
        display_name: "Ada",
    };
    let exclude = [CredentialDescriptorJson::new(
        b"cred",
        &["internal".to_string()],
    )];
    let json = serde_json::to_value(creation_options(&cfg, &user, &CHALLENGE, &exclude)).unwrap();
    let pk = &json["publicKey"];
    assert_eq!(pk["rp"], serde_json::json!({"id": RP_ID, "name": "Orbit"}));
    assert_eq!(pk["user"]["id"], base64url::encode(b"user-handle-0001"));
    assert_eq!(pk["user"]["displayName"], "Ada");
    assert_eq!(pk["challenge"], base64url::encode(&CHALLENGE));
    let algs: Vec<i64> = pk["pubKeyCredParams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["type"], "public-key");
            p["alg"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(algs, [-8, -7, -257]);
    assert_eq!(pk["timeout"], 300_000);
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["requireResidentKey"], true);
    assert_eq!(
        pk["authenticatorSelection"]["userVerification"],
        "preferred"
    );
    assert_eq!(pk["attestation"], "none");
    assert_eq!(
        pk["excludeCredentials"][0]["id"],
        base64url::encode(b"cred")
    );
    assert_eq!(pk["excludeCredentials"][0]["transports"][0], "internal");

    cfg.require_user_verification = true;
    let json = serde_json::to_value(request_options(&cfg, &CHALLENGE, &[])).unwrap();
    let pk = &json["publicKey"];
    assert_eq!(pk["rpId"], RP_ID);
    assert_eq!(pk["allowCredentials"], serde_json::json!([]));
    assert_eq!(pk["userVerification"], "required");
    assert_eq!(pk["timeout"], 300_000);
}

#[test]
fn error_codes_are_distinct() {
    let all = [
        WebauthnError::BadClientData(""),
        WebauthnError::WrongType,
        WebauthnError::ChallengeMismatch,
        WebauthnError::OriginNotAllowed,
        WebauthnError::RpIdMismatch,
        WebauthnError::UserNotPresent,
        WebauthnError::UserNotVerified,
        WebauthnError::BadAuthenticatorData(""),
        WebauthnError::UnsupportedAlgorithm,
        WebauthnError::BadPublicKey(""),
        WebauthnError::BadSignature,
        WebauthnError::CounterRegressed,
        WebauthnError::UnknownCredential,
        WebauthnError::BadAttestation(""),
    ];
    let mut codes: Vec<_> = all.iter().map(|e| e.code().as_str()).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
}

// ---------------------------------------------------------------------------------------------
// One refusal per code

#[test]
fn bad_client_data() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 10);
    let data = auth.auth_data(&ceremony(), true);
    for client_data in [
        &b"not json"[..],
        br#"{"type":"webauthn.create","origin":"x"}"#,
        br#"[1]"#,
    ] {
        let object = auth.attestation_object(Attestation::None, &data, client_data);
        let response = reg_json(auth.registration_json(client_data, &object));
        assert_eq!(
            code(verify_registration(&config(), &CHALLENGE, &response)),
            "bad_client_data"
        );
    }
}

#[test]
fn wrong_type() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 11);
    let mut c = ceremony();
    c.client_data_type = Some("webauthn.get".into());
    assert_eq!(code(register_with(&auth, &c)), "wrong_type");

    let record = stored(&auth);
    c.client_data_type = Some("webauthn.create".into());
    assert_eq!(code(login_with(&auth, &record, &c)), "wrong_type");

    let mut value = auth.assert(&ceremony());
    value["type"] = Value::String("password".into());
    let response = auth_json(value);
    assert_eq!(
        code(verify_authentication(
            &config(),
            &CHALLENGE,
            &record,
            &response
        )),
        "wrong_type"
    );
}

#[test]
fn challenge_mismatch() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 12);
    let response = reg_json(auth.register(&ceremony()));
    assert_eq!(
        code(verify_registration(&config(), &[43; 32], &response)),
        "challenge_mismatch"
    );
    // A short (or forgotten, empty) expected challenge never matches, even if equal.
    let short = Ceremony::new(RP_ID, ORIGIN, &[]);
    let response = reg_json(auth.register(&short));
    assert_eq!(
        code(verify_registration(&config(), &[], &response)),
        "challenge_mismatch"
    );

    let record = stored(&auth);
    let response = auth_json(auth.assert(&ceremony()));
    assert_eq!(
        code(verify_authentication(
            &config(),
            &[1; 32],
            &record,
            &response
        )),
        "challenge_mismatch"
    );
}

#[test]
fn origin_not_allowed() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 13);
    for origin in [
        "https://evil.example",
        "http://orbit.example",
        "https://orbit.example:8443",
    ] {
        let mut c = ceremony();
        c.origin = origin.into();
        assert_eq!(
            code(register_with(&auth, &c)),
            "origin_not_allowed",
            "{origin}"
        );
    }
    let mut c = ceremony();
    c.cross_origin = Some(true);
    assert_eq!(code(register_with(&auth, &c)), "origin_not_allowed");
    c.cross_origin = Some(false);
    register_with(&auth, &c).unwrap();

    let record = stored(&auth);
    let mut c = ceremony();
    c.origin = "https://orbit.example.evil".into();
    assert_eq!(code(login_with(&auth, &record, &c)), "origin_not_allowed");
}

#[test]
fn rp_id_mismatch() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 14);
    let mut c = ceremony();
    c.rp_id = "example".into();
    assert_eq!(code(register_with(&auth, &c)), "rp_id_mismatch");
    let record = stored(&auth);
    assert_eq!(code(login_with(&auth, &record, &c)), "rp_id_mismatch");
}

#[test]
fn user_not_present() {
    let auth = TestAuthenticator::new(KeyKind::EdDsa, 15);
    let mut c = ceremony();
    c.flags = UV;
    assert_eq!(code(register_with(&auth, &c)), "user_not_present");
    let record = stored(&auth);
    assert_eq!(code(login_with(&auth, &record, &c)), "user_not_present");
}

#[test]
fn user_not_verified() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 16);
    let mut strict = config();
    strict.require_user_verification = true;
    let mut c = ceremony();
    c.flags = UP;
    let response = reg_json(auth.register(&c));
    assert_eq!(
        code(verify_registration(&strict, &CHALLENGE, &response)),
        "user_not_verified"
    );
    // Without UV required, the same registration passes, and the credential needs no UV later.
    let unverified = verify_registration(&config(), &CHALLENGE, &response).unwrap();
    assert!(!unverified.user_verified);
    let record = unverified.to_stored(&auth.user_handle);
    login_with(&auth, &record, &c).unwrap();
    let response = auth_json(auth.assert(&c));
    assert_eq!(
        code(verify_authentication(
            &strict, &CHALLENGE, &record, &response
        )),
        "user_not_verified"
    );
    // A credential registered with UV must keep verifying.
    let record = stored(&auth);
    assert_eq!(code(login_with(&auth, &record, &c)), "user_not_verified");
}

#[test]
fn bad_authenticator_data() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 17);
    let record = stored(&auth);
    let good = auth.auth_data(&ceremony(), false);
    let mut cases: Vec<Vec<u8>> = vec![good[..36].to_vec()];
    let mut trailing = good.clone();
    trailing.push(0);
    cases.push(trailing);
    let mut bs_without_be = good.clone();
    bs_without_be[32] |= BS;
    cases.push(bs_without_be);
    let mut be_changed = good.clone();
    be_changed[32] |= BE;
    cases.push(be_changed);
    let mut ed_not_map = good.clone();
    ed_not_map[32] |= ED;
    ed_not_map.push(0x01);
    cases.push(ed_not_map);
    let mut at_truncated = good.clone();
    at_truncated[32] |= AT;
    at_truncated.extend_from_slice(&[0; 17]);
    cases.push(at_truncated);
    for data in cases {
        let response = assertion_over(&auth, &data);
        assert_eq!(
            code(verify_authentication(
                &config(),
                &CHALLENGE,
                &record,
                &response
            )),
            "bad_authenticator_data",
            "{data:02x?}"
        );
    }

    // Registrations: no attested credential data; a credential id other than rawId; an id
    // length of zero.
    let c = ceremony();
    let client_data = TestAuthenticator::client_data_json(&c, "webauthn.create");
    let no_at = auth.auth_data(&c, false);
    let object = auth.attestation_object(Attestation::None, &no_at, &client_data);
    let response = reg_json(auth.registration_json(&client_data, &object));
    assert_eq!(
        code(verify_registration(&config(), &CHALLENGE, &response)),
        "bad_authenticator_data"
    );

    let mut other = TestAuthenticator::new(KeyKind::Es256, 17);
    other.credential_id = vec![9; 16];
    let object =
        other.attestation_object(Attestation::None, &other.auth_data(&c, true), &client_data);
    let response = reg_json(auth.registration_json(&client_data, &object));
    assert_eq!(
        code(verify_registration(&config(), &CHALLENGE, &response)),
        "bad_authenticator_data"
    );

    let mut zero = auth.auth_data(&c, true);
    zero[37 + 16] = 0;
    zero[37 + 17] = 0;
    let object = auth.attestation_object(Attestation::None, &zero, &client_data);
    let response = reg_json(auth.registration_json(&client_data, &object));
    assert_eq!(
        code(verify_registration(&config(), &CHALLENGE, &response)),
        "bad_authenticator_data"
    );
}

#[test]
fn unsupported_algorithm() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 18);
    // ES384 (-35) on P-384.
    let key = cose(&[
        (1, Int(2)),
        (3, Int(-35)),
        (-1, Int(2)),
        (-2, Bytes(&[1; 48])),
        (-3, Bytes(&[2; 48])),
    ]);
    let response = registration_with_key(&auth, &key);
    assert_eq!(
        code(verify_registration(&config(), &CHALLENGE, &response)),
        "unsupported_algorithm"
    );

    // Supported in general, but not offered by this configuration.
    let mut only_eddsa = config();
    only_eddsa.algorithms = vec![Algorithm::EdDsa];
    let response = reg_json(auth.register(&ceremony()));
    assert_eq!(
        code(verify_registration(&only_eddsa, &CHALLENGE, &response)),
        "unsupported_algorithm"
    );
    let record = stored(&auth);
    let response = auth_json(auth.assert(&ceremony()));
    assert_eq!(
        code(verify_authentication(
            &only_eddsa,
            &CHALLENGE,
            &record,
            &response
        )),
        "unsupported_algorithm"
    );
}

#[test]
fn bad_public_key() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 19);
    let good = auth.cose_key();
    let mut decoder = minicbor::Decoder::new(&good);
    decoder.map().unwrap();
    let (mut x, mut y) = (vec![], vec![]);
    for _ in 0..5 {
        match decoder.i64().unwrap() {
            -2 => x = decoder.bytes().unwrap().to_vec(),
            -3 => y = decoder.bytes().unwrap().to_vec(),
            _ => decoder.skip().unwrap(),
        }
    }
    let mut off_curve = y.clone();
    off_curve[31] ^= 1;
    let cases = [
        cose(&[
            (1, Int(2)),
            (3, Int(-7)),
            (-1, Int(1)),
            (-2, Bytes(&x)),
            (-3, Bytes(&off_curve)),
        ]),
        cose(&[
            (1, Int(2)),
            (3, Int(-7)),
            (-1, Int(1)),
            (-2, Bytes(&x[1..])),
            (-3, Bytes(&y)),
        ]),
        cose(&[
            (1, Int(2)),
            (3, Int(-7)),
            (-1, Int(1)),
            (-2, Bytes(&x)),
            (-3, Bool(true)),
        ]),
        cose(&[
            (1, Int(2)),
            (3, Int(-7)),
            (-1, Int(2)),
            (-2, Bytes(&x)),
            (-3, Bytes(&y)),
        ]),
        cose(&[
            (1, Int(1)),
            (3, Int(-7)),
            (-1, Int(1)),
            (-2, Bytes(&x)),
            (-3, Bytes(&y)),
        ]),
        cose(&[(1, Int(2)), (-1, Int(1)), (-2, Bytes(&x)), (-3, Bytes(&y))]),
        cose(&[
            (1, Int(2)),
            (3, Int(-7)),
            (3, Int(-7)),
            (-1, Int(1)),
            (-2, Bytes(&x)),
            (-3, Bytes(&y)),
        ]),
        cose(&[
            (1, Int(1)),
            (3, Int(-8)),
            (-1, Int(6)),
            (-2, Bytes(&[0; 31])),
        ]),
        // The identity point: small order.
        cose(&[
            (1, Int(1)),
            (3, Int(-8)),
            (-1, Int(6)),
            (
                -2,
                Bytes(&{
                    let mut p = [0; 32];
                    p[0] = 1;
                    p
                }),
            ),
        ]),
        cose(&[
            (1, Int(3)),
            (3, Int(-257)),
            (-1, Bytes(&[0xc5; 128])),
            (-2, Bytes(&[1, 0, 1])),
        ]),
        vec![0x9f, 0xff], // an indefinite-length array, not a map
    ];
    for key in cases {
        let response = registration_with_key(&auth, &key);
        assert_eq!(
            code(verify_registration(&config(), &CHALLENGE, &response)),
            "bad_public_key",
            "{key:02x?}"
        );
    }
    // A stored key that went bad.
    let mut record = stored(&auth);
    record.public_key = vec![0xa0];
    let response = auth_json(auth.assert(&ceremony()));
    assert_eq!(
        code(verify_authentication(
            &config(),
            &CHALLENGE,
            &record,
            &response
        )),
        "bad_public_key"
    );
}

#[test]
fn bad_signature() {
    for kind in [KeyKind::Es256, KeyKind::EdDsa, KeyKind::Rs256] {
        let auth = TestAuthenticator::new(kind, 20);
        let record = stored(&auth);
        let good = auth_json(auth.assert(&ceremony()));

        let mut flipped = good.clone();
        let last = flipped.response.signature.len() - 1;
        flipped.response.signature[last] ^= 1;
        let mut truncated = good.clone();
        truncated.response.signature.truncate(10);
        let mut other_data = good.clone();
        other_data.response.authenticator_data[36] = 1; // counter changed after signing
        let mut other_client_data = good.clone();
        other_client_data.response.client_data_json =
            br#"{"type":"webauthn.get","challenge":"KioqKioqKioqKioqKioqKioqKioqKioqKioqKioqKio","origin":"https://orbit.example","crossOrigin":false}"#.to_vec();
        let impostor = TestAuthenticator::new(kind, 21);
        let mut other_key = auth_json(impostor.assert(&ceremony()));
        other_key.id = good.id.clone();
        other_key.raw_id = good.raw_id.clone();
        other_key.response.user_handle = None;

        for response in [flipped, truncated, other_data, other_client_data, other_key] {
            assert_eq!(
                code(verify_authentication(
                    &config(),
                    &CHALLENGE,
                    &record,
                    &response
                )),
                "bad_signature",
                "{kind:?}"
            );
        }
    }
}

#[test]
fn unknown_credential() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 22);
    let record = stored(&auth);
    let other = TestAuthenticator::new(KeyKind::Es256, 23);
    let response = auth_json(other.assert(&ceremony()));
    assert_eq!(
        code(find_credential(&response, [&record])),
        "unknown_credential"
    );
    assert_eq!(
        code(verify_authentication(
            &config(),
            &CHALLENGE,
            &record,
            &response
        )),
        "unknown_credential"
    );
    let good = auth_json(auth.assert(&ceremony()));
    assert_eq!(find_credential(&good, [&record]).unwrap(), &record);

    // id and rawId disagree.
    let mut response = good.clone();
    response.id = base64url::encode(b"something else");
    assert_eq!(
        code(verify_authentication(
            &config(),
            &CHALLENGE,
            &record,
            &response
        )),
        "unknown_credential"
    );
    // The authenticator says the credential belongs to another user.
    let mut response = good.clone();
    response.response.user_handle = Some(b"someone-else".to_vec());
    assert_eq!(
        code(verify_authentication(
            &config(),
            &CHALLENGE,
            &record,
            &response
        )),
        "unknown_credential"
    );
}

#[test]
fn bad_attestation() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 24);
    let c = ceremony();
    let data = auth.auth_data(&c, true);
    let client_data = TestAuthenticator::client_data_json(&c, "webauthn.create");
    let object = |fmt: &str, stmt: &dyn Fn(&mut Encoder<Vec<u8>>)| {
        let mut e = Encoder::new(Vec::new());
        e.map(3).unwrap();
        e.str("fmt").unwrap().str(fmt).unwrap();
        e.str("attStmt").unwrap();
        stmt(&mut e);
        e.str("authData").unwrap().bytes(&data).unwrap();
        e.into_writer()
    };
    let mut good_self = auth.attestation_object(Attestation::PackedSelf, &data, &client_data);
    let mut cases = vec![
        object("made-up", &|e| {
            e.map(0).unwrap();
        }),
        object("none", &|e| {
            e.map(1).unwrap().str("alg").unwrap().i64(-7).unwrap();
        }),
        object("packed", &|e| {
            e.map(2).unwrap().str("alg").unwrap().i64(-8).unwrap();
            e.str("sig").unwrap().bytes(&[0; 64]).unwrap();
        }),
        object("packed", &|e| {
            e.map(2).unwrap().str("alg").unwrap().i64(-7).unwrap();
            e.str("sig")
                .unwrap()
                .bytes(&[0x30, 0x06, 2, 1, 1, 2, 1, 1])
                .unwrap();
        }),
        object("packed", &|e| {
            e.map(1).unwrap().str("alg").unwrap().i64(-7).unwrap();
        }),
        object("none", &|e| {
            e.array(0).unwrap();
        }),
        vec![0xa0],
        b"not cbor".to_vec(),
    ];
    good_self.push(0x00);
    cases.push(good_self);
    for object in cases {
        let response = registration_with_object(&auth, &object);
        assert_eq!(
            code(verify_registration(&config(), &CHALLENGE, &response)),
            "bad_attestation",
            "{object:02x?}"
        );
    }
}

#[test]
fn ed25519_verifies_the_rfc_8032_vector() {
    // RFC 8032 §7.1, TEST 2: an external reference for the EdDSA path (webauthn-rs 0.6 has none).
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let public = hex("3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c");
    let signature = hex(concat!(
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da",
        "085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"
    ));
    let key = cose::PublicKey::from_cose(&cose(&[
        (1, Int(1)),
        (3, Int(-8)),
        (-1, Int(6)),
        (-2, Bytes(&public)),
    ]))
    .unwrap();
    assert_eq!(key.algorithm(), Algorithm::EdDsa);
    key.verify(&[0x72], &signature).unwrap();
    assert_eq!(
        key.verify(&[0x73], &signature),
        Err(WebauthnError::BadSignature)
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile nesting: CBOR is walked without recursion, so depth cannot exhaust the stack

/// `levels` definite-length one-element arrays around `0`, then the same with indefinite
/// lengths (the decoder's other path).
fn deep_cbor(levels: usize) -> [Vec<u8>; 2] {
    let mut definite = vec![0x81; levels];
    definite.push(0x00);
    let mut indefinite = vec![0x9f; levels];
    indefinite.push(0x00);
    indefinite.extend(std::iter::repeat_n(0xff, levels));
    [definite, indefinite]
}

const HOSTILE_LEVELS: usize = 100_000;

#[test]
fn cbor_nested_a_hundred_thousand_deep_is_skipped_or_refused_without_overflow() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 31);
    let c = ceremony();
    let data = auth.auth_data(&c, true);
    for deep in deep_cbor(HOSTILE_LEVELS) {
        // In the attestation statement, which for "none" must be empty.
        let mut e = Encoder::new(Vec::new());
        e.map(3).unwrap();
        e.str("fmt").unwrap().str("none").unwrap();
        e.str("attStmt").unwrap().map(1).unwrap().str("x").unwrap();
        let mut object = e.into_writer();
        object.extend_from_slice(&deep);
        let mut e = Encoder::new(object);
        e.str("authData").unwrap().bytes(&data).unwrap();
        let response = registration_with_object(&auth, &e.into_writer());
        assert_eq!(
            code(verify_registration(&config(), &CHALLENGE, &response)),
            "bad_attestation"
        );

        // As an unknown member of the attestation object, which is skipped: the rest is read.
        let mut e = Encoder::new(Vec::new());
        e.map(4).unwrap();
        e.str("x").unwrap();
        let mut object = e.into_writer();
        object.extend_from_slice(&deep);
        let mut e = Encoder::new(object);
        e.str("fmt").unwrap().str("none").unwrap();
        e.str("attStmt").unwrap().map(0).unwrap();
        e.str("authData").unwrap().bytes(&data).unwrap();
        let response = registration_with_object(&auth, &e.into_writer());
        verify_registration(&config(), &CHALLENGE, &response).unwrap();

        // As a value in a COSE key (skipped, and the key lacks its curve and coordinates).
        let mut key = cose(&[(1, Int(2)), (3, Int(-7))]);
        key[0] = 0xa3;
        key.push(0x18);
        key.push(99);
        key.extend_from_slice(&deep);
        let response = registration_with_key(&auth, &key);
        assert_eq!(
            code(verify_registration(&config(), &CHALLENGE, &response)),
            "bad_public_key"
        );

        // In the extensions of a signed assertion: skipped, and the signature still holds.
        let record = stored(&auth);
        let mut assertion = auth.auth_data(&c, false);
        assertion[32] |= ED;
        assertion.extend_from_slice(&[0xa1, 0x61, b'x']);
        assertion.extend_from_slice(&deep);
        verify_authentication(
            &config(),
            &CHALLENGE,
            &record,
            &assertion_over(&auth, &assertion),
        )
        .unwrap();
    }
}

#[test]
fn client_data_nested_ten_thousand_deep_is_read_without_overflow() {
    let auth = TestAuthenticator::new(KeyKind::Es256, 32);
    let record = stored(&auth);
    let c = ceremony();
    let mut client_data: serde_json::Map<String, Value> =
        serde_json::from_slice(&TestAuthenticator::client_data_json(&c, "webauthn.get")).unwrap();
    client_data.insert("x".into(), Value::Null);
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let text = serde_json::to_string(&client_data)
        .unwrap()
        .replace(r#""x":null"#, &format!(r#""x":{deep}"#));
    let data = auth.auth_data(&c, false);
    let mut signed = data.clone();
    signed.extend_from_slice(&Sha256::digest(text.as_bytes()));
    let response = auth_json(auth.assertion_json(&c, text.as_bytes(), &data, &auth.sign(&signed)));
    // An unknown member is skipped, however deep; what is checked is checked as ever.
    verify_authentication(&config(), &CHALLENGE, &record, &response).unwrap();
}
