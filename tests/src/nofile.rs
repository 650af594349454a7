//! The open-file limit of the test process, which the Orbit it starts inherits.
//!
//! A thousand sockets need a thousand descriptors here, and as many in workerd (three times
//! as many under `wrangler dev`, whose proxy holds both sides of each). Many systems start processes with a soft limit
//! of 1,024, far under their hard limit; raising the soft limit needs no privilege.

use anyhow::{bail, Context, Result};
use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Raises the soft limit on open files to at least `needed` (up to the hard limit) and returns
/// it. Fails, saying what to change, when the hard limit is lower than `needed`.
pub fn raise_to_at_least(needed: u64) -> Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("reading RLIMIT_NOFILE")?;
    if soft >= needed {
        return Ok(soft);
    }
    if hard < needed {
        bail!(
            "this test needs {needed} open files, but the hard limit is {hard}: raise it \
             (`ulimit -Hn`, or LimitNOFILE in a service) and run it again"
        );
    }
    setrlimit(Resource::RLIMIT_NOFILE, needed, hard)
        .with_context(|| format!("raising RLIMIT_NOFILE from {soft} to {needed}"))?;
    Ok(needed)
}
