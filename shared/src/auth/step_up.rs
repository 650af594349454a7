//! Step-up (docs/auth.md, Step-up): whether a session proved a way in recently enough to make a
//! sensitive change, and which ways it may prove itself with again.
//!
//! A stolen access token lives 15 minutes; what it may do in that time must not outlive it.
//! Adding a way in (a passkey, TOTP), removing one, minting an invite and approving a device
//! code all would, so they need a session whose last *proof* — a passkey assertion or a TOTP
//! code, at sign-in or at a step-up — is at most [`WINDOW_SECONDS`] old. The proof's instant is
//! stored on the session row (`verified_at`), never taken from a token claim, and refreshing
//! tokens does not move it: a thief holding a refresh token can keep a session alive but not
//! fresh.
//!
//! ```
//! use orbit_shared::auth::step_up::{freshness, Freshness, WINDOW_SECONDS};
//! let window = WINDOW_SECONDS;
//! assert_eq!(freshness(10_000, Some(10_000), window), Freshness::Fresh { remaining_s: 300 });
//! assert_eq!(freshness(10_000 + 300_000, Some(10_000), window), Freshness::Stale);
//! assert_eq!(freshness(10_000, None, window), Freshness::Stale);
//! ```

use orbit_protocol::auth::{SignInMethods, StepUpMethod};

/// How long after its last proof a session may make sensitive changes, in seconds (5 minutes;
/// `ORBIT_STEP_UP_WINDOW` can only shorten it).
pub const WINDOW_SECONDS: u64 = 5 * 60;

/// Whether a session may make a sensitive change now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Yes, for this many more whole seconds (at least 1).
    Fresh { remaining_s: u64 },
    /// No: it must step up first.
    Stale,
}

/// Decides freshness at `now_ms` for a session last verified at `verified_at_ms` (both ms since
/// the epoch; `None`: never, as for sessions older than step-up), with a window of `window_s`.
///
/// The window is half open: a proof at `t` is good for `now < t + window`. A proof stamped in
/// the future (another isolate's clock a little ahead) counts from now, so skew never lengthens
/// the window; one further ahead than the window itself is nonsense and counts as no proof.
pub fn freshness(now_ms: u64, verified_at_ms: Option<u64>, window_s: u64) -> Freshness {
    let Some(at) = verified_at_ms else {
        return Freshness::Stale;
    };
    let window_ms = window_s.saturating_mul(1000);
    if at > now_ms.saturating_add(window_ms) {
        return Freshness::Stale;
    }
    let at = at.min(now_ms);
    let until = at.saturating_add(window_ms);
    if now_ms >= until {
        return Freshness::Stale;
    }
    Freshness::Fresh {
        remaining_s: (until - now_ms).div_ceil(1000),
    }
}

/// The ways an account with `ways` can step up with, passkeys first (the stronger proof, and
/// the one that needs nothing typed).
pub fn methods(ways: SignInMethods) -> Vec<StepUpMethod> {
    let mut methods = Vec::with_capacity(2);
    if ways.passkeys > 0 {
        methods.push(StepUpMethod::Passkey);
    }
    if ways.totp {
        methods.push(StepUpMethod::Totp);
    }
    methods
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u64 = WINDOW_SECONDS;
    const T: u64 = 1_700_000_000_000;

    #[test]
    fn a_proof_is_fresh_for_the_whole_window_and_not_a_millisecond_more() {
        assert_eq!(
            freshness(T, Some(T), W),
            Freshness::Fresh { remaining_s: 300 }
        );
        assert_eq!(
            freshness(T + 299_999, Some(T), W),
            Freshness::Fresh { remaining_s: 1 }
        );
        assert_eq!(freshness(T + 300_000, Some(T), W), Freshness::Stale);
        assert_eq!(freshness(T + 86_400_000, Some(T), W), Freshness::Stale);
    }

    #[test]
    fn a_session_that_never_proved_anything_is_stale() {
        assert_eq!(freshness(T, None, W), Freshness::Stale);
    }

    #[test]
    fn a_window_of_zero_makes_every_session_stale() {
        assert_eq!(freshness(T, Some(T), 0), Freshness::Stale);
    }

    #[test]
    fn clock_skew_never_lengthens_the_window() {
        // Stamped 2 s ahead of this isolate's clock: fresh, but for the window from now only.
        assert_eq!(
            freshness(T, Some(T + 2_000), W),
            Freshness::Fresh { remaining_s: 300 }
        );
        // Stamped further ahead than the window: not a proof.
        assert_eq!(freshness(T, Some(T + 300_001), W), Freshness::Stale);
        assert_eq!(freshness(T, Some(u64::MAX), W), Freshness::Stale);
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        assert_eq!(
            freshness(u64::MAX, Some(u64::MAX), u64::MAX),
            Freshness::Stale
        );
        assert_eq!(
            freshness(0, Some(0), u64::MAX),
            Freshness::Fresh {
                remaining_s: u64::MAX.div_ceil(1000)
            }
        );
        assert_eq!(
            freshness(0, Some(0), W),
            Freshness::Fresh { remaining_s: 300 }
        );
    }

    #[test]
    fn methods_offer_what_the_account_has_passkeys_first() {
        let ways = |totp, passkeys| SignInMethods { totp, passkeys };
        assert_eq!(methods(ways(true, 0)), vec![StepUpMethod::Totp]);
        assert_eq!(methods(ways(false, 2)), vec![StepUpMethod::Passkey]);
        assert_eq!(
            methods(ways(true, 1)),
            vec![StepUpMethod::Passkey, StepUpMethod::Totp]
        );
        assert!(methods(ways(false, 0)).is_empty());
    }
}
