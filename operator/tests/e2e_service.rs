//! End to end: the built `berth run` binary against a real kube-apiserver and the moto AWS
//! emulator (see localstack/README.md). Each test uses its own namespace, cluster name (so it
//! sees only its own AWS resources), VPC, EC2 instances and Nodes (labelled for the test and
//! selected with `--node-selector`), and watches only its namespace (`--watch-namespace`).
//!
//! Run: `bash localstack/test.sh -p berth --test e2e_service -- --nocapture`

mod support;

use support::*;

/// a) create, b) annotation change, c) node added/removed, d) delete; with timings and
/// API-call counts for create, a no-op resync and delete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_lifecycle_creates_updates_retargets_and_deletes_the_nlb() {
    let env = TestEnv::new("life").await;
    let i1 = env.node("n1").await;
    let i2 = env.node("n2").await;
    let berth = Berth::spawn(&env, "berth-life");
    let t = Instant::now();
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    println!(
        "[timing] berth ready (leader, caches synced) in {:?}",
        t.elapsed()
    );

    // a) create
    let m0 = berth.metrics().await;
    let t = Instant::now();
    env.create_service("web", json!({})).await;
    let (svc, hostname) = env.wait_hostname("web", Duration::from_secs(60)).await;
    let create_time = t.elapsed();
    let lbs = env.our_lbs("web").await;
    assert_eq!(lbs.len(), 1, "exactly one NLB for the Service: {lbs:?}");
    let lb = &lbs[0];
    let lb_arn = lb.load_balancer_arn().unwrap().to_string();
    assert_eq!(
        lb.r#type(),
        Some(&elb::types::LoadBalancerTypeEnum::Network)
    );
    assert_eq!(hostname, lb.dns_name().unwrap().to_ascii_lowercase());
    assert!(
        svc.metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|f| f == FINALIZER)),
        "finalizer"
    );
    let svc = eventually("condition True", Duration::from_secs(10), || async {
        let s = env.services().get("web").await.ok()?;
        (condition(&s) == Some(("True".into(), "Ensured".into()))).then_some(s)
    })
    .await;
    let node_port = svc.spec.as_ref().unwrap().ports.as_ref().unwrap()[0]
        .node_port
        .expect("nodePort");

    let listeners = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await
        .expect("DescribeListeners");
    assert_eq!(listeners.listeners().len(), 1, "{listeners:?}");
    let listener = &listeners.listeners()[0];
    assert_eq!(listener.port(), Some(80));
    assert_eq!(listener.protocol(), Some(&elb::types::ProtocolEnum::Tcp));
    let tgs = env.our_tgs("web").await;
    assert_eq!(tgs.len(), 1, "{tgs:?}");
    let tg_arn = tgs[0].target_group_arn().unwrap().to_string();
    assert_eq!(
        tgs[0].target_type(),
        Some(&elb::types::TargetTypeEnum::Instance)
    );
    assert_eq!(tgs[0].port(), Some(node_port));
    let forward = listener.default_actions()[0].target_group_arn();
    assert_eq!(
        forward,
        Some(tg_arn.as_str()),
        "the listener forwards to our target group"
    );
    assert_eq!(
        env.targets(&tg_arn).await,
        BTreeSet::from([(i1.clone(), node_port), (i2.clone(), node_port)])
    );
    let reasons: Vec<String> = env
        .events()
        .await
        .iter()
        .filter_map(|e| e.reason.clone())
        .collect();
    assert!(
        reasons.iter().any(|r| r == "Ensuring") && reasons.iter().any(|r| r == "Ensured"),
        "{reasons:?}"
    );
    let m1 = berth.metrics().await;
    let create_calls = delta(&m0, &m1);
    assert_eq!(m1.value("berth_managed_load_balancers"), 1.0);

    // No-op resync: one reconcile of the converged Service mutates nothing.
    let settled = eventually(
        "a resync after convergence",
        Duration::from_secs(15),
        || async {
            let m = berth.metrics().await;
            (m.successes() > m1.successes()).then_some(m)
        },
    )
    .await;
    let t = Instant::now();
    let resynced = eventually("one more resync", Duration::from_secs(15), || async {
        let m = berth.metrics().await;
        (m.successes() > settled.successes()).then_some(m)
    })
    .await;
    let resync_wait = t.elapsed();
    let n = resynced.successes() - settled.successes();
    let resync_calls = delta(&settled, &resynced);
    assert_eq!(
        mutating(&resync_calls),
        0,
        "a no-op resync mutates nothing: {resync_calls:?}"
    );

    // b) an annotation change reaches the target group
    let patch = json!({"metadata": {"annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval": "20",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol": "HTTP",
        "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path": "/healthz",
    }}});
    let t = Instant::now();
    env.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch");
    eventually(
        "health check updated in moto",
        Duration::from_secs(30),
        || async {
            let tg = env.our_tgs("web").await.into_iter().next()?;
            (tg.health_check_interval_seconds() == Some(20)
                && tg.health_check_protocol() == Some(&elb::types::ProtocolEnum::Http)
                && tg.health_check_path() == Some("/healthz"))
            .then_some(())
        },
    )
    .await;
    let update_time = t.elapsed();
    assert_eq!(
        env.our_tgs("web").await[0].target_group_arn(),
        Some(tg_arn.as_str()),
        "updated in place"
    );

    // b2) spec.loadBalancerSourceRanges: the NLB's own security group admits only those clients
    let sg = lb
        .security_groups()
        .first()
        .cloned()
        .expect("the NLB has berth's security group");
    let node_sg = env.node_security_group().await;
    assert_eq!(
        env.group_sources(&node_sg).await,
        BTreeSet::from([("tcp".to_string(), node_port, sg.clone())]),
        "the nodes' group admits the NodePort (traffic and health check) from the NLB's group"
    );
    let open = BTreeSet::from([("tcp".to_string(), 80, "0.0.0.0/0".to_string())]);
    assert_eq!(
        env.ingress_sources(&sg).await,
        Some(open),
        "no ranges: everyone"
    );
    let patch = json!({"spec": {"loadBalancerSourceRanges": ["203.0.113.0/24"]}});
    env.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("patch source ranges");
    let only = BTreeSet::from([("tcp".to_string(), 80, "203.0.113.0/24".to_string())]);
    eventually(
        "only the source range admitted",
        Duration::from_secs(30),
        || async { (env.ingress_sources(&sg).await.as_ref() == Some(&only)).then_some(()) },
    )
    .await;

    // c) a new Node becomes a target; a deleted one stops being one
    let t = Instant::now();
    let i3 = env.node("n3").await;
    let want = BTreeSet::from([
        (i1.clone(), node_port),
        (i2.clone(), node_port),
        (i3.clone(), node_port),
    ]);
    eventually("n3 registered", Duration::from_secs(30), || async {
        (env.targets(&tg_arn).await == want).then_some(())
    })
    .await;
    env.delete_node("n1").await;
    let want = BTreeSet::from([(i2.clone(), node_port), (i3.clone(), node_port)]);
    eventually("n1 deregistered", Duration::from_secs(30), || async {
        (env.targets(&tg_arn).await == want).then_some(())
    })
    .await;
    let retarget_time = t.elapsed();

    // d) delete: the NLB, listeners and target groups go before the Service does
    let m2 = berth.metrics().await;
    let t = Instant::now();
    env.services()
        .delete("web", &DeleteParams::default())
        .await
        .expect("delete Service");
    eventually(
        "the Service is gone from the API",
        Duration::from_secs(60),
        || async {
            env.services()
                .get_opt("web")
                .await
                .expect("get")
                .is_none()
                .then_some(())
        },
    )
    .await;
    let delete_time = t.elapsed();
    assert!(
        env.our_lbs("web").await.is_empty(),
        "the NLB was deleted before the finalizer was removed"
    );
    assert!(
        env.our_tgs("web").await.is_empty(),
        "the target group was deleted before the finalizer was removed"
    );
    let gone = env
        .elb
        .describe_listeners()
        .load_balancer_arn(&lb_arn)
        .send()
        .await;
    assert!(
        gone.map(|l| l.listeners().is_empty()).unwrap_or(true),
        "listeners are gone"
    );
    assert_eq!(
        env.ingress_sources(&sg).await,
        None,
        "the NLB's security group was deleted with it"
    );
    assert!(
        env.group_sources(&node_sg).await.is_empty(),
        "berth's rule left the nodes' group first"
    );
    let m3 = berth.metrics().await;
    let delete_calls = delta(&m2, &m3);
    assert_eq!(m3.value("berth_managed_load_balancers"), 0.0);

    println!("[timing] create: Service -> hostname in status: {create_time:?}");
    println!("[calls]  create: {}", summary(&create_calls));
    println!("[timing] resync interval observed: {resync_wait:?} ({n} reconcile(s))");
    println!(
        "[calls]  no-op resync ({n} reconcile(s)): {}",
        summary(&resync_calls)
    );
    println!("[timing] annotation change -> target group updated: {update_time:?}");
    println!("[timing] node added + node deleted -> targets updated: {retarget_time:?}");
    println!(
        "[timing] delete: Service delete -> gone (cloud resources deleted first): {delete_time:?}"
    );
    println!("[calls]  delete: {}", summary(&delete_calls));
    let _ = i3;
}

/// e) an invalid annotation: a Warning Event naming it, a False condition, nothing in the cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_annotation_is_reported_and_creates_nothing() {
    let env = TestEnv::new("bad").await;
    env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-bad");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    let annotation = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval";
    env.create_service("bad", json!({annotation: "abc"})).await;
    let event = env.warning_event("bad").await;
    assert_eq!(event.reason.as_deref(), Some("InvalidAnnotation"));
    let note = event.note.unwrap_or_default();
    assert!(
        note.contains(annotation) && note.contains("abc"),
        "the Event names the annotation and value: {note}"
    );
    env.wait_condition("bad", "False", "InvalidAnnotation")
        .await;
    let svc = env.services().get("bad").await.unwrap();
    assert!(
        svc.status
            .and_then(|s| s.load_balancer)
            .and_then(|l| l.ingress)
            .unwrap_or_default()
            .is_empty(),
        "no address"
    );
    assert!(env.our_lbs("bad").await.is_empty());
    assert!(env.our_tgs("bad").await.is_empty());
    let calls = berth.metrics().await.calls();
    assert_eq!(mutating(&calls), 0, "nothing created: {calls:?}");
}

/// f) two replicas: the second stays passive while the first holds the Lease; when the first
/// dies, the second takes over within the lease duration and reconciles; SIGTERM releases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_replica_stays_passive_until_the_leader_dies() {
    let env = TestEnv::new("ha").await;
    env.node("n1").await;
    let mut a = Berth::spawn(&env, "berth-a");
    a.wait_phase("leader", Duration::from_secs(30)).await;
    let mut b = Berth::spawn(&env, "berth-b");
    b.wait_phase("standby", Duration::from_secs(30)).await;
    assert_eq!(env.lease_holder().await.as_deref(), Some("berth-a"));
    assert_eq!(a.metrics().await.value("berth_leader"), 1.0);
    assert_eq!(b.metrics().await.value("berth_leader"), 0.0);
    assert!(
        b.log_text().contains("standby"),
        "b logs that it is standby"
    );

    env.create_service("one", json!({})).await;
    env.wait_hostname("one", Duration::from_secs(60)).await;
    // b stayed passive through a's work (and a few of its renewals).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let bm = b.metrics().await;
    assert!(
        bm.calls().is_empty() && bm.successes() == 0,
        "standby b did nothing: {:?}",
        bm.0
    );
    assert_eq!(env.lease_holder().await.as_deref(), Some("berth-a"));

    // a dies without releasing the Lease.
    a.signal("KILL");
    a.wait_exit(Duration::from_secs(5)).await;
    let t = Instant::now();
    b.wait_phase("leader", LEASE * 3 + Duration::from_secs(5))
        .await;
    let takeover = t.elapsed();
    assert!(
        takeover < LEASE * 3,
        "took over within ~lease duration (+ renew interval): {takeover:?}"
    );
    assert_eq!(env.lease_holder().await.as_deref(), Some("berth-b"));
    assert_eq!(b.metrics().await.value("berth_leader"), 1.0);

    env.create_service("two", json!({})).await;
    env.wait_hostname("two", Duration::from_secs(60)).await;
    assert!(!env.our_lbs("two").await.is_empty());
    assert!(
        b.metrics().await.calls().values().sum::<u64>() > 0,
        "b made the cloud calls"
    );

    // SIGTERM: graceful, exit 0, Lease released.
    b.signal("TERM");
    let status = b.wait_exit(Duration::from_secs(15)).await;
    assert!(status.success(), "graceful exit: {status:?}");
    assert_eq!(env.lease_holder().await, None, "the Lease was released");
    println!(
        "[timing] takeover after the leader was killed: {takeover:?} (lease duration {LEASE:?})"
    );
}

/// `berth plan --observe` prints exactly what `berth run` would do, and does nothing: after run
/// has converged a Service, planning the same objects shows no change; planning an edited copy
/// shows the one update, and the cloud is left as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_observe_shows_the_diff_against_what_run_created() {
    let env = TestEnv::new("observe").await;
    env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-observe");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    drop(berth); // Stop acting: plan alone must change nothing from here on.

    let svc = env.services().get("web").await.unwrap();
    let nodes = Api::<Node>::all(env.client.clone())
        .list(&ListParams::default().labels(&format!("berth-e2e={}", env.ns)))
        .await
        .unwrap();
    let write = |svc: &Service, file: &str| {
        let mut docs = vec![serde_yaml_ng::to_string(svc).unwrap()];
        for n in &nodes.items {
            docs.push(serde_yaml_ng::to_string(n).unwrap());
        }
        let path = env.dir.path().join(file);
        std::fs::write(&path, docs.join("---\n")).unwrap();
        path
    };
    let plan = |path: &PathBuf, format: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "plan",
                "--observe",
                "--cluster-name",
                &env.cluster,
                "-o",
                format,
            ])
            .arg("-f")
            .arg(path)
            .output()
            .expect("run berth plan");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).to_string()
    };

    let same = write(&svc, "same.yaml");
    let text = plan(&same, "text");
    assert!(text.contains("(no changes: the cloud matches)"), "{text}");

    let mut edited = svc.clone();
    edited
        .metadata
        .annotations
        .get_or_insert_with(Default::default)
        .insert(
            "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval".into(),
            "30".into(),
        );
    let path = write(&edited, "edited.yaml");
    let json: serde_json::Value = serde_json::from_str(&plan(&path, "json")).unwrap();
    let changes = json["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1, "{json:#}");
    assert_eq!(changes[0]["action"], "update");
    assert_eq!(
        changes[0]["kind"],
        "AWS::ElasticLoadBalancingV2::TargetGroup"
    );
    assert_eq!(changes[0]["changed"], json!(["HealthCheckIntervalSeconds"]));
    let tgs = env.our_tgs("web").await;
    assert_eq!(
        tgs[0].health_check_interval_seconds(),
        Some(10),
        "plan changed nothing"
    );
}

/// This apiserver (1.20) serves no `discovery.k8s.io/v1`: a Service that asks for ip targets is
/// told so (Warning Event + False condition) and gets nothing in the cloud; berth keeps running.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ip_targets_without_endpointslices_are_reported_unavailable() {
    let env = TestEnv::new("noslices").await;
    let berth = Berth::spawn(&env, "berth-noslices");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service(
        "pods",
        json!({"service.beta.kubernetes.io/aws-load-balancer-nlb-target-type": "ip"}),
    )
    .await;
    let event = env.warning_event("pods").await;
    assert_eq!(event.reason.as_deref(), Some("Unavailable"));
    let note = event.note.unwrap_or_default();
    assert!(note.contains("discovery.k8s.io/v1"), "{note}");
    env.wait_condition("pods", "False", "Unavailable").await;
    assert!(env.our_lbs("pods").await.is_empty());
    assert!(berth.log_text().matches("discovery.k8s.io/v1").count() >= 1);
}

/// A Service that stops qualifying (here: the type annotation that handed it to berth is removed)
/// loses its load balancer, its status address and berth's finalizer; the Service stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_that_stops_qualifying_is_cleaned_up_and_released() {
    let env = TestEnv::new("release").await;
    env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-release");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    assert_eq!(env.our_lbs("web").await.len(), 1);

    let patch = json!({"metadata": {"annotations": {TYPE_ANNOTATION: null}}});
    env.services()
        .patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("remove the type annotation");
    let svc = eventually("finalizer removed", Duration::from_secs(30), || async {
        let s = env.services().get("web").await.ok()?;
        let ours = s
            .metadata
            .finalizers
            .iter()
            .flatten()
            .any(|f| f == FINALIZER);
        (!ours).then_some(s)
    })
    .await;
    assert!(env.our_lbs("web").await.is_empty(), "the NLB is gone");
    assert!(env.our_tgs("web").await.is_empty(), "its target groups too");
    let ingress = svc
        .status
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .unwrap_or_default();
    assert!(
        ingress.is_empty(),
        "the address berth wrote is cleared: {ingress:?}"
    );
}

/// Drift: a change made behind berth's back (health check edited, a target deregistered) is
/// corrected by the periodic resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_in_the_cloud_is_corrected_by_the_resync() {
    let env = TestEnv::new("drift").await;
    let instance = env.node("n1").await;
    let berth = Berth::spawn(&env, "berth-drift");
    berth.wait_phase("leader", Duration::from_secs(30)).await;
    env.create_service("web", json!({})).await;
    env.wait_hostname("web", Duration::from_secs(60)).await;
    let tg = env.our_tgs("web").await.remove(0);
    let tg_arn = tg.target_group_arn().unwrap().to_string();
    let port = tg.port().unwrap();

    env.elb
        .modify_target_group()
        .target_group_arn(&tg_arn)
        .health_check_interval_seconds(30)
        .send()
        .await
        .expect("ModifyTargetGroup behind berth's back");
    env.elb
        .deregister_targets()
        .target_group_arn(&tg_arn)
        .targets(
            elb::types::TargetDescription::builder()
                .id(&instance)
                .port(port)
                .build(),
        )
        .send()
        .await
        .expect("DeregisterTargets behind berth's back");

    // --resync is 3s in these tests.
    eventually(
        "the resync restores the target and the interval",
        Duration::from_secs(20),
        || async {
            let tg = env.our_tgs("web").await.into_iter().next()?;
            let targets = env.targets(&tg_arn).await;
            (tg.health_check_interval_seconds() == Some(10)
                && targets == BTreeSet::from([(instance.clone(), port)]))
            .then_some(())
        },
    )
    .await;
}
