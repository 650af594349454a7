//! The device-code flow (RFC 8628) that pairs an anchor with an account: code formats, the
//! user-code normalisation, and the grant's state machine. The Worker stores a [`Grant`] per
//! device code in D1 and runs [`poll`] / [`authorise`] on it.
//!
//! **Device code.** 32 random bytes in base64url (43 characters). It is a bearer secret held
//! only by the anchor, so D1 stores [`device_code_hash`] and looks rows up by it.
//!
//! **User code.** 8 characters from [`USER_CODE_ALPHABET`] = `BCDFGHJKLMNPQRSTVWXZ`, shown as
//! `XXXX-XXXX`. The alphabet is RFC 8628 §6.1's suggestion: 20 consonants, no vowels (so no
//! words, rude or otherwise, can be spelled) and no digits (so nothing to mix up: no 0/O, 1/I/L,
//! 5/S, 8/B), easy to read aloud and type on a phone. Entropy: 20⁸ ≈ 2.56 × 10¹⁰ codes ≈ 34.6
//! bits. That is far too little to resist offline guessing, so its protection is the 10-minute
//! life plus the user-code-entry rate limit (see [`crate::auth::rate_limit`] for the numbers),
//! and storing it hashed would add nothing: D1 keeps the canonical code (no dash) as the
//! lookup key, with a UNIQUE constraint; on a collision with a live grant, draw another.
//!
//! Characters are drawn by rejection sampling: a random byte `b < 240` (240 = 12 × 20) gives
//! `b % 20`, larger bytes are skipped, so every character is exactly uniform (no modulo bias).
//! [`USER_CODE_RANDOM_BYTES`] = 32 bytes leave a chance below 10⁻²³ of running out; if that ever
//! happens [`UserCode::from_random`] returns `None` and the caller draws again.
//!
//! **Polling.** [`poll`] implements RFC 8628 §3.5 for the token endpoint: `authorization_pending`
//! while waiting, `slow_down` (and the stored interval grows by 5 s, for good) when the anchor
//! polls sooner than the interval after its previous poll, `access_denied`, `expired_token`
//! from the expiry instant on, and success exactly once: an approved grant becomes `Consumed`
//! in the same step. The Worker must store that transition atomically (`UPDATE … SET status =
//! 'consumed' WHERE device_code_hash = ? AND status = 'approved'`, and only issue credentials
//! if a row changed). A consumed or unknown device code is `invalid_grant` (RFC 6749 §5.2).
//! Errors are HTTP 400 with `{"error": "<code>"}`.
//!
//! ```
//! use orbit_shared::auth::device_code::{authorise, poll, Grant, PollOutcome, UserCode};
//! let code = UserCode::parse(" bcdf ghjk ").unwrap();
//! assert_eq!(code.to_string(), "BCDF-GHJK");
//! let grant = Grant::new(1_000);
//! let p = poll(&grant, 1_000);
//! assert_eq!(p.outcome.error().unwrap().code().as_str(), "authorization_pending");
//! let approved = authorise(&p.grant, 1_010, true).unwrap();
//! let p = poll(&approved, 1_010);
//! assert_eq!(p.outcome, PollOutcome::Approved);
//! assert_eq!(poll(&p.grant, 1_020).outcome.error().unwrap().code().as_str(), "invalid_grant");
//! ```

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use orbit_protocol::ErrorCode;

use super::hash::storage_hash;

pub use orbit_protocol::auth::{DeviceAuthorization, CONFIRM_CHARS};

/// Random bytes in a device code (256 bits).
pub const DEVICE_CODE_BYTES: usize = 32;
/// Length of a device code string.
pub const DEVICE_CODE_LEN: usize = 43;
/// The user-code alphabet: consonants only (see the module docs).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Characters in a user code.
pub const USER_CODE_LEN: usize = 8;
/// Number of possible user codes: 20⁸.
pub const USER_CODE_SPACE: u64 = 25_600_000_000;
/// Random bytes to pass to [`UserCode::from_random`].
pub const USER_CODE_RANDOM_BYTES: usize = 32;
/// Longest user-code input looked at; longer input is refused outright.
pub const MAX_USER_CODE_INPUT: usize = 32;
/// Life of a device code / user code pair, in seconds (10 minutes).
pub const LIFETIME_SECONDS: u64 = 10 * 60;
/// Initial minimum polling interval, in seconds.
pub const INTERVAL_SECONDS: u64 = 5;
/// How much `slow_down` adds to the interval, in seconds (RFC 8628 §3.5).
pub const SLOW_DOWN_SECONDS: u64 = 5;

/// A fresh device code from 32 bytes of a CSPRNG.
pub fn device_code(random: [u8; DEVICE_CODE_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The hash D1 stores and looks a device code up by.
pub fn device_code_hash(device_code: &str) -> String {
    storage_hash(device_code)
}

/// Random bytes in a link token (128 bits).
pub const LINK_TOKEN_BYTES: usize = 16;
/// Length of a link token string.
pub const LINK_TOKEN_LEN: usize = 22;

/// A fresh link token, the grant's name in `verification_uri_complete` (`?link=`), from 16
/// bytes of a CSPRNG. The link deliberately does not carry the user code: a page opened from it
/// never learns the code's first characters, so approving needs the person to type them from
/// the terminal that shows them (see [`confirm_answer`]).
pub fn link_token(random: [u8; LINK_TOKEN_BYTES]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The hash D1 stores and looks a link token up by (it names a grant like the user code does).
pub fn link_hash(link_token: &str) -> String {
    storage_hash(link_token)
}

/// Whether `s` is shaped like a link token (22 base64url characters decoding to 16 bytes).
pub fn is_well_formed_link_token(s: &str) -> bool {
    s.len() == LINK_TOKEN_LEN
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|b| b.len() == LINK_TOKEN_BYTES)
}

/// Whether `s` is shaped like a device code (43 base64url characters decoding to 32 bytes).
pub fn is_well_formed_device_code(s: &str) -> bool {
    s.len() == DEVICE_CODE_LEN
        && URL_SAFE_NO_PAD
            .decode(s)
            .is_ok_and(|b| b.len() == DEVICE_CODE_BYTES)
}

/// A user code in canonical form: 8 characters of the alphabet, no dash. `Display` shows
/// `XXXX-XXXX`; [`UserCode::as_str`] is the storage form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserCode(String);

impl UserCode {
    /// Draws a code from random bytes by rejection sampling; `None` if the bytes ran out first
    /// (pass [`USER_CODE_RANDOM_BYTES`] and this practically never happens).
    pub fn from_random(random: &[u8]) -> Option<Self> {
        const LIMIT: u8 = (256 / USER_CODE_ALPHABET.len() * USER_CODE_ALPHABET.len()) as u8;
        let code: String = random
            .iter()
            .filter(|&&b| b < LIMIT)
            .take(USER_CODE_LEN)
            .map(|&b| char::from(USER_CODE_ALPHABET[usize::from(b) % USER_CODE_ALPHABET.len()]))
            .collect();
        (code.len() == USER_CODE_LEN).then_some(UserCode(code))
    }

    /// Normalises what a person typed: letters are upper-cased; dashes and whitespace anywhere
    /// are ignored; anything else (digits, vowels, other letters or symbols), or a count other
    /// than 8, is [`UserCodeError::Malformed`].
    pub fn parse(input: &str) -> Result<Self, UserCodeError> {
        if input.len() > MAX_USER_CODE_INPUT {
            return Err(UserCodeError::Malformed);
        }
        let mut code = String::with_capacity(USER_CODE_LEN);
        for c in input.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let upper = c.to_ascii_uppercase();
            if !upper.is_ascii() || !USER_CODE_ALPHABET.contains(&(upper as u8)) {
                return Err(UserCodeError::Malformed);
            }
            code.push(upper);
        }
        if code.len() == USER_CODE_LEN {
            Ok(UserCode(code))
        } else {
            Err(UserCodeError::Malformed)
        }
    }

    /// The canonical form (`BCDFGHJK`): the D1 key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last four characters: shown with a link's request so the person can recognise the
    /// code, while its first [`CONFIRM_CHARS`] stay for them to type.
    pub fn end(&self) -> &str {
        &self.0[USER_CODE_LEN - 4..]
    }

    /// Whether `typed` is the code's first [`CONFIRM_CHARS`] characters, typed in any case with
    /// any dashes or spaces.
    pub fn is_confirmed_by(&self, typed: &str) -> bool {
        if typed.len() > MAX_USER_CODE_INPUT {
            return false;
        }
        let kept: String = typed
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        kept == self.0[..CONFIRM_CHARS]
    }
}

/// Whether an answer to a grant may go ahead, by how the page named the grant. A code the
/// person typed is its own confirmation. A grant named by a link (`via_link`), where the
/// person may only have clicked what someone sent them (RFC 8628 §5.4), is approved only with
/// the code's first characters typed from the terminal ([`UserCode::is_confirmed_by`]).
/// Denying needs nothing: it only protects.
pub fn confirm_answer(
    code: &UserCode,
    via_link: bool,
    approve: bool,
    confirm: Option<&str>,
) -> Result<(), UserCodeError> {
    if !via_link || !approve {
        return Ok(());
    }
    match confirm {
        Some(typed) if code.is_confirmed_by(typed) => Ok(()),
        _ => Err(UserCodeError::ConfirmMismatch),
    }
}

impl fmt::Display for UserCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        write!(f, "{a}-{b}")
    }
}

/// The answer for a new grant (`POST /auth/device/code`), with the default lifetime and
/// interval; `verification_uri` is the page where users enter the code.
pub fn authorization(
    device_code: String,
    user_code: &UserCode,
    link_token: &str,
    verification_uri: &str,
) -> DeviceAuthorization {
    let separator = if verification_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    DeviceAuthorization {
        device_code,
        user_code: user_code.to_string(),
        verification_uri: verification_uri.to_string(),
        verification_uri_complete: format!("{verification_uri}{separator}link={link_token}"),
        expires_in: LIFETIME_SECONDS,
        interval: INTERVAL_SECONDS,
    }
}

/// Where a grant stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantStatus {
    /// Waiting for the user to enter the code.
    Pending,
    /// The user approved; the anchor has not collected its credentials yet.
    Approved,
    /// The user refused.
    Denied,
    /// The anchor collected its credentials; the device code is spent.
    Consumed,
}

impl GrantStatus {
    /// The value stored in D1.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantStatus::Pending => "pending",
            GrantStatus::Approved => "approved",
            GrantStatus::Denied => "denied",
            GrantStatus::Consumed => "consumed",
        }
    }

    /// Reads a stored value.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(GrantStatus::Pending),
            "approved" => Some(GrantStatus::Approved),
            "denied" => Some(GrantStatus::Denied),
            "consumed" => Some(GrantStatus::Consumed),
            _ => None,
        }
    }
}

/// The state of one device-code grant, as stored (times in seconds since the epoch).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    pub status: GrantStatus,
    /// The grant is expired from this instant on.
    pub expires_at: u64,
    /// When the anchor last polled, if it has.
    pub last_poll_at: Option<u64>,
    /// Current minimum polling interval, in seconds.
    pub interval_s: u64,
}

impl Grant {
    /// A new pending grant created at `now_s`.
    pub fn new(now_s: u64) -> Self {
        Grant {
            status: GrantStatus::Pending,
            expires_at: now_s.saturating_add(LIFETIME_SECONDS),
            last_poll_at: None,
            interval_s: INTERVAL_SECONDS,
        }
    }
}

/// RFC 8628 §3.5 / RFC 6749 §5.2 errors of the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PollError {
    #[error("the user has not answered yet")]
    AuthorizationPending,
    #[error("polling too fast; the interval was increased by 5 seconds")]
    SlowDown,
    #[error("the user refused the request")]
    AccessDenied,
    #[error("the device code has expired")]
    ExpiredToken,
    #[error("the device code is unknown or already used")]
    InvalidGrant,
    #[error("the request is missing the device code")]
    InvalidRequest,
}

impl PollError {
    /// The RFC's error code; all are HTTP 400 (RFC 6749 §5.2), answered in the RFC's shape
    /// `{"error": "<code>"}` ([`orbit_protocol::auth::DeviceTokenError`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            PollError::AuthorizationPending => ErrorCode::AuthorizationPending,
            PollError::SlowDown => ErrorCode::SlowDown,
            PollError::AccessDenied => ErrorCode::AccessDenied,
            PollError::ExpiredToken => ErrorCode::ExpiredToken,
            PollError::InvalidGrant => ErrorCode::InvalidGrant,
            PollError::InvalidRequest => ErrorCode::InvalidRequest,
        }
    }
}

/// What a poll of the token endpoint leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PollOutcome {
    /// Issue the anchor's credentials (the new grant state is `Consumed`).
    Approved,
    /// Answer 400 with this error.
    Refused(PollError),
}

impl PollOutcome {
    /// The error, unless approved.
    pub fn error(&self) -> Option<PollError> {
        match self {
            PollOutcome::Approved => None,
            PollOutcome::Refused(e) => Some(*e),
        }
    }
}

/// The result of [`poll`]: the outcome, and the grant state to store (write it back when it
/// differs from the one passed in).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poll {
    pub outcome: PollOutcome,
    pub grant: Grant,
}

/// One poll of the token endpoint for `grant` at `now_s`.
///
/// Order: consumed → `invalid_grant`; at or after expiry → `expired_token`; denied →
/// `access_denied`; approved → success (an approved grant is handed over even if polled early:
/// the rate rule only throttles waiting); pending → `slow_down` if sooner than `interval_s`
/// after the previous poll (the interval grows by 5 s), else `authorization_pending`. Every
/// poll of a live grant records `last_poll_at = now_s`, so the interval is measured between
/// consecutive requests.
pub fn poll(grant: &Grant, now_s: u64) -> Poll {
    let mut next = grant.clone();
    let outcome = match grant.status {
        GrantStatus::Consumed => PollOutcome::Refused(PollError::InvalidGrant),
        _ if now_s >= grant.expires_at => PollOutcome::Refused(PollError::ExpiredToken),
        GrantStatus::Denied => PollOutcome::Refused(PollError::AccessDenied),
        GrantStatus::Approved => {
            next.status = GrantStatus::Consumed;
            next.last_poll_at = Some(now_s);
            PollOutcome::Approved
        }
        GrantStatus::Pending => {
            let too_soon = grant
                .last_poll_at
                .is_some_and(|last| now_s < last.saturating_add(grant.interval_s));
            next.last_poll_at = Some(now_s);
            if too_soon {
                next.interval_s = grant.interval_s.saturating_add(SLOW_DOWN_SECONDS);
                PollOutcome::Refused(PollError::SlowDown)
            } else {
                PollOutcome::Refused(PollError::AuthorizationPending)
            }
        }
    };
    Poll {
        outcome,
        grant: next,
    }
}

/// Why entering a user code (`POST /auth/device/authorise`) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UserCodeError {
    #[error("a code is 8 letters, like BCDF-GHJK")]
    Malformed,
    #[error("no pairing request has this code")]
    Unknown,
    #[error("this code has expired; start the pairing again")]
    Expired,
    #[error("this code was already used")]
    AlreadyUsed,
    #[error("type the first 4 characters of the code your terminal shows to approve it")]
    ConfirmMismatch,
}

impl UserCodeError {
    /// The wire code (HTTP 400, 404, 410 and 409 by [`ErrorCode::http_status`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            UserCodeError::Malformed => ErrorCode::UserCodeMalformed,
            UserCodeError::Unknown => ErrorCode::UserCodeUnknown,
            UserCodeError::Expired => ErrorCode::UserCodeExpired,
            UserCodeError::AlreadyUsed => ErrorCode::UserCodeUsed,
            UserCodeError::ConfirmMismatch => ErrorCode::UserCodeConfirmMismatch,
        }
    }
}

/// A signed-in user's answer to a code, at `now_s`: the new grant state to store, or why not.
/// Only a live pending grant can be answered, once (store with `… WHERE status = 'pending'`).
pub fn authorise(grant: &Grant, now_s: u64, approve: bool) -> Result<Grant, UserCodeError> {
    if grant.status == GrantStatus::Consumed {
        return Err(UserCodeError::AlreadyUsed);
    }
    if now_s >= grant.expires_at {
        return Err(UserCodeError::Expired);
    }
    if grant.status != GrantStatus::Pending {
        return Err(UserCodeError::AlreadyUsed);
    }
    Ok(Grant {
        status: if approve {
            GrantStatus::Approved
        } else {
            GrantStatus::Denied
        },
        ..grant.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(p: &Poll) -> Option<&'static str> {
        p.outcome.error().map(|e| e.code().as_str())
    }

    #[test]
    fn device_code_format() {
        let code = device_code([0xab; 32]);
        assert_eq!(code.len(), DEVICE_CODE_LEN);
        assert!(is_well_formed_device_code(&code));
        assert!(!is_well_formed_device_code(&code[1..]));
        assert!(!is_well_formed_device_code("ort_xxx"));
        assert_eq!(device_code_hash(&code), storage_hash(&code));
        assert_ne!(
            device_code_hash(&code),
            device_code_hash(&device_code([1; 32]))
        );
    }

    #[test]
    fn alphabet_and_space() {
        assert_eq!(USER_CODE_ALPHABET.len(), 20);
        let mut sorted = USER_CODE_ALPHABET.to_vec();
        sorted.dedup();
        assert_eq!(sorted.len(), 20);
        for c in USER_CODE_ALPHABET {
            assert!(c.is_ascii_uppercase() && !b"AEIOUY".contains(c));
        }
        assert_eq!(USER_CODE_SPACE, 20u64.pow(8));
    }

    #[test]
    fn sampling_is_uniform_over_accepted_bytes() {
        // Every byte below 240 maps to one character, each character exactly 12 times.
        let mut counts = [0u32; 20];
        for b in 0u8..240 {
            let code = UserCode::from_random(&[b; 8]).unwrap();
            let c = code.as_str().as_bytes()[0];
            let i = USER_CODE_ALPHABET.iter().position(|&a| a == c).unwrap();
            counts[i] += 1;
        }
        assert!(counts.iter().all(|&n| n == 12), "{counts:?}");
        // Bytes 240..=255 are skipped.
        for b in 240u8..=255 {
            assert_eq!(UserCode::from_random(&[b; 64]), None);
        }
        let mut bytes = vec![255u8, 240, 0, 1, 2, 3, 250, 4, 5, 6, 7];
        assert_eq!(UserCode::from_random(&bytes).unwrap().as_str(), "BCDFGHJK");
        bytes.truncate(9);
        assert_eq!(UserCode::from_random(&bytes), None);
        // 19 and 20 wrap around the alphabet: Z then B.
        assert_eq!(
            UserCode::from_random(&[19, 20, 39, 40, 239, 0, 0, 0])
                .unwrap()
                .as_str(),
            "ZBZBZBBB"
        );
    }

    #[test]
    fn normalisation() {
        let want = UserCode("BCDFGHJK".into());
        for ok in [
            "BCDF-GHJK",
            "bcdf-ghjk",
            "bcdfghjk",
            " BcDf GhJk ",
            "B-C-D-F-G-H-J-K",
            "bcdf\tghjk\n",
            "--bcdfghjk--",
        ] {
            assert_eq!(UserCode::parse(ok).as_ref(), Ok(&want), "{ok:?}");
        }
        for bad in [
            "",
            "BCDF-GHJ",
            "BCDF-GHJKL",
            "BCDF_GHJK",
            "BCDF-GHJ0",
            "ACDF-GHJK",
            "BCDF-GHJ\u{212A}", // Kelvin sign, upper-cases to nothing ASCII
            "ßCDF-GHJK",
            "BCDF.GHJK",
            "-".repeat(40).as_str(),
        ] {
            assert_eq!(
                UserCode::parse(bad),
                Err(UserCodeError::Malformed),
                "{bad:?}"
            );
        }
        assert_eq!(want.to_string(), "BCDF-GHJK");
    }

    #[test]
    fn authorization_answer() {
        let code = UserCode("BCDFGHJK".into());
        let a = authorization("dc".into(), &code, "LT", "https://orbit.example/pair");
        assert_eq!(
            a.verification_uri_complete,
            "https://orbit.example/pair?link=LT"
        );
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "deviceCode": "dc", "userCode": "BCDF-GHJK",
                "verificationUri": "https://orbit.example/pair",
                "verificationUriComplete": "https://orbit.example/pair?link=LT",
                "expiresIn": 600, "interval": 5
            })
        );
        let b = authorization("dc".into(), &code, "LT", "https://o.example/?x=1");
        assert_eq!(
            b.verification_uri_complete,
            "https://o.example/?x=1&link=LT"
        );
    }

    #[test]
    fn a_link_never_carries_the_user_code() {
        let code = UserCode("BCDFGHJK".into());
        let token = link_token([7; LINK_TOKEN_BYTES]);
        assert!(is_well_formed_link_token(&token));
        assert!(!is_well_formed_link_token(&token[1..]));
        assert!(!is_well_formed_link_token("BCDF-GHJK"));
        let a = authorization("dc".into(), &code, &token, "https://o.example/device");
        assert!(!a.verification_uri_complete.contains("BCDF"));
        assert_eq!(link_hash(&token), storage_hash(&token));
        assert_eq!(code.end(), "GHJK");
    }

    #[test]
    fn approving_a_linked_code_needs_its_first_characters() {
        let code = UserCode("BCDFGHJK".into());
        for typed in ["BCDF", "bcdf", " b-c d f ", "BCDF-"] {
            assert_eq!(
                confirm_answer(&code, true, true, Some(typed)),
                Ok(()),
                "{typed:?}"
            );
        }
        for typed in [
            "",
            "BCD",
            "BCDFG",
            "GHJK",
            "BCDG",
            "BCDF-GHJK",
            &"B".repeat(40),
        ] {
            assert_eq!(
                confirm_answer(&code, true, true, Some(typed)),
                Err(UserCodeError::ConfirmMismatch),
                "{typed:?}"
            );
        }
        assert_eq!(
            confirm_answer(&code, true, true, None),
            Err(UserCodeError::ConfirmMismatch)
        );
        // A typed code confirms itself; a denial needs nothing.
        assert_eq!(confirm_answer(&code, false, true, None), Ok(()));
        assert_eq!(confirm_answer(&code, true, false, None), Ok(()));
        assert_eq!(
            UserCodeError::ConfirmMismatch.code().as_str(),
            "user_code_confirm_mismatch"
        );
        assert_eq!(
            UserCodeError::ConfirmMismatch.code().http_status(),
            Some(400)
        );
    }

    #[test]
    fn pending_then_slow_down_escalates() {
        let g = Grant::new(1_000);
        assert_eq!(g.expires_at, 1_600);
        let p = poll(&g, 1_000);
        assert_eq!(refused(&p), Some("authorization_pending"));
        assert_eq!(p.grant.last_poll_at, Some(1_000));
        // Exactly one interval later: fine.
        let p = poll(&p.grant, 1_005);
        assert_eq!(refused(&p), Some("authorization_pending"));
        // 4 s later: slow_down, interval 10.
        let p = poll(&p.grant, 1_009);
        assert_eq!(refused(&p), Some("slow_down"));
        assert_eq!(p.grant.interval_s, 10);
        assert_eq!(p.grant.last_poll_at, Some(1_009));
        // 9 s later is now too soon as well: interval 15.
        let p = poll(&p.grant, 1_018);
        assert_eq!(refused(&p), Some("slow_down"));
        assert_eq!(p.grant.interval_s, 15);
        // Respecting the new interval is fine, and the interval stays raised.
        let p = poll(&p.grant, 1_033);
        assert_eq!(refused(&p), Some("authorization_pending"));
        assert_eq!(p.grant.interval_s, 15);
    }

    #[test]
    fn approved_is_handed_over_once() {
        let g = authorise(&Grant::new(0), 10, true).unwrap();
        assert_eq!(g.status, GrantStatus::Approved);
        let p = poll(&g, 11);
        assert_eq!(p.outcome, PollOutcome::Approved);
        assert_eq!(p.grant.status, GrantStatus::Consumed);
        assert_eq!(refused(&poll(&p.grant, 20)), Some("invalid_grant"));
        // Even long after expiry a consumed code stays invalid_grant.
        assert_eq!(refused(&poll(&p.grant, 10_000)), Some("invalid_grant"));
        // Approved and polled early (1 s after the previous poll): still handed over.
        let early = Grant {
            last_poll_at: Some(10),
            ..g.clone()
        };
        assert_eq!(poll(&early, 11).outcome, PollOutcome::Approved);
    }

    #[test]
    fn denied() {
        let g = authorise(&Grant::new(0), 10, false).unwrap();
        let p = poll(&g, 11);
        assert_eq!(refused(&p), Some("access_denied"));
        assert_eq!(p.grant, g);
        assert_eq!(refused(&poll(&g, 600)), Some("expired_token"));
    }

    #[test]
    fn exactly_at_expiry() {
        let g = Grant::new(0);
        assert_eq!(refused(&poll(&g, 599)), Some("authorization_pending"));
        assert_eq!(refused(&poll(&g, 600)), Some("expired_token"));
        assert_eq!(poll(&g, 600).grant, g);
        let approved = authorise(&g, 599, true).unwrap();
        assert_eq!(poll(&approved, 599).outcome, PollOutcome::Approved);
        assert_eq!(refused(&poll(&approved, 600)), Some("expired_token"));
        assert_eq!(authorise(&g, 600, true), Err(UserCodeError::Expired));
    }

    #[test]
    fn a_code_is_answered_once() {
        let g = Grant::new(0);
        let approved = authorise(&g, 1, true).unwrap();
        assert_eq!(
            authorise(&approved, 2, false),
            Err(UserCodeError::AlreadyUsed)
        );
        let denied = authorise(&g, 1, false).unwrap();
        assert_eq!(authorise(&denied, 2, true), Err(UserCodeError::AlreadyUsed));
        let consumed = poll(&approved, 3).grant;
        assert_eq!(
            authorise(&consumed, 4, true),
            Err(UserCodeError::AlreadyUsed)
        );
        assert_eq!(
            authorise(&consumed, 4_000, true),
            Err(UserCodeError::AlreadyUsed)
        );
    }

    #[test]
    fn error_shapes() {
        assert_eq!(PollError::SlowDown.code().as_str(), "slow_down");
        for e in [
            PollError::AuthorizationPending,
            PollError::SlowDown,
            PollError::AccessDenied,
            PollError::ExpiredToken,
            PollError::InvalidGrant,
            PollError::InvalidRequest,
        ] {
            assert_eq!(e.code().http_status(), Some(400), "{e:?}");
        }
        let status = |e: UserCodeError| e.code().http_status();
        assert_eq!(status(UserCodeError::Malformed), Some(400));
        assert_eq!(status(UserCodeError::Unknown), Some(404));
        assert_eq!(status(UserCodeError::Expired), Some(410));
        assert_eq!(status(UserCodeError::AlreadyUsed), Some(409));
        assert_eq!(UserCodeError::Expired.code().as_str(), "user_code_expired");
        for s in [
            GrantStatus::Pending,
            GrantStatus::Approved,
            GrantStatus::Denied,
            GrantStatus::Consumed,
        ] {
            assert_eq!(GrantStatus::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(GrantStatus::parse("other"), None);
    }

    proptest! {
        #[test]
        fn random_codes_round_trip(random in proptest::collection::vec(any::<u8>(), 32)) {
            if let Some(code) = UserCode::from_random(&random) {
                prop_assert_eq!(code.as_str().len(), USER_CODE_LEN);
                prop_assert!(code.as_str().bytes().all(|b| USER_CODE_ALPHABET.contains(&b)));
                let shown = code.to_string();
                prop_assert_eq!(UserCode::parse(&shown), Ok(code.clone()));
                prop_assert_eq!(UserCode::parse(&shown.to_lowercase()), Ok(code.clone()));
                let spaced: String = code.as_str().chars().flat_map(|c| [c, ' ']).collect();
                prop_assert_eq!(UserCode::parse(&spaced), Ok(code.clone()));
            }
        }

        #[test]
        fn parse_accepts_only_what_it_can_show(input in "[BCDFGHJKLMNPQRSTVWXZbcdfghjklmnpqrstvwxzAEIOU0-9 _.-]{0,20}") {
            if let Ok(code) = UserCode::parse(&input) {
                let kept: String = input
                    .chars()
                    .filter(|c| *c != '-' && *c != ' ')
                    .map(|c| c.to_ascii_uppercase())
                    .collect();
                prop_assert_eq!(code.as_str(), kept.as_str());
                prop_assert_eq!(UserCode::parse(&code.to_string()), Ok(code));
            }
        }

        #[test]
        fn polling_never_hands_over_twice(
            steps in proptest::collection::vec((0u64..20, 0u8..4), 1..40),
        ) {
            let mut grant = Grant::new(0);
            let mut now = 0;
            let mut handed_over = 0;
            for (dt, action) in steps {
                now += dt;
                match action {
                    0 => if let Ok(g) = authorise(&grant, now, true) { grant = g },
                    1 => if let Ok(g) = authorise(&grant, now, false) { grant = g },
                    _ => {
                        let before = grant.interval_s;
                        let p = poll(&grant, now);
                        if p.outcome == PollOutcome::Approved {
                            handed_over += 1;
                            prop_assert!(now < grant.expires_at);
                        }
                        prop_assert!(p.grant.interval_s >= before);
                        grant = p.grant;
                    }
                }
            }
            prop_assert!(handed_over <= 1);
        }
    }
}
