//! COSE public keys (RFC 9052/9053) as authenticators put them in attested credential data, and
//! signature verification with them.
//!
//! Orbit accepts ES256 (P-256, the algorithm every passkey provider supports), EdDSA (Ed25519)
//! and RS256 (Windows Hello). The key is stored as the authenticator's own COSE bytes, so nothing
//! is re-encoded, and parsed again at each sign-in; parsing is strict (definite lengths, no
//! duplicate labels, the algorithm must agree with the key type and curve) because the bytes
//! come from the network.
//!
//! Verification only: no signing, no randomness, so the RustCrypto crates build for wasm32
//! without `getrandom`.

use minicbor::data::Type;
use minicbor::Decoder;
use p256::ecdsa::signature::Verifier as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::WebauthnError;

/// A signature algorithm Orbit accepts, serialised as its COSE identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "i64", try_from = "i64")]
pub enum Algorithm {
    /// ECDSA with P-256 and SHA-256 (COSE -7). Signatures are ASN.1 DER.
    Es256,
    /// EdDSA with Ed25519 (COSE -8).
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256 (COSE -257).
    Rs256,
}

impl Algorithm {
    /// Every accepted algorithm, in the order Orbit offers them (`pubKeyCredParams`).
    pub const ALL: [Algorithm; 3] = [Algorithm::EdDsa, Algorithm::Es256, Algorithm::Rs256];

    /// The COSE algorithm identifier.
    pub fn cose_id(self) -> i64 {
        match self {
            Algorithm::Es256 => -7,
            Algorithm::EdDsa => -8,
            Algorithm::Rs256 => -257,
        }
    }

    /// The algorithm for a COSE identifier, if Orbit accepts it.
    pub fn from_cose_id(id: i64) -> Option<Algorithm> {
        match id {
            -7 => Some(Algorithm::Es256),
            -8 => Some(Algorithm::EdDsa),
            -257 => Some(Algorithm::Rs256),
            _ => None,
        }
    }
}

impl From<Algorithm> for i64 {
    fn from(alg: Algorithm) -> i64 {
        alg.cose_id()
    }
}

impl TryFrom<i64> for Algorithm {
    type Error = &'static str;

    fn try_from(id: i64) -> Result<Self, Self::Error> {
        Algorithm::from_cose_id(id).ok_or("unsupported COSE algorithm")
    }
}

/// RSA moduli below this many bits are refused (NIST SP 800-131A; Windows Hello uses 2048).
const MIN_RSA_BITS: usize = 2048;

// COSE key labels and values used here (RFC 9052 §7, RFC 9053 §7).
const LABEL_KTY: i64 = 1;
const LABEL_ALG: i64 = 3;
const LABEL_CRV_OR_N: i64 = -1;
const LABEL_X_OR_E: i64 = -2;
const LABEL_Y: i64 = -3;
const KTY_OKP: i64 = 1;
const KTY_EC2: i64 = 2;
const KTY_RSA: i64 = 3;
const CRV_P256: i64 = 1;
const CRV_ED25519: i64 = 6;

/// A parsed credential public key, ready to verify signatures.
#[derive(Debug, Clone)]
pub enum PublicKey {
    Es256(p256::ecdsa::VerifyingKey),
    EdDsa(ed25519_dalek::VerifyingKey),
    Rs256(rsa::pkcs1v15::VerifyingKey<Sha256>),
}

/// One value of a COSE key map that this parser cares about.
#[derive(Clone, Copy)]
enum Value<'a> {
    Int(i64),
    Bytes(&'a [u8]),
    Other,
}

fn is_int(t: Type) -> bool {
    matches!(
        t,
        Type::U8 | Type::U16 | Type::U32 | Type::U64 | Type::I8 | Type::I16 | Type::I32 | Type::I64
    )
}

impl PublicKey {
    /// Parses a COSE_Key. `bytes` must hold exactly one CBOR map.
    pub fn from_cose(bytes: &[u8]) -> Result<PublicKey, WebauthnError> {
        let bad = |_| WebauthnError::BadPublicKey("not a CBOR map");
        let mut decoder = Decoder::new(bytes);
        let Some(entries) = decoder.map().map_err(bad)? else {
            return Err(WebauthnError::BadPublicKey("indefinite-length map"));
        };
        let mut fields: [(i64, Option<Value<'_>>); 5] = [
            (LABEL_KTY, None),
            (LABEL_ALG, None),
            (LABEL_CRV_OR_N, None),
            (LABEL_X_OR_E, None),
            (LABEL_Y, None),
        ];
        let mut seen: Vec<i64> = Vec::new();
        for _ in 0..entries {
            let label = match decoder.datatype().map_err(bad)? {
                t if is_int(t) => Some(decoder.i64().map_err(bad)?),
                _ => {
                    // Text labels exist in COSE but none matter for WebAuthn keys.
                    decoder.skip().map_err(bad)?;
                    None
                }
            };
            let value = match decoder.datatype().map_err(bad)? {
                t if is_int(t) => Value::Int(decoder.i64().map_err(bad)?),
                Type::Bytes => Value::Bytes(decoder.bytes().map_err(bad)?),
                _ => {
                    decoder.skip().map_err(bad)?;
                    Value::Other
                }
            };
            if let Some(label) = label {
                if seen.contains(&label) {
                    return Err(WebauthnError::BadPublicKey("duplicate label"));
                }
                seen.push(label);
                if let Some(slot) = fields.iter_mut().find(|(l, _)| *l == label) {
                    slot.1 = Some(value);
                }
            }
        }
        if decoder.position() != bytes.len() {
            return Err(WebauthnError::BadPublicKey("trailing bytes"));
        }
        let [kty, alg, crv_or_n, x_or_e, y] = fields.map(|(_, v)| v);
        let Some(Value::Int(alg)) = alg else {
            return Err(WebauthnError::BadPublicKey("missing algorithm"));
        };
        let alg = Algorithm::from_cose_id(alg).ok_or(WebauthnError::UnsupportedAlgorithm)?;
        let Some(Value::Int(kty)) = kty else {
            return Err(WebauthnError::BadPublicKey("missing key type"));
        };
        match alg {
            Algorithm::Es256 => {
                let (
                    KTY_EC2,
                    Some(Value::Int(CRV_P256)),
                    Some(Value::Bytes(x)),
                    Some(Value::Bytes(y)),
                ) = (kty, crv_or_n, x_or_e, y)
                else {
                    return Err(WebauthnError::BadPublicKey("not an uncompressed P-256 key"));
                };
                if x.len() != 32 || y.len() != 32 {
                    return Err(WebauthnError::BadPublicKey(
                        "P-256 coordinates are not 32 bytes",
                    ));
                }
                let point = p256::EncodedPoint::from_affine_coordinates(x.into(), y.into(), false);
                p256::ecdsa::VerifyingKey::from_encoded_point(&point)
                    .map(PublicKey::Es256)
                    .map_err(|_| WebauthnError::BadPublicKey("not a point on P-256"))
            }
            Algorithm::EdDsa => {
                let (KTY_OKP, Some(Value::Int(CRV_ED25519)), Some(Value::Bytes(x))) =
                    (kty, crv_or_n, x_or_e)
                else {
                    return Err(WebauthnError::BadPublicKey("not an Ed25519 key"));
                };
                let x: &[u8; 32] = x
                    .try_into()
                    .map_err(|_| WebauthnError::BadPublicKey("Ed25519 key is not 32 bytes"))?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(x)
                    .map_err(|_| WebauthnError::BadPublicKey("not an Ed25519 point"))?;
                if key.is_weak() {
                    return Err(WebauthnError::BadPublicKey("small-order Ed25519 key"));
                }
                Ok(PublicKey::EdDsa(key))
            }
            Algorithm::Rs256 => {
                let (KTY_RSA, Some(Value::Bytes(n)), Some(Value::Bytes(e))) =
                    (kty, crv_or_n, x_or_e)
                else {
                    return Err(WebauthnError::BadPublicKey("not an RSA key"));
                };
                let n = rsa::BigUint::from_bytes_be(n);
                let e = rsa::BigUint::from_bytes_be(e);
                if n.bits() < MIN_RSA_BITS {
                    return Err(WebauthnError::BadPublicKey("RSA modulus too short"));
                }
                let key = rsa::RsaPublicKey::new(n, e)
                    .map_err(|_| WebauthnError::BadPublicKey("invalid RSA key"))?;
                Ok(PublicKey::Rs256(rsa::pkcs1v15::VerifyingKey::new(key)))
            }
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            PublicKey::Es256(_) => Algorithm::Es256,
            PublicKey::EdDsa(_) => Algorithm::EdDsa,
            PublicKey::Rs256(_) => Algorithm::Rs256,
        }
    }

    /// Verifies `signature` over `message` (the algorithm hashes it). ES256 signatures are DER
    /// and may be high-S (authenticators do not normalise); Ed25519 uses the strict check
    /// (no small-order components, canonical S).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), WebauthnError> {
        let ok = match self {
            PublicKey::Es256(key) => p256::ecdsa::Signature::from_der(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            PublicKey::EdDsa(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
            PublicKey::Rs256(key) => rsa::pkcs1v15::Signature::try_from(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
        };
        if ok {
            Ok(())
        } else {
            Err(WebauthnError::BadSignature)
        }
    }
}
