//! Authenticator data (WebAuthn §6.1): the bytes the authenticator signs.
//!
//! ```text
//! rpIdHash (32) | flags (1) | signCount (4, big-endian)
//!   [ attested credential data: aaguid (16) | credIdLen (2) | credId | COSE_Key ]  if AT
//!   [ extensions: CBOR map ]                                                      if ED
//! ```
//!
//! The COSE key has no length prefix: its end is found by walking the CBOR item. Nothing may
//! follow the last announced part (a signed blob with slack in it is refused).

use minicbor::Decoder;

use super::WebauthnError;

const FLAG_UP: u8 = 0x01;
const FLAG_UV: u8 = 0x04;
const FLAG_BE: u8 = 0x08;
const FLAG_BS: u8 = 0x10;
const FLAG_AT: u8 = 0x40;
const FLAG_ED: u8 = 0x80;

/// WebAuthn L3 caps credential ids at 1023 bytes.
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;

/// Parsed authenticator data, borrowing from the signed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData<'a> {
    pub rp_id_hash: [u8; 32],
    pub flags: u8,
    pub sign_count: u32,
    pub attested: Option<AttestedCredential<'a>>,
}

/// The attested credential data of a registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential<'a> {
    pub aaguid: [u8; 16],
    pub credential_id: &'a [u8],
    /// The COSE_Key, exactly as encoded by the authenticator.
    pub public_key: &'a [u8],
}

impl AuthenticatorData<'_> {
    /// UP: the user touched or otherwise confirmed presence.
    pub fn user_present(&self) -> bool {
        self.flags & FLAG_UP != 0
    }
    /// UV: the authenticator verified the user (PIN, biometric).
    pub fn user_verified(&self) -> bool {
        self.flags & FLAG_UV != 0
    }
    /// BE: the credential may be synced (a multi-device passkey). Fixed for its lifetime.
    pub fn backup_eligible(&self) -> bool {
        self.flags & FLAG_BE != 0
    }
    /// BS: the credential is currently backed up.
    pub fn backed_up(&self) -> bool {
        self.flags & FLAG_BS != 0
    }
}

/// Parses authenticator data.
pub fn parse(bytes: &[u8]) -> Result<AuthenticatorData<'_>, WebauthnError> {
    let bad = WebauthnError::BadAuthenticatorData;
    let (Some(rp_id_hash), Some(&flags), Some(count)) =
        (bytes.get(..32), bytes.get(32), bytes.get(33..37))
    else {
        return Err(bad("shorter than 37 bytes"));
    };
    let mut rp_hash = [0u8; 32];
    rp_hash.copy_from_slice(rp_id_hash);
    let sign_count = u32::from_be_bytes([count[0], count[1], count[2], count[3]]);
    if flags & FLAG_BS != 0 && flags & FLAG_BE == 0 {
        return Err(bad("backed up but not backup eligible"));
    }
    let mut rest = &bytes[37..];
    let attested = if flags & FLAG_AT != 0 {
        let (Some(aaguid), Some(len)) = (rest.get(..16), rest.get(16..18)) else {
            return Err(bad("truncated attested credential data"));
        };
        let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
        if len == 0 || len > MAX_CREDENTIAL_ID_BYTES {
            return Err(bad("credential id length out of range"));
        }
        let Some(credential_id) = rest.get(18..18 + len) else {
            return Err(bad("truncated credential id"));
        };
        let mut aaguid_bytes = [0u8; 16];
        aaguid_bytes.copy_from_slice(aaguid);
        rest = &rest[18 + len..];
        let key_len = cbor_item_len(rest).ok_or(bad("credential public key is not CBOR"))?;
        let (public_key, after) = rest.split_at(key_len);
        rest = after;
        Some(AttestedCredential {
            aaguid: aaguid_bytes,
            credential_id,
            public_key,
        })
    } else {
        None
    };
    if flags & FLAG_ED != 0 {
        if !matches!(Decoder::new(rest).datatype(), Ok(minicbor::data::Type::Map)) {
            return Err(bad("extensions are not a CBOR map"));
        }
        let len = cbor_item_len(rest).ok_or(bad("extensions are not CBOR"))?;
        rest = &rest[len..];
    }
    if !rest.is_empty() {
        return Err(bad("trailing bytes"));
    }
    Ok(AuthenticatorData {
        rp_id_hash: rp_hash,
        flags,
        sign_count,
        attested,
    })
}

/// The length of the single CBOR item at the start of `bytes`.
fn cbor_item_len(bytes: &[u8]) -> Option<usize> {
    let mut decoder = Decoder::new(bytes);
    decoder.skip().ok()?;
    Some(decoder.position())
}
