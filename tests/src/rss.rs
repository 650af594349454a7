//! Telling a leak from fragmentation in a process's memory, sampled round by round under a
//! steady load.
//!
//! Memory that levels off grows in the first rounds (code loaded, buffers and caches reaching
//! their working size, an allocator keeping freed pages for reuse: fragmentation) and then
//! stops. A leak grows by about the same amount every round, for as long as the load lasts.
//! So [`judge`] leaves out the warm-up rounds, splits the rest into an earlier and a later
//! half, and compares the peaks of the two halves. A leak of `L` per round puts the later peak
//! about `L` × (rounds in a half) above the earlier one. Memory that has levelled off puts it
//! at most a little noise above (a garbage collection that ran late, a page or two). The slope
//! over the same rounds is reported too, for the reader, but is not judged: one step up in an
//! otherwise flat series gives a slope without being a leak.

use thiserror::Error;

/// Why the rounds cannot be judged.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RssError {
    #[error(
        "{rounds} rounds with {warmup} of warm-up: at least two rounds must follow the warm-up"
    )]
    TooFewRounds { rounds: usize, warmup: usize },
}

/// What [`judge`] found.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The highest round of the earlier half (after the warm-up), in KiB.
    pub earlier_peak_kib: u64,
    /// The highest round of the later half, in KiB.
    pub later_peak_kib: u64,
    /// `later_peak_kib − earlier_peak_kib` (negative when memory went down).
    pub growth_kib: i64,
    /// The least-squares slope over the rounds after the warm-up, in KiB per round.
    pub slope_kib_per_round: f64,
    /// How much growth between the halves is still counted as flat.
    pub tolerance_kib: u64,
    /// `growth_kib <= tolerance_kib`.
    pub flat: bool,
}

/// Judges `rounds_kib`, one memory figure per round (e.g. each round's peak RSS), skipping the
/// first `warmup` rounds: flat when the later half's peak is at most `tolerance_kib` above the
/// earlier half's. With an odd number of rounds, the middle one goes to the later half.
pub fn judge(rounds_kib: &[u64], warmup: usize, tolerance_kib: u64) -> Result<Verdict, RssError> {
    let judged = rounds_kib.get(warmup..).unwrap_or_default();
    if judged.len() < 2 {
        return Err(RssError::TooFewRounds {
            rounds: rounds_kib.len(),
            warmup,
        });
    }
    let (earlier, later) = judged.split_at(judged.len() / 2);
    let earlier_peak_kib = earlier.iter().copied().max().unwrap_or(0);
    let later_peak_kib = later.iter().copied().max().unwrap_or(0);
    let growth_kib = i64::try_from(later_peak_kib).unwrap_or(i64::MAX)
        - i64::try_from(earlier_peak_kib).unwrap_or(i64::MAX);
    Ok(Verdict {
        earlier_peak_kib,
        later_peak_kib,
        growth_kib,
        slope_kib_per_round: slope(judged),
        tolerance_kib,
        flat: growth_kib <= i64::try_from(tolerance_kib).unwrap_or(i64::MAX),
    })
}

/// The least-squares slope of `ys` against 0, 1, 2, …
fn slope(ys: &[u64]) -> f64 {
    let n = ys.len() as f64;
    if ys.len() < 2 {
        return 0.0;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = ys.iter().map(|y| *y as f64).sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (x, y) in ys.iter().enumerate() {
        let dx = x as f64 - mean_x;
        num += dx * (*y as f64 - mean_y);
        den += dx * dx;
    }
    num / den
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024;

    #[test]
    fn growth_that_levels_off_after_the_first_rounds_is_flat() {
        // Fast growth while warming up, a last step in the first judged round, then noise.
        let rounds = [150, 190, 200, 203, 202, 204, 203, 202].map(|m| m * MIB);
        let v = judge(&rounds, 1, 4 * MIB).unwrap();
        assert!(v.flat, "{v:?}");
        assert_eq!(v.earlier_peak_kib, 203 * MIB);
        assert_eq!(v.later_peak_kib, 204 * MIB);
    }

    #[test]
    fn steady_growth_every_round_is_a_leak_even_when_each_step_is_small() {
        // 1.5 MiB a round: under the tolerance per round, well over it between the halves.
        let rounds: Vec<u64> = (0..8).map(|r| 200 * MIB + r * 3 * MIB / 2).collect();
        let v = judge(&rounds, 1, 4 * MIB).unwrap();
        assert!(!v.flat, "{v:?}");
        assert!(
            (v.slope_kib_per_round - 1.5 * MIB as f64).abs() < 1.0,
            "{v:?}"
        );
    }

    #[test]
    fn memory_that_goes_down_is_flat() {
        let rounds = [300, 320, 310, 290, 280].map(|m| m * MIB);
        let v = judge(&rounds, 1, 0).unwrap();
        assert!(v.flat, "{v:?}");
        assert!(v.growth_kib < 0, "{v:?}");
    }

    #[test]
    fn fewer_than_two_rounds_after_the_warm_up_cannot_be_judged() {
        assert_eq!(
            judge(&[1, 2], 1, 0),
            Err(RssError::TooFewRounds {
                rounds: 2,
                warmup: 1
            })
        );
        assert!(judge(&[], 0, 0).is_err());
    }
}
