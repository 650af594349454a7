//! After a panic the Worker and the user's hub carry on. The Worker is built with
//! panic=abort, so a panic leaves its wasm instance unusable; the entry module
//! (worker/js/entry.js) replaces the instance and rebuilds each Durable Object's Rust half,
//! which then restores its state as after an eviction. Open sockets keep working.

use std::time::Duration;

use anyhow::Result;
use orbit_protocol::control::{AnchorHello, Control};
use orbit_tests::{anchor_hello, thread_note, Orbit, Ws};
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

/// The `anchor.hello` of an anchor process `instance` that numbers its frames from `next`.
fn numbered_hello(anchor_id: &str, instance: &str, next: u64) -> Control {
    match anchor_hello(anchor_id, "numbered") {
        Control::AnchorHello(hello) => Control::AnchorHello(AnchorHello {
            instance: Some(instance.to_string()),
            next_frame: Some(next),
            ..hello
        }),
        other => other,
    }
}

/// Reads `ws` until it fails or closes, returning the highest `orbit.ack` it had received.
async fn highest_ack_before_the_end(ws: &mut Ws) -> u64 {
    let mut acked = 0;
    while let Ok(frame) = ws.recv_json_within(Duration::from_secs(5)).await {
        if frame["type"] == "orbit.ack" {
            acked = acked.max(frame["upTo"].as_u64().unwrap_or(0));
        }
    }
    acked
}

/// A frame the anchor had written into its socket when workerd died is either lost with it or
/// logged without the anchor being told. The anchor sends everything Orbit had not
/// acknowledged again, with its numbers, and the log then holds every frame exactly once and
/// in order: neither the frames workerd never read nor those it logged without acknowledging
/// are lost or doubled.
///
/// The first `DELIVERED` frames certainly reached the log (a client received them); the rest
/// were written just before the kill. The new connection sends all of them again, as an anchor
/// whose acknowledgements were all lost would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frames_in_flight_when_workerd_is_killed_are_sent_again_and_logged_exactly_once(
) -> Result<()> {
    const FRAMES: u64 = 300;
    const DELIVERED: u64 = 100;
    let mut orbit = Orbit::start()?;
    let mut rig = orbit.rig("in-flight").await?;
    let thread = "thread-in-flight";
    rig.client.subscribe(thread, None).await?;
    rig.anchor
        .send_control(&numbered_hello(&rig.anchor_id, "run-1", 1))
        .await?;
    let frames: Vec<String> = (1..=FRAMES)
        .map(|n| thread_note(thread, n).to_string())
        .collect();
    let (logged, in_flight) = frames.split_at(usize::try_from(DELIVERED)?);
    for frame in logged {
        rig.anchor.send_text(frame.clone()).await?;
    }
    rig.client
        .recv_until("the last frame before the kill", |f| {
            f["params"]["n"] == DELIVERED
        })
        .await?;
    for frame in in_flight {
        rig.anchor.send_text(frame.clone()).await?;
    }
    orbit.kill_and_restart_same_port()?;
    let acked = highest_ack_before_the_end(&mut rig.anchor).await;
    eprintln!("acknowledged before the kill: {acked} of {FRAMES}");

    let mut anchor = orbit.anchor(&rig.anchor_session).await?;
    anchor
        .send_control(&numbered_hello(&rig.anchor_id, "run-1", 1))
        .await?;
    for frame in &frames {
        anchor.send_text(frame.clone()).await?;
    }
    anchor
        .recv_until("the acknowledgement of the last frame", |f| {
            f["type"] == "orbit.ack" && f["upTo"] == FRAMES
        })
        .await?;

    let (mut client, _, _) = orbit.client(&rig.web).await?;
    let (subscribed, replay) = client.subscribe(thread, Some(0)).await?;
    assert_ne!(subscribed["truncated"], true, "{subscribed}");
    let numbers: Vec<u64> = replay
        .iter()
        .filter_map(|f| f["params"]["n"].as_u64())
        .collect();
    assert_eq!(
        numbers,
        (1..=FRAMES).collect::<Vec<_>>(),
        "every frame once, in order ({acked} were acknowledged before the kill)"
    );
    let seqs: Vec<u64> = replay.iter().filter_map(|f| f["seq"].as_u64()).collect();
    assert_eq!(seqs, (1..=FRAMES).collect::<Vec<_>>());
    Ok(())
}
