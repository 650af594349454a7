//! `codes`: the pairing codes (RFC 8628) as typed by a person or presented by an anchor.
//!
//! Checked: a user code that [`UserCode::parse`] accepts is 8 letters of the alphabet, is what
//! was typed without its dashes and spaces, upper-cased, and parses back from both its display
//! form and its storage form; a code drawn from random bytes parses back to itself; a device
//! code that is well-formed is the canonical encoding of 32 bytes; a grant status parses only
//! from its own name.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use orbit_shared::auth::device_code::{
    device_code, is_well_formed_device_code, GrantStatus, UserCode, DEVICE_CODE_BYTES,
    MAX_USER_CODE_INPUT, USER_CODE_ALPHABET, USER_CODE_LEN,
};

pub fn codes(data: &[u8]) {
    drawn(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    typed(text);
    if is_well_formed_device_code(text) {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(text) else {
            panic!("a well-formed device code that is not base64url: {text:?}");
        };
        let Ok(random) = <[u8; DEVICE_CODE_BYTES]>::try_from(bytes) else {
            panic!("a well-formed device code that is not 32 bytes: {text:?}");
        };
        assert_eq!(
            device_code(random),
            text,
            "a device code that is not canonical"
        );
    }
    if let Some(status) = GrantStatus::parse(text) {
        assert_eq!(status.as_str(), text);
    }
}

fn typed(text: &str) {
    let Ok(code) = UserCode::parse(text) else {
        return;
    };
    assert!(text.len() <= MAX_USER_CODE_INPUT);
    let canonical = code.as_str();
    assert_eq!(canonical.len(), USER_CODE_LEN);
    assert!(canonical.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
    let stripped: String = text
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    assert_eq!(stripped, canonical, "{text:?}");
    let shown = code.to_string();
    assert_eq!(shown.len(), USER_CODE_LEN + 1);
    assert_eq!(UserCode::parse(&shown).as_ref(), Ok(&code));
    assert_eq!(UserCode::parse(canonical).as_ref(), Ok(&code));
}

fn drawn(data: &[u8]) {
    if let Some(code) = UserCode::from_random(data) {
        assert_eq!(UserCode::parse(&code.to_string()).as_ref(), Ok(&code));
    }
    let mut random = [0u8; DEVICE_CODE_BYTES];
    for (slot, byte) in random.iter_mut().zip(data) {
        *slot = *byte;
    }
    assert!(is_well_formed_device_code(&device_code(random)));
}
