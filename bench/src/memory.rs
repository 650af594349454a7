//! workerd's resident memory, sampled in the background through the whole run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procfs;

#[derive(Default)]
struct State {
    phase: String,
    /// Each process's peak.
    pid_peaks: BTreeMap<u32, u64>,
    peaks: BTreeMap<String, u64>,
    order: Vec<String>,
}

/// Samples the summed VmRSS of `pids` every `every` and keeps each phase's peak.
pub struct Sampler {
    pids: Vec<u32>,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Sampler {
    pub fn start(pids: Vec<u32>, every: Duration) -> Sampler {
        let state = Arc::new(Mutex::new(State::default()));
        let task = {
            let state = state.clone();
            let pids = pids.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                loop {
                    tick.tick().await;
                    let each: Vec<(u32, u64)> = pids
                        .iter()
                        .map(|p| (*p, procfs::rss_kib(*p).unwrap_or(0)))
                        .collect();
                    let rss = each.iter().map(|(_, r)| r).sum::<u64>();
                    if let Ok(mut s) = state.lock() {
                        for (pid, r) in each {
                            let peak = s.pid_peaks.entry(pid).or_insert(0);
                            *peak = (*peak).max(r);
                        }
                        let phase = s.phase.clone();
                        if phase.is_empty() {
                            continue;
                        }
                        let peak = s.peaks.entry(phase).or_insert(0);
                        *peak = (*peak).max(rss);
                    }
                }
            })
        };
        Sampler { pids, state, task }
    }

    /// Starts attributing samples to `phase` (empty: to none).
    pub fn phase(&self, phase: &str) {
        // Take one sample now, so even a short phase has one.
        let rss = self.now_kib();
        if let Ok(mut s) = self.state.lock() {
            s.phase = phase.to_string();
            if !phase.is_empty() {
                if !s.order.iter().any(|p| p == phase) {
                    s.order.push(phase.to_string());
                }
                let peak = s.peaks.entry(phase.to_string()).or_insert(0);
                *peak = (*peak).max(rss);
            }
        }
    }

    pub fn now_kib(&self) -> u64 {
        procfs::rss_sum_kib(&self.pids)
    }

    /// The median of `n` samples `gap` apart (idle levels).
    pub async fn steady_kib(&self, n: usize, gap: Duration) -> u64 {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            v.push(self.now_kib());
        }
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }

    /// Each phase's peak, in the order the phases began.
    pub fn peaks(&self) -> Vec<PhasePeak> {
        let Ok(s) = self.state.lock() else {
            return Vec::new();
        };
        s.order
            .iter()
            .map(|p| PhasePeak {
                phase: p.clone(),
                peak_kib: s.peaks.get(p).copied().unwrap_or(0),
            })
            .collect()
    }

    pub fn pids(&self) -> &[u32] {
        &self.pids
    }

    /// Each process's RSS now.
    pub fn each_kib(&self) -> Vec<(u32, u64)> {
        self.pids
            .iter()
            .map(|p| (*p, procfs::rss_kib(*p).unwrap_or(0)))
            .collect()
    }

    /// Each process's peak so far.
    pub fn pid_peaks(&self) -> Vec<(u32, u64)> {
        self.state
            .lock()
            .map(|s| s.pid_peaks.iter().map(|(p, k)| (*p, *k)).collect())
            .unwrap_or_default()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PhasePeak {
    pub phase: String,
    pub peak_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SettlePoint {
    pub secs: f64,
    pub rss_kib: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct MemoryResult {
    pub pids: Vec<String>,
    /// Right after start, before any request.
    pub idle_fresh_kib: u64,
    /// After one user connected and left (the Worker and its Durable Object code loaded).
    pub idle_warm_kib: u64,
    pub peak_kib: u64,
    pub phase_peaks: Vec<PhasePeak>,
    /// Per workerd process: `[pid, KiB]` at warm idle, at its peak, and at the end.
    pub by_pid_idle_warm_kib: Vec<(u32, u64)>,
    pub by_pid_peak_kib: Vec<(u32, u64)>,
    pub by_pid_final_kib: Vec<(u32, u64)>,
    /// After every socket closed: one sample a second until it is back within the
    /// tolerance of the warm idle level, or the settle time is up.
    pub after: Vec<SettlePoint>,
    pub final_kib: u64,
    pub tolerance_pct: f64,
    /// The last sample is within `tolerance_pct` of the warm idle level.
    pub returned_to_idle: bool,
}

/// Polls until RSS is back within `tolerance_pct` of `idle` or `limit` is up.
pub async fn settle(
    sampler: &Sampler,
    idle: u64,
    tolerance_pct: f64,
    limit: Duration,
) -> Vec<SettlePoint> {
    let start = Instant::now();
    let mut series = Vec::new();
    let threshold = idle as f64 * (1.0 + tolerance_pct / 100.0);
    loop {
        let rss = sampler.now_kib();
        series.push(SettlePoint {
            secs: start.elapsed().as_secs_f64(),
            rss_kib: rss,
        });
        if (rss as f64) <= threshold || start.elapsed() >= limit {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    series
}
