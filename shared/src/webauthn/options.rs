//! The options the browser passes to `navigator.credentials.create()` / `.get()`, as JSON
//! (`{"publicKey": {...}}`, binary members base64url). The web client hands `publicKey` to
//! `@simplewebauthn/browser` (`startRegistration({optionsJSON})`) or to
//! `PublicKeyCredential.parseCreationOptionsFromJSON()`.
//!
//! Orbit's choices: discoverable credentials (`residentKey: "required"`, so sign-in needs no
//! username), `userVerification: "preferred"` unless the configuration requires it, attestation
//! `none`, algorithms EdDSA, ES256, RS256, and a 5 minute timeout like the challenge's life.
//!
//! ```
//! use orbit_shared::webauthn::{creation_options, UserInfo, WebauthnConfig};
//! let config = WebauthnConfig::new("orbit.example", "Orbit", ["https://orbit.example"]);
//! let user = UserInfo { id: b"user-handle-0001", name: "ada", display_name: "Ada" };
//! let options = creation_options(&config, &user, &[7; 32], &[]);
//! let json = serde_json::to_value(&options).unwrap();
//! assert_eq!(json["publicKey"]["rp"]["id"], "orbit.example");
//! assert_eq!(json["publicKey"]["authenticatorSelection"]["residentKey"], "required");
//! assert_eq!(json["publicKey"]["pubKeyCredParams"][0]["alg"], -8);
//! ```

use serde::{Deserialize, Serialize};

use super::{base64url, WebauthnConfig};

/// The user a passkey is being created for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserInfo<'a> {
    /// The user handle: opaque, at most 64 bytes, no personal data (WebAuthn §14.6.1).
    pub id: &'a [u8],
    /// Shown by the authenticator to pick an account, e.g. an email address.
    pub name: &'a str,
    pub display_name: &'a str,
}

/// `CredentialCreationOptions` as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationOptionsJson {
    pub public_key: PublicKeyCreationOptionsJson,
}

/// `PublicKeyCredentialCreationOptionsJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyCreationOptionsJson {
    pub rp: RpEntityJson,
    pub user: UserEntityJson,
    #[serde(with = "base64url::bytes")]
    pub challenge: Vec<u8>,
    pub pub_key_cred_params: Vec<CredentialParameterJson>,
    pub timeout: u32,
    pub exclude_credentials: Vec<CredentialDescriptorJson>,
    pub authenticator_selection: AuthenticatorSelectionJson,
    pub attestation: String,
    pub extensions: CreationExtensionsJson,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RpEntityJson {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserEntityJson {
    #[serde(with = "base64url::bytes")]
    pub id: Vec<u8>,
    pub name: String,
    pub display_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialParameterJson {
    #[serde(rename = "type")]
    pub kind: String,
    pub alg: i64,
}

/// A credential named in `excludeCredentials` or `allowCredentials`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialDescriptorJson {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(with = "base64url::bytes")]
    pub id: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transports: Vec<String>,
}

impl CredentialDescriptorJson {
    /// A `public-key` descriptor; `transports` as stored at registration (may be empty).
    pub fn new(id: &[u8], transports: &[String]) -> Self {
        CredentialDescriptorJson {
            kind: "public-key".into(),
            id: id.to_vec(),
            transports: transports.to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticatorSelectionJson {
    pub resident_key: String,
    /// The Level 1 spelling of `residentKey: "required"`, for older browsers.
    pub require_resident_key: bool,
    pub user_verification: String,
}

/// `credProps` asks the browser to report whether the credential is discoverable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreationExtensionsJson {
    pub cred_props: bool,
}

/// `CredentialRequestOptions` as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestOptionsJson {
    pub public_key: PublicKeyRequestOptionsJson,
}

/// `PublicKeyCredentialRequestOptionsJSON`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicKeyRequestOptionsJson {
    #[serde(with = "base64url::bytes")]
    pub challenge: Vec<u8>,
    pub timeout: u32,
    pub rp_id: String,
    /// Empty for a discoverable (username-less) sign-in.
    pub allow_credentials: Vec<CredentialDescriptorJson>,
    pub user_verification: String,
}

fn user_verification(config: &WebauthnConfig) -> String {
    if config.require_user_verification {
        "required".into()
    } else {
        "preferred".into()
    }
}

/// Options to create a passkey for `user`, with the freshly issued `challenge` (at least 16
/// random bytes, kept by the caller for 5 minutes and used once). `exclude` lists the user's
/// existing credentials so the same authenticator is not registered twice.
pub fn creation_options(
    config: &WebauthnConfig,
    user: &UserInfo<'_>,
    challenge: &[u8],
    exclude: &[CredentialDescriptorJson],
) -> CreationOptionsJson {
    CreationOptionsJson {
        public_key: PublicKeyCreationOptionsJson {
            rp: RpEntityJson {
                id: config.rp_id.clone(),
                name: config.rp_name.clone(),
            },
            user: UserEntityJson {
                id: user.id.to_vec(),
                name: user.name.into(),
                display_name: user.display_name.into(),
            },
            challenge: challenge.to_vec(),
            pub_key_cred_params: config
                .algorithms
                .iter()
                .map(|alg| CredentialParameterJson {
                    kind: "public-key".into(),
                    alg: alg.cose_id(),
                })
                .collect(),
            timeout: config.timeout_ms,
            exclude_credentials: exclude.to_vec(),
            authenticator_selection: AuthenticatorSelectionJson {
                resident_key: "required".into(),
                require_resident_key: true,
                user_verification: user_verification(config),
            },
            attestation: "none".into(),
            extensions: CreationExtensionsJson { cred_props: true },
        },
    }
}

/// Options to sign in with the freshly issued `challenge`. Pass no credentials for a
/// discoverable sign-in (the authenticator offers its passkeys for the RP ID).
pub fn request_options(
    config: &WebauthnConfig,
    challenge: &[u8],
    allow: &[CredentialDescriptorJson],
) -> RequestOptionsJson {
    RequestOptionsJson {
        public_key: PublicKeyRequestOptionsJson {
            challenge: challenge.to_vec(),
            timeout: config.timeout_ms,
            rp_id: config.rp_id.clone(),
            allow_credentials: allow.to_vec(),
            user_verification: user_verification(config),
        },
    }
}
