//! SPEC §1 and §7: the user's Durable Object is evicted (hibernated) while its sockets stay
//! open, and afterwards every piece of routing state is still there — subscriptions, `seq`
//! counters, thread bindings, open server requests and the return addresses of requests in
//! flight. Pings are answered by the runtime without waking the object.
//!
//! workerd evicts an object whose only connections are hibernatable sockets after about ten
//! seconds without events. The test stays idle in steps of [`IDLE_STEP`] and asks the
//! development probe whether the object was evicted; the assertion is on the probe, not on
//! the waiting.

use std::time::Duration;

use anyhow::{bail, Result};
use orbit_tests::{thread_note, Orbit};
use serde_json::{json, Value};

const IDLE_STEP: Duration = Duration::from_secs(11);
const MAX_IDLE_STEPS: usize = 5;

/// Asks the hub of `user_id` whether it was evicted since its last event.
async fn probe(orbit: &Orbit, user_id: &str) -> Result<Value> {
    let url = format!("{}/__dev/hub?userId={user_id}", orbit.base_url());
    Ok(reqwest::get(url).await?.error_for_status()?.json().await?)
}

#[tokio::test]
async fn routing_state_survives_eviction_and_pings_do_not_wake_the_object() -> Result<()> {
    let orbit = Orbit::shared()?;
    let mut rig = orbit.rig("sleeper").await?;
    let thread = "hibernating-thread";

    rig.client
        .send_json(&json!({"type": "orbit.subscribe", "threadId": thread}))
        .await?;
    rig.client.recv_type("orbit.subscribed").await?;
    // A request in flight across the eviction, and an open approval.
    rig.client
        .send_json(&json!({"id": 7, "method": "thread/read", "params": {"threadId": thread}}))
        .await?;
    let forwarded = rig.anchor.recv_json().await?;
    for n in 1..=2 {
        rig.anchor.send_json(&thread_note(thread, n)).await?;
    }
    rig.anchor
        .send_json(
            &json!({"id": 0, "method": "item/commandExecution/requestApproval",
            "params": {"threadId": thread, "command": "ls"}}),
        )
        .await?;
    for n in 1..=2 {
        assert_eq!(rig.client.recv_json().await?["seq"], n);
    }
    let approval = rig.client.recv_json().await?;
    assert_eq!(approval["seq"], 3);

    let before = probe(orbit, &rig.web.user_id).await?;
    let mut evicted = None;
    for _ in 0..MAX_IDLE_STEPS {
        tokio::time::sleep(IDLE_STEP).await;
        // A ping in the idle period: answered by the runtime's auto-response.
        rig.client.send_text(r#"{"type":"ping"}"#).await?;
        assert_eq!(rig.client.recv_json().await?, json!({"type": "pong"}));
        tokio::time::sleep(IDLE_STEP).await;
        let now = probe(orbit, &rig.web.user_id).await?;
        if now["wasLive"] == false {
            evicted = Some(now);
            break;
        }
    }
    let Some(after) = evicted else {
        bail!("the hub was never evicted (probe before: {before})");
    };
    // Exactly one rebuild — the probe's own. Had a ping woken the object, it would have been
    // rebuilt for the ping too.
    let wakes = |v: &Value| v["wakes"].as_u64().unwrap_or(0);
    assert_eq!(wakes(&after), wakes(&before) + 1, "{after} vs {before}");
    assert_eq!(after["sockets"], 2, "both sockets stayed open: {after}");

    // The first traffic after the wake is a burst: it must still be routed in the order sent
    // (the hub reloads the paired anchors on wake without letting later frames overtake).
    for n in 4..=53 {
        rig.anchor.send_json(&thread_note(thread, n)).await?;
    }
    // The response to the request sent before the eviction still finds its client.
    rig.anchor
        .send_json(&json!({"id": forwarded["id"], "result": {"ok": true}}))
        .await?;
    // The subscription and the thread's seq counter survived.
    for n in 4..=53 {
        let note = rig.client.recv_json().await?;
        assert_eq!(
            (note["seq"].as_u64(), note["params"]["n"].as_u64()),
            (Some(n), Some(n))
        );
    }
    assert_eq!(
        rig.client.recv_json().await?,
        json!({"id": 7, "result": {"ok": true}})
    );
    // The thread is still bound to its anchor: a request naming only the thread reaches it.
    rig.client
        .send_json(&json!({"id": 8, "method": "turn/start", "params": {"threadId": thread}}))
        .await?;
    assert_eq!(rig.anchor.recv_json().await?["method"], "turn/start");
    // The approval is still open, answered once, with the anchor's own id.
    rig.client
        .send_json(&json!({"id": approval["id"], "result": {"decision": "accept"}}))
        .await?;
    assert_eq!(
        rig.anchor.recv_json().await?,
        json!({"id": 0, "result": {"decision": "accept"}})
    );
    Ok(())
}
