//! base64url, the encoding of every binary field in WebAuthn's JSON.
//!
//! Browsers (`PublicKeyCredential.toJSON()`, `@simplewebauthn/browser`) write it without
//! padding; some libraries pad. Decoding accepts both, encoding never pads. The `serde` helper
//! modules keep the JSON structs and the storable credential records readable as strings.

use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;

const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `bytes` as unpadded base64url.
///
/// ```
/// assert_eq!(orbit_shared::webauthn::base64url::encode(b"\xfb\xff"), "-_8");
/// ```
pub fn encode(bytes: &[u8]) -> String {
    ENGINE.encode(bytes)
}

/// Decodes base64url, padded or not. `None` for anything else (including standard base64's
/// `+` and `/`).
pub fn decode(text: &str) -> Option<Vec<u8>> {
    ENGINE.decode(text).ok()
}

/// `#[serde(with = "bytes")]`: `Vec<u8>` as a base64url string.
pub mod bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&super::encode(value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        super::decode(&text).ok_or_else(|| D::Error::custom("invalid base64url"))
    }
}

/// `#[serde(with = "optional_bytes", default)]`: `Option<Vec<u8>>` as a base64url string or
/// `null`; an empty string reads as `None` (an empty user handle is no user handle).
pub mod optional_bytes {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Vec<u8>>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(bytes) => serializer.serialize_str(&super::encode(bytes)),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<String>::deserialize(deserializer)? {
            None => Ok(None),
            Some(text) if text.is_empty() => Ok(None),
            Some(text) => super::decode(&text)
                .map(Some)
                .ok_or_else(|| D::Error::custom("invalid base64url")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_padded_and_unpadded_but_not_standard_alphabet() {
        assert_eq!(decode("YQ").unwrap(), b"a");
        assert_eq!(decode("YQ==").unwrap(), b"a");
        assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
        assert_eq!(decode("+/8"), None);
        assert_eq!(encode(b"a"), "YQ");
    }
}
