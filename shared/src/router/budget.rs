//! The replay log's byte arithmetic, kept pure so it is tested natively: whether a replay fits
//! its budget, which rows a trim drops, and when a thread is idle enough to forget.

/// Whether replaying `bytes` of logged frames stays within `budget`.
pub fn replay_fits(bytes: u64, budget: u64) -> bool {
    bytes <= budget
}

/// Whether replayed rows with these `seqs` (ascending) are everything after `since` up to
/// `last`: no number missing at the start, between rows or at the end. A hole means frames were
/// lost (a failed write whose numbers were reserved), and the subscriber must reload instead.
pub fn replay_is_whole(seqs: impl IntoIterator<Item = u64>, since: u64, last: u64) -> bool {
    let mut expected = since.saturating_add(1);
    for seq in seqs {
        if seq != expected {
            return false;
        }
        expected = expected.saturating_add(1);
    }
    expected == last.saturating_add(1)
}

/// The `seq` through which a thread's log is trimmed so that at most `max_frames` rows and
/// `max_bytes` bytes remain, given its rows as `(seq, bytes)` in ascending `seq` order; `None`
/// when nothing needs trimming. The newest row is always kept, however large.
pub fn trim_through(rows: &[(u64, u64)], max_frames: u64, max_bytes: u64) -> Option<u64> {
    let mut kept_frames: u64 = 0;
    let mut kept_bytes: u64 = 0;
    for (i, (seq, bytes)) in rows.iter().enumerate().rev() {
        let frames = kept_frames.saturating_add(1);
        let total = kept_bytes.saturating_add(*bytes);
        let newest = i + 1 == rows.len();
        if !newest && (frames > max_frames || total > max_bytes) {
            return Some(*seq);
        }
        kept_frames = frames;
        kept_bytes = total;
    }
    None
}

/// Whether a thread last written at `last_active_ms` is idle long enough at `now_ms` to have its
/// log forgotten.
pub fn is_idle(last_active_ms: u64, now_ms: u64, idle_ms: u64) -> bool {
    now_ms.saturating_sub(last_active_ms) >= idle_ms
}

/// The time before which a thread's last write makes it idle at `now_ms`.
pub fn idle_cutoff(now_ms: u64, idle_ms: u64) -> u64 {
    now_ms.saturating_sub(idle_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_keeps_the_newest_rows_within_count_and_bytes() {
        let rows: Vec<(u64, u64)> = (1..=10).map(|s| (s, 100)).collect();
        assert_eq!(trim_through(&rows, 20, 10_000), None);
        assert_eq!(trim_through(&rows, 4, 10_000), Some(6));
        assert_eq!(trim_through(&rows, 20, 350), Some(7));
        assert_eq!(trim_through(&rows, 2, 350), Some(8));
        // One row larger than the cap is still kept: it is the newest.
        assert_eq!(trim_through(&[(1, 10), (2, 1_000)], 20, 500), Some(1));
        assert_eq!(trim_through(&[(2, 1_000)], 20, 500), None);
        assert_eq!(trim_through(&[], 1, 1), None);
    }

    #[test]
    fn a_replay_is_whole_only_without_a_hole_at_its_start_middle_or_end() {
        assert!(replay_is_whole([4, 5, 6], 3, 6));
        assert!(replay_is_whole([], 6, 6));
        assert!(!replay_is_whole([5, 6], 3, 6), "4 is missing");
        assert!(!replay_is_whole([4, 6], 3, 6), "5 is missing");
        assert!(!replay_is_whole([4, 5], 3, 6), "6 is missing");
        assert!(!replay_is_whole([], 3, 6), "everything is missing");
    }

    #[test]
    fn replay_budget_and_idleness() {
        assert!(replay_fits(8, 8));
        assert!(!replay_fits(9, 8));
        assert!(is_idle(0, 10, 10));
        assert!(!is_idle(1, 10, 10));
        assert_eq!(idle_cutoff(5, 10), 0);
    }
}
