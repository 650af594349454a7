//! Exponential backoff with jitter, for reconnecting to Orbit and restarting codex.
//!
//! Randomness and time are passed in (a value in `[0, 1)` and monotonic milliseconds), so
//! the schedule is deterministic under test. Jitter spreads reconnects of many anchors after an
//! Orbit outage, so they do not all arrive in the same instant. It is "full jitter" (a delay
//! anywhere below the exponential ceiling), which spreads them the most for a given ceiling.
//!
//! The attempt count resets once a connection has stayed healthy for
//! [`BackoffConfig::healthy_after`]: a link that drops once a day should retry quickly, while
//! one that dies right after connecting keeps backing off.
//!
//! ```
//! use std::time::Duration;
//! use orbit_anchor::backoff::{Backoff, BackoffConfig};
//! let mut backoff = Backoff::new(BackoffConfig::default());
//! // Full jitter: a delay anywhere in [0, base * 2^attempt), capped at 30 s.
//! assert_eq!(backoff.next_delay(0.5), Duration::from_millis(250));
//! assert_eq!(backoff.next_delay(0.5), Duration::from_millis(500));
//! assert_eq!(backoff.attempt(), 2);
//! ```

use std::time::Duration;

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffConfig {
    pub base: Duration,
    /// No delay is ever longer than this (SPEC §3: 30 s).
    pub cap: Duration,
    /// A connection that lasted this long resets the schedule.
    pub healthy_after: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
        }
    }
}

/// The backoff schedule for one kind of connection.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
    connected_at_ms: Option<u64>,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Self {
        Backoff {
            config,
            attempt: 0,
            connected_at_ms: None,
        }
    }

    /// Failed attempts since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before the next attempt, after a failure or a lost connection.
    ///
    /// `random` is a uniform value in `[0, 1)`; anything outside is clamped (NaN counts as 0).
    pub fn next_delay(&mut self, random: f64) -> Duration {
        let random = if random.is_nan() {
            0.0
        } else {
            random.clamp(0.0, 1.0)
        };
        let cap = self.config.cap;
        let ceiling = self
            .config
            .base
            .min(cap)
            .checked_mul(2u32.saturating_pow(self.attempt.min(31)))
            .unwrap_or(cap)
            .min(cap);
        let delay = ceiling.mul_f64(random);
        self.attempt = self.attempt.saturating_add(1);
        self.connected_at_ms = None;
        delay
    }

    /// Records that a connection is up (for codex: the handshake completed).
    pub fn connected(&mut self, now_ms: u64) {
        self.connected_at_ms = Some(now_ms);
    }

    /// Records that the connection went down; resets the schedule if it had been healthy
    /// for at least `healthy_after`. Call before [`Backoff::next_delay`].
    pub fn disconnected(&mut self, now_ms: u64) {
        if let Some(at) = self.connected_at_ms.take() {
            let healthy_ms =
                u64::try_from(self.config.healthy_after.as_millis()).unwrap_or(u64::MAX);
            if now_ms.saturating_sub(at) >= healthy_ms {
                self.reset();
            }
        }
    }

    /// Starts the schedule again from the base delay.
    fn reset(&mut self) {
        self.attempt = 0;
        self.connected_at_ms = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn full_jitter_ceiling_doubles_then_caps() {
        let mut b = Backoff::new(BackoffConfig::default());
        // random just below 1 shows the ceiling.
        let ceilings: Vec<u128> = (0..10)
            .map(|_| b.next_delay(0.999_999).as_millis())
            .collect();
        assert_eq!(ceilings[0], 499);
        assert_eq!(ceilings[1], 999);
        assert_eq!(ceilings[2], 1999);
        assert_eq!(ceilings[6], 29_999, "500 ms * 2^6 = 32 s is over the cap");
        assert!(ceilings.iter().all(|&c| c <= 30_000));
        assert_eq!(ceilings[9], 29_999);
        assert_eq!(b.attempt(), 10);
    }

    #[test]
    fn huge_attempt_counts_do_not_overflow() {
        let mut b = Backoff::new(BackoffConfig::default());
        for _ in 0..200 {
            assert!(b.next_delay(0.999) <= ms(30_000));
        }
    }

    #[test]
    fn resets_only_after_a_healthy_connection() {
        let mut b = Backoff::new(BackoffConfig::default());
        for _ in 0..5 {
            b.next_delay(0.5);
        }
        b.connected(1_000);
        b.disconnected(1_000 + 59_999);
        assert_eq!(
            b.attempt(),
            5,
            "a short-lived connection keeps the schedule"
        );
        b.next_delay(0.5);
        b.connected(100_000);
        b.disconnected(160_000);
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.next_delay(0.5), ms(250));
    }

    #[test]
    fn out_of_range_randomness_is_clamped() {
        let mut b = Backoff::new(BackoffConfig::default());
        assert_eq!(b.next_delay(f64::NAN), Duration::ZERO);
        assert_eq!(b.next_delay(-3.0), Duration::ZERO);
        assert_eq!(b.next_delay(7.0), ms(2000));
    }

    proptest! {
        #[test]
        fn delays_stay_within_bounds(randoms in proptest::collection::vec(0.0f64..1.0, 1..60)) {
            let mut b = Backoff::new(BackoffConfig::default());
            for (i, r) in randoms.into_iter().enumerate() {
                let d = b.next_delay(r);
                let ceiling = 500u64.saturating_mul(1u64 << i.min(20)).min(30_000);
                prop_assert!(d <= ms(ceiling));
            }
        }
    }
}
