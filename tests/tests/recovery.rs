//! After a panic the Worker and the user's hub carry on. The Worker is built with
//! panic=abort, so a panic leaves its wasm instance unusable; the entry module
//! (worker/js/entry.js) replaces the instance and rebuilds each Durable Object's Rust half,
//! which then restores its state as after an eviction. Open sockets keep working.

use anyhow::Result;
use orbit_tests::{thread_note, Orbit};
use serde_json::{json, Value};

/// Asks the hub of `user_id` how often its in-memory state was rebuilt.
async fn hub_wakes(orbit: &Orbit, user_id: &str) -> Result<u64> {
    let url = format!("{}/__dev/hub?userId={user_id}", orbit.base_url());
    let probe: Value = reqwest::get(url).await?.error_for_status()?.json().await?;
    Ok(probe["wakes"].as_u64().unwrap_or(0))
}

#[tokio::test]
async fn a_panic_does_not_take_down_the_worker_or_strand_open_sockets() -> Result<()> {
    let orbit = Orbit::shared()?;
    let mut rig = orbit.rig("survivor").await?;
    let thread = "thread-across-a-panic";
    rig.client.subscribe(thread, None).await?;
    rig.anchor.send_json(&thread_note(thread, 1)).await?;
    assert_eq!(rig.client.recv_json().await?["seq"], 1);
    let wakes_before = hub_wakes(orbit, &rig.web.user_id).await?;

    let http = reqwest::Client::new();
    let panicked = http
        .post(format!("{}/__dev/panic", orbit.base_url()))
        .send()
        .await?;
    assert_eq!(
        panicked.status(),
        500,
        "the panic surfaces as a server error"
    );

    // The Worker answers again, from a fresh instance.
    let health = http
        .get(format!("{}/health", orbit.base_url()))
        .send()
        .await?;
    assert_eq!(health.status(), 200);

    // The hub's open sockets still carry frames both ways, with the thread's numbering kept.
    rig.anchor.send_json(&thread_note(thread, 2)).await?;
    let note = rig.client.recv_json().await?;
    assert_eq!(
        (note["seq"].as_u64(), note["params"]["n"].as_u64()),
        (Some(2), Some(2))
    );
    rig.client
        .send_json(&json!({"id": 1, "method": "turn/start", "params": {"threadId": thread}}))
        .await?;
    assert_eq!(rig.anchor.recv_json().await?["method"], "turn/start");

    // They went through a rebuilt hub: the Rust object of the dead instance was replaced.
    assert_eq!(hub_wakes(orbit, &rig.web.user_id).await?, wakes_before + 1);
    Ok(())
}

#[tokio::test]
async fn a_stranger_cannot_panic_a_deployment_since_the_endpoint_is_dev_only() -> Result<()> {
    // A deployment never sets ORBIT_DEV_API: the endpoint then does not exist.
    let orbit = Orbit::start_with(&[("ORBIT_DEV_API", "0")])?;
    let http = reqwest::Client::new();
    let answer = http
        .post(format!("{}/__dev/panic", orbit.base_url()))
        .send()
        .await?;
    assert_eq!(answer.status(), 404);
    let health = http
        .get(format!("{}/health", orbit.base_url()))
        .send()
        .await?;
    assert_eq!(health.status(), 200);
    assert!(
        !orbit.output().contains("deliberate panic"),
        "{}",
        orbit.output()
    );
    Ok(())
}
