//! The report: machine, figures, and the SPEC §6 verdicts, as tables or JSON.

use std::fmt::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde::Serialize;

use crate::anchor::{AnchorResult, IDLE_RSS_LIMIT_KIB, OVERHEAD_LIMIT_US};
use crate::fanout::{FanoutResult, Kind};
use crate::idle::IdleResult;
use crate::memory::MemoryResult;
use crate::procfs;
use crate::rtt::RttResult;
use crate::stats::ratio;

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub mem_total_mib: u64,
    pub kernel: String,
    pub load_at_start: [f64; 3],
    pub load_at_end: [f64; 3],
    pub wrangler: String,
    pub workerd: String,
    /// CPU seconds the rest of the machine (not this benchmark, not the measured workerd)
    /// used during the run, and that as a share of all CPUs over the run.
    pub other_cpu_secs: f64,
    pub other_cpu_pct: f64,
}

fn package_version(package: &str) -> String {
    let path = orbit_tests::repo_root().join(format!("node_modules/{package}/package.json"));
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

impl Machine {
    pub fn probe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: cpuinfo
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
                .unwrap_or_default(),
            mem_total_mib: meminfo
                .lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |k| k / 1024),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            load_at_start: procfs::loadavg(),
            load_at_end: [0.0; 3],
            wrangler: package_version("wrangler"),
            workerd: package_version("workerd"),
            other_cpu_secs: 0.0,
            other_cpu_pct: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WasmSize {
    pub path: String,
    pub raw_bytes: u64,
    /// `gzip -9`, as Cloudflare's upload limit counts it.
    pub gzip_bytes: u64,
    pub error: Option<String>,
}

impl WasmSize {
    pub fn measure(path: &Path) -> WasmSize {
        let mut out = WasmSize {
            path: path.display().to_string(),
            raw_bytes: 0,
            gzip_bytes: 0,
            error: None,
        };
        match std::fs::metadata(path) {
            Ok(m) => out.raw_bytes = m.len(),
            Err(e) => {
                out.error = Some(format!("{e} (build it: make build-worker)"));
                return out;
            }
        }
        let gz = std::fs::File::open(path).and_then(|f| {
            Command::new("gzip")
                .args(["-9", "-c"])
                .stdin(f)
                .stderr(Stdio::null())
                .output()
        });
        match gz {
            Ok(o) if o.status.success() => out.gzip_bytes = o.stdout.len() as u64,
            Ok(o) => out.error = Some(format!("gzip failed: {}", o.status)),
            Err(e) => out.error = Some(format!("gzip: {e}")),
        }
        out
    }
}

/// One SPEC §6 target.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub target: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub target: String,
    pub startup_secs: Option<f64>,
    pub workerd_pids: Vec<String>,
    /// The floor the ratios use: the echo server a task of the client's single-threaded
    /// runtime (the lowest and steadiest loopback round trip).
    pub floor: Option<RttResult>,
    /// For information: the echo server on a thread of its own, so every round trip wakes
    /// two threads (on this VM that costs 10–50 µs a wake-up, depending on load).
    pub floor_own_thread: Option<RttResult>,
    pub relay: Option<RttResult>,
    pub relay_p50_ratio: Option<f64>,
    pub relay_p99_ratio: Option<f64>,
    /// The real anchor bridging the echo-codex stand-in.
    pub anchor: Option<AnchorResult>,
    pub fanout: Vec<FanoutResult>,
    pub idle: Vec<IdleResult>,
    pub memory: Option<MemoryResult>,
    pub wasm: Option<WasmSize>,
    /// The router's cost per frame, natively.
    pub router: Vec<crate::router::RouterCost>,
    /// Sign-in endpoints, p50 per endpoint.
    pub auth: Vec<crate::auth::EndpointLatency>,
    pub checks: Vec<Check>,
    pub errors: Vec<String>,
    pub total_secs: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

fn mib_of_kib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Decimal megabytes (the SPEC's "10 MB") of a KiB figure.
fn mb_of_kib(kib: u64) -> f64 {
    kib as f64 * 1024.0 / 1e6
}

impl Report {
    pub fn new(machine: Machine) -> Report {
        Report {
            machine,
            target: String::new(),
            startup_secs: None,
            workerd_pids: Vec::new(),
            floor: None,
            floor_own_thread: None,
            relay: None,
            relay_p50_ratio: None,
            relay_p99_ratio: None,
            anchor: None,
            fanout: Vec::new(),
            idle: Vec::new(),
            memory: None,
            wasm: None,
            router: Vec::new(),
            auth: Vec::new(),
            checks: Vec::new(),
            errors: Vec::new(),
            total_secs: 0.0,
        }
    }

    /// Computes the ratios and verdicts.
    pub fn finish(&mut self, total: Duration) {
        self.total_secs = total.as_secs_f64();
        self.machine.load_at_end = procfs::loadavg();
        let mut checks = Vec::new();
        let slowest_auth = self
            .auth
            .iter()
            .filter(|e| !e.endpoint.starts_with("GET /health"))
            .max_by(|a, b| a.latency.p50_us.total_cmp(&b.latency.p50_us));
        if let Some(slowest) = slowest_auth {
            checks.push(Check {
                target: "auth endpoints p50 ≤ 5 ms locally".into(),
                measured: format!(
                    "slowest p50 {:.1} ms ({})",
                    slowest.latency.p50_us / 1000.0,
                    slowest.endpoint
                ),
                met: slowest.latency.p50_us <= 5000.0,
            });
        }
        if let (Some(floor), Some(relay)) = (&self.floor, &self.relay) {
            let r50 = ratio(relay.latency.p50_us, floor.latency.p50_us);
            let r99 = ratio(relay.latency.p99_us, floor.latency.p99_us);
            self.relay_p50_ratio = Some(r50);
            self.relay_p99_ratio = Some(r99);
            checks.push(Check {
                target: "relay RTT p50 ≤ 3× floor p50".into(),
                measured: format!(
                    "{:.1}× ({:.0} µs vs {:.0} µs)",
                    r50, relay.latency.p50_us, floor.latency.p50_us
                ),
                met: r50 <= 3.0,
            });
            checks.push(Check {
                target: "relay RTT p99 ≤ 10× floor p99".into(),
                measured: format!(
                    "{:.1}× ({:.0} µs vs {:.0} µs)",
                    r99, relay.latency.p99_us, floor.latency.p99_us
                ),
                met: r99 <= 10.0,
            });
        }
        if let Some(a) = &self.anchor {
            let after = a.after_load_final.rss_kib;
            checks.push(Check {
                target: "anchor idle RSS ≤ 10 MB (codex excluded)".into(),
                measured: format!(
                    "{:.1} MB idle, {:.1} MB after load (peak {:.1} MB)",
                    mb_of_kib(a.idle.rss_kib),
                    mb_of_kib(after),
                    mb_of_kib(a.peak_kib)
                ),
                met: a.idle.rss_kib as f64 <= IDLE_RSS_LIMIT_KIB
                    && after as f64 <= IDLE_RSS_LIMIT_KIB,
            });
            checks.push(Check {
                target: "anchor overhead per frame ≤ 50 µs".into(),
                measured: format!(
                    "{:.0} µs: p50 ({:.0} − {:.0} µs) / 2",
                    a.overhead_p50_us, a.rtt_anchor.latency.p50_us, a.rtt_echo.latency.p50_us
                ),
                met: a.overhead_p50_us <= OVERHEAD_LIMIT_US,
            });
        }
        let thread_runs = || self.fanout.iter().filter(|f| f.kind == Kind::Thread);
        if let Some(one) = thread_runs().find(|f| f.clients == 1) {
            checks.push(Check {
                target: "fan-out to 1 client ≥ 20,000 frames/s, lossless, in order".into(),
                measured: format!(
                    "{:.0} frames/s, lost {}, order violations {}",
                    one.per_client_fps_min,
                    one.lost,
                    one.order_violations + one.gaps + one.bad_seq
                ),
                met: one.per_client_fps_min >= 20_000.0 && one.complete,
            });
        }
        if let Some(fifty) = thread_runs().find(|f| f.clients == 50) {
            checks.push(Check {
                target: "fan-out to 50 clients ≥ 100,000 deliveries/s, lossless, in order".into(),
                measured: format!(
                    "{:.0} deliveries/s, lost {}, order violations {}",
                    fifty.aggregate_dps,
                    fifty.lost,
                    fifty.order_violations + fifty.gaps + fifty.bad_seq
                ),
                met: fifty.aggregate_dps >= 100_000.0 && fifty.complete,
            });
        }
        if let Some(idle) = self.idle.first() {
            let errors = idle.open_errors
                + idle.dropped
                + (idle.opened - idle.broadcast_received.min(idle.opened));
            checks.push(Check {
                target: format!(
                    "{} idle subscribed sockets held without errors",
                    idle.requested
                ),
                measured: format!(
                    "{} open in {:.1} s, {} errors, {}/{} pongs, {}/{} got the broadcast",
                    idle.opened,
                    idle.open_secs,
                    idle.open_errors,
                    idle.pongs,
                    idle.pings,
                    idle.broadcast_received,
                    idle.opened
                ),
                met: idle.opened == idle.requested && errors == 0,
            });
        }
        if let Some(m) = &self.memory {
            checks.push(Check {
                target: "workerd memory returns to its idle level after load".into(),
                measured: format!(
                    "idle {:.1} MiB → peak {:.1} MiB → {:.1} MiB after {:.0} s",
                    mib_of_kib(m.idle_warm_kib),
                    mib_of_kib(m.peak_kib),
                    mib_of_kib(m.final_kib),
                    m.after.last().map_or(0.0, |p| p.secs)
                ),
                met: m.returned_to_idle,
            });
        }
        if let Some(w) = &self.wasm {
            if w.error.is_none() {
                checks.push(Check {
                    target: "wasm bundle ≤ 1 MiB gzip".into(),
                    measured: format!("{:.2} MiB gzip", w.gzip_bytes as f64 / MIB),
                    met: (w.gzip_bytes as f64) <= MIB,
                });
            }
        }
        self.checks = checks;
    }

    /// The human-readable report.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let m = &self.machine;
        let _ = writeln!(s, "\nOrbit benchmark");
        let _ = writeln!(
            s,
            "machine: {} CPUs ({}), {} MiB, Linux {}; load {:.2}/{:.2}/{:.2} at start, {:.2}/{:.2}/{:.2} at end",
            m.cpus, m.cpu_model, m.mem_total_mib, m.kernel,
            m.load_at_start[0], m.load_at_start[1], m.load_at_start[2],
            m.load_at_end[0], m.load_at_end[1], m.load_at_end[2]
        );
        let _ = writeln!(
            s,
            "other processes' CPU while measuring: {:.1} CPU-seconds, {:.0}% of the machine",
            m.other_cpu_secs, m.other_cpu_pct
        );
        let _ = writeln!(s, "wrangler {}, workerd {}", m.wrangler, m.workerd);
        if !self.target.is_empty() {
            let _ = writeln!(s, "target: {}", self.target);
        }
        if let Some(t) = self.startup_secs {
            let _ = writeln!(s, "Orbit startup (migrations + wrangler dev): {t:.1} s");
        }
        for p in &self.workerd_pids {
            let _ = writeln!(s, "  workerd: {p}");
        }

        if self.floor.is_some() || self.relay.is_some() {
            let alternate = self.floor.as_ref().is_some_and(|f| f.interleaved);
            let _ = writeln!(
                s,
                "\nRound trips, 1 KB text frames (µs){}",
                if alternate {
                    "; floor and relay alternate in blocks of 100"
                } else {
                    ""
                }
            );
            let _ = writeln!(
                s,
                "  {:<28} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
                "", "samples", "min", "p50", "p95", "p99", "max"
            );
            for (name, r) in [
                ("floor (echo, same thread)", &self.floor),
                ("floor (echo, own thread)", &self.floor_own_thread),
                ("relay (client→Orbit→anchor)", &self.relay),
            ] {
                if let Some(r) = r {
                    let l = &r.latency;
                    let _ = writeln!(
                        s,
                        "  {:<28} {:>7} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
                        name, l.samples, l.min_us, l.p50_us, l.p95_us, l.p99_us, l.max_us
                    );
                }
            }
            if let (Some(a), Some(b)) = (self.relay_p50_ratio, self.relay_p99_ratio) {
                let _ = writeln!(s, "  relay / floor (same thread): p50 {a:.1}×, p99 {b:.1}×");
            }
            if let (Some(f), Some(r)) = (&self.floor_own_thread, &self.relay) {
                let _ = writeln!(
                    s,
                    "  relay / floor (own thread): p50 {:.1}×, p99 {:.1}×",
                    ratio(r.latency.p50_us, f.latency.p50_us),
                    ratio(r.latency.p99_us, f.latency.p99_us)
                );
            }
        }

        if let Some(a) = &self.anchor {
            self.anchor_table(&mut s, a);
        }

        if !self.fanout.is_empty() {
            let _ = writeln!(
                s,
                "\nFan-out, 300-byte notifications (frames/s per client; deliveries/s in total)"
            );
            let _ = writeln!(
                s,
                "  {:<10} {:>7} {:>7} {:>9} {:>10} {:>10} {:>11} {:>8} {:>6} {:>6} {:>9} {:>9}",
                "kind",
                "clients",
                "frames",
                "ingress/s",
                "min/client",
                "med/client",
                "aggregate/s",
                "secs",
                "lost",
                "order",
                "workerd s",
                "bench s"
            );
            for f in &self.fanout {
                let _ = writeln!(
                    s,
                    "  {:<10} {:>7} {:>7} {:>9.0} {:>10.0} {:>10.0} {:>11.0} {:>8.2} {:>6} {:>6} {:>9.2} {:>9.2}",
                    format!("{:?}", f.kind).to_lowercase(),
                    f.clients,
                    f.frames,
                    f.ingress_fps,
                    f.per_client_fps_min,
                    f.per_client_fps_median,
                    f.aggregate_dps,
                    f.elapsed_secs,
                    f.lost,
                    f.order_violations + f.gaps + f.bad_seq,
                    f.workerd_cpu_secs,
                    f.bench_cpu_secs
                );
                if f.workerd_cpu_by_pid.len() > 1 {
                    let by: Vec<String> = f
                        .workerd_cpu_by_pid
                        .iter()
                        .map(|(p, c)| format!("{p}: {c:.2} s"))
                        .collect();
                    let _ = writeln!(s, "    workerd CPU by process: {}", by.join(", "));
                }
                for e in &f.client_errors {
                    let _ = writeln!(s, "    ! {e}");
                }
            }
            let _ = writeln!(
                s,
                "  (workerd s / bench s: CPU seconds spent by workerd and by this benchmark during the run)"
            );
        }

        for i in &self.idle {
            let _ = writeln!(s, "\nIdle subscribed sockets (one user)");
            let _ = writeln!(
                s,
                "  opened {}/{} in {:.1} s ({} at a time), {} errors; held {:.0} s",
                i.opened, i.requested, i.open_secs, i.concurrency, i.open_errors, i.held_secs
            );
            let _ = writeln!(
                s,
                "  pings: {}/{} answered, p50 {:.0} µs, max {:.0} µs; one thread frame reached {}/{} in {:.2} s; closed in {:.1} s",
                i.pongs, i.pings, i.ping.p50_us, i.ping.max_us, i.broadcast_received, i.opened,
                i.broadcast_secs, i.close_secs
            );
            for e in &i.first_errors {
                let _ = writeln!(s, "    ! {e}");
            }
        }

        if let Some(mem) = &self.memory {
            let _ = writeln!(
                s,
                "\nworkerd memory (VmRSS, summed over {} processes, MiB)",
                mem.pids.len()
            );
            let _ = writeln!(
                s,
                "  idle fresh {:.1}, idle warm {:.1}, peak {:.1}",
                mib_of_kib(mem.idle_fresh_kib),
                mib_of_kib(mem.idle_warm_kib),
                mib_of_kib(mem.peak_kib)
            );
            let peaks: Vec<String> = mem
                .phase_peaks
                .iter()
                .map(|p| format!("{} {:.1}", p.phase, mib_of_kib(p.peak_kib)))
                .collect();
            let _ = writeln!(s, "  peak by phase: {}", peaks.join(", "));
            let each = |v: &[(u32, u64)]| {
                v.iter()
                    .map(|(p, k)| format!("{p} {:.1}", mib_of_kib(*k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let _ = writeln!(
                s,
                "  by process: warm idle [{}], peak [{}], end [{}]",
                each(&mem.by_pid_idle_warm_kib),
                each(&mem.by_pid_peak_kib),
                each(&mem.by_pid_final_kib)
            );
            // The first few seconds, then every fifth, and the last.
            let last = mem.after.len().saturating_sub(1);
            let series: Vec<String> = mem
                .after
                .iter()
                .enumerate()
                .filter(|(i, _)| *i < 3 || i % 5 == 0 || *i == last)
                .map(|(_, p)| format!("{:.0}s {:.1}", p.secs, mib_of_kib(p.rss_kib)))
                .collect();
            let _ = writeln!(s, "  after load: {}", series.join(", "));
            let _ = writeln!(
                s,
                "  back within {:.0}% of warm idle: {}",
                mem.tolerance_pct,
                if mem.returned_to_idle { "yes" } else { "no" }
            );
        }

        if !self.router.is_empty() {
            let _ = writeln!(
                s,
                "\nThe router alone, natively (ns per frame, actions included)"
            );
            for r in &self.router {
                let _ = writeln!(
                    s,
                    "  {:<22} {:>5} bytes  {:>9.0} ns  ({} frames)",
                    r.kind, r.frame_bytes, r.ns_per_frame, r.frames
                );
            }
        }
        if let Some(w) = &self.wasm {
            let _ = writeln!(s, "\nwasm bundle: {}", w.path);
            match &w.error {
                Some(e) => {
                    let _ = writeln!(s, "  ! {e}");
                }
                None => {
                    let _ = writeln!(
                        s,
                        "  raw {} bytes ({:.2} MiB), gzip -9 {} bytes ({:.2} MiB)",
                        w.raw_bytes,
                        w.raw_bytes as f64 / MIB,
                        w.gzip_bytes,
                        w.gzip_bytes as f64 / MIB
                    );
                }
            }
        }

        if !self.auth.is_empty() {
            let _ = writeln!(s, "\nSign-in endpoints (ms)");
            let _ = writeln!(
                s,
                "  {:<40} {:>7} {:>7} {:>7}",
                "endpoint", "p50", "p95", "n"
            );
            for e in &self.auth {
                let _ = writeln!(
                    s,
                    "  {:<40} {:>7.1} {:>7.1} {:>7}",
                    e.endpoint,
                    e.latency.p50_us / 1000.0,
                    e.latency.p95_us / 1000.0,
                    e.latency.samples
                );
            }
        }

        if !self.checks.is_empty() {
            let _ = writeln!(s, "\nSPEC §6 targets");
            for c in &self.checks {
                let _ = writeln!(
                    s,
                    "  [{}] {:<62} {}",
                    if c.met { "met   " } else { "MISSED" },
                    c.target,
                    c.measured
                );
            }
        }
        for e in &self.errors {
            let _ = writeln!(s, "\nerror: {e}");
        }
        let _ = writeln!(s, "\ntotal {:.1} s", self.total_secs);
        s
    }
}

impl Report {
    fn anchor_table(&self, s: &mut String, a: &AnchorResult) {
        let _ = writeln!(
            s,
            "\nAnchor: `anchor run` (pid {}) bridging {}",
            a.anchor_pid, a.codex
        );
        let _ = writeln!(
            s,
            "  binary {} ({:.1} MB); connected with codex ready {:.2} s after start",
            a.anchor_binary,
            a.anchor_binary_bytes as f64 / 1e6,
            a.ready_secs
        );
        let _ = writeln!(
            s,
            "  RSS (MB = 10^6 bytes): idle {:.2} (anonymous {:.2}, {} threads) after {:.0} s idle; peak {:.2}; echo-codex {:.2}",
            mb_of_kib(a.idle.rss_kib),
            mb_of_kib(a.idle.anon_kib),
            a.idle.threads,
            a.idle_secs,
            mb_of_kib(a.peak_kib),
            mb_of_kib(a.codex_rss_kib)
        );
        let series: Vec<String> = a
            .after_load
            .iter()
            .map(|p| format!("{:.0}s {:.2}", p.secs, mb_of_kib(p.rss_kib)))
            .collect();
        let _ = writeln!(
            s,
            "  after load: {} (anonymous {:.2}, {} threads)",
            series.join(", "),
            mb_of_kib(a.after_load_final.anon_kib),
            a.after_load_final.threads
        );
        let _ = writeln!(
            s,
            "  round trips, 1 KB requests (µs), alternating in blocks of 100"
        );
        let _ = writeln!(
            s,
            "  {:<34} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "", "samples", "min", "p50", "p95", "p99", "max"
        );
        for (name, r) in [
            ("via the bench's own anchor (echo)", &a.rtt_echo),
            ("via anchor + echo-codex", &a.rtt_anchor),
        ] {
            let l = &r.latency;
            let _ = writeln!(
                s,
                "  {:<34} {:>7} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
                name, l.samples, l.min_us, l.p50_us, l.p95_us, l.p99_us, l.max_us
            );
        }
        let p = &a.pipe.latency;
        let _ = writeln!(
            s,
            "  {:<34} {:>7} {:>8.0} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
            "bench ⇄ echo-codex over pipes",
            p.samples,
            p.min_us,
            p.p50_us,
            p.p95_us,
            p.p99_us,
            p.max_us
        );
        let _ = writeln!(
            s,
            "  overhead per frame, (anchor − echo) / 2: p50 {:.0} µs, p99 {:.0} µs \
             (the codex hop alone, pipes p50 / 2: {:.0} µs)",
            a.overhead_p50_us,
            a.overhead_p99_us,
            p.p50_us / 2.0
        );
        let _ = writeln!(
            s,
            "  CPU per round trip: anchor {:.0} µs, echo-codex {:.0} µs",
            a.rtt_anchor_cpu_us, a.rtt_codex_cpu_us
        );
        if let Some(t) = a.throughput.first() {
            let _ = writeln!(
                s,
                "  pipelined: one client, {} 1 KB requests, at most {} unanswered",
                t.requests, t.window
            );
        }
        let _ = writeln!(
            s,
            "  {:<8} {:>10} {:>7} {:>7} {:>5} {:>6} {:>6} {:>9} {:>8} {:>9} {:>8} {:>10}",
            "via",
            "answers/s",
            "secs",
            "missing",
            "dup",
            "order",
            "errors",
            "anchor s",
            "codex s",
            "workerd s",
            "bench s",
            "anchor µs"
        );
        for t in &a.throughput {
            let _ = writeln!(
                s,
                "  {:<8} {:>10.0} {:>7.2} {:>7} {:>5} {:>6} {:>6} {:>9.2} {:>8.2} {:>9.2} {:>8.2} {:>10.1}",
                t.via,
                t.per_sec,
                t.elapsed_secs,
                t.missing,
                t.duplicates,
                t.out_of_order,
                t.errors,
                t.anchor_cpu_secs,
                t.codex_cpu_secs,
                t.workerd_cpu_secs,
                t.bench_cpu_secs,
                t.anchor_cpu_secs * 1e6 / t.answered.max(1) as f64
            );
            if let Some(e) = &t.first_error {
                let _ = writeln!(s, "    ! {e}");
            }
        }
        let _ = writeln!(
            s,
            "  (CPU seconds during the run; anchor µs: the anchor's CPU per answered request)"
        );
    }
}
