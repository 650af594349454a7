//! Deleting rows nobody needs any more, now and then, on the back of ordinary requests (the
//! Worker has no cron trigger): one request in [`SWEEP_ONE_IN`] runs
//! [`crate::auth::store::housekeeping::sweep`] after its answer; a failure is logged and never
//! fails the request.

use crate::auth::ctx::Ctx;
use crate::auth::store::{housekeeping, Store};
use crate::http::random_bytes;

/// One request in this many sweeps.
pub const SWEEP_ONE_IN: u8 = 64;

/// Sweeps, after the answer, with probability 1 / [`SWEEP_ONE_IN`].
pub fn maybe_sweep(ctx: &Ctx<'_>) {
    let Ok([roll]) = random_bytes::<1>() else {
        return;
    };
    if roll % SWEEP_ONE_IN == 0 {
        let now = ctx.now_ms;
        ctx.background(move |env| async move {
            let swept = async {
                let store = Store::new(env.d1("DB")?, now);
                housekeeping::sweep(&store).await
            };
            if let Err(e) = swept.await {
                worker::console_error!("housekeeping failed: {e}");
            }
        });
    }
}
