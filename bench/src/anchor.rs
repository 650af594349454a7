//! The anchor scenario (SPEC §6: "anchor idle RSS ≤ 10 MB (codex excluded), anchor overhead
//! per frame ≤ 50 µs"), on the real `anchor run` process.
//!
//! A fresh user pairs an anchor through the device flow (`anchor login`, approved as the web
//! user), and `anchor run` starts with `echo-codex` (`src/bin/echo-codex.rs`) as its codex: a
//! stand-in that answers every request at once, so what is measured is the anchor's cost and
//! not codex's. Once the anchor is connected and codex is ready, and it has idled a few
//! seconds, its RSS is read from `/proc` (codex is a process of its own, so it is not in it).
//! Then:
//!
//! * round trips of 1 KB requests, client → Orbit → anchor → echo-codex → anchor → Orbit →
//!   client, alternating in blocks with the same round trip through the bench's own in-process
//!   anchor, which answers at once (the relay scenario's). A round trip crosses the anchor
//!   twice, so the overhead per frame is half the difference of the p50s;
//! * one client pipelining requests (a bounded window outstanding) through each of the two,
//!   checking that every answer arrives once and in order;
//! * the anchor's RSS again, each second for a few seconds after the load.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use futures_util::SinkExt;
use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use orbit_tests::anchor::{pair, AnchorOptions, AnchorProc};
use orbit_tests::{Session, TempDir};

use crate::memory::SettlePoint;
use crate::procfs;
use crate::rtt::{self, Relay, RttResult, Side};
use crate::target::{Backend, Target, FRAME_TIMEOUT};
use orbit_tests::Ws;

/// SPEC §6's "10 MB", in KiB (decimal megabytes: the SPEC writes MiB where it means them).
pub const IDLE_RSS_LIMIT_KIB: f64 = 10_000_000.0 / 1024.0;
/// SPEC §6's overhead per frame, in µs.
pub const OVERHEAD_LIMIT_US: f64 = 50.0;

/// The programs the scenario runs.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub anchor: PathBuf,
    pub echo_codex: PathBuf,
}

/// Finds `anchor` and `echo-codex`: the given anchor, else both next to this executable (the
/// same cargo profile's directory). Run through cargo (`CARGO` is set) and unless `no_build`,
/// first builds them with that profile (`cargo build --release -p orbit-anchor` for a release
/// bench), so the anchor measured is the one in the tree.
pub fn binaries(anchor: Option<&Path>, no_build: bool) -> Result<Binaries> {
    let exe = std::env::current_exe().context("finding this executable")?;
    let dir = exe
        .parent()
        .ok_or_else(|| anyhow!("{} has no directory", exe.display()))?;
    let cargo = std::env::var_os("CARGO");
    if let (Some(cargo), false) = (cargo, no_build) {
        let profile = match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") => "dev".to_string(),
            Some(name) => name.to_string(),
            None => "release".to_string(),
        };
        // One build per package, so each gets its own features, as `cargo build -p` gives them
        // (built together, cargo would unify the two packages' dependency features).
        let mut builds = vec![["orbit-bench", "echo-codex"]];
        if anchor.is_none() {
            builds.insert(0, ["orbit-anchor", "anchor"]);
        }
        for [package, bin] in builds {
            let status = Command::new(&cargo)
                .args(["build", "--profile", &profile, "-p", package, "--bin", bin])
                .current_dir(orbit_tests::repo_root())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .context("running cargo build")?;
            if !status.success() {
                bail!("building {bin} failed ({status})");
            }
        }
    }
    let found = |path: PathBuf| -> Result<PathBuf> {
        if path.is_file() {
            Ok(path)
        } else {
            bail!(
                "{} is missing: build it (cargo build --release -p orbit-anchor, \
                 cargo build --release -p orbit-bench --bins)",
                path.display()
            )
        }
    };
    Ok(Binaries {
        anchor: found(anchor.map_or_else(|| dir.join("anchor"), Path::to_path_buf))?,
        echo_codex: found(dir.join("echo-codex"))?,
    })
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Options {
    pub codex: PathBuf,
    /// Seconds the anchor idles (connected, codex ready) before its RSS is read.
    pub idle: Duration,
    pub rtt_warmup: usize,
    pub rtt_samples: usize,
    pub method: String,
    /// Requests pipelined per throughput run, and how many may be outstanding at once.
    pub requests: u64,
    pub window: usize,
    /// Seconds one throughput run may take.
    pub timeout: Duration,
    /// Seconds of RSS samples after the load.
    pub settle: Duration,
    /// Extra environment for `anchor run` (experiments, e.g. `TOKIO_WORKER_THREADS`).
    pub env: Vec<(String, String)>,
}

/// The anchor's memory at one moment (KiB, from `/proc/<pid>/status`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Rss {
    pub rss_kib: u64,
    /// Of which anonymous memory (heap, stacks); the rest is mapped files (the binary, libc).
    pub anon_kib: u64,
    pub threads: u64,
}

impl Rss {
    fn of(pid: u32) -> Rss {
        Rss {
            rss_kib: procfs::rss_kib(pid).unwrap_or(0),
            anon_kib: procfs::status_field(pid, "RssAnon").unwrap_or(0),
            threads: procfs::status_field(pid, "Threads").unwrap_or(0),
        }
    }

    /// The sample with the median RSS of `n`, `gap` apart.
    async fn steady(pid: u32, n: usize, gap: Duration) -> Rss {
        let mut v = Vec::with_capacity(n);
        for i in 0..n {
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            v.push(Rss::of(pid));
        }
        v.sort_by_key(|r| r.rss_kib);
        v.get(v.len() / 2).cloned().unwrap_or_default()
    }
}

/// One client pipelining requests through one anchor.
#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    /// `echo` (the bench's in-process anchor) or `anchor` (the real one and echo-codex).
    pub via: String,
    pub requests: u64,
    pub window: usize,
    pub elapsed_secs: f64,
    /// Answers per second, from the first send to the last answer.
    pub per_sec: f64,
    pub answered: u64,
    pub missing: u64,
    pub duplicates: u64,
    /// Answers that came after one to a later request.
    pub out_of_order: u64,
    /// JSON-RPC errors, and answers with an id never sent.
    pub errors: u64,
    pub first_error: Option<String>,
    /// Every request answered once, in order, without error.
    pub complete: bool,
    pub anchor_cpu_secs: f64,
    pub codex_cpu_secs: f64,
    pub workerd_cpu_secs: f64,
    pub bench_cpu_secs: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnchorResult {
    pub anchor_binary: String,
    pub anchor_binary_bytes: u64,
    pub codex: String,
    pub anchor_pid: u32,
    pub codex_pid: Option<u32>,
    /// From `anchor run` to connected with codex ready.
    pub ready_secs: f64,
    pub idle_secs: f64,
    /// After idling, before any request.
    pub idle: Rss,
    /// VmHWM at the end: the highest RSS of the anchor's life.
    pub peak_kib: u64,
    /// Once a second after the load.
    pub after_load: Vec<SettlePoint>,
    pub after_load_final: Rss,
    pub codex_rss_kib: u64,
    /// Through the bench's own anchor, answering at once.
    pub rtt_echo: RttResult,
    /// Through the real anchor and echo-codex.
    pub rtt_anchor: RttResult,
    /// (anchor p50 − echo p50) / 2: a round trip crosses the anchor twice.
    pub overhead_p50_us: f64,
    /// The same with the p99s (noisy: the tails of two distributions).
    pub overhead_p99_us: f64,
    /// The bench itself to a fresh echo-codex over pipes and back (no anchor, no Orbit): the
    /// cost of the hop to the codex process that any bridge pays.
    pub pipe: RttResult,
    /// The anchor's CPU time per round trip through it (all threads, from schedstat).
    pub rtt_anchor_cpu_us: f64,
    pub rtt_codex_cpu_us: f64,
    pub throughput: Vec<Throughput>,
    /// The anchor's and echo-codex's CPU seconds over the whole scenario (for the report's
    /// account of the machine's CPU).
    pub anchor_cpu_secs: f64,
    pub codex_cpu_secs: f64,
}

/// Runs the scenario against `target` (which must be the harness's Orbit: pairing goes through
/// the real device flow).
pub async fn run(target: &Target, opts: &Options, progress: &dyn Fn(&str)) -> Result<AnchorResult> {
    let Backend::Harness(orbit) = &target.backend else {
        bail!("it needs the Orbit the bench starts itself (not --url or --baseline)");
    };
    let binary = orbit_tests::anchor::anchor_binary()?;
    progress("anchor: pairing through the device flow, then `anchor run` with echo-codex");
    let web = target.new_user().await?;
    let paired = pair(orbit, &web.access_token, "bench-anchor")
        .await
        .context("pairing the anchor")?;
    let root = TempDir::new("bench-anchor-root")?;
    let codex_home = root.path().join("codex-home");
    std::fs::create_dir_all(&codex_home)?;
    let mut env = vec![("CODEX_HOME".into(), codex_home.display().to_string())];
    env.extend(opts.env.iter().cloned());
    let options = AnchorOptions {
        codex: opts.codex.clone(),
        roots: vec![root.path().to_path_buf()],
        env,
        orbit_url: Some(target.base_url()),
    };
    let started = Instant::now();
    let mut anchor = AnchorProc::start(paired.state_dir(), &options)?;
    let status = anchor
        .wait_status(
            "connected to Orbit with codex ready",
            Duration::from_secs(30),
            |s| s["orbit"]["connected"] == true && s["codex"]["state"] == "ready",
        )
        .await?;
    let ready_secs = started.elapsed().as_secs_f64();
    let pid = anchor
        .pid()
        .ok_or_else(|| anyhow!("the anchor exited\n{}", anchor.log()))?;
    let codex_pid = status["codex"]["pid"]
        .as_u64()
        .and_then(|p| u32::try_from(p).ok());
    let codex_cpu = || codex_pid.and_then(procfs::thread_cpu_secs).unwrap_or(0.0);
    let anchor_cpu = || procfs::thread_cpu_secs(pid).unwrap_or(0.0);

    progress(&format!(
        "anchor: idling {} s, then its RSS",
        opts.idle.as_secs()
    ));
    tokio::time::sleep(opts.idle).await;
    let idle = Rss::steady(pid, 5, Duration::from_millis(200)).await;

    progress("anchor: round trips (alternating with the bench's own anchor)");
    let (a0, c0) = (anchor_cpu(), codex_cpu());
    let (rtt_echo, rtt_anchor) = rtt_on_own_thread(target, &web, opts)?;
    let round_trips = rtt_anchor.round_trips.max(1) as f64;
    let rtt_anchor_cpu_us = (anchor_cpu() - a0) * 1e6 / round_trips;
    let rtt_codex_cpu_us = (codex_cpu() - c0) * 1e6 / round_trips;
    progress("anchor: round trips to echo-codex over pipes, from the bench (the codex hop)");
    let pipe = tokio::task::block_in_place(|| {
        pipe_round_trips(&opts.codex, &opts.method, opts.rtt_warmup, opts.rtt_samples)
    })
    .context("round trips to echo-codex over pipes")?;

    let mut throughput = Vec::new();
    for via in ["echo", "anchor"] {
        progress(&format!(
            "anchor: {} requests pipelined ({} outstanding) through the {}",
            opts.requests,
            opts.window,
            if via == "echo" {
                "bench's own anchor"
            } else {
                "real anchor"
            }
        ));
        let pids = target.workerd_pids();
        let (a0, c0) = (anchor_cpu(), codex_cpu());
        let (w0, b0) = (procfs::cpu_sum_secs(&pids), procfs::self_cpu_secs());
        let mut echo_anchor = None;
        let client = if via == "echo" {
            let user = target.user_with_anchor("bench-pipeline").await?;
            let client = target.client(&user.web).await?;
            let (tx, rx) = futures_util::StreamExt::split(user.anchor.into_stream());
            echo_anchor = Some(tokio::spawn(rtt::answer_requests(tx, rx)));
            client
        } else {
            target.client(&web).await?
        };
        let mut t = pipeline(client, via, opts).await?;
        if let Some(task) = echo_anchor {
            task.abort();
        }
        t.anchor_cpu_secs = anchor_cpu() - a0;
        t.codex_cpu_secs = codex_cpu() - c0;
        t.workerd_cpu_secs = procfs::cpu_sum_secs(&pids) - w0;
        t.bench_cpu_secs = procfs::self_cpu_secs() - b0;
        throughput.push(t);
    }

    progress(&format!(
        "anchor: RSS for {} s after the load",
        opts.settle.as_secs()
    ));
    let settle_start = Instant::now();
    let mut after_load = Vec::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        after_load.push(SettlePoint {
            secs: settle_start.elapsed().as_secs_f64(),
            rss_kib: procfs::rss_kib(pid).unwrap_or(0),
        });
        if settle_start.elapsed() >= opts.settle {
            break;
        }
    }
    let after_load_final = Rss::of(pid);
    let peak_kib = procfs::status_field(pid, "VmHWM").unwrap_or(0);
    let codex_rss_kib = codex_pid.and_then(procfs::rss_kib).unwrap_or(0);
    let anchor_cpu_secs = procfs::cpu_secs(pid).unwrap_or(0.0);
    let codex_cpu_secs = codex_pid.and_then(procfs::cpu_secs).unwrap_or(0.0);

    // A clean stop (codex's stdin closes and it exits); dropping the process kills it anyway.
    if anchor.signal("TERM").await.is_ok() {
        let _ = anchor.wait_exit(Duration::from_secs(5)).await;
    }

    let overhead_p50_us = (rtt_anchor.latency.p50_us - rtt_echo.latency.p50_us) / 2.0;
    let overhead_p99_us = (rtt_anchor.latency.p99_us - rtt_echo.latency.p99_us) / 2.0;
    Ok(AnchorResult {
        anchor_binary: binary.display().to_string(),
        anchor_binary_bytes: std::fs::metadata(&binary).map_or(0, |m| m.len()),
        codex: format!("{} (stand-in)", opts.codex.display()),
        anchor_pid: pid,
        codex_pid,
        ready_secs,
        idle_secs: opts.idle.as_secs_f64(),
        idle,
        peak_kib,
        after_load,
        after_load_final,
        codex_rss_kib,
        rtt_echo,
        rtt_anchor,
        overhead_p50_us,
        overhead_p99_us,
        rtt_anchor_cpu_us,
        rtt_codex_cpu_us,
        pipe,
        throughput,
        anchor_cpu_secs,
        codex_cpu_secs,
    })
}

/// The two relays' round trips, alternating, on a thread of their own with a single-threaded
/// runtime (as the relay scenario runs them: see `main.rs`).
fn rtt_on_own_thread(
    target: &Target,
    web: &Session,
    opts: &Options,
) -> Result<(RttResult, RttResult)> {
    let run = || -> Result<(RttResult, RttResult)> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(async {
            let echo = Relay::start(target, &opts.method).await.map(Side::Relay);
            let real = target
                .client(web)
                .await
                .map(|client| Side::Relay(Relay::with_client(client, &opts.method)));
            let mut results = rtt::alternate(vec![echo, real], opts.rtt_warmup, opts.rtt_samples)
                .await
                .into_iter();
            let echo = results
                .next()
                .ok_or_else(|| anyhow!("no result"))?
                .context("through the bench's own anchor")?;
            let real = results
                .next()
                .ok_or_else(|| anyhow!("no result"))?
                .context("through the real anchor")?;
            Ok((echo, real))
        })
    };
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            scope
                .spawn(run)
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the round-trip thread panicked")))
        })
    })
}

/// 1 KB requests written to a fresh echo-codex's stdin and its answers read from its stdout,
/// one at a time, with blocking I/O on this thread.
fn pipe_round_trips(
    codex: &Path,
    method: &str,
    warmup: usize,
    samples: usize,
) -> Result<RttResult> {
    use std::io::{BufRead, BufReader, Write};
    let mut child = Command::new(codex)
        .arg("app-server")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", codex.display()))?;
    let result = (|| {
        let mut stdin = child.stdin.take().ok_or_else(|| anyhow!("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut stdout = BufReader::new(stdout);
        let mut line = String::new();
        let mut times = Vec::with_capacity(samples);
        for i in 0..warmup + samples {
            let mut request = rtt::request_frame(i as u64 + 1, method);
            request.push('\n');
            line.clear();
            let start = Instant::now();
            stdin.write_all(request.as_bytes())?;
            stdout.read_line(&mut line)?;
            let took = start.elapsed();
            if !line.contains("\"echo\"") {
                bail!("echo-codex answered {}", orbit_tests::clip(&line));
            }
            if i >= warmup {
                times.push(took);
            }
        }
        Ok(RttResult {
            frame_bytes: rtt::FRAME_BYTES,
            warmup,
            interleaved: false,
            round_trips: warmup + samples,
            latency: crate::stats::Latency::of(&times),
        })
    })();
    // Closing stdin ends it; the kill is for an echo-codex that misbehaves.
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[derive(Deserialize)]
struct Answer {
    id: Option<serde_json::Value>,
    result: Option<serde_json::Value>,
    error: Option<serde_json::Value>,
}

/// Sends `opts.requests` 1 KB requests from `client`, keeping at most `opts.window`
/// unanswered, and checks the answers.
async fn pipeline(mut ws: Ws, via: &str, opts: &Options) -> Result<Throughput> {
    let n = opts.requests.max(1);
    let window = opts.window.max(1);
    let mut seen = vec![false; usize::try_from(n + 1)?];
    let mut next = 1u64;
    let mut outstanding = 0usize;
    let mut answered = 0u64;
    let mut duplicates = 0u64;
    let mut out_of_order = 0u64;
    let mut errors = 0u64;
    let mut first_error = None;
    let mut highest = 0u64;
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let mut last_answer = start;
    while answered < n {
        if outstanding < window && next <= n {
            while outstanding < window && next <= n {
                ws.stream_mut()
                    .feed(Message::text(rtt::request_frame(next, &opts.method)))
                    .await
                    .context("sending a request")?;
                next += 1;
                outstanding += 1;
            }
            ws.stream_mut().flush().await.context("sending requests")?;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let text = match ws.recv_text_within(left.min(FRAME_TIMEOUT)).await {
            Ok(t) => t,
            Err(e) => {
                first_error.get_or_insert_with(|| format!("{e:#}"));
                break;
            }
        };
        let Ok(answer) = serde_json::from_str::<Answer>(&text) else {
            continue;
        };
        // Orbit's own frames (`orbit.anchors`…) carry no id.
        let Some(id) = answer.id.as_ref() else {
            continue;
        };
        let slot = id
            .as_u64()
            .filter(|i| (1..next).contains(i))
            .and_then(|i| Some((i, seen.get_mut(usize::try_from(i).ok()?)?)));
        let Some((id, slot)) = slot else {
            errors += 1;
            first_error.get_or_insert_with(|| format!("unknown id: {}", orbit_tests::clip(&text)));
            continue;
        };
        if *slot {
            duplicates += 1;
            continue;
        }
        *slot = true;
        answered += 1;
        outstanding = outstanding.saturating_sub(1);
        last_answer = Instant::now();
        if id < highest {
            out_of_order += 1;
        }
        highest = highest.max(id);
        if answer.error.is_some() || answer.result.is_none() {
            errors += 1;
            first_error.get_or_insert_with(|| orbit_tests::clip(&text));
        }
    }
    let _ = ws.close().await;
    let elapsed = last_answer.duration_since(start).as_secs_f64();
    let missing = n - answered;
    Ok(Throughput {
        via: via.to_string(),
        requests: n,
        window,
        elapsed_secs: elapsed,
        per_sec: if elapsed > 0.0 {
            answered as f64 / elapsed
        } else {
            0.0
        },
        answered,
        missing,
        duplicates,
        out_of_order,
        errors,
        first_error,
        complete: missing == 0 && duplicates == 0 && out_of_order == 0 && errors == 0,
        anchor_cpu_secs: 0.0,
        codex_cpu_secs: 0.0,
        workerd_cpu_secs: 0.0,
        bench_cpu_secs: 0.0,
    })
}
