//! Property tests: random sessions of the reference model ([`super::model`]), chosen by
//! proptest, which shrinks a failing one to a minimal sequence of [`Op`]s.

use proptest::prelude::*;

use super::model::{config, Harness, Op, Since, Target, ANCHORS, CLIENTS, GARBAGE, THREADS};

fn op_strategy() -> impl Strategy<Value = Op> {
    let target = prop_oneof![
        Just(Target::None),
        (0..ANCHORS).prop_map(Target::Anchor),
        (0..THREADS).prop_map(Target::Thread),
        (0..ANCHORS, 0..THREADS).prop_map(|(a, t)| Target::Both(a, t)),
    ];
    let since = prop_oneof![
        1 => Just(Since::None),
        3 => Just(Since::LastSeen),
        1 => Just(Since::Zero),
        1 => Just(Since::Ahead),
        1 => (0u64..12).prop_map(Since::Fixed),
        2 => (1u64..8).prop_map(Since::Back),
    ];
    prop_oneof![
        3 => (0..CLIENTS).prop_map(Op::ConnectClient),
        1 => (0..CLIENTS).prop_map(Op::CloseClient),
        3 => (0..ANCHORS).prop_map(Op::ConnectAnchor),
        1 => (0..ANCHORS).prop_map(Op::CloseAnchor),
        1 => Just(Op::StaleClose),
        5 => (0..CLIENTS, 0..THREADS, since).prop_map(|(c, t, s)| Op::Subscribe(c, t, s)),
        1 => (0..CLIENTS, 0..THREADS).prop_map(|(c, t)| Op::Unsubscribe(c, t)),
        4 => (0..CLIENTS, 0..3usize, target.clone(), any::<bool>()).prop_map(
            |(client, id, target, thread_start)| Op::Request { client, id, target, thread_start }
        ),
        1 => (0..CLIENTS, target).prop_map(|(c, t)| Op::ClientNotify(c, t)),
        6 => (0..ANCHORS, any::<usize>(), prop::option::weighted(0.3, 0..THREADS), prop::bool::weighted(0.1))
            .prop_map(|(anchor, pick, thread, null)| Op::Respond { anchor, pick, thread, null }),
        7 => (0..ANCHORS, prop::option::weighted(0.8, 0..THREADS), any::<bool>())
            .prop_map(|(anchor, thread, with_seq)| Op::Notify { anchor, thread, with_seq }),
        3 => (0..ANCHORS, prop::option::weighted(0.7, 0..THREADS), 0..3usize)
            .prop_map(|(anchor, thread, id)| Op::ServerRequest { anchor, thread, id }),
        4 => (0..CLIENTS, any::<usize>(), any::<bool>(), any::<bool>()).prop_map(
            |(client, pick, twice, with_seq)| Op::Answer { client, pick, twice, with_seq }
        ),
        1 => (0..CLIENTS, 0u64..8).prop_map(|(c, n)| Op::AnswerGuess(c, n)),
        2 => (0..ANCHORS, any::<usize>(), prop::option::weighted(0.7, 0..THREADS))
            .prop_map(|(anchor, pick, thread)| Op::Resolved { anchor, pick, thread }),
        1 => (0..ANCHORS).prop_map(Op::ForgedResponse),
        1 => (0..ANCHORS, any::<usize>()).prop_map(|(anchor, pick)| Op::StolenResponse { anchor, pick }),
        1 => (any::<bool>(), 0..CLIENTS, 0..GARBAGE.len())
            .prop_map(|(from_anchor, slot, kind)| Op::Garbage { from_anchor, slot, kind }),
        2 => Just(Op::Hibernate),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sessions_keep_every_routing_rule(
        kind in 0u8..3,
        ops in prop::collection::vec(op_strategy(), 1..60),
    ) {
        let mut h = Harness::new(config(kind));
        // Most sessions start with somebody there; the random ops take it from here.
        h.run(&Op::ConnectAnchor(0));
        h.run(&Op::ConnectClient(0));
        h.run(&Op::ConnectClient(1));
        for op in &ops {
            h.run(op);
        }
    }
}
