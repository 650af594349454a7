//! Rate limits for the authentication endpoints (SPEC §2 "Abuse"), per client address and per
//! account, answered with 429 and `Retry-After`.
//!
//! **Algorithm.** GCRA (the generic cell rate algorithm), which is a token bucket kept as one
//! number: the "theoretical arrival time" `tat_ms`. A [`Limit`] of `max` per `per_s` seconds
//! allows a burst of `max` requests and then one every `per_s / max` seconds, steadily. The
//! state is the small [`RateState`] the Worker keeps per key (in a Durable Object's storage or a
//! D1 row), passes in with the current time in ms, and stores back. Once `now_ms >=
//! state.tat_ms` the state is the same as a fresh one, so it can be deleted (use `tat_ms` as the
//! row's expiry). Every attempt counts, successful or not: simple, and a person signing in
//! normally stays far below every limit.
//!
//! **Keys.** [`key`] builds `action:scope:id`. For the address scope pass [`address_id`] of the
//! client's address (from the trusted source, `crate::auth::client_address`): IPv6 addresses are grouped by /64, since one host usually
//! owns a whole /64 and could otherwise step around the limit by changing address.
//! Check both the address and the account key when the account is known and combine with
//! [`RateDecision::and`].
//!
//! **Defaults** ([`Policy::default`], each overridable from configuration):
//!
//! | action                 | per address        | per account        |
//! |------------------------|--------------------|--------------------|
//! | passkey sign-in        | 30 per 5 min       | 20 per 5 min       |
//! | TOTP sign-in           | 20 per hour        | 5 per hour         |
//! | refresh                | 60 per minute      | 30 per minute      |
//! | device-code creation   | 10 per hour        | — (no account yet) |
//! | user-code entry        | 10 per 10 min      | 5 per 10 min       |
//! | challenge issue        | 60 per 5 min       | 30 per 5 min       |
//! | device-token poll      | 60 per minute      | —                  |
//! | step-up refusal        | —                  | 10 per 10 min      |
//! | refusal event (stored) | 10 per 10 min      | —                  |
//!
//! **Rows strangers can write.** Every stored challenge (passkey options, TOTP enrolments) is
//! issued under the challenge-issue limit, so one address holds at most
//! [`Limit::max_attempts_within`] of a challenge's life plus its retention: 60 + 120 = 180
//! passkey challenge rows with the 5-minute life (kept 5 more minutes after expiry). A polling
//! anchor that outruns the poll limit hears RFC 8628's `slow_down`. A refusal's security event
//! is stored only within the refusal-event limit, so a flood of refused requests writes a
//! bounded number of rows.
//!
//! **Brute force, user codes.** A user code is one of 20⁸ ≈ 2.56 × 10¹⁰ and lives 10 minutes.
//! Under a limit of `max` per `per_s`, one key gets at most `max + ⌊600 / (per_s / max)⌋`
//! attempts in those 10 minutes: 5 + 5 = 10 per account and 10 + 10 = 20 per address (see
//! [`Limit::max_attempts_within`]). The chance that one address hits a given live code before it
//! expires is therefore ≤ 20 / 2.56 × 10¹⁰ ≈ 7.8 × 10⁻¹⁰; with `L` codes live at once it is ≤
//! `20·L / 2.56 × 10¹⁰`. Even a 1 % chance at one particular code would need ≈ 1.3 × 10⁷
//! distinct /64s or accounts working within those same 10 minutes: infeasible. The person
//! approving also sees the anchor's name before approving, and a hit only ever pairs a machine
//! that asked to be paired.
//!
//! **Brute force, TOTP.** With ±1 step, a guess matches with probability ≤ 3 / 10⁶. At the
//! per-account steady rate of 5 per hour (120 a day), guessing one account takes about 2 800
//! days on average (≈ 12 % in a year) — hence the tight per-account limit, which costs a
//! legitimate user at most a 12-minute wait after 5 failed tries (passkeys are unaffected).
//! Failures are logged as security events so sustained guessing is visible.
//!
//! ```
//! use orbit_shared::auth::rate_limit::{Limit, RateDecision, RateState};
//! let limit = Limit { max: 2, per_s: 60 };
//! let (d1, s) = limit.check(RateState::default(), 0);
//! let (d2, s) = limit.check(s, 0);
//! let (d3, _) = limit.check(s, 0);
//! assert_eq!((d1, d2), (RateDecision::Allowed, RateDecision::Allowed));
//! assert_eq!(d3, RateDecision::Limited { retry_after_s: 30 });
//! ```

use orbit_protocol::ErrorCode;

use crate::auth::client_address::{bucket, parse_address, UNKNOWN};
use serde::{Deserialize, Serialize};

/// An action that is rate-limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    PasskeySignIn,
    TotpSignIn,
    Refresh,
    DeviceCodeCreation,
    UserCodeEntry,
    /// Issuing a stored challenge: passkey ceremony options and TOTP enrolments (each writes
    /// a row, and most are asked for by strangers).
    ChallengeIssue,
    /// Polling `POST /auth/device/token`.
    DeviceTokenPoll,
    /// A sensitive change refused for want of a recent proof (`step_up_required`).
    StepUpRefusal,
    /// Storing the security event of a refusal (`rate_limited`): a flood of refusals must not
    /// become a flood of rows.
    RefusalEvent,
}

impl Action {
    /// All actions.
    pub const ALL: [Action; 9] = [
        Action::PasskeySignIn,
        Action::TotpSignIn,
        Action::Refresh,
        Action::DeviceCodeCreation,
        Action::UserCodeEntry,
        Action::ChallengeIssue,
        Action::DeviceTokenPoll,
        Action::StepUpRefusal,
        Action::RefusalEvent,
    ];

    /// Stable name, used in keys and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::PasskeySignIn => "passkey_sign_in",
            Action::TotpSignIn => "totp_sign_in",
            Action::Refresh => "refresh",
            Action::DeviceCodeCreation => "device_code_creation",
            Action::UserCodeEntry => "user_code_entry",
            Action::ChallengeIssue => "challenge_issue",
            Action::DeviceTokenPoll => "device_token_poll",
            Action::StepUpRefusal => "step_up_refusal",
            Action::RefusalEvent => "refusal_event",
        }
    }
}

/// What a limit is counted per.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The client's address ([`address_id`]).
    Address,
    /// The account (user id).
    Account,
}

impl Scope {
    /// Stable name, used in keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "addr",
            Scope::Account => "acct",
        }
    }
}

/// The storage key of one limiter: `action:scope:id`.
pub fn key(action: Action, scope: Scope, id: &str) -> String {
    format!("{}:{}:{id}", action.as_str(), scope.as_str())
}

/// The id to limit a client address by: the address's bucket (an IPv6 address by its /64; see
/// [`crate::auth::client_address`]), or the shared [`UNKNOWN`] bucket for anything that is not
/// an address, so a malformed value never buys a bucket of its own.
pub fn address_id(client_ip: &str) -> String {
    parse_address(client_ip).map_or_else(|| UNKNOWN.to_string(), bucket)
}

/// `max` requests per `per_s` seconds: a burst of `max`, then one every `per_s / max` seconds.
/// `max: 0` refuses everything (an action switched off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub max: u32,
    pub per_s: u64,
}

impl Limit {
    /// Milliseconds between two requests at the steady rate (at least 1).
    pub fn emission_interval_ms(&self) -> u64 {
        (self.per_s.saturating_mul(1_000) / u64::from(self.max.max(1))).max(1)
    }

    /// Decides one request at `now_ms` (ms since the epoch) against `state`, and returns the
    /// state to store (unchanged when limited: refused requests do not dig the hole deeper).
    pub fn check(&self, state: RateState, now_ms: u64) -> (RateDecision, RateState) {
        if self.max == 0 {
            return (
                RateDecision::Limited {
                    retry_after_s: self.per_s.max(1),
                },
                state,
            );
        }
        let t = self.emission_interval_ms();
        let tolerance = t.saturating_mul(u64::from(self.max - 1));
        let tat = state.tat_ms.max(now_ms);
        let wait_ms = (tat - now_ms).saturating_sub(tolerance);
        if wait_ms > 0 {
            return (
                RateDecision::Limited {
                    retry_after_s: wait_ms.div_ceil(1_000),
                },
                state,
            );
        }
        (
            RateDecision::Allowed,
            RateState {
                tat_ms: tat.saturating_add(t),
            },
        )
    }

    /// The most requests one key can get allowed within any `window_s` seconds (starting from a
    /// fresh state): the burst plus one per emission interval. Used for the brute-force bounds.
    pub fn max_attempts_within(&self, window_s: u64) -> u64 {
        if self.max == 0 {
            return 0;
        }
        u64::from(self.max) + window_s.saturating_mul(1_000) / self.emission_interval_ms()
    }
}

/// The per-key state, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RateState {
    /// Theoretical arrival time, ms since the epoch; 0 for a fresh key.
    pub tat_ms: u64,
}

impl RateState {
    /// From this instant (ms) on the state equals a fresh one and may be deleted.
    pub fn idle_at_ms(&self) -> u64 {
        self.tat_ms
    }
}

/// The answer of a limiter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateDecision {
    Allowed,
    /// Answer 429 with `Retry-After: retry_after_s` (at least 1).
    Limited {
        retry_after_s: u64,
    },
}

impl RateDecision {
    /// Both must allow; if either limits, the longer wait wins.
    pub fn and(self, other: RateDecision) -> RateDecision {
        match (self, other) {
            (RateDecision::Allowed, d) | (d, RateDecision::Allowed) => d,
            (
                RateDecision::Limited { retry_after_s: a },
                RateDecision::Limited { retry_after_s: b },
            ) => RateDecision::Limited {
                retry_after_s: a.max(b),
            },
        }
    }

    /// The error to answer with, if limited.
    pub fn error(self) -> Option<RateLimited> {
        match self {
            RateDecision::Allowed => None,
            RateDecision::Limited { retry_after_s } => Some(RateLimited { retry_after_s }),
        }
    }
}

/// A refused request: 429 with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many attempts; retry in {retry_after_s} s")]
pub struct RateLimited {
    pub retry_after_s: u64,
}

impl RateLimited {
    /// The wire code (HTTP 429).
    pub fn code(&self) -> ErrorCode {
        ErrorCode::RateLimited
    }

    /// The `Retry-After` header value (delay in seconds).
    pub fn retry_after_header(&self) -> String {
        self.retry_after_s.max(1).to_string()
    }
}

/// The limits of one action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActionLimits {
    pub per_address: Option<Limit>,
    pub per_account: Option<Limit>,
}

/// The limits of every action. `Default` is the table in the module docs; deserialising a
/// partial JSON object (snake_case keys, as in `{"totp_sign_in": {"per_address": {"max": 20,
/// "per_s": 3600}, "per_account": null}}`) overrides only the actions it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    pub passkey_sign_in: ActionLimits,
    pub totp_sign_in: ActionLimits,
    pub refresh: ActionLimits,
    pub device_code_creation: ActionLimits,
    pub user_code_entry: ActionLimits,
    pub challenge_issue: ActionLimits,
    pub device_token_poll: ActionLimits,
    pub step_up_refusal: ActionLimits,
    pub refusal_event: ActionLimits,
}

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;

const fn limits(per_address: Option<Limit>, per_account: Option<Limit>) -> ActionLimits {
    ActionLimits {
        per_address,
        per_account,
    }
}

const fn per(max: u32, per_s: u64) -> Option<Limit> {
    Some(Limit { max, per_s })
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            passkey_sign_in: limits(per(30, 5 * MINUTE), per(20, 5 * MINUTE)),
            totp_sign_in: limits(per(20, HOUR), per(5, HOUR)),
            refresh: limits(per(60, MINUTE), per(30, MINUTE)),
            device_code_creation: limits(per(10, HOUR), None),
            user_code_entry: limits(per(10, 10 * MINUTE), per(5, 10 * MINUTE)),
            challenge_issue: limits(per(60, 5 * MINUTE), per(30, 5 * MINUTE)),
            device_token_poll: limits(per(60, MINUTE), None),
            step_up_refusal: limits(None, per(10, 10 * MINUTE)),
            refusal_event: limits(per(10, 10 * MINUTE), None),
        }
    }
}

impl Policy {
    /// The limits of `action`.
    pub fn action(&self, action: Action) -> ActionLimits {
        match action {
            Action::PasskeySignIn => self.passkey_sign_in,
            Action::TotpSignIn => self.totp_sign_in,
            Action::Refresh => self.refresh,
            Action::DeviceCodeCreation => self.device_code_creation,
            Action::UserCodeEntry => self.user_code_entry,
            Action::ChallengeIssue => self.challenge_issue,
            Action::DeviceTokenPoll => self.device_token_poll,
            Action::StepUpRefusal => self.step_up_refusal,
            Action::RefusalEvent => self.refusal_event,
        }
    }

    /// The limit of `action` in `scope`, if there is one.
    pub fn limit(&self, action: Action, scope: Scope) -> Option<Limit> {
        let limits = self.action(action);
        match scope {
            Scope::Address => limits.per_address,
            Scope::Account => limits.per_account,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::device_code::{LIFETIME_SECONDS, USER_CODE_SPACE};

    /// Runs attempts every `every_ms` from `start` for `span_ms`; returns how many were allowed.
    fn hammer(limit: Limit, start: u64, span_ms: u64, every_ms: u64) -> u64 {
        let mut state = RateState::default();
        let mut allowed = 0;
        let mut now = start;
        while now < start + span_ms {
            let (d, s) = limit.check(state, now);
            state = s;
            if d == RateDecision::Allowed {
                allowed += 1;
            }
            now += every_ms;
        }
        allowed
    }

    #[test]
    fn burst_then_steady_rate() {
        let limit = Limit { max: 5, per_s: 60 }; // one every 12 s after a burst of 5
        let mut s = RateState::default();
        let t0 = 1_700_000_000_000;
        for _ in 0..5 {
            let (d, next) = limit.check(s, t0);
            assert_eq!(d, RateDecision::Allowed);
            s = next;
        }
        let (d, same) = limit.check(s, t0);
        assert_eq!(d, RateDecision::Limited { retry_after_s: 12 });
        assert_eq!(same, s, "a refused request does not change the state");
        // 1 ms before the next slot: still limited, rounded up to 1 s.
        assert_eq!(
            limit.check(s, t0 + 11_999).0,
            RateDecision::Limited { retry_after_s: 1 }
        );
        // Exactly at the slot: allowed, and only one.
        let (d, s) = limit.check(s, t0 + 12_000);
        assert_eq!(d, RateDecision::Allowed);
        assert!(matches!(
            limit.check(s, t0 + 12_000).0,
            RateDecision::Limited { .. }
        ));
        // After a full idle period the whole burst is back.
        assert_eq!(s.idle_at_ms(), t0 + 72_000);
        let mut s2 = s;
        for _ in 0..5 {
            let (d, next) = limit.check(s2, s.idle_at_ms());
            assert_eq!(d, RateDecision::Allowed);
            s2 = next;
        }
    }

    #[test]
    fn steady_hammering_gets_the_bound() {
        let limit = Limit { max: 5, per_s: 600 };
        // One attempt per second for 10 minutes.
        let allowed = hammer(limit, 1_000_000, 600_000, 1_000);
        assert_eq!(allowed, 5 + 4); // burst, then at 120, 240, 360, 480 s
        assert!(allowed <= limit.max_attempts_within(600));
        assert_eq!(limit.max_attempts_within(600), 10);
    }

    #[test]
    fn zero_max_refuses_and_clock_going_back_is_harmless() {
        let off = Limit { max: 0, per_s: 60 };
        assert_eq!(
            off.check(RateState::default(), 5).0,
            RateDecision::Limited { retry_after_s: 60 }
        );
        assert_eq!(off.max_attempts_within(600), 0);
        let limit = Limit { max: 1, per_s: 10 };
        let (_, s) = limit.check(RateState::default(), 100_000);
        assert_eq!(
            limit.check(s, 50_000).0,
            RateDecision::Limited { retry_after_s: 60 }
        );
        // Extreme values do not overflow.
        let huge = Limit {
            max: u32::MAX,
            per_s: u64::MAX,
        };
        assert_eq!(
            huge.check(RateState::default(), u64::MAX).0,
            RateDecision::Allowed
        );
    }

    #[test]
    fn combining_and_errors() {
        let a = RateDecision::Allowed;
        let l = |s| RateDecision::Limited { retry_after_s: s };
        assert_eq!(a.and(a), a);
        assert_eq!(a.and(l(3)), l(3));
        assert_eq!(l(3).and(a), l(3));
        assert_eq!(l(3).and(l(7)), l(7));
        let e = l(7).error().unwrap();
        assert_eq!(
            (e.code().as_str(), e.code().http_status()),
            ("rate_limited", Some(429))
        );
        assert_eq!(e.retry_after_header(), "7");
        assert_eq!(a.error(), None);
    }

    #[test]
    fn keys_and_addresses() {
        assert_eq!(
            key(Action::TotpSignIn, Scope::Account, "user-1"),
            "totp_sign_in:acct:user-1"
        );
        assert_eq!(address_id(" 203.0.113.7 "), "203.0.113.7");
        assert_eq!(
            address_id("2001:db8:1:2:aaaa:bbbb:cccc:dddd"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            address_id("2001:db8:1:2::1"),
            address_id("2001:db8:1:2:ffff::9")
        );
        assert_ne!(address_id("2001:db8:1:2::1"), address_id("2001:db8:1:3::1"));
        assert_eq!(address_id("::ffff:198.51.100.1"), "198.51.100.1");
        assert_eq!(address_id("unknown"), "unknown");
        assert_eq!(address_id(&"é".repeat(50)), "unknown");
    }

    #[test]
    fn default_policy_covers_every_action() {
        let p = Policy::default();
        for action in Action::ALL {
            assert!(
                p.limit(action, Scope::Address).is_some() || action == Action::StepUpRefusal,
                "{action:?}"
            );
        }
        assert!(p.limit(Action::StepUpRefusal, Scope::Account).is_some());
        assert_eq!(p.limit(Action::DeviceCodeCreation, Scope::Account), None);
        // Partial configuration overrides only what it names.
        let custom: Policy = serde_json::from_str(
            r#"{"refresh": {"per_address": {"max": 1, "per_s": 1}, "per_account": null}}"#,
        )
        .unwrap();
        assert_eq!(custom.refresh.per_address, Some(Limit { max: 1, per_s: 1 }));
        assert_eq!(custom.refresh.per_account, None);
        assert_eq!(custom.totp_sign_in, p.totp_sign_in);
    }

    /// The numbers promised in the module docs.
    #[test]
    fn user_code_guessing_is_infeasible() {
        let p = Policy::default();
        let per_account = p.limit(Action::UserCodeEntry, Scope::Account).unwrap();
        let per_address = p.limit(Action::UserCodeEntry, Scope::Address).unwrap();
        assert_eq!(per_account.max_attempts_within(LIFETIME_SECONDS), 10);
        assert_eq!(per_address.max_attempts_within(LIFETIME_SECONDS), 20);
        // Simulated: an attempt every 100 ms over the whole life of a code.
        assert!(hammer(per_address, 0, LIFETIME_SECONDS * 1_000, 100) <= 20);
        let p_hit = 20.0 / USER_CODE_SPACE as f64;
        assert!(p_hit < 1e-9, "{p_hit}");
        // Keys needed for a 1 % chance at one code within its life.
        let keys = 0.01 / p_hit;
        assert!(keys > 1e7, "{keys}");
    }

    /// The per-address bound on passkey challenge rows promised in the module docs.
    #[test]
    fn challenge_rows_per_address_are_bounded() {
        let limit = Policy::default()
            .limit(Action::ChallengeIssue, Scope::Address)
            .unwrap();
        // A challenge lives 5 minutes and is kept 5 more after it expires.
        assert_eq!(limit.max_attempts_within(2 * 5 * 60), 180);
        assert!(hammer(limit, 0, 600_000, 10) <= 180);
    }

    #[test]
    fn totp_guessing_rate() {
        let limit = Policy::default()
            .limit(Action::TotpSignIn, Scope::Account)
            .unwrap();
        let per_day = limit.max_attempts_within(86_400);
        assert_eq!(per_day, 5 + 120);
        let mean_days = 1e6 / 3.0 / 120.0;
        assert!(mean_days > 2_700.0);
    }
}
