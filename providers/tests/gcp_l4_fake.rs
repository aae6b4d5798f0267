//! The GCP provider against the Compute fake (`localstack/gcp-fake`, held to the discovery
//! document): a Service's passthrough NLB created, a second pass with zero mutating calls,
//! updates (members, firewall, a stale fingerprint), a same-named foreign resource left alone,
//! deletion leaving only the cluster's shared resources, and faults ending in convergence or a
//! clear error, never a hang.
#![cfg(feature = "gcp")]

mod gcp_support;

use gcp_fake::Fake;
use gcp_support::{described, provider, PROJECT};
use providers::frontend::{Frontend, Node, ObjectRef, Protocol, ServicePort};
use providers::gcp::GcpProvider;
use providers::metrics::CallCounter;
use providers::plan::Plan;
use providers::provider::{Address, ApplyOutcome, Provider};
use std::sync::Arc;
use std::time::Duration;

fn node(i: usize, zone: &str) -> Node {
    Node {
        name: format!("n{i}"),
        provider_id: Some(format!("gce://{PROJECT}/us-central1-{zone}/gke-n{i}")),
        ..Default::default()
    }
}

fn service(name: &str) -> Frontend {
    let mut fe = Frontend::new(ObjectRef::service("shop", name), "prod");
    fe.ports = vec![ServicePort {
        name: None,
        protocol: Protocol::Tcp,
        port: 80,
        node_port: Some(30080),
        target_port: Some(8080),
        endpoints: Vec::new(),
    }];
    fe.nodes = vec![node(1, "a"), node(2, "b")];
    fe
}

async fn converge(p: &GcpProvider, fe: &Frontend) -> providers::Result<(Plan, ApplyOutcome)> {
    let desired = p.desired(fe).await?;
    let observed = p.observe(&fe.object, &fe.cluster, &desired).await?;
    let plan = p.plan(&desired, &observed)?;
    let out = p.apply(&plan, &observed).await?;
    Ok((plan, out))
}

async fn delete(p: &GcpProvider, fe: &Frontend) -> providers::Result<(Plan, ApplyOutcome)> {
    let observed = p.observe(&fe.object, &fe.cluster, &[]).await?;
    let plan = p.plan(&[], &observed)?;
    let out = p.apply(&plan, &observed).await?;
    Ok((plan, out))
}

/// The calls a counter saw, by name.
fn ops(calls: &CallCounter) -> Vec<String> {
    calls.snapshot().into_keys().map(|k| k.1).collect()
}

/// The fake's resources whose path contains `part`.
fn stored(fake: &Fake, part: &str) -> Vec<(String, serde_json::Value)> {
    fake.resources()
        .into_iter()
        .filter(|(k, _)| k.contains(part))
        .collect()
}

#[tokio::test]
async fn create_no_op_update_delete() {
    let fake = Fake::start().await;
    let calls = Arc::new(CallCounter::default());
    let p = provider(&fake, calls.clone()).await;
    let mut fe = service("web");
    let mut seen = std::collections::BTreeSet::new();

    let (plan, out) = converge(&p, &fe).await.unwrap();
    assert_eq!(plan.changes.len(), 9, "{plan:#?}");
    let Some(Address::Ip(ip)) = out.address.clone() else {
        panic!("an IP in the outcome: {out:?}")
    };
    assert!(!ip.is_empty());
    let created = calls.mutating();
    println!("create: {} calls, {} mutating", calls.total(), created);
    let rule = &stored(&fake, "/forwardingRules/")[0].1;
    assert_eq!(rule["IPAddress"], ip.as_str());
    assert!(rule["description"]
        .as_str()
        .unwrap()
        .contains("\"berth.dev/owner\":\"Service shop/web\""));

    // A second pass: nothing to do, no mutating call.
    seen.extend(ops(&calls));
    calls.reset();
    let (plan, out) = converge(&p, &fe).await.unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(calls.mutating(), 0, "{:?}", calls.by_operation());
    assert_eq!(out.address, Some(Address::Ip(ip.clone())));
    println!("no-op: {} calls", calls.total());

    // A new node joins zone a, the clients narrow: members and the firewall change in place,
    // the backend service's patch carries its fingerprint (a stale one is re-read: 412 once).
    fe.nodes.push(node(3, "a"));
    fe.source_ranges = vec!["203.0.113.0/24".into()];
    fe.session_affinity_client_ip = true;
    fake.fail_next("PATCH", "/backendServices/", 412, 1);
    let (plan, _) = converge(&p, &fe).await.unwrap();
    let changed: Vec<(&str, &str)> = plan
        .changes
        .iter()
        .map(|c| {
            (
                c.kind.as_str(),
                c.changed.first().map(String::as_str).unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        changed,
        [
            ("compute.v1.instanceGroups.instances", "instances"),
            ("compute.v1.firewalls", "sourceRanges"),
            ("compute.v1.regionBackendServices", "sessionAffinity"),
        ]
    );
    let fw = stored(&fake, "/firewalls/")
        .into_iter()
        .find(|(k, _)| !k.ends_with("-fw"))
        .unwrap()
        .1;
    assert_eq!(fw["sourceRanges"], serde_json::json!(["203.0.113.0/24"]));
    let bs = &stored(&fake, "/backendServices/")[0].1;
    assert_eq!(bs["sessionAffinity"], "CLIENT_IP");
    assert!(
        converge(&p, &fe).await.unwrap().0.is_empty(),
        "converged after the update"
    );

    // A port change needs a new forwarding rule: refused by the plan, before any call.
    let mut moved = fe.clone();
    moved.ports[0].port = 8080;
    seen.extend(ops(&calls));
    calls.reset();
    let e = converge(&p, &moved).await.unwrap_err();
    assert_eq!(e.reason(), "ReplacementNeeded", "{e}");
    assert_eq!(calls.mutating(), 0);

    // A second Service shares the cluster's instance groups and health check.
    let api = service("api");
    converge(&p, &api).await.unwrap();

    // Deleted: the Service's own resources go (forwarding rule first); the cluster's instance
    // groups and shared health check stay for the other Service.
    seen.extend(ops(&calls));
    calls.reset();
    let (plan, _) = delete(&p, &fe).await.unwrap();
    let order: Vec<&str> = plan.changes.iter().map(|c| c.kind.as_str()).collect();
    assert_eq!(
        order,
        [
            "compute.v1.forwardingRules",
            "compute.v1.regionBackendServices",
            "compute.v1.firewalls"
        ]
    );
    println!(
        "delete: {} calls, {} mutating",
        calls.total(),
        calls.mutating()
    );
    let left = described(&fake, "Service shop/web");
    assert!(left.is_empty(), "{left:?}");
    assert_eq!(stored(&fake, "/instanceGroups/").len(), 2);
    assert_eq!(
        stored(&fake, "/healthChecks/").len(),
        1,
        "the shared check stays"
    );
    assert!(
        delete(&p, &fe).await.unwrap().0.is_empty(),
        "nothing left to delete"
    );

    // The last Service goes: the cluster's shared resources go with it.
    delete(&p, &api).await.unwrap();
    let left = described(&fake, "berth.dev/cluster");
    assert!(left.is_empty(), "nothing of berth's is left: {left:?}");
    // Every call made above has its IAM permissions in the custom role.
    seen.extend(ops(&calls));
    for call in &seen {
        assert!(
            providers::gcp::permissions::of(call).is_some(),
            "{call} has no permissions entry"
        );
    }
    assert!(
        fake.schema_violations().is_empty(),
        "{:?}",
        fake.schema_violations()
    );
}

#[tokio::test]
async fn a_same_named_foreign_resource_is_a_conflict_and_untouched() {
    let fake = Fake::start().await;
    let p = provider(&fake, Arc::default()).await;
    let fe = service("web");
    let desired = p.desired(&fe).await.unwrap();
    // Someone else's backend service with berth's name (no berth description).
    let bs = desired
        .iter()
        .find(|r| r.kind == "compute.v1.regionBackendServices")
        .unwrap();
    let creds = google_cloud_auth::credentials::anonymous::Builder::new().build();
    let client = google_cloud_compute_v1::client::RegionBackendServices::builder()
        .with_endpoint(fake.url())
        .with_credentials(creds)
        .build()
        .await
        .unwrap();
    let body = google_cloud_compute_v1::model::BackendService::new()
        .set_name(bs.name.clone())
        .set_description("made by hand");
    client
        .insert()
        .set_project(PROJECT)
        .set_region("us-central1")
        .set_body(body)
        .send()
        .await
        .unwrap();
    let before = stored(&fake, "/backendServices/");
    let e = converge(&p, &fe).await.unwrap_err();
    assert_eq!(e.reason(), "NameConflict", "{e}");
    assert!(e.to_string().contains(&bs.name), "{e}");
    assert_eq!(stored(&fake, "/backendServices/"), before, "untouched");
    // Deleting the Service does not touch it either.
    let (plan, _) = delete(&p, &fe).await.unwrap();
    assert!(plan.changes.iter().all(|c| c.name != bs.name), "{plan:#?}");
    assert_eq!(stored(&fake, "/backendServices/"), before);
}

#[tokio::test]
async fn faults_end_in_convergence_or_a_clear_error_never_a_hang() {
    let fake = Fake::start().await;
    let p = provider(&fake, Arc::default()).await;
    let fe = service("web");

    // Throttling and unavailability are retried.
    fake.fail_next("POST", "/firewalls", 429, 2);
    fake.fail_next("GET", "/healthChecks/", 503, 1);
    // A failed operation is the cloud's message; a stalled one is pending after the deadline.
    fake.fail_next_operation(
        "insert",
        "QUOTA_EXCEEDED",
        "Quota 'BACKEND_SERVICES' exceeded",
    );
    let e = converge(&p, &fe).await.unwrap_err();
    assert_eq!(e.reason(), "QuotaExceeded", "{e}");
    assert!(e.to_string().contains("BACKEND_SERVICES"), "{e}");
    fake.stall_next_operation("insert");
    let started = std::time::Instant::now();
    let e = converge(&p, &fe).await.unwrap_err();
    assert_eq!(e.reason(), "InProgress", "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "bounded by the operation deadline"
    );
    fake.fail_next_operation("insert", "RESOURCE_NOT_READY", "try later");
    let e = converge(&p, &fe).await.unwrap_err();
    assert_eq!(e.reason(), "CloudOperationFailed", "{e}");
    // Then it converges (the stalled create's resource never appeared: created again).
    let mut last = None;
    for _ in 0..5 {
        match converge(&p, &fe).await {
            Ok((plan, out)) if plan.is_empty() => {
                last = out.address;
                break;
            }
            Ok(_) => continue,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(matches!(last, Some(Address::Ip(_))), "{last:?}");
    assert!(
        fake.schema_violations().is_empty(),
        "{:?}",
        fake.schema_violations()
    );
}

#[tokio::test]
async fn a_reserved_address_is_used_and_a_second_pass_is_a_no_op() {
    let fake = Fake::start().await;
    let calls = Arc::new(CallCounter::default());
    let p = provider(&fake, calls.clone()).await;
    let creds = google_cloud_auth::credentials::anonymous::Builder::new().build();
    let addresses = google_cloud_compute_v1::client::Addresses::builder()
        .with_endpoint(fake.url())
        .with_credentials(creds)
        .build()
        .await
        .unwrap();
    let body = google_cloud_compute_v1::model::Address::new()
        .set_name("web-ip")
        .set_address("192.0.2.10");
    addresses
        .insert()
        .set_project(PROJECT)
        .set_region("us-central1")
        .set_body(body)
        .send()
        .await
        .unwrap();
    let mut fe = service("web");
    fe.annotations.insert(
        "networking.gke.io/load-balancer-ip-addresses".into(),
        "web-ip".into(),
    );
    let (_, out) = converge(&p, &fe).await.unwrap();
    assert_eq!(out.address, Some(Address::Ip("192.0.2.10".into())));
    calls.reset();
    let (plan, _) = converge(&p, &fe).await.unwrap();
    assert!(
        plan.is_empty(),
        "the rule holds the address asked for: {plan:#?}"
    );
    assert_eq!(calls.mutating(), 0);
}

#[tokio::test]
async fn a_local_traffic_policy_service_converges_and_a_second_pass_is_a_no_op() {
    let fake = Fake::start().await;
    let calls = Arc::new(CallCounter::default());
    let p = provider(&fake, calls.clone()).await;
    let mut fe = service("dns");
    fe.external_traffic_policy = providers::frontend::TrafficPolicy::Local;
    fe.health_check_node_port = Some(32000);
    let (plan, _) = converge(&p, &fe).await.unwrap();
    assert_eq!(plan.changes.len(), 9, "{plan:#?}");
    calls.reset();
    let (plan, _) = converge(&p, &fe).await.unwrap();
    assert!(plan.is_empty(), "{plan:#?}");
    assert_eq!(calls.mutating(), 0);
    let (plan, _) = delete(&p, &fe).await.unwrap();
    // Its own check and both firewall rules go with it.
    assert_eq!(plan.changes.len(), 5, "{plan:#?}");
    assert!(described(&fake, "Service shop/dns").is_empty());
}
