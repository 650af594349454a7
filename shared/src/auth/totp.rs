//! TOTP (RFC 6238) as SPEC §2 fixes it: a 160-bit secret, HMAC-SHA-1, 6 digits, 30-second steps,
//! one step of tolerance either side, and every code accepted at most once.
//!
//! The arithmetic is `totp-rs` 6 (built without default features, so its `*_current()` helpers,
//! which read `SystemTime` and would panic inside workerd, do not even exist here); this module
//! adds what it leaves to the caller:
//!
//! * **Replay.** [`verify`] takes the last step the user successfully signed in with and refuses
//!   any code whose step is not later (RFC 6238 §5.2). It returns the matched step, which the
//!   Worker stores — with a conditional update (`... WHERE last_step IS NULL OR last_step < ?`)
//!   so two concurrent requests with the same code cannot both win.
//! * **Enrolment data.** [`enrollment`] gives the base32 secret and the `otpauth://` URI (the QR
//!   code's content). The URI is built here, not with `totp-rs`'s `otpauth` feature, because
//!   that feature pulls the `url` crate (and IDNA tables) into the Worker's wasm for one string.
//! * **Randomness.** The secret comes from 20 random bytes the caller draws.
//!
//! Enrolment is confirmed like a sign-in: `verify(.., None)` and store the returned step.
//!
//! ```
//! use orbit_shared::auth::totp::{enrollment, generate, verify, TotpSecret};
//! let secret = TotpSecret::from_random([7; 20]);
//! let e = enrollment(&secret, "alice");
//! assert!(e.uri.starts_with("otpauth://totp/Orbit:alice?secret="));
//! let now = 1_700_000_000;
//! let code = generate(&secret, now);
//! let step = verify(&secret, &code, now, None).unwrap();
//! assert_eq!(step, now / 30);
//! assert_eq!(verify(&secret, &code, now, Some(step)).unwrap_err().code().as_str(), "code_replayed");
//! ```

use std::fmt;

use orbit_protocol::ErrorCode;
use totp_rs::{Algorithm, Builder, Totp};

/// Secret size in bytes (160 bits, RFC 4226 §4's recommendation and SPEC §2).
pub const SECRET_BYTES: usize = 20;
/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds per step.
pub const STEP_SECONDS: u64 = 30;
/// Steps of tolerance either side of the current one (clock drift, typing time).
pub const SKEW_STEPS: u64 = 1;
/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Orbit";
/// Longest account label put in the URI, in characters; longer ones are cut.
pub const MAX_LABEL_CHARS: usize = 64;

/// Why a TOTP code or secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    #[error("the code is not valid")]
    InvalidCode,
    #[error("this code was already used; wait for the next one")]
    Replayed,
    #[error("a code is 6 digits")]
    Malformed,
    #[error("the stored TOTP secret is not a 160-bit secret")]
    BadSecret,
}

impl TotpError {
    /// The wire code. Its HTTP status ([`ErrorCode::http_status`]): a wrong or replayed code is
    /// a failed sign-in (401); a badly shaped one is a bad request (400); a broken stored secret
    /// is the server's fault (500).
    pub fn code(&self) -> ErrorCode {
        match self {
            TotpError::InvalidCode => ErrorCode::InvalidCode,
            TotpError::Replayed => ErrorCode::CodeReplayed,
            TotpError::Malformed => ErrorCode::MalformedCode,
            TotpError::BadSecret => ErrorCode::TotpSecretInvalid,
        }
    }
}

/// A user's TOTP secret. `Debug` does not print it; `==` runs in constant time.
#[derive(Clone)]
pub struct TotpSecret([u8; SECRET_BYTES]);

impl PartialEq for TotpSecret {
    fn eq(&self, other: &Self) -> bool {
        super::hash::constant_time_eq(&self.0, &other.0)
    }
}

impl Eq for TotpSecret {}

impl TotpSecret {
    /// A new secret from 20 bytes of a CSPRNG (the Worker's `crypto.getRandomValues`).
    pub fn from_random(bytes: [u8; SECRET_BYTES]) -> Self {
        TotpSecret(bytes)
    }

    /// A stored secret (after [`crate::auth::sealed::open`]); it must be exactly 20 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        <[u8; SECRET_BYTES]>::try_from(bytes)
            .map(TotpSecret)
            .map_err(|_| TotpError::BadSecret)
    }

    /// The raw secret, to be sealed before it is stored.
    pub fn as_bytes(&self) -> &[u8; SECRET_BYTES] {
        &self.0
    }

    /// RFC 4648 base32 without padding (32 characters), as authenticator apps expect when the
    /// secret is typed in by hand.
    pub fn to_base32(&self) -> String {
        totp_rs::Secret::new_stack(self.0).to_base32()
    }

    fn totp(&self) -> Result<Totp, TotpError> {
        // Skew 0: the ±1 window is walked in `verify`, so the matched step is known exactly.
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS as u8)
            .with_skew(0)
            .with_step_duration(STEP_SECONDS)
            .with_secret(self.0)
            .build()
            .map_err(|_| TotpError::BadSecret)
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// What the enrolment screen shows: the secret for typing in, and the URI for the QR code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enrollment {
    pub secret_base32: String,
    /// `otpauth://totp/Orbit:<account>?secret=…&issuer=Orbit&algorithm=SHA1&digits=6&period=30`
    pub uri: String,
}

/// The enrolment data for `secret`, labelled with `account` (the user's name in Orbit).
pub fn enrollment(secret: &TotpSecret, account: &str) -> Enrollment {
    Enrollment {
        secret_base32: secret.to_base32(),
        uri: otpauth_uri(secret, account),
    }
}

/// The Key URI Format URI (the de-facto standard authenticator apps read from QR codes).
///
/// The label is `Orbit:<account>`. The account part is cosmetic, so instead of failing on odd
/// input it is tidied: control characters are dropped, `:` (the label separator, which neither
/// part may contain) becomes `_`, surrounding space is trimmed, it is cut to
/// [`MAX_LABEL_CHARS`], an empty result becomes `account`, and it is percent-encoded.
pub fn otpauth_uri(secret: &TotpSecret, account: &str) -> String {
    let label: String = account
        .chars()
        .filter(|c| !c.is_control())
        .map(|c| if c == ':' { '_' } else { c })
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_LABEL_CHARS)
        .collect();
    let label = if label.is_empty() {
        "account".to_string()
    } else {
        label
    };
    format!(
        "otpauth://totp/{issuer}:{label}?secret={secret}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECONDS}",
        issuer = percent_encode(ISSUER),
        label = percent_encode(&label),
        secret = secret.to_base32(),
    )
}

/// The code for `now_s` (seconds since the epoch). For tests and tooling: a server never needs
/// to produce codes.
pub fn generate(secret: &TotpSecret, now_s: u64) -> String {
    match secret.totp() {
        Ok(totp) => totp.generate(now_s).to_string(),
        // Unreachable: a 20-byte secret with fixed RFC parameters always builds.
        Err(_) => String::new(),
    }
}

/// Checks `code` against the steps `now_s / 30 - 1 ..= now_s / 30 + 1` and returns the step it
/// matched, which must be later than `last_used_step` (the step of the user's last accepted
/// code, `None` if there is none yet).
///
/// Spaces in the code are ignored (apps show `123 456`); anything else but 6 ASCII digits is
/// [`TotpError::Malformed`]. A code that matches only steps at or before `last_used_step` is
/// [`TotpError::Replayed`]. The whole window is always computed, so the time taken does not
/// depend on which step matched; each comparison is constant-time (`totp-rs`'s `Token` eq).
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now_s: u64,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    let code: String = code.chars().filter(|c| *c != ' ').collect();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let totp = secret.totp()?;
    let origin = now_s / STEP_SECONDS;
    let mut fresh: Option<u64> = None;
    let mut replayed = false;
    for step in origin.saturating_sub(SKEW_STEPS)..=origin.saturating_add(SKEW_STEPS) {
        let Some(time) = step.checked_mul(STEP_SECONDS) else {
            continue;
        };
        if totp.check(&code, time) == Some(step) {
            if last_used_step.is_some_and(|last| step <= last) {
                replayed = true;
            } else {
                // Steps ascend, so the latest fresh match wins.
                fresh = Some(step);
            }
        }
    }
    match (fresh, replayed) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::InvalidCode),
    }
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 seed.
    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_random(*b"12345678901234567890")
    }

    /// RFC 6238 Appendix B, SHA-1 rows; the RFC prints 8 digits, a 6-digit code is the last 6.
    const RFC_VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    #[test]
    fn rfc6238_sha1_vectors() {
        let secret = rfc_secret();
        for (t, eight) in RFC_VECTORS {
            let six = &eight[2..];
            assert_eq!(generate(&secret, t), six, "t = {t}");
            assert_eq!(
                verify(&secret, six, t, None),
                Ok(t / STEP_SECONDS),
                "t = {t}"
            );
        }
    }

    #[test]
    fn window_is_plus_minus_one_step() {
        let secret = rfc_secret();
        let t = 1_111_111_111; // step 37037037, 1 s into it
        let step = t / STEP_SECONDS;
        let code = generate(&secret, t);
        // Last second of the step after next: code is 2 steps old → refused.
        let start = step * STEP_SECONDS;
        assert_eq!(
            verify(&secret, &code, start - STEP_SECONDS - 1, None),
            Err(TotpError::InvalidCode)
        );
        // First second of the previous step: code is one step ahead → accepted.
        assert_eq!(verify(&secret, &code, start - STEP_SECONDS, None), Ok(step));
        assert_eq!(verify(&secret, &code, start, None), Ok(step));
        assert_eq!(
            verify(&secret, &code, start + 2 * STEP_SECONDS - 1, None),
            Ok(step)
        );
        // First second two steps later: code is 2 steps old → refused.
        assert_eq!(
            verify(&secret, &code, start + 2 * STEP_SECONDS, None),
            Err(TotpError::InvalidCode)
        );
    }

    #[test]
    fn a_code_is_accepted_once() {
        let secret = rfc_secret();
        let t = 1_234_567_890;
        let code = generate(&secret, t);
        let step = verify(&secret, &code, t, None).unwrap();
        assert_eq!(
            verify(&secret, &code, t + 5, Some(step)),
            Err(TotpError::Replayed)
        );
        // Still refused as a replay while it stays inside the window.
        assert_eq!(
            verify(&secret, &code, t + STEP_SECONDS, Some(step)),
            Err(TotpError::Replayed)
        );
        // An older code is refused too once a later step was used.
        let older = generate(&secret, t - STEP_SECONDS);
        assert_eq!(
            verify(&secret, &older, t, Some(step)),
            Err(TotpError::Replayed)
        );
        // The next code is fine.
        let next = generate(&secret, t + STEP_SECONDS);
        assert_eq!(
            verify(&secret, &next, t + STEP_SECONDS, Some(step)),
            Ok(step + 1)
        );
        // A step before the last used one, but the code is wrong anyway: invalid, not replay.
        let wrong = if code == "000000" { "000001" } else { "000000" };
        assert_ne!(generate(&secret, t - STEP_SECONDS), wrong);
        assert_ne!(generate(&secret, t + STEP_SECONDS), wrong);
        assert_eq!(
            verify(&secret, wrong, t, Some(step)),
            Err(TotpError::InvalidCode)
        );
    }

    #[test]
    fn malformed_codes() {
        let secret = rfc_secret();
        for bad in [
            "",
            "12345",
            "1234567",
            "12345a",
            "+12345",
            "١٢٣٤٥٦",
            "12-456",
        ] {
            assert_eq!(
                verify(&secret, bad, 59, None),
                Err(TotpError::Malformed),
                "{bad:?}"
            );
        }
        // Spaces are tolerated.
        assert_eq!(verify(&secret, " 287 082 ", 59, None), Ok(1));
    }

    #[test]
    fn time_zero_and_far_future_do_not_overflow() {
        let secret = rfc_secret();
        let code = generate(&secret, 0);
        assert_eq!(verify(&secret, &code, 0, None), Ok(0));
        assert!(verify(&secret, "123456", u64::MAX, None).is_err());
    }

    #[test]
    fn secret_formats() {
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(TotpSecret::from_bytes(&[1; 19]), Err(TotpError::BadSecret));
        assert_eq!(
            TotpSecret::from_bytes(&[1; 20]).unwrap().as_bytes(),
            &[1; 20]
        );
        assert_eq!(format!("{:?}", rfc_secret()), "TotpSecret(<redacted>)");
    }

    #[test]
    fn uri() {
        let e = enrollment(&rfc_secret(), "alice@example.com");
        assert_eq!(e.secret_base32, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(
            e.uri,
            "otpauth://totp/Orbit:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Orbit&algorithm=SHA1&digits=6&period=30"
        );
        let odd = otpauth_uri(&rfc_secret(), " a:b c\n");
        assert!(odd.starts_with("otpauth://totp/Orbit:a_b%20c?"), "{odd}");
        assert!(otpauth_uri(&rfc_secret(), "\n").starts_with("otpauth://totp/Orbit:account?"));
        let long = otpauth_uri(&rfc_secret(), &"é".repeat(100));
        assert_eq!(long.matches("%C3%A9").count(), MAX_LABEL_CHARS);
    }

    #[test]
    fn error_codes_and_statuses() {
        let status = |e: TotpError| e.code().http_status();
        assert_eq!(status(TotpError::InvalidCode), Some(401));
        assert_eq!(TotpError::Replayed.code().as_str(), "code_replayed");
        assert_eq!(status(TotpError::Replayed), Some(401));
        assert_eq!(status(TotpError::Malformed), Some(400));
        assert_eq!(TotpError::Malformed.code().as_str(), "malformed_code");
        assert_eq!(status(TotpError::BadSecret), Some(500));
    }
}
