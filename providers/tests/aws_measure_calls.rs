//! A measurement, not a test of behaviour: the AWS calls of one resync round over N converged
//! NLB Services (desired -> observe -> plan, each planning nothing), printed per round and per
//! Service. Only public provider API is used, so the same file measures older code too.
//!
//!   BERTH_MEASURE_N=50 cargo test -p berth-providers --test aws_measure_calls -- --ignored --nocapture
#![cfg(feature = "aws")]

mod support;

use providers::metrics::CallCounter;
use providers::Provider;
use support::fleet::{line, Fleet};

fn describes(calls: &CallCounter) -> u64 {
    calls.total() - calls.mutating()
}

#[tokio::test]
#[ignore = "a measurement: run with --ignored --nocapture (BERTH_MEASURE_N, default 50)"]
async fn calls_of_one_resync_round_over_n_converged_services() {
    let n: usize = std::env::var("BERTH_MEASURE_N")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let (fleet, _, _) = Fleet::provisioned("measure", n).await;

    // A berth process that has run for a while: its first round is also its first look.
    let (p, calls) = fleet.provider();
    for round in 1..=2 {
        calls.reset();
        for i in 0..n {
            let desired = fleet.desired(&p, i).await;
            let observed = fleet.observe(&p, i, &desired).await;
            let plan = p.plan(&desired, &observed).expect("plan");
            assert!(plan.changes.is_empty(), "svc-{i} converged: {plan:?}");
        }
        assert_eq!(calls.mutating(), 0, "{}", line(&calls));
        println!(
            "[measure] N={n} round {round}: {} describe calls, {:.1} per Service; {}",
            describes(&calls),
            describes(&calls) as f64 / n as f64,
            line(&calls)
        );
    }
}
