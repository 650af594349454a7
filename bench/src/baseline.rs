//! The JavaScript baseline (`bench/baseline/mini-orbit.js`) under the same `wrangler dev`:
//! a minimal relay on the same runtime pieces Orbit uses, to tell the cost of workerd and
//! its SQLite storage apart from the cost of Orbit's own code.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use orbit_tests::TempDir;

/// `wrangler dev` running the baseline, in its own process group, stopped on drop.
pub struct Baseline {
    child: Child,
    pgid: u32,
    port: u16,
    // Dropped after the processes stop (field order).
    dir: TempDir,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Baseline {
    /// Starts the baseline with `PERSIST=<persist>` ("1", "batch" or "0").
    pub fn start(persist: &str) -> Result<Baseline> {
        use std::os::unix::process::CommandExt;
        let root = orbit_tests::repo_root();
        let wrangler = root.join("node_modules/.bin/wrangler");
        if !wrangler.exists() {
            bail!("{} is missing: run `npm ci`", wrangler.display());
        }
        let dir = TempDir::new("orbit-bench-baseline")?;
        let (port, inspector) = (free_port()?, free_port()?);
        let log = std::fs::File::create(dir.path().join("wrangler.log"))?;
        let child = Command::new(&wrangler)
            .args(["dev", "--config"])
            .arg(root.join("bench/baseline/wrangler.toml"))
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .args(["--inspector-port", &inspector.to_string()])
            .arg("--persist-to")
            .arg(dir.path().join("state"))
            .args(["--show-interactive-dev-session=false", "--var"])
            .arg(format!("PERSIST:{persist}"))
            .current_dir(root.join("bench/baseline"))
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_LOG_PATH", dir.path().join("wrangler.debug"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("starting wrangler dev for the baseline")?;
        let pgid = child.id();
        let mut baseline = Baseline {
            child,
            pgid,
            port,
            dir,
        };
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = baseline.child.try_wait() {
                bail!(
                    "wrangler dev (baseline) exited ({status}):\n{}",
                    baseline.output()
                );
            }
            if health_blocking(port) {
                return Ok(baseline);
            }
            if started.elapsed() > Duration::from_secs(90) {
                bail!(
                    "the baseline did not answer /health in 90 s:\n{}",
                    baseline.output()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Appears in wrangler's command line (for finding its workerd processes).
    pub fn marker(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("wrangler.log")).unwrap_or_default()
    }
}

impl Drop for Baseline {
    fn drop(&mut self) {
        let group = format!("-{}", self.pgid);
        let signal = |sig: &str| {
            Command::new("kill")
                .args([sig, "--", &group])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        signal("-TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let _ = self.child.try_wait();
            if !signal("-0") {
                break;
            }
            if Instant::now() > deadline {
                signal("-KILL");
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.wait();
    }
}

/// `GET /health` answers 200 with `"status":"ok"` (blocking, no runtime needed).
pub fn health_blocking(port: u16) -> bool {
    use std::io::{Read, Write};
    let attempt = || -> std::io::Result<bool> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.set_write_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut response = Vec::new();
        let mut buf = [0u8; 2048];
        loop {
            let n = s.read(&mut buf)?;
            response.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&response).replace(' ', "");
            if text.starts_with("HTTP/1.1200") && text.contains(r#""status":"ok""#) {
                return Ok(true);
            }
            if n == 0 {
                return Ok(false);
            }
        }
    };
    attempt().unwrap_or(false)
}

/// The port on which the workerd running the Worker itself (not wrangler's dev proxy in
/// front of it) answers `/health`: connecting there bypasses the proxy's extra hop.
pub fn direct_port(pids: &[u32], public_port: u16) -> Option<u16> {
    let proxy_arg = format!("entry=127.0.0.1:{public_port}");
    pids.iter()
        .filter(|pid| {
            !std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&proxy_arg))
                .unwrap_or(true)
        })
        .flat_map(|pid| crate::procfs::listening_ports(*pid))
        .find(|port| health_blocking(*port))
}
