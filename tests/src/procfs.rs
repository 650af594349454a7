//! Finding Orbit's workerd processes and reading their (and the anchor's) memory and CPU time
//! from `/proc`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;

/// One process as `/proc` shows it.
#[derive(Debug, Clone)]
struct Proc {
    pid: u32,
    ppid: u32,
    comm: String,
    cmdline: String,
}

fn read_proc(pid: u32) -> Option<Proc> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid …`; comm may hold spaces and parentheses, so split at the last ')'.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    let ppid = rest.get(1)?.parse().ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default();
    Some(Proc {
        pid,
        ppid,
        comm,
        cmdline,
    })
}

fn all_procs() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_proc)
        .collect()
}

/// Every descendant of `roots` (roots included).
fn descendants(procs: &[Proc], roots: &BTreeSet<u32>) -> BTreeSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut out = BTreeSet::new();
    let mut stack: Vec<u32> = roots.iter().copied().collect();
    while let Some(pid) = stack.pop() {
        if out.insert(pid) {
            if let Some(kids) = children.get(&pid) {
                stack.extend(kids);
            }
        }
    }
    out
}

fn is_workerd(p: &Proc) -> bool {
    p.comm.starts_with("workerd")
        || p.cmdline
            .split(' ')
            .next()
            .is_some_and(|a| a.ends_with("/workerd"))
}

/// The workerd processes under the processes whose command line mentions `marker` (the
/// harness's private state directory appears in its command line).
pub fn workerd_under_marker(marker: &str) -> Vec<u32> {
    let procs = all_procs();
    let me = std::process::id();
    let roots: BTreeSet<u32> = procs
        .iter()
        .filter(|p| p.pid != me && p.cmdline.contains(marker))
        .map(|p| p.pid)
        .collect();
    let under = descendants(&procs, &roots);
    procs
        .iter()
        .filter(|p| under.contains(&p.pid) && is_workerd(p))
        .map(|p| p.pid)
        .collect()
}

/// The processes holding a socket that listens on `port` (IPv4 or IPv6).
fn listeners_on(port: u16) -> Vec<u32> {
    let mut inodes = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // local_address is HEX_IP:HEX_PORT; st 0A is LISTEN; inode is field 9.
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            let local_port = local
                .rsplit(':')
                .next()
                .and_then(|h| u16::from_str_radix(h, 16).ok());
            if local_port == Some(port) && *state == "0A" {
                inodes.insert(format!("socket:[{inode}]"));
            }
        }
    }
    let mut pids = Vec::new();
    for p in all_procs() {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{}/fd", p.pid)) else {
            continue;
        };
        let holds = fds.filter_map(Result::ok).any(|fd| {
            std::fs::read_link(fd.path())
                .ok()
                .and_then(|t| t.to_str().map(|s| inodes.contains(s)))
                .unwrap_or(false)
        });
        if holds {
            pids.push(p.pid);
        }
    }
    pids
}

/// The workerd processes of an Orbit listening on `port` (e.g. a `make dev`): the listener,
/// its nearest `node` ancestor (wrangler), and every workerd below that.
pub fn workerd_for_port(port: u16) -> Vec<u32> {
    let procs = all_procs();
    let by_pid: HashMap<u32, &Proc> = procs.iter().map(|p| (p.pid, p)).collect();
    let mut roots = BTreeSet::new();
    for pid in listeners_on(port) {
        roots.insert(pid);
        let mut cur = by_pid.get(&pid).map(|p| p.ppid);
        while let Some(ppid) = cur {
            let Some(parent) = by_pid.get(&ppid) else {
                break;
            };
            if parent.comm == "node" || parent.comm.starts_with("MainThread") {
                roots.insert(parent.pid);
                break;
            }
            cur = Some(parent.ppid);
        }
    }
    let under = descendants(&procs, &roots);
    procs
        .iter()
        .filter(|p| under.contains(&p.pid) && is_workerd(p))
        .map(|p| p.pid)
        .collect()
}

/// VmRSS of `pid` in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS")
}

/// A numeric field of `/proc/<pid>/status` (`VmRSS`, `VmHWM`, `RssAnon`, `Threads`…): its
/// first number, in the unit the kernel gives (KiB for the memory fields).
pub fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// CPU time of `pid`'s live threads in seconds, from the scheduler's nanosecond counters
/// (`/proc/<pid>/task/*/schedstat`): finer than [`cpu_secs`]'s clock ticks, for short
/// phases. Threads that already exited are not counted.
pub fn thread_cpu_secs(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut ns = 0u64;
    for task in tasks.filter_map(Result::ok) {
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        ns += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some(ns as f64 / 1e9)
}

/// Summed VmRSS of `pids` in KiB (processes that are gone count 0).
pub fn rss_sum_kib(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| rss_kib(*p)).sum()
}

fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(100.0)
    })
}

/// User + system CPU time of `pid` (all its threads) in seconds.
pub fn cpu_secs(pid: u32) -> Option<f64> {
    cpu_secs_path(&format!("/proc/{pid}/stat"))
}

/// User + system CPU time of this process in seconds.
pub fn self_cpu_secs() -> f64 {
    cpu_secs_path("/proc/self/stat").unwrap_or(0.0)
}

fn cpu_secs_path(path: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(Path::new(path)).ok()?;
    let close = stat.rfind(')')?;
    let rest: Vec<&str> = stat.get(close + 2..)?.split_whitespace().collect();
    // After comm: state(0) ppid(1) … utime(11) stime(12).
    let utime: f64 = rest.get(11)?.parse().ok()?;
    let stime: f64 = rest.get(12)?.parse().ok()?;
    Some((utime + stime) / clock_ticks())
}

/// Summed CPU seconds of `pids`.
pub fn cpu_sum_secs(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|p| cpu_secs(*p)).sum()
}

/// Short description of each pid (for the report).
pub fn describe(pids: &[u32]) -> Vec<String> {
    pids.iter()
        .filter_map(|p| read_proc(*p))
        .map(|p| {
            let mut cmd = p.cmdline.clone();
            if cmd.len() > 160 {
                let mut end = 160;
                while !cmd.is_char_boundary(end) {
                    end -= 1;
                }
                cmd.truncate(end);
                cmd.push('…');
            }
            format!("{} {}", p.pid, cmd)
        })
        .collect()
}

/// The 1/5/15-minute load averages.
pub fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut it = text.split_whitespace().map(|v| v.parse().unwrap_or(0.0));
    [
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
        it.next().unwrap_or(0.0),
    ]
}

/// The listening TCP ports of `pid`.
pub fn listening_ports(pid: u32) -> Vec<u16> {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return Vec::new();
    };
    let inodes: BTreeSet<String> = fds
        .filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|t| {
            t.to_str()
                .and_then(|s| s.strip_prefix("socket:["))
                .and_then(|s| s.strip_suffix(']'))
                .map(str::to_string)
        })
        .collect();
    let mut ports = BTreeSet::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (f.get(1), f.get(3), f.get(9)) else {
                continue;
            };
            if *state == "0A" && inodes.contains(*inode) {
                if let Some(port) = local
                    .rsplit(':')
                    .next()
                    .and_then(|h| u16::from_str_radix(h, 16).ok())
                {
                    ports.insert(port);
                }
            }
        }
    }
    ports.into_iter().collect()
}

/// Busy CPU seconds of the whole machine so far (all CPUs; `/proc/stat` minus idle and iowait).
pub fn machine_busy_secs() -> f64 {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = text.lines().find(|l| l.starts_with("cpu ")) else {
        return 0.0;
    };
    let v: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // user nice system idle iowait irq softirq steal …
    let busy: f64 = v.iter().take(8).sum::<f64>()
        - v.get(3).copied().unwrap_or(0.0)
        - v.get(4).copied().unwrap_or(0.0);
    busy / clock_ticks()
}
