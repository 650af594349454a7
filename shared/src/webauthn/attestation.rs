//! The attestation object of a registration (WebAuthn §6.5) and Orbit's attestation policy.
//!
//! Orbit asks for `attestation: "none"`: it lets anyone register any passkey and never decides
//! anything from the authenticator's make or model, so it has no trust roots to check
//! certificates against. Accordingly:
//!
//! * `none` — accepted; its statement must be the empty map.
//! * `packed` without `x5c` (self-attestation, e.g. webauthn-authenticator-rs's soft passkey and
//!   some security keys) — verified, since it costs only a signature check with the new
//!   credential key: `alg` must be the credential's and `sig` must verify over
//!   `authData || SHA-256(clientDataJSON)`.
//! * every other registered format (`packed` with `x5c`, `tpm`, `android-key`,
//!   `android-safetynet`, `fido-u2f`, `apple`, `compound`) — accepted without looking at the
//!   statement, exactly as if it were `none` (the browser would have replaced it with `none` had
//!   it honoured the request). The credential key itself is still fully checked.
//! * an unregistered `fmt` — refused.

use minicbor::data::Type;
use minicbor::Decoder;

use super::cose::PublicKey;
use super::WebauthnError;

/// Attestation statement formats from the IANA registry (WebAuthn §8, L3).
const REGISTERED_FORMATS: [&str; 8] = [
    "packed",
    "tpm",
    "android-key",
    "android-safetynet",
    "fido-u2f",
    "apple",
    "none",
    "compound",
];

/// An attestation object, borrowing from the response bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationObject<'a> {
    pub fmt: &'a str,
    /// The CBOR encoding of `attStmt` (a map).
    pub att_stmt: &'a [u8],
    pub auth_data: &'a [u8],
}

/// Parses the CBOR attestation object `{fmt, attStmt, authData}`.
pub fn parse(bytes: &[u8]) -> Result<AttestationObject<'_>, WebauthnError> {
    let bad = WebauthnError::BadAttestation;
    let cbor = |_| bad("malformed CBOR");
    let mut decoder = Decoder::new(bytes);
    let Some(entries) = decoder.map().map_err(cbor)? else {
        return Err(bad("indefinite-length map"));
    };
    let (mut fmt, mut att_stmt, mut auth_data) = (None, None, None);
    for _ in 0..entries {
        let key = decoder.str().map_err(|_| bad("non-text key"))?;
        match key {
            "fmt" if fmt.is_none() => fmt = Some(decoder.str().map_err(|_| bad("fmt"))?),
            "attStmt" if att_stmt.is_none() => {
                if decoder.datatype().map_err(cbor)? != Type::Map {
                    return Err(bad("attStmt is not a map"));
                }
                let start = decoder.position();
                decoder.skip().map_err(cbor)?;
                att_stmt = Some(&bytes[start..decoder.position()]);
            }
            "authData" if auth_data.is_none() => {
                auth_data = Some(decoder.bytes().map_err(|_| bad("authData"))?)
            }
            "fmt" | "attStmt" | "authData" => return Err(bad("duplicate key")),
            _ => decoder.skip().map_err(cbor)?,
        }
    }
    if decoder.position() != bytes.len() {
        return Err(bad("trailing bytes"));
    }
    match (fmt, att_stmt, auth_data) {
        (Some(fmt), Some(att_stmt), Some(auth_data)) => Ok(AttestationObject {
            fmt,
            att_stmt,
            auth_data,
        }),
        _ => Err(bad("missing fmt, attStmt or authData")),
    }
}

/// Applies Orbit's attestation policy (see the module docs). `key` is the credential public key
/// from the authenticator data.
pub fn verify_statement(
    object: &AttestationObject<'_>,
    key: &PublicKey,
    client_data_hash: &[u8; 32],
) -> Result<(), WebauthnError> {
    let bad = WebauthnError::BadAttestation;
    if !REGISTERED_FORMATS.contains(&object.fmt) {
        return Err(bad("unknown attestation format"));
    }
    let mut decoder = Decoder::new(object.att_stmt);
    let entries = decoder.map().map_err(|_| bad("attStmt is not a map"))?;
    match object.fmt {
        "none" if entries == Some(0) => Ok(()),
        "none" => Err(bad("none attestation with a statement")),
        "packed" => {
            let Some(entries) = entries else {
                return Err(bad("indefinite-length attStmt"));
            };
            let (mut alg, mut sig, mut certified) = (None, None, false);
            for _ in 0..entries {
                match decoder.str().map_err(|_| bad("non-text key in attStmt"))? {
                    "alg" if alg.is_none() => alg = Some(decoder.i64().map_err(|_| bad("alg"))?),
                    "sig" if sig.is_none() => sig = Some(decoder.bytes().map_err(|_| bad("sig"))?),
                    "x5c" | "ecdaaKeyId" => {
                        certified = true;
                        decoder.skip().map_err(|_| bad("malformed CBOR"))?;
                    }
                    _ => return Err(bad("unexpected or duplicate key in packed attStmt")),
                }
            }
            if certified {
                // Certificate-based attestation: not evaluated (no trust roots), see above.
                return Ok(());
            }
            let (Some(alg), Some(sig)) = (alg, sig) else {
                return Err(bad("packed attStmt without alg or sig"));
            };
            if alg != key.algorithm().cose_id() {
                return Err(bad("self-attestation alg differs from the credential's"));
            }
            let mut signed = Vec::with_capacity(object.auth_data.len() + 32);
            signed.extend_from_slice(object.auth_data);
            signed.extend_from_slice(client_data_hash);
            key.verify(&signed, sig)
                .map_err(|_| bad("self-attestation signature does not verify"))
        }
        _ => Ok(()),
    }
}
