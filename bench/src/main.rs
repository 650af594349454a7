//! `orbit-bench`: measures a running Orbit against SPEC §6.
//!
//! By default it starts its own Orbit through the integration-test harness (`wrangler dev`
//! on free loopback ports, fresh state, dev API on); `--url` measures one that is already
//! running (`make dev`). Scenarios: the loopback WebSocket echo floor, the relay round trip,
//! fan-out to 1/10/50 clients, 1,000 idle subscribed sockets, workerd's memory before,
//! during and after load, the wasm bundle's size, and the real `anchor` process (its idle
//! memory, its cost per frame, and throughput through it). Every loop is bounded in count and
//! time.

mod anchor;
mod auth;
mod baseline;
mod fanout;
mod idle;
mod memory;
mod report;
mod router;
mod rtt;
mod stats;
mod target;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use orbit_tests::procfs;

use report::{Machine, Report, WasmSize};
use target::Target;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Scenario {
    Floor,
    Relay,
    Fanout,
    Idle,
    Memory,
    Wasm,
    /// The router's own cost per frame, natively in this process (no workerd).
    Router,
    /// The sign-in endpoints' latency, on a private Orbit of its own (not in the default run).
    Auth,
    /// The real `anchor run` bridging the `echo-codex` stand-in: idle RSS, overhead per frame
    /// and pipelined throughput (builds both first; needs the harness's Orbit).
    Anchor,
}

/// Benchmarks Orbit (SPEC §6) on this machine, over loopback only.
#[derive(Debug, Parser)]
#[command(name = "orbit-bench", version)]
struct Args {
    /// Measure an already-running Orbit (e.g. `make dev`, whose dev API is on) instead of
    /// starting one with the test harness.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Experiment: instead of Orbit, measure the minimal JavaScript relay in bench/baseline
    /// under the same wrangler dev. Its PERSIST mode: `1` (an INSERT per thread frame, like
    /// Orbit), `batch` (INSERTs batched by a timer) or `0` (no storage).
    #[arg(long, value_name = "PERSIST", conflicts_with = "url")]
    baseline: Option<String>,
    /// Experiment: connect straight to the workerd that runs the Worker, bypassing the dev
    /// proxy that wrangler puts in front of it (production has no such proxy).
    #[arg(long)]
    direct: bool,
    /// With --url: the workerd processes to measure (default: found from the URL's port).
    #[arg(long = "workerd-pid", value_name = "PID")]
    workerd_pids: Vec<u32>,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    json_out: Option<PathBuf>,
    /// Run only these scenarios (comma-separated). Memory is sampled whenever Orbit runs;
    /// `memory` adds the idle levels and the settling after load.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "router,floor,relay,anchor,fanout,idle,memory,wasm"
    )]
    only: Vec<Scenario>,
    /// Round trips measured (after the warm-up), for the floor and the relay each.
    /// Rounds of the sign-in flows in the `auth` scenario.
    #[arg(long, default_value_t = 100)]
    auth_rounds: usize,
    #[arg(long, default_value_t = 2000)]
    rtt_samples: usize,
    /// Frames of each kind the router scenario handles.
    #[arg(long, default_value_t = 200_000)]
    router_frames: u64,
    /// Round trips before the measured ones (each later block of 100 has 10 more).
    #[arg(long, default_value_t = 200)]
    rtt_warmup: usize,
    /// The method of the relay's requests. The baseline answers `bench/do-echo` in its
    /// Durable Object without the anchor: workerd's floor for one pass through an object.
    #[arg(long, default_value = "bench/echo")]
    rtt_method: String,
    /// Subscribed clients per fan-out run.
    #[arg(long, value_delimiter = ',', default_value = "1,10,50")]
    fanout_clients: Vec<usize>,
    /// Frames the anchor sends per fan-out run...
    #[arg(long, default_value_t = 20_000)]
    fanout_frames: u64,
    /// ...but no more than this many deliveries (frames × clients) per run.
    #[arg(long, default_value_t = 200_000)]
    fanout_max_deliveries: u64,
    /// Notification kinds to fan out (`threadless` is the unpersisted experiment).
    #[arg(long, value_delimiter = ',', default_value = "thread")]
    fanout_kind: Vec<fanout::Kind>,
    /// Seconds one fan-out run may take before what has not arrived counts as lost.
    #[arg(long, default_value_t = 30)]
    fanout_timeout: u64,
    /// Idle subscribed sockets of one user.
    #[arg(long, default_value_t = 1000)]
    idle_sockets: usize,
    /// Times the idle-socket scenario is repeated (a second round shows whether memory the
    /// first one took is reused or grows again).
    #[arg(long, default_value_t = 1)]
    idle_rounds: usize,
    /// Sockets opened at a time.
    #[arg(long, default_value_t = 32)]
    idle_concurrency: usize,
    /// Seconds the idle sockets are held before they are checked.
    #[arg(long, default_value_t = 5)]
    idle_hold: u64,
    /// Idle sockets that send a ping.
    #[arg(long, default_value_t = 100)]
    idle_ping_sample: usize,
    /// Seconds allowed for opening all idle sockets.
    #[arg(long, default_value_t = 90)]
    idle_open_timeout: u64,
    /// Seconds to wait for workerd's memory to settle after load.
    #[arg(long, default_value_t = 30)]
    settle_timeout: u64,
    /// "Back to idle" means within this many percent of the warm idle level.
    #[arg(long, default_value_t = 10.0)]
    settle_tolerance_pct: f64,
    /// The wasm bundle to size.
    #[arg(long, value_name = "FILE")]
    wasm: Option<PathBuf>,
    /// The anchor binary to measure (default: `anchor` next to this executable, built first
    /// with cargo when run through cargo).
    #[arg(long, value_name = "FILE")]
    anchor_bin: Option<PathBuf>,
    /// Do not build the anchor and echo-codex; use the binaries next to this executable.
    #[arg(long)]
    anchor_no_build: bool,
    /// Seconds the anchor idles, connected with codex ready, before its RSS is read.
    #[arg(long, default_value_t = 3)]
    anchor_idle: u64,
    /// Requests one client pipelines through the anchor (and through the bench's own).
    #[arg(long, default_value_t = 20_000)]
    anchor_requests: u64,
    /// ...with at most this many unanswered at a time.
    #[arg(long, default_value_t = 256)]
    anchor_window: usize,
    /// Seconds one pipelined run may take.
    #[arg(long, default_value_t = 60)]
    anchor_timeout: u64,
    /// Seconds the anchor's RSS is followed after the load.
    #[arg(long, default_value_t = 5)]
    anchor_settle: u64,
    /// Experiment: extra environment for `anchor run` (repeatable), e.g.
    /// `TOKIO_WORKER_THREADS=1`.
    #[arg(long = "anchor-env", value_name = "KEY=VALUE", value_parser = parse_env)]
    anchor_env: Vec<(String, String)>,
}

fn parse_env(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))
}

impl Args {
    fn wants(&self, s: Scenario) -> bool {
        self.only.contains(&s)
    }
}

fn main() {
    let args = Args::parse();
    match run(args) {
        Ok(ok) => std::process::exit(if ok { 0 } else { 1 }),
        Err(e) => {
            eprintln!("orbit-bench: {e:#}");
            std::process::exit(2);
        }
    }
}

/// Runs the benchmark; false when a scenario failed to run (missed targets are not failures).
fn run(args: Args) -> Result<bool> {
    // The anchor scenario's binaries are built and found before anything else runs (no Orbit
    // yet, no other thread), and before the clock starts.
    let mut echo_codex = None;
    let mut setup_error = None;
    if args.wants(Scenario::Anchor) {
        if args.url.is_some() || args.baseline.is_some() {
            setup_error = Some(
                "anchor: the scenario pairs through the Orbit the bench starts itself; \
                 not run with --url or --baseline"
                    .to_string(),
            );
        } else {
            if !args.anchor_no_build && std::env::var_os("CARGO").is_some() {
                progress(&args, "building the anchor and echo-codex (cargo build)");
            }
            match anchor::binaries(args.anchor_bin.as_deref(), args.anchor_no_build) {
                Ok(bins) => {
                    // For the harness's `anchor_binary()` (pairing, `anchor run`, status).
                    std::env::set_var("ORBIT_TEST_ANCHOR", &bins.anchor);
                    echo_codex = Some(bins.echo_codex);
                }
                Err(e) => setup_error = Some(format!("anchor: {e:#}")),
            }
        }
    }
    let started = Instant::now();
    let mut report = Report::new(Machine::probe());
    report.errors.extend(setup_error);
    if args.wants(Scenario::Router) {
        match router::measure(args.router_frames) {
            Ok(costs) => report.router = costs,
            Err(e) => report.errors.push(format!("{e:#}")),
        }
    }
    if args.wants(Scenario::Wasm) {
        let path = args
            .wasm
            .clone()
            .unwrap_or_else(|| orbit_tests::repo_root().join("worker/build/index_bg.wasm"));
        report.wasm = Some(WasmSize::measure(&path));
    }
    let needs_orbit = [
        Scenario::Relay,
        Scenario::Fanout,
        Scenario::Idle,
        Scenario::Memory,
    ]
    .iter()
    .any(|s| args.wants(*s))
        || echo_codex.is_some();
    let mut target = if !needs_orbit {
        None
    } else if let Some(url) = &args.url {
        Some(Target::external(url, args.workerd_pids.clone()))
    } else if let Some(persist) = &args.baseline {
        progress(&args, "starting the JavaScript baseline (wrangler dev)");
        let t = Instant::now();
        let b = baseline::Baseline::start(persist)?;
        report.startup_secs = Some(t.elapsed().as_secs_f64());
        Some(Target::baseline(b, persist))
    } else {
        progress(&args, "starting Orbit (wrangler dev) with the test harness");
        let t = Instant::now();
        let orbit = orbit_tests::Orbit::start().context("starting Orbit")?;
        report.startup_secs = Some(t.elapsed().as_secs_f64());
        Some(Target::harness(orbit))
    };
    if args.direct {
        if let Some(t) = target.as_mut() {
            t.go_direct()?;
        }
    }
    if let Some(t) = &target {
        report.target = t.describe();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    // The rest of the machine's CPU use while measuring (Orbit's startup excluded).
    let measuring = Instant::now();
    let busy0 = procfs::machine_busy_secs();
    let self0 = procfs::self_cpu_secs();
    let pids = target
        .as_ref()
        .map(Target::workerd_pids)
        .unwrap_or_default();
    let workerd0 = procfs::cpu_sum_secs(&pids);
    runtime.block_on(measure(
        &args,
        target.as_ref(),
        echo_codex.as_deref(),
        &mut report,
    ));
    if args.wants(Scenario::Auth) {
        progress(&args, "sign-in endpoints (a private Orbit)");
        match runtime.block_on(auth::measure(args.auth_rounds)) {
            Ok(rows) => report.auth = rows,
            Err(e) => report.errors.push(format!("auth: {e:#}")),
        }
    }
    let anchor_cpu = report
        .anchor
        .as_ref()
        .map_or(0.0, |a| a.anchor_cpu_secs + a.codex_cpu_secs);
    let ours =
        (procfs::self_cpu_secs() - self0) + (procfs::cpu_sum_secs(&pids) - workerd0) + anchor_cpu;
    let other = (procfs::machine_busy_secs() - busy0 - ours).max(0.0);
    report.machine.other_cpu_secs = other;
    report.machine.other_cpu_pct =
        100.0 * other / (measuring.elapsed().as_secs_f64() * report.machine.cpus.max(1) as f64);
    // Stop Orbit (harness drop) before printing, so its shutdown is not in the way.
    drop(runtime);
    drop(target);
    report.finish(started.elapsed());
    let json = serde_json::to_string_pretty(&report)?;
    if let Some(path) = &args.json_out {
        std::fs::write(path, &json).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{json}");
    } else {
        print!("{}", report.table());
    }
    Ok(report.errors.is_empty())
}

fn progress(args: &Args, what: &str) {
    if !args.json {
        eprintln!("… {what}");
    }
}

/// Runs the round trips on a thread of their own with a single-threaded runtime, so that the
/// bench's client, its anchor and the same-runtime echo never wait for one another's threads
/// to wake (the own-thread echo server is a separate thread on purpose).
fn rtt_on_one_thread(target: Option<&Target>, args: &Args) -> rtt::RttSet {
    let run = || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        match runtime {
            Ok(rt) => rt.block_on(rtt::measure(
                args.wants(Scenario::Floor),
                target.map(|t| (t, args.rtt_method.as_str())),
                args.rtt_warmup,
                args.rtt_samples,
            )),
            Err(e) => rtt::RttSet {
                floor: Some(Err(e.into())),
                ..rtt::RttSet::default()
            },
        }
    };
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            scope.spawn(run).join().unwrap_or_else(|_| rtt::RttSet {
                floor: Some(Err(anyhow::anyhow!("the round-trip thread panicked"))),
                ..rtt::RttSet::default()
            })
        })
    })
}

fn store_rtt(report: &mut Report, set: rtt::RttSet) {
    let mut take = |name: &str, r: Option<Result<rtt::RttResult>>| match r {
        Some(Ok(r)) => Some(r),
        Some(Err(e)) => {
            report.errors.push(format!("{name}: {e:#}"));
            None
        }
        None => None,
    };
    let floor = take("floor", set.floor);
    let floor_own_thread = take("floor (own thread)", set.floor_own_thread);
    let relay = take("relay", set.relay);
    report.floor = floor.or(report.floor.take());
    report.floor_own_thread = floor_own_thread.or(report.floor_own_thread.take());
    report.relay = relay.or(report.relay.take());
}

async fn measure(
    args: &Args,
    target: Option<&Target>,
    echo_codex: Option<&std::path::Path>,
    report: &mut Report,
) {
    // The floor alone when there is no Orbit to compare with; otherwise interleaved with the
    // relay below.
    let want_relay = args.wants(Scenario::Relay) && target.is_some();
    if args.wants(Scenario::Floor) && !want_relay {
        progress(args, "RTT floor (loopback echo)");
        let set = rtt_on_one_thread(None, args);
        store_rtt(report, set);
    }
    let Some(target) = target else { return };
    let pids = target.workerd_pids();
    report.workerd_pids = procfs::describe(&pids);
    if pids.is_empty() {
        report
            .errors
            .push("no workerd process found: memory not measured".into());
    }
    let sampler = memory::Sampler::start(pids.clone(), Duration::from_millis(100));
    let want_memory = args.wants(Scenario::Memory);
    let mut idle_fresh = 0;
    let mut idle_warm = 0;
    let mut idle_warm_each = Vec::new();
    if want_memory {
        progress(args, "idle memory");
        idle_fresh = sampler.steady_kib(5, Duration::from_millis(200)).await;
        // Warm-up: the Worker and a Durable Object handle a user once.
        let warm = async {
            let user = target.user_with_anchor("bench-warm").await?;
            let ws = target.client(&user.web).await?;
            let _ = ws.close().await;
            let _ = user.anchor.close().await;
            anyhow::Ok(())
        };
        if let Err(e) = warm.await {
            report.errors.push(format!("warm-up: {e:#}"));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        idle_warm = sampler.steady_kib(5, Duration::from_millis(200)).await;
        idle_warm_each = sampler.each_kib();
    }
    if want_relay {
        progress(args, "relay round trip (alternating with the floor)");
        sampler.phase("relay");
        let set = rtt_on_one_thread(Some(target), args);
        store_rtt(report, set);
    }
    if let Some(codex) = echo_codex {
        sampler.phase("anchor");
        let options = anchor::Options {
            codex: codex.to_path_buf(),
            idle: Duration::from_secs(args.anchor_idle),
            rtt_warmup: args.rtt_warmup,
            rtt_samples: args.rtt_samples,
            method: args.rtt_method.clone(),
            requests: args.anchor_requests,
            window: args.anchor_window,
            timeout: Duration::from_secs(args.anchor_timeout),
            settle: Duration::from_secs(args.anchor_settle),
            env: args.anchor_env.clone(),
        };
        match anchor::run(target, &options, &|what| progress(args, what)).await {
            Ok(r) => report.anchor = Some(r),
            Err(e) => report.errors.push(format!("anchor: {e:#}")),
        }
    }
    if args.wants(Scenario::Fanout) {
        for kind in &args.fanout_kind {
            for &clients in &args.fanout_clients {
                let frames = args
                    .fanout_frames
                    .min(args.fanout_max_deliveries / clients.max(1) as u64)
                    .max(1);
                progress(
                    args,
                    &format!("fan-out {kind:?}: {frames} frames to {clients} clients"),
                );
                sampler.phase(&format!("fanout-{clients}"));
                let timeout = Duration::from_secs(args.fanout_timeout);
                match fanout::run(target, *kind, clients, frames, timeout).await {
                    Ok(r) => report.fanout.push(r),
                    Err(e) => report
                        .errors
                        .push(format!("fan-out {kind:?} to {clients}: {e:#}")),
                }
            }
        }
    }
    if args.wants(Scenario::Idle) {
        for round in 1..=args.idle_rounds.max(1) {
            progress(
                args,
                &format!(
                    "{} idle subscribed sockets (round {round})",
                    args.idle_sockets
                ),
            );
            let suffix = if round == 1 {
                String::new()
            } else {
                format!("-{round}")
            };
            sampler.phase(&format!("idle-open{suffix}"));
            let held = format!("idle-held{suffix}");
            let result = idle::run(
                target,
                args.idle_sockets,
                args.idle_concurrency,
                Duration::from_secs(args.idle_hold),
                args.idle_ping_sample,
                Duration::from_secs(args.idle_open_timeout),
                || sampler.phase(&held),
            )
            .await;
            match result {
                Ok(r) => report.idle.push(r),
                Err(e) => report.errors.push(format!("idle sockets: {e:#}")),
            }
            if round < args.idle_rounds {
                sampler.phase(&format!("idle-closed{suffix}"));
                tokio::time::sleep(Duration::from_secs(3)).await;
            }
        }
    }
    sampler.phase("");
    if want_memory {
        progress(args, "memory after load");
        let after = memory::settle(
            &sampler,
            idle_warm,
            args.settle_tolerance_pct,
            Duration::from_secs(args.settle_timeout),
        )
        .await;
        let final_kib = after.last().map_or(0, |p| p.rss_kib);
        let phase_peaks = sampler.peaks();
        let peak = phase_peaks.iter().map(|p| p.peak_kib).max().unwrap_or(0);
        report.memory = Some(memory::MemoryResult {
            pids: procfs::describe(sampler.pids()),
            idle_fresh_kib: idle_fresh,
            idle_warm_kib: idle_warm,
            peak_kib: peak,
            phase_peaks,
            by_pid_idle_warm_kib: idle_warm_each,
            by_pid_peak_kib: sampler.pid_peaks(),
            by_pid_final_kib: sampler.each_kib(),
            returned_to_idle: (final_kib as f64)
                <= idle_warm as f64 * (1.0 + args.settle_tolerance_pct / 100.0),
            tolerance_pct: args.settle_tolerance_pct,
            final_kib,
            after,
        });
    }
}
