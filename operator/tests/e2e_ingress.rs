//! End to end for Ingresses: the built `berth run` binary against a real kube-apiserver and the
//! moto AWS emulator. An IngressClass, a backend Service and three Ingresses in one group, one of
//! them invalid: the other two are served and have status, the invalid one has a Warning Event
//! and a False condition (annotation `berth.dev/status`); fixing it makes it join; deleting the
//! members in turn ends with no ALB. Prints the API calls for create / re-reconcile / delete.
//!
//! The harness (TestEnv, Berth, Metrics) is tests/support, shared with e2e_service.rs.
//!
//! Run: `bash localstack/test.sh -p berth --test e2e_ingress -- --nocapture`

mod support;

use support::*;

const BAD_ANN: &str = "alb.ingress.kubernetes.io/healthcheck-interval-seconds";

/// Waits until the counted cloud calls stop changing (the controller is idle).
async fn settled(berth: &Berth) -> Metrics {
    let mut last = berth.metrics().await;
    loop {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let now = berth.metrics().await;
        if now.calls() == last.calls() {
            return now;
        }
        last = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ingress_group_isolates_a_bad_member_and_is_deleted_member_by_member() {
    let env = TestEnv::new("ing").await;
    env.node("n1").await;
    let class = env.ingress_backend().await;

    // Deliberately a longer resync than the harness default would make the counts noisy: the
    // spawned process resyncs every 3 s, so counts are taken between settled points.
    let berth = Berth::spawn(&env, "berth-ing");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    let m0 = berth.metrics().await;

    let t = Instant::now();
    env.create_ingress("a", &class, json!({})).await;
    env.create_ingress("b", &class, json!({})).await;
    env.create_ingress("c", &class, json!({BAD_ANN: "abc"}))
        .await;
    let host = eventually("a gets a hostname", Duration::from_secs(60), || {
        env.ingress_hostname("a")
    })
    .await;
    eventually(
        "b gets the same hostname",
        Duration::from_secs(30),
        || async {
            (env.ingress_hostname("b").await.as_deref() == Some(host.as_str())).then_some(())
        },
    )
    .await;
    eprintln!("group served after {:?}: {host}", t.elapsed());
    // c: a Warning Event naming the annotation, a False condition, no hostname.
    let ev = env.warning_event("c").await;
    let note = ev.note.clone().unwrap_or_default();
    assert!(note.contains(BAD_ANN) && note.contains("abc"), "{note}");
    eventually(
        "c's condition is False",
        Duration::from_secs(20),
        || async {
            env.ingress_condition("c")
                .await
                .filter(|(s, _)| s == "False")
        },
    )
    .await;
    assert_eq!(env.ingress_hostname("c").await, None);
    assert_eq!(
        env.ingress_condition("a").await.map(|c| c.0).as_deref(),
        Some("True")
    );
    let lbs = env.group_lbs().await;
    assert_eq!(lbs.len(), 1, "one ALB for the group");
    assert_eq!(
        lbs[0].dns_name().map(str::to_ascii_lowercase),
        Some(host.clone())
    );
    let m1 = settled(&berth).await;
    let create = delta(&m0, &m1);
    eprintln!("create (3 members, 1 rejected): {}", summary(&create));

    // Re-reconcile (resync): no mutating call.
    let m2 = settled(&berth).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let m3 = berth.metrics().await;
    let resync = delta(&m2, &m3);
    eprintln!("re-reconcile (resync): {}", summary(&resync));
    assert_eq!(mutating(&resync), 0, "{resync:?}");

    // Fixing c makes it join.
    let fix = json!({"metadata": {"annotations": {BAD_ANN: null}}});
    env.ingresses()
        .patch("c", &PatchParams::default(), &Patch::Merge(&fix))
        .await
        .expect("fix c");
    eventually("c joins", Duration::from_secs(60), || async {
        (env.ingress_hostname("c").await.as_deref() == Some(host.as_str())).then_some(())
    })
    .await;
    eventually("c's condition is True", Duration::from_secs(20), || async {
        env.ingress_condition("c")
            .await
            .filter(|(s, _)| s == "True")
    })
    .await;
    let m4 = settled(&berth).await;
    eprintln!("join of c: {}", summary(&delta(&m3, &m4)));

    // Delete the members in turn: the ALB stays until the last one is gone.
    for (i, name) in ["a", "b", "c"].iter().enumerate() {
        env.ingresses()
            .delete(name, &DeleteParams::default())
            .await
            .expect("delete Ingress");
        eventually(
            &format!("{name} is gone"),
            Duration::from_secs(60),
            || async {
                env.ingresses()
                    .get_opt(name)
                    .await
                    .ok()?
                    .is_none()
                    .then_some(())
            },
        )
        .await;
        let lbs = env.group_lbs().await.len();
        assert_eq!(lbs, usize::from(i < 2), "ALBs after deleting {name}");
    }
    let m5 = settled(&berth).await;
    eprintln!("delete of 3 members: {}", summary(&delta(&m4, &m5)));
    assert!(env.group_lbs().await.is_empty());
    let _ = Api::<IngressClass>::all(env.client.clone())
        .delete(&class, &DeleteParams::default())
        .await;
}
