//! Orbit's clock-free WebAuthn verifier against webauthn-rs, natively.
//!
//! The same browser JSON goes to `orbit_shared::webauthn` and to webauthn-rs (the high-level
//! passkey API, or webauthn-rs-core where the high-level API is too narrow: EdDSA is not among
//! its passkey algorithms). Both must accept the good ceremonies and both must refuse every
//! mutation. Authenticators: webauthn-authenticator-rs's `SoftPasskey` (a real, independent
//! implementation: ES256, packed self-attestation, counter), and Orbit's tiny test authenticator
//! (`src/webauthn/test_authenticator.rs`) for everything the soft passkey cannot be told to do
//! (EdDSA and RS256 keys, UP/UV/BE/BS flags, counters going backwards, validly re-signed bad
//! answers, user handles).
//!
//! Run with `--nocapture` to see each case's two verdicts side by side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../src/webauthn/test_authenticator.rs"]
mod test_authenticator;

use std::time::Duration;

use orbit_shared::webauthn::{
    base64url, creation_options, find_credential, request_options, verify_authentication,
    verify_registration, Algorithm, AuthOutcome, AuthenticationResponseJson,
    CredentialDescriptorJson, NewCredential, RegistrationResponseJson, StoredCredential, UserInfo,
    WebauthnConfig,
};
use serde_json::Value;
use test_authenticator::{Attestation, Ceremony, KeyKind, TestAuthenticator, BE, BS, UP, UV};
use webauthn_authenticator_rs::prelude::WebauthnAuthenticator;
use webauthn_authenticator_rs::softpasskey::SoftPasskey;
use webauthn_rs::prelude::{
    CreationChallengeResponse, Passkey, PublicKeyCredential, RegisterPublicKeyCredential,
    RequestChallengeResponse, Url, Uuid, Webauthn, WebauthnBuilder,
};
use webauthn_rs_core::proto::{
    AttestationConveyancePreference, AuthenticationState, COSEAlgorithm, Credential,
    RegistrationState, UserVerificationPolicy,
};
use webauthn_rs_core::WebauthnCore;

const RP_ID: &str = "orbit.example";
const ORIGIN: &str = "https://orbit.example";

fn origin() -> Url {
    Url::parse(ORIGIN).unwrap()
}

/// Orbit's side, configured like webauthn-rs passkeys (UV required).
fn our_config() -> WebauthnConfig {
    let mut config = WebauthnConfig::new(RP_ID, "Orbit", [ORIGIN]);
    config.require_user_verification = true;
    config
}

fn challenge_of(options: &impl serde::Serialize) -> Vec<u8> {
    let json = serde_json::to_value(options).unwrap();
    base64url::decode(json["publicKey"]["challenge"].as_str().unwrap()).unwrap()
}

fn ours_register(challenge: &[u8], response: &Value) -> Result<NewCredential, &'static str> {
    let response: RegistrationResponseJson =
        serde_json::from_value(response.clone()).map_err(|_| "json")?;
    verify_registration(&our_config(), challenge, &response).map_err(|e| e.code().as_str())
}

fn ours_login(
    challenge: &[u8],
    stored: &[StoredCredential],
    response: &Value,
) -> Result<AuthOutcome, &'static str> {
    let response: AuthenticationResponseJson =
        serde_json::from_value(response.clone()).map_err(|_| "json")?;
    let credential = find_credential(&response, stored).map_err(|e| e.code().as_str())?;
    verify_authentication(&our_config(), challenge, credential, &response)
        .map_err(|e| e.code().as_str())
}

/// webauthn-rs-core, set up as webauthn-rs sets it up for passkeys (UV required, attestation
/// none, exact origin), but offering all three of Orbit's algorithms.
struct Reference {
    core: WebauthnCore,
}

impl Reference {
    fn new() -> Self {
        Reference {
            core: WebauthnCore::new_unsafe_experts_only(
                "Orbit",
                RP_ID,
                vec![origin()],
                Duration::from_secs(300),
                Some(false),
                Some(false),
            ),
        }
    }

    fn start_registration(&self, user_handle: &[u8]) -> (Vec<u8>, RegistrationState) {
        let (options, state) = self.registration_options(user_handle);
        (challenge_of(&options), state)
    }

    fn registration_options(
        &self,
        user_handle: &[u8],
    ) -> (CreationChallengeResponse, RegistrationState) {
        let builder = self
            .core
            .new_challenge_register_builder(user_handle, "ada", "Ada")
            .unwrap()
            .attestation(AttestationConveyancePreference::None)
            .credential_algorithms(vec![
                COSEAlgorithm::EDDSA,
                COSEAlgorithm::ES256,
                COSEAlgorithm::RS256,
            ])
            .require_resident_key(false)
            .user_verification_policy(UserVerificationPolicy::Required);
        self.core.generate_challenge_register(builder).unwrap()
    }

    fn finish_registration(
        &self,
        response: &Value,
        state: &RegistrationState,
    ) -> Result<Credential, String> {
        let response: RegisterPublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|e| format!("json: {e}"))?;
        self.core
            .register_credential(&response, state, None)
            .map_err(|e| format!("{e:?}"))
    }

    fn start_login(&self, credentials: Vec<Credential>) -> (Vec<u8>, AuthenticationState) {
        let (options, state) = self.login_options(credentials);
        (challenge_of(&options), state)
    }

    fn login_options(
        &self,
        credentials: Vec<Credential>,
    ) -> (RequestChallengeResponse, AuthenticationState) {
        let builder = self
            .core
            .new_challenge_authenticate_builder(credentials, Some(UserVerificationPolicy::Required))
            .unwrap();
        self.core.generate_challenge_authenticate(builder).unwrap()
    }

    fn finish_login(&self, response: &Value, state: &AuthenticationState) -> Result<u32, String> {
        let response: PublicKeyCredential =
            serde_json::from_value(response.clone()).map_err(|e| format!("json: {e}"))?;
        self.core
            .authenticate_credential(&response, state)
            .map(|result| result.counter())
            .map_err(|e| format!("{e:?}"))
    }
}

/// A credential registered on both sides.
struct Registered {
    auth: TestAuthenticator,
    theirs: Credential,
    ours: StoredCredential,
}

fn register_both(reference: &Reference, kind: KeyKind, seed: u8, c: &mut Ceremony) -> Registered {
    let auth = TestAuthenticator::new(kind, seed);
    let (challenge, state) = reference.start_registration(&auth.user_handle);
    c.challenge = challenge.clone();
    let response = auth.register(c);
    let theirs = reference.finish_registration(&response, &state).unwrap();
    let ours = ours_register(&challenge, &response).unwrap();
    assert_eq!(ours.credential_id, theirs.cred_id);
    assert_eq!(ours.sign_count, theirs.counter);
    assert_eq!(ours.user_verified, theirs.user_verified);
    assert_eq!(ours.backup_eligible, theirs.backup_eligible);
    assert_eq!(ours.backed_up, theirs.backup_state);
    let ours = ours.to_stored(&auth.user_handle);
    Registered { auth, theirs, ours }
}

fn ceremony() -> Ceremony {
    Ceremony::new(RP_ID, ORIGIN, &[])
}

/// The key types both verifiers support. webauthn-rs 0.6.2 cannot verify EdDSA at all (its
/// COSE conversion answers `SshPublicKeyEDUnsupported`), so EdDSA is checked separately.
const COMPARABLE: [KeyKind; 2] = [KeyKind::Es256, KeyKind::Rs256];

// ---------------------------------------------------------------------------------------------
// Acceptance

#[test]
fn soft_passkey_through_the_webauthn_rs_passkey_api() {
    let webauthn: Webauthn = WebauthnBuilder::new(RP_ID, &origin())
        .unwrap()
        .rp_name("Orbit")
        .build()
        .unwrap();
    let user = Uuid::from_bytes([7; 16]);
    let mut soft = SoftPasskey::new(true);

    let (options, reg_state) = webauthn
        .start_passkey_registration(user, "ada", "Ada", None)
        .unwrap();
    let challenge = challenge_of(&options);
    let registration = soft.do_registration(origin(), options).unwrap();
    let json = serde_json::to_value(&registration).unwrap();
    let mut passkey: Passkey = webauthn
        .finish_passkey_registration(&registration, &reg_state)
        .unwrap();
    let new = ours_register(&challenge, &json).unwrap();
    assert_eq!(new.credential_id, passkey.cred_id().as_slice());
    assert_eq!(new.algorithm, Algorithm::Es256);
    assert_eq!(new.attestation_format, "packed"); // self-attestation, verified
    assert!(new.user_verified);
    let mut stored = vec![new.to_stored(user.as_bytes())];

    // Replaying the registration under a new ceremony: both refuse.
    let (options, reg_state_2) = webauthn
        .start_passkey_registration(user, "ada", "Ada", None)
        .unwrap();
    let theirs = webauthn.finish_passkey_registration(&registration, &reg_state_2);
    let ours = ours_register(&challenge_of(&options), &json);
    println!("registration replay: ours={ours:?} theirs={theirs:?}");
    assert_eq!(ours.unwrap_err(), "challenge_mismatch");
    assert!(theirs.is_err());

    for round in 1..=3u32 {
        let (options, auth_state) = webauthn
            .start_passkey_authentication(&[passkey.clone()])
            .unwrap();
        let challenge = challenge_of(&options);
        let assertion = soft.do_authentication(origin(), options).unwrap();
        let json = serde_json::to_value(&assertion).unwrap();
        let result = webauthn
            .finish_passkey_authentication(&assertion, &auth_state)
            .unwrap();
        passkey.update_credential(&result);
        let outcome = ours_login(&challenge, &stored, &json).unwrap();
        assert_eq!(outcome.sign_count, result.counter());
        assert_eq!(outcome.sign_count, round); // the soft passkey counts its assertions
        assert_eq!(outcome.user_verified, result.user_verified());
        stored[0].sign_count = outcome.sign_count;

        // Replay: the same assertion in a new ceremony.
        let (options, auth_state_2) = webauthn
            .start_passkey_authentication(&[passkey.clone()])
            .unwrap();
        let theirs = webauthn.finish_passkey_authentication(&assertion, &auth_state_2);
        let ours = ours_login(&challenge_of(&options), &stored, &json);
        assert_eq!(ours.unwrap_err(), "challenge_mismatch");
        assert!(theirs.is_err());
    }
}

#[test]
fn soft_passkey_clone_detection_agrees() {
    // Two ceremonies answered in order and finished in the opposite order: the late answer has a
    // valid signature and its own challenge, but a counter that went backwards. webauthn-rs
    // keeps a snapshot of the credential in each ceremony's state, so the state is given the
    // credential as it is now (as webauthn-rs's discoverable flow does); Orbit is simply handed
    // the stored record as it is now.
    let reference = Reference::new();
    let mut soft = SoftPasskey::new(true);
    let (options, state) = reference.registration_options(b"user-handle-0007");
    let challenge = challenge_of(&options);
    let registration =
        serde_json::to_value(soft.do_registration(origin(), options).unwrap()).unwrap();
    let mut theirs = reference
        .finish_registration(&registration, &state)
        .unwrap();
    let mut stored = [ours_register(&challenge, &registration)
        .unwrap()
        .to_stored(b"user-handle-0007")];

    let (options_a, mut state_a) = reference.login_options(vec![theirs.clone()]);
    let (options_b, state_b) = reference.login_options(vec![theirs.clone()]);
    let (challenge_a, challenge_b) = (challenge_of(&options_a), challenge_of(&options_b));
    let answer_a =
        serde_json::to_value(soft.do_authentication(origin(), options_a).unwrap()).unwrap();
    let answer_b =
        serde_json::to_value(soft.do_authentication(origin(), options_b).unwrap()).unwrap();

    theirs.counter = reference.finish_login(&answer_b, &state_b).unwrap();
    stored[0].sign_count = ours_login(&challenge_b, &stored, &answer_b)
        .unwrap()
        .sign_count;
    assert_eq!((theirs.counter, stored[0].sign_count), (2, 2));

    state_a.set_allowed_credentials(vec![theirs.clone()]);
    let their_verdict = reference.finish_login(&answer_a, &state_a);
    let our_verdict = ours_login(&challenge_a, &stored, &answer_a);
    println!("soft passkey counter regression: ours={our_verdict:?} theirs={their_verdict:?}");
    assert_eq!(our_verdict.unwrap_err(), "counter_regressed");
    assert_eq!(their_verdict.unwrap_err(), "CredentialPossibleCompromise");
}

#[test]
fn our_options_drive_the_soft_passkey() {
    // Orbit's options JSON is read by webauthn-rs's own types and the soft passkey acts on it.
    let config = WebauthnConfig::new(RP_ID, "Orbit", [ORIGIN]);
    let user = UserInfo {
        id: b"user-handle-0042",
        name: "ada@example.com",
        display_name: "Ada",
    };
    let challenge = [9u8; 32];
    let options = serde_json::to_value(creation_options(&config, &user, &challenge, &[])).unwrap();
    let mut options: CreationChallengeResponse = serde_json::from_value(options).unwrap();
    let selection = options.public_key.authenticator_selection.as_mut().unwrap();
    assert!(selection.require_resident_key);
    // The soft passkey cannot store resident keys; everything else is Orbit's as sent.
    selection.require_resident_key = false;
    let algs: Vec<i64> = options
        .public_key
        .pub_key_cred_params
        .iter()
        .map(|p| p.alg)
        .collect();
    assert_eq!(algs, [-8, -7, -257]);

    let mut soft = SoftPasskey::new(false);
    let registration = soft.do_registration(origin(), options).unwrap();
    let response: RegistrationResponseJson =
        serde_json::from_value(serde_json::to_value(&registration).unwrap()).unwrap();
    let new = verify_registration(&config, &challenge, &response).unwrap();
    assert!(!new.user_verified); // userVerification "preferred" and the soft passkey has none
    let stored = new.to_stored(user.id);

    let challenge = [10u8; 32];
    let allow = [CredentialDescriptorJson::new(&new.credential_id, &[])];
    let options = serde_json::to_value(request_options(&config, &challenge, &allow)).unwrap();
    let options: RequestChallengeResponse = serde_json::from_value(options).unwrap();
    let assertion = soft.do_authentication(origin(), options).unwrap();
    let response: AuthenticationResponseJson =
        serde_json::from_value(serde_json::to_value(&assertion).unwrap()).unwrap();
    let outcome = verify_authentication(&config, &challenge, &stored, &response).unwrap();
    assert_eq!(outcome.sign_count, 1);
    assert_eq!(outcome.user_handle, None); // the soft passkey does not return one
}

#[test]
fn every_algorithm_attestation_and_backup_state_is_accepted_by_both() {
    let reference = Reference::new();
    for kind in COMPARABLE {
        for attestation in [Attestation::None, Attestation::PackedSelf] {
            for flags in [UP | UV, UP | UV | BE, UP | UV | BE | BS] {
                let mut c = ceremony();
                c.attestation = attestation;
                c.flags = flags;
                let registered = register_both(&reference, kind, 1, &mut c);
                let (challenge, state) = reference.start_login(vec![registered.theirs.clone()]);
                let mut c = ceremony();
                c.challenge = challenge.clone();
                c.flags = flags & !BS; // backup state may change; eligibility may not
                c.counter = 1;
                let response = registered.auth.assert(&c);
                let theirs = reference.finish_login(&response, &state).unwrap();
                let ours = ours_login(&challenge, &[registered.ours], &response).unwrap();
                assert_eq!(ours.sign_count, theirs);
                assert_eq!(ours.backup_eligible, flags & BE != 0);
            }
        }
    }
}

#[test]
fn eddsa_is_verified_by_orbit_though_webauthn_rs_cannot() {
    // If a later webauthn-rs learns EdDSA, this fails: then add EdDSA to COMPARABLE.
    let reference = Reference::new();
    let auth = TestAuthenticator::new(KeyKind::EdDsa, 6);
    let (challenge, state) = reference.start_registration(&auth.user_handle);
    let mut c = ceremony();
    c.challenge = challenge.clone();
    c.attestation = Attestation::PackedSelf;
    let response = auth.register(&c);
    let theirs = reference.finish_registration(&response, &state);
    assert_eq!(theirs.unwrap_err(), "SshPublicKeyEDUnsupported");
    let new = ours_register(&challenge, &response).unwrap();
    assert_eq!(new.algorithm, Algorithm::EdDsa);
    let stored = [new.to_stored(&auth.user_handle)];

    let mut c = ceremony();
    c.challenge = vec![3; 32];
    c.counter = 1;
    let good = auth.assert(&c);
    assert_eq!(
        ours_login(&c.challenge, &stored, &good).unwrap().sign_count,
        1
    );
    for (name, mutate, code) in LOGIN_MUTATIONS {
        let mut bad = c.clone();
        mutate(&mut bad);
        let ours = ours_login(&c.challenge, &stored, &auth.assert(&bad));
        assert_eq!(ours.err(), Some(code), "{name}");
    }
    let mut bad_sig = good.clone();
    let mut sig = base64url::decode(bad_sig["response"]["signature"].as_str().unwrap()).unwrap();
    sig[0] ^= 1;
    bad_sig["response"]["signature"] = Value::String(base64url::encode(&sig));
    assert_eq!(
        ours_login(&c.challenge, &stored, &bad_sig).err(),
        Some("bad_signature")
    );
}

#[test]
fn discoverable_login_by_user_handle_agrees() {
    let webauthn = WebauthnBuilder::new(RP_ID, &origin())
        .unwrap()
        .build()
        .unwrap();
    let auth = TestAuthenticator::new(KeyKind::Es256, 42); // user handle "user-handle-0042"
    let user = Uuid::from_slice(&auth.user_handle).unwrap();
    let (options, state) = webauthn
        .start_passkey_registration(user, "ada", "Ada", None)
        .unwrap();
    let mut c = ceremony();
    c.challenge = challenge_of(&options);
    c.flags = UP | UV | BE | BS;
    let response = auth.register(&c);
    let registration: RegisterPublicKeyCredential =
        serde_json::from_value(response.clone()).unwrap();
    let passkey = webauthn
        .finish_passkey_registration(&registration, &state)
        .unwrap();
    let stored = vec![ours_register(&c.challenge, &response)
        .unwrap()
        .to_stored(&auth.user_handle)];

    let (options, state) = webauthn.start_discoverable_authentication().unwrap();
    let mut c = ceremony();
    c.challenge = challenge_of(&options);
    c.flags = UP | UV | BE | BS;
    let json = auth.assert(&c);
    let assertion: PublicKeyCredential = serde_json::from_value(json.clone()).unwrap();
    let (their_user, their_cred) = webauthn
        .identify_discoverable_authentication(&assertion)
        .unwrap();
    assert_eq!(their_user, user);
    webauthn
        .finish_discoverable_authentication_v2(&assertion, state, &passkey)
        .unwrap();
    let response: AuthenticationResponseJson = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(response.user_handle(), Some(user.as_bytes().as_slice()));
    assert_eq!(response.credential_id().unwrap(), their_cred);
    let outcome = ours_login(&c.challenge, &stored, &json).unwrap();
    assert_eq!(outcome.user_handle.as_deref(), Some(&auth.user_handle[..]));

    // Without a user handle neither side can tell whose credential it is.
    c.send_user_handle = false;
    let assertion: PublicKeyCredential = serde_json::from_value(auth.assert(&c)).unwrap();
    assert!(webauthn
        .identify_discoverable_authentication(&assertion)
        .is_err());
    let response: AuthenticationResponseJson = serde_json::from_value(auth.assert(&c)).unwrap();
    assert_eq!(response.user_handle(), None);
}

// ---------------------------------------------------------------------------------------------
// Refusals

type Mutation = fn(&mut Ceremony);

/// Registration mutations made by a (validly signing) authenticator, and Orbit's code.
const REGISTRATION_MUTATIONS: [(&str, Mutation, &str); 9] = [
    (
        "wrong origin",
        |c| c.origin = "https://evil.example".into(),
        "origin_not_allowed",
    ),
    (
        "subdomain origin",
        |c| c.origin = "https://a.orbit.example".into(),
        "origin_not_allowed",
    ),
    (
        "cross-origin iframe",
        |c| c.cross_origin = Some(true),
        "origin_not_allowed",
    ),
    (
        "wrong RP ID hash",
        |c| c.rp_id = "evil.example".into(),
        "rp_id_mismatch",
    ),
    (
        "wrong type",
        |c| c.client_data_type = Some("webauthn.get".into()),
        "wrong_type",
    ),
    (
        "wrong challenge",
        |c| c.challenge = vec![1; 32],
        "challenge_mismatch",
    ),
    ("UP cleared", |c| c.flags = UV, "user_not_present"),
    ("UV cleared", |c| c.flags = UP, "user_not_verified"),
    (
        "BS without BE",
        |c| c.flags = UP | UV | BS,
        "bad_authenticator_data",
    ),
];

#[test]
fn mutated_registrations_are_refused_by_both() {
    let reference = Reference::new();
    for kind in COMPARABLE {
        let auth = TestAuthenticator::new(kind, 2);
        for attestation in [Attestation::None, Attestation::PackedSelf] {
            for (name, mutate, code) in REGISTRATION_MUTATIONS {
                let (challenge, state) = reference.start_registration(&auth.user_handle);
                let mut c = ceremony();
                c.challenge = challenge.clone();
                c.attestation = attestation;
                mutate(&mut c);
                let response = auth.register(&c);
                let theirs = reference.finish_registration(&response, &state);
                let ours = ours_register(&challenge, &response);
                println!(
                    "register {kind:?}/{attestation:?} {name}: ours={:?} theirs={theirs:?}",
                    ours.as_ref().err()
                );
                assert_eq!(ours.err(), Some(code), "{name}");
                assert!(theirs.is_err(), "webauthn-rs accepted: {name}");
            }
        }

        // Mutations after signing: a self-attestation by another key, and a self-attested
        // registration whose UP bit is cleared afterwards.
        let (challenge, state) = reference.start_registration(&auth.user_handle);
        let mut c = ceremony();
        c.challenge = challenge.clone();
        let client_data = TestAuthenticator::client_data_json(&c, "webauthn.create");
        let data = auth.auth_data(&c, true);
        let impostor = TestAuthenticator::new(kind, 3);
        let forged = impostor.attestation_object(Attestation::PackedSelf, &data, &client_data);
        let mut flipped = auth.attestation_object(Attestation::PackedSelf, &data, &client_data);
        let flags_at = flipped.len() - data.len() + 32;
        flipped[flags_at] &= !UP;
        for (name, object, code) in [
            ("self-attestation by another key", forged, "bad_attestation"),
            ("UP bit cleared after signing", flipped, "user_not_present"),
        ] {
            let response = auth.registration_json(&client_data, &object);
            let theirs = reference.finish_registration(&response, &state);
            let ours = ours_register(&challenge, &response);
            println!(
                "register {kind:?} {name}: ours={:?} theirs={theirs:?}",
                ours.as_ref().err()
            );
            assert_eq!(ours.err(), Some(code), "{name}");
            assert!(theirs.is_err(), "webauthn-rs accepted: {name}");
        }
    }
}

/// Assertion mutations made by a validly signing authenticator, and Orbit's code.
const LOGIN_MUTATIONS: [(&str, Mutation, &str); 8] = [
    (
        "wrong origin",
        |c| c.origin = "https://evil.example".into(),
        "origin_not_allowed",
    ),
    (
        "http origin",
        |c| c.origin = "http://orbit.example".into(),
        "origin_not_allowed",
    ),
    (
        "wrong RP ID hash",
        |c| c.rp_id = "evil.example".into(),
        "rp_id_mismatch",
    ),
    (
        "wrong type",
        |c| c.client_data_type = Some("webauthn.create".into()),
        "wrong_type",
    ),
    (
        "wrong challenge",
        |c| c.challenge = vec![1; 32],
        "challenge_mismatch",
    ),
    ("UP cleared", |c| c.flags = UV, "user_not_present"),
    ("UV cleared", |c| c.flags = UP, "user_not_verified"),
    (
        "BE appeared",
        |c| c.flags = UP | UV | BE,
        "bad_authenticator_data",
    ),
];

#[test]
fn mutated_logins_are_refused_by_both() {
    let reference = Reference::new();
    for kind in COMPARABLE {
        let mut registered = register_both(&reference, kind, 4, &mut ceremony());
        // Both sides last saw counter 5.
        registered.theirs.counter = 5;
        registered.ours.sign_count = 5;
        let stored = [registered.ours.clone()];
        let auth = &registered.auth;
        let start = || reference.start_login(vec![registered.theirs.clone()]);
        let check = |name: &str,
                     challenge: &[u8],
                     state: &AuthenticationState,
                     response: &Value,
                     code: &str| {
            let theirs = reference.finish_login(response, state);
            let ours = ours_login(challenge, &stored, response);
            println!(
                "login {kind:?} {name}: ours={:?} theirs={theirs:?}",
                ours.as_ref().err()
            );
            assert_eq!(ours.err(), Some(code), "{kind:?} {name}");
            assert!(theirs.is_err(), "webauthn-rs accepted: {kind:?} {name}");
        };

        for (name, mutate, code) in LOGIN_MUTATIONS {
            let (challenge, state) = start();
            let mut c = ceremony();
            c.challenge = challenge.clone();
            c.counter = 6;
            mutate(&mut c);
            check(name, &challenge, &state, &auth.assert(&c), code);
        }

        // Counter: equal, backwards, zero.
        for counter in [5, 4, 0] {
            let (challenge, state) = start();
            let mut c = ceremony();
            c.challenge = challenge.clone();
            c.counter = counter;
            check(
                &format!("counter {counter}"),
                &challenge,
                &state,
                &auth.assert(&c),
                "counter_regressed",
            );
        }

        // After signing: a flipped signature bit, and the UP bit cleared without re-signing.
        let (challenge, state) = start();
        let mut c = ceremony();
        c.challenge = challenge.clone();
        c.counter = 6;
        let good = auth.assert(&c);
        let mut bad_sig = good.clone();
        let mut sig =
            base64url::decode(bad_sig["response"]["signature"].as_str().unwrap()).unwrap();
        let last = sig.len() - 1;
        sig[last] ^= 1;
        bad_sig["response"]["signature"] = Value::String(base64url::encode(&sig));
        check(
            "flipped signature bit",
            &challenge,
            &state,
            &bad_sig,
            "bad_signature",
        );
        let mut up_flipped = good.clone();
        let mut data = base64url::decode(
            up_flipped["response"]["authenticatorData"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        data[32] &= !UP;
        up_flipped["response"]["authenticatorData"] = Value::String(base64url::encode(&data));
        check(
            "UP bit flipped",
            &challenge,
            &state,
            &up_flipped,
            "user_not_present",
        );
        let mut counter_bumped = good.clone();
        let mut data = base64url::decode(
            counter_bumped["response"]["authenticatorData"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        data[36] = 99;
        counter_bumped["response"]["authenticatorData"] = Value::String(base64url::encode(&data));
        check(
            "counter raised without re-signing",
            &challenge,
            &state,
            &counter_bumped,
            "bad_signature",
        );

        // The genuine answer passes on both sides ...
        let theirs = reference.finish_login(&good, &state).unwrap();
        let ours = ours_login(&challenge, &stored, &good).unwrap();
        assert_eq!((ours.sign_count, theirs), (6, 6));
        // ... once: replayed into a new ceremony it is refused.
        let (challenge_2, state_2) = start();
        check(
            "replayed assertion",
            &challenge_2,
            &state_2,
            &good,
            "challenge_mismatch",
        );

        // Another authenticator's credential, unknown to both.
        let stranger = TestAuthenticator::new(kind, 5);
        let (challenge, state) = start();
        let mut c = ceremony();
        c.challenge = challenge.clone();
        c.counter = 7;
        check(
            "unknown credential",
            &challenge,
            &state,
            &stranger.assert(&c),
            "unknown_credential",
        );

        // The stranger signs but claims the registered credential's id.
        let mut claimed = stranger.assert(&c);
        claimed["id"] = Value::String(base64url::encode(&auth.credential_id));
        claimed["rawId"] = Value::String(base64url::encode(&auth.credential_id));
        claimed["response"]["userHandle"] = Value::Null;
        check(
            "stranger's signature",
            &challenge,
            &state,
            &claimed,
            "bad_signature",
        );
    }
}
