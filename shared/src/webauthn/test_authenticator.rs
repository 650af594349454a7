//! A tiny, fully controllable software authenticator for tests.
//!
//! It makes registrations and assertions with fixed keys (ES256, EdDSA or RS256) and lets a
//! test set every flag, the counter, the RP ID, origin, challenge and attestation, so refusals
//! can be produced with valid signatures (e.g. UP cleared and re-signed). Its output is the
//! browser's JSON (`PublicKeyCredential.toJSON()`), readable by Orbit's verifier and by
//! webauthn-rs alike.
//!
//! Shared by the unit tests (`#[path]` module of `webauthn`) and by
//! `shared/tests/webauthn_vs_webauthn_rs.rs`, so it uses external crates only.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use minicbor::Encoder;
use p256::ecdsa::signature::{SignatureEncoding, Signer};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const BE: u8 = 0x08;
pub const BS: u8 = 0x10;
pub const AT: u8 = 0x40;
pub const ED: u8 = 0x80;

/// base64url without padding, as browsers write it.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The key type of a test credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Es256,
    EdDsa,
    Rs256,
}

enum Key {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(Box<rsa::RsaPrivateKey>),
}

/// How the registration's attestation statement is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attestation {
    /// `fmt: "none"`, empty statement.
    None,
    /// `fmt: "packed"`, self-attestation signed with the credential key.
    PackedSelf,
}

/// Everything a ceremony's output depends on; tests change fields to make bad answers.
#[derive(Debug, Clone)]
pub struct Ceremony {
    /// Hashed into the authenticator data.
    pub rp_id: String,
    pub origin: String,
    pub challenge: Vec<u8>,
    /// `clientDataJSON.type`; `None` means the right one for the ceremony.
    pub client_data_type: Option<String>,
    pub cross_origin: Option<bool>,
    /// UP, UV, BE, BS (AT is added for registrations).
    pub flags: u8,
    pub counter: u32,
    pub attestation: Attestation,
    /// Whether an assertion carries the user handle (discoverable credentials do).
    pub send_user_handle: bool,
}

impl Ceremony {
    /// A well-formed ceremony: UP and UV set, counter 0, attestation none.
    pub fn new(rp_id: &str, origin: &str, challenge: &[u8]) -> Self {
        Ceremony {
            rp_id: rp_id.into(),
            origin: origin.into(),
            challenge: challenge.to_vec(),
            client_data_type: None,
            cross_origin: None,
            flags: UP | UV,
            counter: 0,
            attestation: Attestation::None,
            send_user_handle: true,
        }
    }
}

/// One credential of a software authenticator.
pub struct TestAuthenticator {
    key: Key,
    pub credential_id: Vec<u8>,
    pub user_handle: Vec<u8>,
    pub aaguid: [u8; 16],
}

/// Two 2048-bit RSA keys (PKCS#1 DER, base64) made once with `openssl genrsa`: generating keys
/// per test run would be slow. Even seeds get the first, odd seeds the second.
const RSA_2048_PKCS1: [&str; 2] = [
    concat!(
        "MIIEogIBAAKCAQEAv7kaphoz/dSta86LaTjyjrvohfJwIS+rt7Ocy4SM0hB2CBpQ43bCETuJpxVvDTdu5I7hbGb+",
        "HLXSpzD6g+svV/+vS92jVpktZqUgBHLcxy09irHpyISihr8vsEFjxUzbRcemH5v78sBNGUrjZhBDFeI6J/8R7h/I",
        "crehN77Y5EYtiiO0rV/4Y33k9pmB/i5QHKLiFBnKtTFpca5X9LqyuDVi5/9teR9mLa+aZuIad48aFNHHGckgtHmy",
        "UhqJYB776vZlDy5A+tfhEeFPtzLtd5rQW5OOV/nX1oPHbcJyP6fAJ6hxpIBbjBp3rC3A8Ysf6GAi3Hyw8CvoFaip",
        "lTa1DwIDAQABAoIBAC4WRwuqvNjFqTKDIgwXPmeFUC3yy3WOyg6MxKI/qMJOZrEn8k3bnGccEsjxZBKfQq76kcHH",
        "OEqagpriMTZI8MaMlgz8qGkGxV0pUHsBSYUvoN2YSwSCrbcKemI6NcuV4Bf0GED89CG0jFQKJoPAYP//s88th5fg",
        "WAULk1udKvIkaYCOf2KuAF68FDmXR/Nb/c15Ym0m4OkVBKRYYNBrRXF3YtcitCCf6V1rpXhPU7M7Itq5GCWGG8DN",
        "CrmGTPnHIhH1DMzJD5BYrp7661nsSGqGB7TaeqeqYmcdoUfC/kP2oNmecGhb1wLVizhYmm1jz74o/RCCaKc6km6N",
        "6QL3rtECgYEA9Km1zm6uLo4EBaRl4nWKLWgs+3xyGpUF7IcWNohQOD6qWB1K+LcUoGZMTn0H6c4x+I1oRB7A5o8v",
        "ooY3qVg2t4SH98IDQxUX1YVxSh7MQ/WNmTwhH9g6oOMcnzJLOcBL6G9ZhrRd+z0BloJFDDmAF30C/cgm3RkxyrQu",
        "U0n+4WMCgYEAyJtmZJWkHxnhbuj5x/xGpcjqgt/pwkLZI2Pd0tOJObDgafFBxtShmpCsqpX1KicPGQx/ytPNBkLq",
        "hTVlYr5LMt11oSxxabVi+5jDLuODhC9uICnorGiXG+L9djV7N7wFaawI8grgo7wf5gpazLx93kzeBMhssDnah9TY",
        "oC8P42UCgYArS0C1t9YwvMavbOjuitgZst6K3fmfBJHYygq/OZ3gZg5kq0JSAquuuot0NCHLWMZ08ijqLPr7kYjf",
        "XJrK56Y/ET+yMu262Cewi/2BHTQOLoyQ+hfud6fgQnAVJ6QyIvoLtnCEKrSaua/nP0QSprYo8eEuoVVnOIccFIhC",
        "Cs0EewKBgHyCFxcu2WKESarw5rb9GUwkW4lHOGrd2q9geHk12eH4qhCXMOAbcQHh8Yke8b9r5q8BVv+oXYQZXD25",
        "Wmfi/AFh+nRChVG6xuipc9tSUnpkhdFosYTwlXk1dWM85nE9PY7Mu/CeV7bIOHQq0RhplSW4R8RoMS1fewb7UEh7",
        "bT0RAoGAA8FyLJedUSnZXB0wEHzW6EdUSI2B6oX/fbjo0iS9RWyAdkS3sVPOlY+CnwWG9G0LEOBr2mXyzw31ix2Q",
        "QJN2vbaGIJYQWmlT9znPvpX8jN/EI4oCxXbmPt43icZtK6V8K1OK5EqHewkWQSq14O5Kqzsbnc2py4dVPO3hGgY9",
        "zyw=",
    ),
    concat!(
        "MIIEowIBAAKCAQEAz9T/y/woQb0jbGlKHW60aQHFskeFZmeHKbp3Z9tckbJ6A2vxNPfNiGmvt6BbkyBe20KGKMEd",
        "JGLizeQH1PD9V8g5o1bF/yAnPkKERaqWMBPUn0D343Ky1vakNQ14Locfy6BrSwfSImt1+o8TtZ5nsOaSqdYlppp6",
        "H2t7Tm3XWrucZGlZrU4tR2g/rp3CMVfnbFFH1HpwOPoCfiBmECh9DNgkQLUX6gddho6in5nU+ZpLakKuAScggnZC",
        "oV0LmFIn8uy+BnmIHPoOgN1XtT1/EYtmIBG1rYkThmyTsHm3uMrFcEYGY4Cw7UBZYMnOxJWcHWj2mzna7JdWYfAd",
        "285OXQIDAQABAoIBAAYpy2IpuqnkaYIEB1IjH8+DYXD9hPu58zyuDm9yhma9s7eZQmBvPtWeSLs50q1kxttauC7K",
        "N0qGcjJn4kGS2fh59BefcaS0t+U1RMXqHqUTWXlVjGRe2OXeD5WRLjC3Ch7YRYZGl5k0tZ12E8ANkAajd9L4ikpM",
        "B3YaEmCLilji7Ll3emdkhOhfEJXUwdPIzXlB+DaI/hQz4kCfIXlE/o6qI0utW+tV+n5BQLVu/I+T8tc8b2/dC03M",
        "zkEDCX9ZcZfZMkOJfQe+vXxzOJCfZb7/vqT4bNzu0DVCs5hIYcpaLEmTzqIIqysOL+lKKkCNbSOfeJsY4UcRp0Zy",
        "bzFlXTMCgYEA8J4jSf0YoK6q2yfunv9OgsymD8WTA4dp2d4s24koDQeL0FdqBBzjVoq9a7gX1yEVcEYCMNdV/pUc",
        "j/jXM1xo4UfFG17p1ejQ0KTuI8Jjqze55BLQRyO23Yjpdg6mO+XCfqe9en5NNj0aFrHsiyHCcVNCdinPybuNbE6g",
        "wA/WsfsCgYEA3R5NdGf4ZBtYTWw6m/pu6oKhvSlrMlDAxQr9eTga3tfUIzLnrlmzXMTsSbdFqf8tiR7yWwIbAYtV",
        "3vDMpL77Q3gCRxPeY/8bk/rLs70dFqWodT8aVSKHTxLMCt0rZdynHSBhAJ8FFjihsAO/nxZz13g0kNVToAzCNnXg",
        "LOJ76YcCgYArk6g2dSTprNh6mk/H8drpK2EDyDdo0zRjZa5gEAX13iD/GWW02vp9KOFHSe7fYjl8vOEWsVj8o0qp",
        "9FodDiZcbmAPJfBZcjGnJ8eNKF5emtgKqzGXQKuUkYAehmaqwGCqCXzyWz9mjEhWReDeDb4mQfruZYIhOdtR+yd3",
        "wSaT0wKBgQCg7xQqnB2SJsDfIN2LdvtRXaCAP+wQY+vZvgT8PBR6ipWQxNUQ9aJw67aadHSUpPAsc8Sq7l5fgl0O",
        "dS5M3d+cnHTz7IcZOqyEyK2H9SV9vTZdl37/5bCboa+2XIDgk3dh4JYZUKPwJ2mu5RuLm1jWw1tm6o0B2SdlYee2",
        "Y2UScwKBgB3h27h/+nuM3impq+y/lryVvvTRkEzLxsYUemjlaGzT5CPc90aV1CgU5f5Y9+AkKXIkKgzbScpTsLoU",
        "uLjBicoSFxdZDPkI6qo2UzzvZpOlpXrvG4zET2peGdATdeahPT7kymgpZmPTpqpYK2V7dczFQ0NyPXnw/+yN6LyD",
        "TGPK",
    ),
];

impl TestAuthenticator {
    /// A credential with a fixed key derived from `seed` (same seed, same key; RS256 keys only
    /// differ between even and odd seeds).
    pub fn new(kind: KeyKind, seed: u8) -> Self {
        let secret = [seed.max(1); 32];
        let key = match kind {
            KeyKind::Es256 => Key::Es256(p256::ecdsa::SigningKey::from_slice(&secret).unwrap()),
            KeyKind::EdDsa => Key::EdDsa(ed25519_dalek::SigningKey::from_bytes(&secret)),
            KeyKind::Rs256 => {
                let der = STANDARD
                    .decode(RSA_2048_PKCS1[usize::from(seed % 2)])
                    .unwrap();
                Key::Rs256(Box::new(rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap()))
            }
        };
        TestAuthenticator {
            key,
            credential_id: (0..32u8).map(|i| i.wrapping_mul(7) ^ seed).collect(),
            user_handle: format!("user-handle-{seed:04}").into_bytes(),
            aaguid: [0; 16],
        }
    }

    /// The COSE algorithm of the key.
    pub fn alg(&self) -> i64 {
        match self.key {
            Key::Es256(_) => -7,
            Key::EdDsa(_) => -8,
            Key::Rs256(_) => -257,
        }
    }

    /// The public key as a COSE_Key (CTAP2 canonical order).
    pub fn cose_key(&self) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        match &self.key {
            Key::Es256(sk) => {
                let point = sk.verifying_key().to_encoded_point(false);
                e.map(5).unwrap();
                e.i64(1).unwrap().i64(2).unwrap();
                e.i64(3).unwrap().i64(-7).unwrap();
                e.i64(-1).unwrap().i64(1).unwrap();
                e.i64(-2).unwrap().bytes(point.x().unwrap()).unwrap();
                e.i64(-3).unwrap().bytes(point.y().unwrap()).unwrap();
            }
            Key::EdDsa(sk) => {
                e.map(4).unwrap();
                e.i64(1).unwrap().i64(1).unwrap();
                e.i64(3).unwrap().i64(-8).unwrap();
                e.i64(-1).unwrap().i64(6).unwrap();
                e.i64(-2)
                    .unwrap()
                    .bytes(sk.verifying_key().as_bytes())
                    .unwrap();
            }
            Key::Rs256(sk) => {
                e.map(4).unwrap();
                e.i64(1).unwrap().i64(3).unwrap();
                e.i64(3).unwrap().i64(-257).unwrap();
                e.i64(-1).unwrap().bytes(&sk.n().to_bytes_be()).unwrap();
                e.i64(-2).unwrap().bytes(&sk.e().to_bytes_be()).unwrap();
            }
        }
        e.into_writer()
    }

    /// Signs `message` as the algorithm prescribes (ES256: DER).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        match &self.key {
            Key::Es256(sk) => {
                let sig: p256::ecdsa::Signature = sk.sign(message);
                sig.to_der().to_vec()
            }
            Key::EdDsa(sk) => sk.sign(message).to_bytes().to_vec(),
            Key::Rs256(sk) => {
                let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new((**sk).clone());
                signer.sign(message).to_vec()
            }
        }
    }

    /// `clientDataJSON` for a ceremony of type `default_type` (unless overridden).
    pub fn client_data_json(c: &Ceremony, default_type: &str) -> Vec<u8> {
        let mut data = json!({
            "type": c.client_data_type.as_deref().unwrap_or(default_type),
            "challenge": b64(&c.challenge),
            "origin": c.origin,
        });
        if let Some(cross) = c.cross_origin {
            data["crossOrigin"] = Value::Bool(cross);
        }
        serde_json::to_vec(&data).unwrap()
    }

    /// Authenticator data: with attested credential data when `attested`.
    pub fn auth_data(&self, c: &Ceremony, attested: bool) -> Vec<u8> {
        let mut out = Sha256::digest(c.rp_id.as_bytes()).to_vec();
        out.push(if attested { c.flags | AT } else { c.flags });
        out.extend_from_slice(&c.counter.to_be_bytes());
        if attested {
            out.extend_from_slice(&self.aaguid);
            out.extend_from_slice(&(self.credential_id.len() as u16).to_be_bytes());
            out.extend_from_slice(&self.credential_id);
            out.extend_from_slice(&self.cose_key());
        }
        out
    }

    /// The CBOR attestation object around `auth_data`.
    pub fn attestation_object(
        &self,
        attestation: Attestation,
        auth_data: &[u8],
        client_data_json: &[u8],
    ) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        e.map(3).unwrap();
        match attestation {
            Attestation::None => {
                e.str("fmt").unwrap().str("none").unwrap();
                e.str("attStmt").unwrap().map(0).unwrap();
            }
            Attestation::PackedSelf => {
                let mut signed = auth_data.to_vec();
                signed.extend_from_slice(&Sha256::digest(client_data_json));
                e.str("fmt").unwrap().str("packed").unwrap();
                e.str("attStmt").unwrap().map(2).unwrap();
                e.str("alg").unwrap().i64(self.alg()).unwrap();
                e.str("sig").unwrap().bytes(&self.sign(&signed)).unwrap();
            }
        }
        e.str("authData").unwrap().bytes(auth_data).unwrap();
        e.into_writer()
    }

    /// The answer to `navigator.credentials.create()` for ceremony `c`.
    pub fn register(&self, c: &Ceremony) -> Value {
        let client_data_json = Self::client_data_json(c, "webauthn.create");
        let auth_data = self.auth_data(c, true);
        let object = self.attestation_object(c.attestation, &auth_data, &client_data_json);
        self.registration_json(&client_data_json, &object)
    }

    /// Wraps raw parts into the registration JSON.
    pub fn registration_json(&self, client_data_json: &[u8], attestation_object: &[u8]) -> Value {
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data_json),
                "attestationObject": b64(attestation_object),
                "transports": ["internal", "hybrid"],
            },
        })
    }

    /// The answer to `navigator.credentials.get()` for ceremony `c`.
    pub fn assert(&self, c: &Ceremony) -> Value {
        let client_data_json = Self::client_data_json(c, "webauthn.get");
        let auth_data = self.auth_data(c, false);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data_json));
        let signature = self.sign(&signed);
        self.assertion_json(c, &client_data_json, &auth_data, &signature)
    }

    /// Wraps raw parts into the assertion JSON.
    pub fn assertion_json(
        &self,
        c: &Ceremony,
        client_data_json: &[u8],
        auth_data: &[u8],
        signature: &[u8],
    ) -> Value {
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data_json),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": if c.send_user_handle { Value::String(b64(&self.user_handle)) } else { Value::Null },
            },
        })
    }
}
