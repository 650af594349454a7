//! Passkeys: the CBOR, COSE and authenticator data an authenticator sends, and the browser's
//! whole answer to a ceremony.
//!
//! * `cose`: a COSE key ([`PublicKey::from_cose`]); a key that parses has a supported
//!   algorithm, parses the same way twice, and verifies no signature it was not given one for.
//! * `auth_data`: authenticator data ([`auth_data::parse`]); what is accepted is laid out
//!   exactly as the WebAuthn spec says, every byte accounted for.
//! * `attestation`: the attestation object ([`attestation::parse`]), its authenticator data
//!   and statement; the parts returned are slices of the input.
//! * `ceremony`: the browser's registration or assertion JSON through
//!   [`verify_registration`] / [`verify_authentication`] for a fixed relying party, challenge
//!   and three stored credentials (ES256, EdDsa, RS256 of the test authenticator): whatever
//!   verifies names the right challenge, origin and RP, and its assertion was signed by the
//!   stored credential's key and by no other.

use std::sync::OnceLock;

use orbit_shared::webauthn::auth_data::{self, AuthenticatorData, MAX_CREDENTIAL_ID_BYTES};
use orbit_shared::webauthn::client_data::{self, Ceremony as Kind};
use orbit_shared::webauthn::cose::PublicKey;
use orbit_shared::webauthn::test_authenticator::{KeyKind, TestAuthenticator};
use orbit_shared::webauthn::{
    attestation, verify_authentication, verify_registration, Algorithm, AuthenticationResponseJson,
    RegistrationResponseJson, StoredCredential, WebauthnConfig,
};
use sha2::{Digest, Sha256};

/// The relying party every ceremony is checked against.
pub const RP_ID: &str = "orbit.example";
pub const ORIGIN: &str = "https://orbit.example";
/// The challenge Orbit issued (any 16 bytes or more).
pub const CHALLENGE: [u8; 32] = [0x5a; 32];

const FLAG_UP: u8 = 0x01;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

pub fn config() -> WebauthnConfig {
    WebauthnConfig::new(RP_ID, "Orbit", [ORIGIN])
}

/// The software authenticators whose credentials are stored: one per algorithm.
pub fn authenticators() -> &'static [TestAuthenticator; 3] {
    static AUTHENTICATORS: OnceLock<[TestAuthenticator; 3]> = OnceLock::new();
    AUTHENTICATORS.get_or_init(|| {
        [
            TestAuthenticator::new(KeyKind::Es256, 1),
            TestAuthenticator::new(KeyKind::EdDsa, 2),
            TestAuthenticator::new(KeyKind::Rs256, 3),
        ]
    })
}

/// What Orbit stored for each of [`authenticators`] at registration (counter 0, UV).
pub fn stored_credentials() -> Vec<StoredCredential> {
    authenticators()
        .iter()
        .map(|a| StoredCredential {
            credential_id: a.credential_id.clone(),
            public_key: a.cose_key(),
            sign_count: 0,
            user_handle: a.user_handle.clone(),
            user_verified: true,
            backup_eligible: false,
        })
        .collect()
}

pub fn cose(data: &[u8]) {
    let Ok(key) = PublicKey::from_cose(data) else {
        return;
    };
    assert!(Algorithm::ALL.contains(&key.algorithm()));
    let again = PublicKey::from_cose(data).map(|k| k.algorithm());
    assert_eq!(again.ok(), Some(key.algorithm()));
    // The input as a signature of a fixed message: forging one is what the key prevents.
    assert!(key.verify(b"orbit fuzz message", data).is_err());
}

pub fn auth_data(data: &[u8]) {
    if let Ok(parsed) = auth_data::parse(data) {
        laid_out(&parsed, data);
    }
}

/// An accepted authenticator data is exactly: RP ID hash, flags, counter, then the attested
/// credential (when AT) and the extensions (when ED), and nothing after.
fn laid_out(parsed: &AuthenticatorData<'_>, data: &[u8]) {
    assert_eq!(&parsed.rp_id_hash[..], &data[..32]);
    assert_eq!(parsed.flags, data[32]);
    assert_eq!(
        parsed.sign_count,
        u32::from_be_bytes([data[33], data[34], data[35], data[36]])
    );
    assert!(
        parsed.flags & FLAG_BS == 0 || parsed.flags & FLAG_BE != 0,
        "backed up without backup eligibility"
    );
    assert_eq!(parsed.attested.is_some(), parsed.flags & FLAG_AT != 0);
    let mut at = 37;
    if let Some(credential) = &parsed.attested {
        assert_eq!(&credential.aaguid[..], &data[at..at + 16]);
        let len = usize::from(u16::from_be_bytes([data[at + 16], data[at + 17]]));
        assert!((1..=MAX_CREDENTIAL_ID_BYTES).contains(&len));
        assert_eq!(credential.credential_id, &data[at + 18..at + 18 + len]);
        at += 18 + len;
        assert_eq!(
            credential.public_key,
            &data[at..at + credential.public_key.len()]
        );
        assert!(!credential.public_key.is_empty());
        at += credential.public_key.len();
        // The key only has to be one CBOR item here; whether it is a usable key is COSE's call.
        let _ = PublicKey::from_cose(credential.public_key);
    }
    assert!(
        at == data.len() || parsed.flags & FLAG_ED != 0,
        "{} trailing bytes accepted",
        data.len() - at
    );
}

pub fn attestation(data: &[u8]) {
    let Ok(object) = attestation::parse(data) else {
        return;
    };
    for part in [object.fmt.as_bytes(), object.att_stmt, object.auth_data] {
        let start = (part.as_ptr() as usize).wrapping_sub(data.as_ptr() as usize);
        assert!(
            start <= data.len() && part.len() <= data.len() - start,
            "a part that is not in the input"
        );
    }
    let Ok(parsed) = auth_data::parse(object.auth_data) else {
        return;
    };
    laid_out(&parsed, object.auth_data);
    let Some(key) = parsed
        .attested
        .as_ref()
        .and_then(|c| PublicKey::from_cose(c.public_key).ok())
    else {
        return;
    };
    let _ = attestation::verify_statement(&object, &key, &[0u8; 32]);
}

pub fn ceremony(data: &[u8]) {
    let config = config();
    if let Ok(response) = serde_json::from_slice::<RegistrationResponseJson>(data) {
        if let Ok(credential) = verify_registration(&config, &CHALLENGE, &response) {
            registered(
                &config,
                &response,
                &credential.public_key,
                credential.algorithm,
            );
            assert_eq!(Ok(&credential.credential_id[..]), response.credential_id());
        }
    }
    if let Ok(response) = serde_json::from_slice::<AuthenticationResponseJson>(data) {
        let stored = stored_credentials();
        for (i, credential) in stored.iter().enumerate() {
            let Ok(outcome) = verify_authentication(&config, &CHALLENGE, credential, &response)
            else {
                continue;
            };
            asserted(&config, &response, &stored, i);
            assert!(outcome.sign_count > credential.sign_count || outcome.sign_count == 0);
        }
    }
}

/// A registration that verified was made for this RP, challenge and origin, with a key that
/// parses to the algorithm it reported.
fn registered(
    config: &WebauthnConfig,
    response: &RegistrationResponseJson,
    public_key: &[u8],
    algorithm: Algorithm,
) {
    let client_data_json = &response.response.client_data_json;
    assert!(client_data::check(config, Kind::Create, &CHALLENGE, client_data_json).is_ok());
    let object = attestation::parse(&response.response.attestation_object);
    let Ok(object) = object else {
        panic!("a registration verified with an unreadable attestation object");
    };
    let parsed = auth_data::parse(object.auth_data);
    assert!(parsed.is_ok_and(|d| d.rp_id_hash == config.rp_id_hash() && d.flags & FLAG_UP != 0));
    assert_eq!(
        PublicKey::from_cose(public_key).map(|k| k.algorithm()).ok(),
        Some(algorithm)
    );
}

/// An assertion that verified against stored credential `i` was signed by that credential's
/// key: the very signature verifies under that key, and under no other stored key.
fn asserted(
    config: &WebauthnConfig,
    response: &AuthenticationResponseJson,
    stored: &[StoredCredential],
    i: usize,
) {
    let assertion = &response.response;
    assert!(client_data::check(config, Kind::Get, &CHALLENGE, &assertion.client_data_json).is_ok());
    let mut signed = assertion.authenticator_data.clone();
    signed.extend_from_slice(&Sha256::digest(&assertion.client_data_json));
    for (j, other) in stored.iter().enumerate() {
        let Ok(key) = PublicKey::from_cose(&other.public_key) else {
            panic!("a stored test key does not parse");
        };
        let verifies = key.verify(&signed, &assertion.signature).is_ok();
        assert_eq!(
            verifies,
            i == j,
            "signature of credential {i} checked by key {j}"
        );
    }
}
