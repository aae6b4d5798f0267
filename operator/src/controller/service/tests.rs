//! Reconciler tests with a scripted fake Provider and the fake Kubernetes API of
//! `controller::test_support` (a tower service that records every request and answers it).

use super::*;
use crate::controller::test_support::{context, merge_patch, FakeApi, FakeProvider};
use kube::runtime::reflector;
use providers::frontend::ObjectRef as FeRef;
use serde_json::{json, Value};

/// The aws-load-balancer-controller's Service finalizer, which the AWS profile must keep.
const FINALIZER: &str = "service.k8s.aws/resources";

struct Harness {
    api: FakeApi,
    provider: Arc<FakeProvider>,
    ctx: Arc<Context>,
}

fn harness(nodes: &[&str]) -> Harness {
    let api = FakeApi::default();
    let provider = Arc::new(FakeProvider::answering(
        "Web-123.ELB.us-east-1.amazonaws.com",
    ));
    let (node_store, mut writer) = reflector::store::<Node>();
    for n in nodes {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": n}, "spec": {"providerID": format!("aws:///us-east-1a/i-{n}")}})).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(node));
    }
    let ctx = Arc::new(context(&api, provider.clone(), node_store));
    // Keep the writer alive for the store's lifetime.
    std::mem::forget(writer);
    Harness { api, provider, ctx }
}

fn service(v: Value) -> Arc<Service> {
    let mut base = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "resourceVersion": "7",
                     "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "external"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "nodePort": 30080}]},
    });
    merge_patch(&mut base, v);
    Arc::new(serde_json::from_value(base).unwrap())
}

fn ours() -> Value {
    json!({"metadata": {"finalizers": [FINALIZER]}})
}

#[tokio::test]
async fn a_service_berth_does_not_select_is_untouched() {
    let h = harness(&["n1"]);
    for v in [
        json!({"spec": {"type": "ClusterIP"}}),
        json!({"metadata": {"annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}}}),
        json!({"spec": {"loadBalancerClass": "metallb.io/metallb"}}),
        json!({"spec": {"type": "ClusterIP"}, "metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
    ] {
        let action = reconcile(service(v), h.ctx.clone()).await.unwrap();
        assert_eq!(action, Action::await_change());
    }
    assert!(h.provider.calls().is_empty(), "{:?}", h.provider.calls());
    assert!(h.api.calls().is_empty(), "{:?}", h.api.calls());
}

#[tokio::test]
async fn the_finalizer_is_added_before_anything_is_created() {
    let h = harness(&["n1"]);
    reconcile(service(json!({})), h.ctx.clone()).await.unwrap();
    assert!(h.provider.calls().is_empty(), "{:?}", h.provider.calls());
    let patches = h.api.object_patches();
    assert_eq!(patches.len(), 1, "{patches:?}");
    assert!(
        patches[0].1.to_string().contains(FINALIZER),
        "{}",
        patches[0].1
    );
}

#[tokio::test]
async fn ensure_creates_reports_and_then_is_a_no_op() {
    let h = harness(&["n1", "n2"]);
    let action = reconcile(service(ours()), h.ctx.clone()).await.unwrap();
    assert_eq!(action, Action::requeue(Duration::from_secs(42)));
    assert_eq!(
        h.provider.calls(),
        [
            "desired shop/web",
            "observe Service shop/web c1 desired=2",
            "plan",
            "apply 2"
        ]
    );
    let fe = h.provider.frontends.lock().unwrap()[0].clone();
    assert_eq!(fe.nodes.len(), 2);
    assert!(
        fe.endpoints_unavailable.is_some(),
        "no slices store: endpoints are unavailable"
    );
    assert_eq!(h.api.event_reasons(), ["Normal Ensuring", "Normal Ensured"]);
    assert!(h.api.event_bodies()[0]["note"]
        .as_str()
        .unwrap()
        .contains("2 to create"));
    let status = h.api.status_patches();
    assert_eq!(status.len(), 1);
    assert_eq!(
        status[0].1["status"]["loadBalancer"]["ingress"][0]["hostname"],
        "web-123.elb.us-east-1.amazonaws.com"
    );
    let cond = &status[0].1["status"]["conditions"][0];
    assert_eq!(
        (
            cond["type"].as_str(),
            cond["status"].as_str(),
            cond["reason"].as_str()
        ),
        (
            Some(crate::report::CONDITION_TYPE),
            Some("True"),
            Some("Ensured")
        )
    );
    assert!(h
        .ctx
        .metrics
        .encode()
        .contains("berth_managed_load_balancers 1"));

    // Converged: the Service now carries that status; nothing changes, nothing is written.
    let mut converged = json!({"status": status[0].1["status"].clone()});
    merge_patch(&mut converged, ours());
    let before = h.api.calls().len();
    reconcile(service(converged), h.ctx.clone()).await.unwrap();
    assert_eq!(
        h.provider.calls()[4..],
        [
            "desired shop/web",
            "observe Service shop/web c1 desired=2",
            "plan",
            "apply 0"
        ]
    );
    assert_eq!(
        h.api.calls().len(),
        before,
        "a no-op reconcile writes nothing: {:?}",
        &h.api.calls()[before..]
    );
}

#[tokio::test]
async fn an_invalid_annotation_is_a_warning_event_and_a_false_condition_and_creates_nothing() {
    let h = harness(&["n1"]);
    *h.provider.fail_desired.lock().unwrap() = Some(providers::Error::InvalidAnnotation {
        object: FeRef::service("shop", "web"),
        annotation: "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval".into(),
        value: "abc".into(),
        expected: "expected an integer".into(),
    });
    let svc = service(ours());
    let err = reconcile(svc.clone(), h.ctx.clone()).await.unwrap_err();
    assert!(err.is_user_error());
    assert_eq!(
        h.provider.calls(),
        ["desired shop/web"],
        "nothing observed or applied"
    );
    let events = h.api.event_bodies();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["type"], "Warning");
    assert_eq!(events[0]["reason"], "InvalidAnnotation");
    assert!(events[0]["note"]
        .as_str()
        .unwrap()
        .contains("aws-load-balancer-healthcheck-interval"));
    let status = h.api.status_patches();
    assert_eq!(status.len(), 1);
    assert!(
        status[0].1["status"].get("loadBalancer").is_none(),
        "the address is kept"
    );
    let cond = &status[0].1["status"]["conditions"][0];
    assert_eq!(
        (cond["status"].as_str(), cond["reason"].as_str()),
        (Some("False"), Some("InvalidAnnotation"))
    );
    assert!(cond["message"].as_str().unwrap().contains("\"abc\""));
    assert_eq!(
        error_policy(svc, &err, h.ctx.clone()),
        Action::requeue(USER_ERROR_REQUEUE)
    );
    assert!(h
        .ctx
        .metrics
        .encode()
        .contains(r#"berth_reconciles_total{result="error"} 1"#));
}

#[tokio::test]
async fn cloud_errors_back_off_exponentially_per_object_and_reset_on_success() {
    let h = harness(&["n1"]);
    let svc = service(ours());
    let mut delays = Vec::new();
    for _ in 0..3 {
        *h.provider.fail_apply.lock().unwrap() = Some(providers::Error::cloud(
            "CreateLoadBalancer",
            "throttled",
            true,
        ));
        let err = reconcile(svc.clone(), h.ctx.clone()).await.unwrap_err();
        assert_eq!(err.reason(), "CloudAPIError");
        delays.push(error_policy(svc.clone(), &err, h.ctx.clone()));
    }
    assert_eq!(
        delays,
        [5, 10, 20].map(|s| Action::requeue(Duration::from_secs(s)))
    );
    reconcile(svc.clone(), h.ctx.clone()).await.unwrap();
    let err = providers::Error::cloud("X", "y", true).into();
    assert_eq!(
        error_policy(svc, &err, h.ctx.clone()),
        Action::requeue(Duration::from_secs(5))
    );
    assert_eq!(backoff(30), Duration::from_secs(300));
}

#[tokio::test]
async fn a_cloud_refusal_a_retry_cannot_fix_waits_like_a_user_error() {
    let h = harness(&["n1"]);
    let svc = service(ours());
    for (err, want) in [
        (
            providers::Error::cloud("CreateLoadBalancer", "AccessDenied: not authorized", false),
            300,
        ),
        (
            providers::Error::Bug("the plan's X y has no Name".into()),
            300,
        ),
        (
            providers::Error::cloud("CreateLoadBalancer", "Throttling", true),
            5,
        ),
        (
            providers::Error::Unavailable("pod IPs not known yet".into()),
            10,
        ),
    ] {
        let err: crate::error::Error = err.into();
        assert_eq!(
            error_policy(svc.clone(), &err, h.ctx.clone()),
            Action::requeue(Duration::from_secs(want)),
            "{err}"
        );
    }
}

#[tokio::test]
async fn deletion_deletes_the_cloud_resources_before_the_finalizer_goes() {
    let h = harness(&["n1"]);
    reconcile(service(ours()), h.ctx.clone()).await.unwrap();
    assert_eq!(h.provider.cloud.lock().unwrap().len(), 2);
    let before = h.api.calls().len();

    let mut deleting = ours();
    merge_patch(
        &mut deleting,
        json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
    );
    reconcile(service(deleting.clone()), h.ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        h.provider.calls()[4..],
        ["observe Service shop/web c1 desired=0", "plan", "apply 2"]
    );
    assert!(h.provider.cloud.lock().unwrap().is_empty());
    let calls = &h.api.calls()[before..];
    let fin = calls
        .iter()
        .position(|c| c.method == "PATCH" && c.path.ends_with("/services/web"))
        .expect("finalizer removed");
    assert!(
        calls[fin].body.to_string().contains("remove"),
        "{:?}",
        calls[fin]
    );
    assert!(h
        .ctx
        .metrics
        .encode()
        .contains("berth_managed_load_balancers 0"));

    // A failed cleanup keeps the finalizer.
    let h = harness(&["n1"]);
    reconcile(service(ours()), h.ctx.clone()).await.unwrap();
    *h.provider.fail_apply.lock().unwrap() =
        Some(providers::Error::cloud("DeleteLoadBalancer", "boom", false));
    let before = h.api.calls().len();
    reconcile(service(deleting), h.ctx.clone())
        .await
        .unwrap_err();
    assert!(
        h.api.object_patches().is_empty(),
        "the finalizer stays: {:?}",
        &h.api.calls()[before..]
    );
    assert_eq!(
        h.api.event_reasons().last().unwrap(),
        "Warning CloudAPIError"
    );
}

#[tokio::test]
async fn cloud_work_still_pending_keeps_the_finalizer_and_comes_back_soon() {
    let h = harness(&["n1"]);
    reconcile(service(ours()), h.ctx.clone()).await.unwrap();
    let mut deleting = ours();
    merge_patch(
        &mut deleting,
        json!({"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}}),
    );
    *h.provider.pending.lock().unwrap() = Some("security group sg-1 is still in use".into());
    let before = h.api.calls().len();
    let e = reconcile(service(deleting.clone()), h.ctx.clone())
        .await
        .unwrap_err();
    assert_eq!(e.reason(), "InProgress");
    assert!(e.retry_soon(), "pending work is retried with back-off");
    assert!(
        h.api.object_patches().is_empty(),
        "the finalizer stays while the cloud works: {:?}",
        &h.api.calls()[before..]
    );
    // Progress, not a failure.
    assert_eq!(h.api.event_reasons().last().unwrap(), "Normal InProgress");

    // The next try finds nothing pending: the finalizer goes.
    reconcile(service(deleting), h.ctx.clone()).await.unwrap();
    assert!(!h.api.object_patches().is_empty());

    // While serving, pending work (an old security group going) requeues soon, not at resync.
    let h = harness(&["n1"]);
    *h.provider.pending.lock().unwrap() = Some("security group sg-2 is still in use".into());
    let action = reconcile(service(ours()), h.ctx.clone()).await.unwrap();
    assert_eq!(
        action,
        Action::requeue(crate::controller::common::PENDING_REQUEUE)
    );
}

#[tokio::test]
async fn a_service_that_is_no_longer_selected_is_released() {
    let h = harness(&["n1"]);
    reconcile(service(ours()), h.ctx.clone()).await.unwrap();
    let before = h.api.calls().len();
    let released = json!({
        "metadata": {"finalizers": ["other/finalizer", FINALIZER], "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb"}},
        "status": {"loadBalancer": {"ingress": [{"hostname": "web-123.elb.us-east-1.amazonaws.com"}]},
                   "conditions": [{"type": crate::report::CONDITION_TYPE, "status": "True", "reason": "Ensured", "message": "", "lastTransitionTime": "2024-01-01T00:00:00Z"}]}
    });
    reconcile(service(released), h.ctx.clone()).await.unwrap();
    assert_eq!(
        h.provider.calls()[4..],
        ["observe Service shop/web c1 desired=0", "plan", "apply 2"]
    );
    assert!(h.provider.cloud.lock().unwrap().is_empty());
    let status = h.api.status_patches();
    let last = &status.last().unwrap().1;
    assert_eq!(last["status"]["loadBalancer"], json!({"ingress": null}));
    assert_eq!(last["status"]["conditions"], Value::Null);
    let calls = &h.api.calls()[before..];
    let fin = calls
        .iter()
        .rev()
        .find(|c| c.method == "PATCH" && c.path.ends_with("/services/web"))
        .unwrap();
    assert_eq!(
        fin.body["metadata"]["finalizers"],
        json!(["other/finalizer"])
    );
    assert_eq!(fin.body["metadata"]["resourceVersion"], "7");
}

#[tokio::test]
async fn node_changes_that_matter_trigger_and_others_do_not() {
    let node = |name: &str, labels: Value, pid: &str| -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": labels}, "spec": {"providerID": pid}}),
        )
        .unwrap()
    };
    let events = vec![
        Ok(watcher::Event::Init),
        Ok(watcher::Event::InitApply(node("a", json!({}), "p1"))),
        Ok(watcher::Event::InitDone), // 1: initial set
        Ok(watcher::Event::Apply({
            let mut n = node("a", json!({}), "p1");
            n.metadata.annotations = Some([("x".to_string(), "y".to_string())].into());
            n
        })), // an annotation: irrelevant
        // 2: a label (target-node-labels select instance targets by them)
        Ok(watcher::Event::Apply(node(
            "a",
            json!({"pool": "edge"}),
            "p1",
        ))),
        Ok(watcher::Event::Apply(node("b", json!({}), "p2"))), // 3: new node
        Ok(watcher::Event::Apply(node(
            "a",
            json!({crate::gather::EXCLUDE_LABEL: ""}),
            "p1",
        ))), // 4: excluded
        Ok(watcher::Event::Delete(node("b", json!({}), "p2"))), // 5: removed
        Ok(watcher::Event::Init),
        Ok(watcher::Event::InitApply(node(
            "a",
            json!({crate::gather::EXCLUDE_LABEL: ""}),
            "p1",
        ))),
        Ok(watcher::Event::InitDone), // relist, nothing changed
    ];
    let n = node_changes(futures::stream::iter(events)).count().await;
    assert_eq!(n, 5);
}

#[test]
fn slices_map_to_their_service() {
    let s: EndpointSlice = serde_json::from_value(json!({
        "metadata": {"name": "web-x", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": []
    }))
    .unwrap();
    assert_eq!(slice_owner(&s), Some(ObjectRef::new("web").within("shop")));
    let orphan: EndpointSlice = serde_json::from_value(json!({"metadata": {"name": "x", "namespace": "shop"}, "addressType": "IPv4", "endpoints": []})).unwrap();
    assert_eq!(slice_owner(&orphan), None);
}

/// A harness whose Context applies these LoadBalancerPolicies.
fn policy_harness(policies: &[Value]) -> Harness {
    let h = harness(&["n1"]);
    let (store, mut writer) = reflector::store::<crate::policy::LoadBalancerPolicy>();
    writer.apply_watcher_event(&watcher::Event::Init);
    for p in policies {
        writer.apply_watcher_event(&watcher::Event::InitApply(
            serde_json::from_value(p.clone()).unwrap(),
        ));
    }
    writer.apply_watcher_event(&watcher::Event::InitDone);
    std::mem::forget(writer);
    let ctx = Arc::new(
        context(&h.api, h.provider.clone(), h.ctx.nodes.clone()).with_policies(Some(store)),
    );
    Harness { ctx, ..h }
}

fn lbp(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "berth.dev/v1alpha1", "kind": "LoadBalancerPolicy",
           "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn a_policy_violation_is_reported_and_calls_no_provider() {
    let h = policy_harness(&[lbp(
        "tenants",
        json!({"loadBalancerClasses": [""], "restrictions": {"internetFacingNamespaces": ["edge"]}}),
    )]);
    let svc = service(
        json!({"metadata": {"finalizers": [FINALIZER], "annotations": {
        "service.beta.kubernetes.io/aws-load-balancer-scheme": "internet-facing"}}}),
    );
    let err = reconcile(svc.clone(), h.ctx.clone()).await.unwrap_err();
    assert_eq!(err.reason(), "PolicyViolation");
    assert!(err.is_user_error());
    assert!(h.provider.calls().is_empty(), "{:?}", h.provider.calls());
    assert_eq!(h.api.event_reasons(), ["Warning PolicyViolation"]);
    let note = h.api.event_bodies()[0]["note"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        note.starts_with(r#"LoadBalancerPolicy "tenants": namespace "shop" may not create internet-facing load balancers (allowed: edge)"#),
        "{note}"
    );
    let cond = &h.api.status_patches()[0].1["status"]["conditions"][0];
    assert_eq!(
        (cond["status"].as_str(), cond["reason"].as_str()),
        (Some("False"), Some("PolicyViolation"))
    );
    assert_eq!(
        error_policy(svc, &err, h.ctx.clone()),
        Action::requeue(USER_ERROR_REQUEUE)
    );
}

#[tokio::test]
async fn policy_defaults_reach_the_provider() {
    let h = policy_harness(&[lbp(
        "tenants",
        json!({"loadBalancerClasses": [""], "defaults": {"tags": {"team": "x"}}}),
    )]);
    reconcile(service(ours()), h.ctx.clone()).await.unwrap();
    let fe = h.provider.frontends.lock().unwrap()[0].clone();
    assert_eq!(
        fe.annotations["service.beta.kubernetes.io/aws-load-balancer-additional-resource-tags"],
        "team=x"
    );
}

#[tokio::test]
async fn policies_not_loaded_yet_hold_provisioning_back() {
    let h = harness(&["n1"]);
    let (store, writer) = reflector::store::<crate::policy::LoadBalancerPolicy>();
    std::mem::forget(writer);
    let mut ctx =
        context(&h.api, h.provider.clone(), h.ctx.nodes.clone()).with_policies(Some(store));
    ctx.policy_wait = Duration::from_millis(300);
    let ctx = Arc::new(ctx);
    let err = reconcile(service(ours()), ctx).await.unwrap_err();
    assert!(!err.is_user_error(), "retried with back-off: {err}");
    assert!(h.provider.calls().is_empty());
}

#[test]
fn status_only_changes_are_not_relevant_but_spec_metadata_and_deletion_are() {
    let base: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "n", "uid": "u1", "resourceVersion": "1",
                     "annotations": {"a": "1"}},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}
    }))
    .unwrap();
    let h = |s: &Service| relevant(s).unwrap();
    let mut status = base.clone();
    status.metadata.resource_version = Some("2".into());
    status.status =
        serde_json::from_value(json!({"loadBalancer": {"ingress": [{"hostname": "x"}]}})).unwrap();
    assert_eq!(
        h(&base),
        h(&status),
        "berth's own status write is filtered out"
    );
    let mut annotated = base.clone();
    annotated
        .metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert("a".into(), "2".into());
    assert_ne!(h(&base), h(&annotated));
    let mut finalized = base.clone();
    finalized.metadata.finalizers = Some(vec![FINALIZER.into()]);
    assert_ne!(
        h(&base),
        h(&finalized),
        "the finalizer helper relies on this event"
    );
    let mut spec = base.clone();
    spec.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].port = 81;
    assert_ne!(h(&base), h(&spec));
    let mut deleting = base.clone();
    deleting.metadata.deletion_timestamp =
        serde_json::from_value(json!("2026-11-27T00:00:00Z")).unwrap();
    assert_ne!(h(&base), h(&deleting));
}
