//! Routing rules of SPEC §1, one scenario each, driven through [`Sim`].

use serde_json::json;

use super::sim::Sim;

#[test]
fn response_goes_home_with_the_original_id_when_two_clients_share_ids() {
    let mut sim = Sim::new();
    sim.connect_anchor("a1", "anchor-1");
    sim.connect_client("c1");
    sim.connect_client("c2");
    sim.take("a1");
    sim.take("c1");
    sim.take("c2");

    sim.send_json("c1", json!({"id": 1, "method": "thread/list", "params": {}}));
    sim.send_json("c2", json!({"id": 1, "method": "thread/list", "params": {}}));
    let forwarded = sim.take("a1");
    assert_eq!(forwarded.len(), 2);
    assert_ne!(forwarded[0]["id"], forwarded[1]["id"]);

    // Answer in the opposite order.
    sim.send_json("a1", json!({"id": forwarded[1]["id"], "result": {"who": "c2"}}));
    sim.send_json("a1", json!({"id": forwarded[0]["id"], "result": {"who": "c1"}}));
    assert_eq!(sim.take("c1"), vec![json!({"id": 1, "result": {"who": "c1"}})]);
    assert_eq!(sim.take("c2"), vec![json!({"id": 1, "result": {"who": "c2"}})]);
}
