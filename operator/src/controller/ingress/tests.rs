//! Group reconciler tests with a scripted fake Provider and the fake Kubernetes API of
//! `controller::test_support` (a tower service that records every request and answers it).

use super::*;
use crate::controller::test_support::{context, merge_patch, FakeApi, FakeProvider};
use serde_json::{json, Value};

// The aws-load-balancer-controller's names, which the AWS profile must keep (migration).
const CONTROLLER_BERTH: &str = "berth.dev/alb";
const CONTROLLER_AWS: &str = "ingress.k8s.aws/alb";
const GROUP_NAME_ANNOTATION: &str = "alb.ingress.kubernetes.io/group.name";
const FINALIZER_IMPLICIT: &str = "ingress.k8s.aws/resources";

fn aws() -> &'static providers::profile::IngressProfile {
    providers::aws::profile::PROFILE.ingress.as_ref().unwrap()
}

const HOST: &str = "grp-1.elb.us-east-1.amazonaws.com";

struct Harness {
    api: FakeApi,
    provider: Arc<FakeProvider>,
    ctx: IngressContext,
    ingress_writer: reflector::store::Writer<Ingress>,
}

fn harness() -> Harness {
    harness_with(None)
}

/// A harness whose context applies these LoadBalancerPolicies.
fn harness_with(policies: Option<Vec<crate::policy::LoadBalancerPolicy>>) -> Harness {
    let store = policies.map(|ps| {
        let (store, mut w) = reflector::store::<crate::policy::LoadBalancerPolicy>();
        w.apply_watcher_event(&watcher::Event::Init);
        for p in ps {
            w.apply_watcher_event(&watcher::Event::InitApply(p));
        }
        w.apply_watcher_event(&watcher::Event::InitDone);
        std::mem::forget(w);
        store
    });
    let api = FakeApi::default();
    let provider = Arc::new(FakeProvider::answering("Grp-1.ELB.us-east-1.amazonaws.com"));
    let caches = IngressCaches::new(false, false);
    let (node_store, _w) = reflector::store::<Node>();
    let base = Arc::new(context(&api, provider.clone(), node_store).with_policies(store));
    let ctx = caches.context(base, IngressSelection::default());
    let IngressCaches {
        ingress_writer,
        mut class_writer,
        ..
    } = caches;
    class_writer.apply_watcher_event(&watcher::Event::Apply(class("berth", CONTROLLER_BERTH)));
    class_writer.apply_watcher_event(&watcher::Event::Apply(class("aws", CONTROLLER_AWS)));
    std::mem::forget(class_writer);
    Harness {
        api,
        provider,
        ctx,
        ingress_writer,
    }
}

impl Harness {
    fn put(&mut self, ing: &Ingress) {
        self.ingress_writer
            .apply_watcher_event(&watcher::Event::Apply(ing.clone()));
    }

    fn remove(&mut self, ing: &Ingress) {
        self.ingress_writer
            .apply_watcher_event(&watcher::Event::Delete(ing.clone()));
    }

    async fn reconcile(&self, g: &GroupKey) -> Outcome {
        reconcile_group(g, &self.ctx).await.expect("reconcile")
    }
}

fn class(name: &str, controller: &str) -> IngressClass {
    serde_json::from_value(json!({"metadata": {"name": name}, "spec": {"controller": controller}}))
        .unwrap()
}

/// An Ingress of class `berth` in group `g` (unless `extra` says otherwise).
fn ing(ns: &str, name: &str, extra: Value) -> Ingress {
    let mut base = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
        "metadata": {"name": name, "namespace": ns, "uid": format!("uid-{ns}-{name}"), "resourceVersion": "1", "generation": 1,
                     "annotations": {GROUP_NAME_ANNOTATION: "g"}},
        "spec": {"ingressClassName": "berth", "rules": [{"http": {"paths": [{"path": format!("/{name}"), "pathType": "Prefix",
                  "backend": {"service": {"name": format!("svc-{name}"), "port": {"number": 80}}}}]}}]},
    });
    merge_patch(&mut base, extra);
    serde_json::from_value(base).unwrap()
}

/// The object as the API server would have it after berth's writes (finalizers, status,
/// annotation), so that a second pass starts from the written state.
fn written(h: &Harness, i: &Ingress) -> Ingress {
    let mut v = serde_json::to_value(i).unwrap();
    let name = i.name_any();
    for (n, body) in h
        .api
        .object_patches()
        .into_iter()
        .chain(h.api.status_patches())
    {
        if n == name {
            let mut body = body;
            if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("resourceVersion");
            }
            merge_patch(&mut v, body);
        }
    }
    serde_json::from_value(v).unwrap()
}

fn g() -> GroupKey {
    GroupKey::Explicit("g".into())
}

const GF: &str = "group.ingress.k8s.aws/g";

#[tokio::test]
async fn a_rejected_member_is_isolated_and_the_rest_converge() {
    let mut h = harness();
    let a = ing("ns1", "a", json!({}));
    let b = ing(
        "ns2",
        "b",
        json!({"metadata": {"annotations": {"test/reject": "x"}, "finalizers": [GF]},
                                    "status": {"loadBalancer": {"ingress": [{"hostname": HOST}]}}}),
    );
    let c = ing("ns1", "c", json!({}));
    for i in [&a, &b, &c] {
        h.put(i);
    }
    let out = h.reconcile(&g()).await;
    assert_eq!(out.accepted, ["ns1/a", "ns1/c"]);
    assert_eq!(out.rejected, ["ns2/b"]);
    assert_eq!(out.address.as_deref(), Some(HOST));
    // The provider saw all three (sorted), the cloud serves only a and c.
    assert_eq!(
        h.provider.calls()[0],
        "desired_group IngressGroup g [ns1/a,ns1/c,ns2/b]"
    );
    assert_eq!(
        h.provider.cloud_names(),
        ["alb", "rule-a", "rule-c", "tg-a", "tg-c"]
    );
    // Finalizers: on before the cloud writes for a and c; b's goes (its rules are gone).
    assert_eq!(
        h.api.finalizer_patches(),
        [
            ("a".to_string(), json!([GF])),
            ("c".to_string(), json!([GF])),
            ("b".to_string(), json!([]))
        ]
    );
    // Status: a and c get the hostname, b's is cleared.
    let st = h.api.status_patches();
    assert_eq!(st.len(), 3, "{st:?}");
    assert_eq!(
        st[0].1["status"]["loadBalancer"]["ingress"][0]["hostname"],
        HOST
    );
    assert_eq!(
        st[2],
        (
            "b".into(),
            json!({"status": {"loadBalancer": {"ingress": null}}})
        )
    );
    // Events: Normal on the served ones, a Warning naming the reason on b.
    let ev = h.api.events();
    assert!(ev.contains(&"Normal Ensured a".to_string()), "{ev:?}");
    assert!(ev.contains(&"Normal Ensured c".to_string()), "{ev:?}");
    assert!(
        ev.contains(&"Warning InvalidAnnotation b".to_string()),
        "{ev:?}"
    );
    assert!(!ev
        .iter()
        .any(|e| e.starts_with("Warning") && !e.ends_with(" b")));
    // b's condition says why.
    let b2 = written(&h, &b);
    let cond = Condition::of(&b2).expect("condition on b");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "InvalidAnnotation")
    );
    assert!(cond.message.contains("test/reject"), "{}", cond.message);
    assert!(b2.finalizers().is_empty());
    let a2 = written(&h, &a);
    assert_eq!(Condition::of(&a2).unwrap().status, "True");

    // A second pass over the written state writes nothing to Kubernetes and nothing to the
    // cloud; no Event repeats.
    let (a2, b2, c2) = (a2, b2, written(&h, &c));
    for i in [&a2, &b2, &c2] {
        h.put(i);
    }
    h.api.clear();
    h.reconcile(&g()).await;
    assert!(h.api.calls().is_empty(), "{:?}", h.api.calls());

    // Fixing b makes it join.
    let mut b3 = b2.clone();
    b3.metadata
        .annotations
        .as_mut()
        .unwrap()
        .remove("test/reject");
    h.put(&b3);
    let out = h.reconcile(&g()).await;
    assert_eq!(out.accepted, ["ns1/a", "ns1/c", "ns2/b"]);
    assert!(h.provider.cloud_names().contains(&"rule-b".to_string()));
    assert_eq!(h.api.finalizer_patches(), [("b".to_string(), json!([GF]))]);
    let b4 = written(&h, &b3);
    assert_eq!(Condition::of(&b4).unwrap().status, "True");
    assert_eq!(
        b4.status.unwrap().load_balancer.unwrap().ingress.unwrap()[0]
            .hostname
            .as_deref(),
        Some(HOST)
    );
    assert!(h.api.events().contains(&"Normal Ensured b".to_string()));
}

#[tokio::test]
async fn deleting_one_member_removes_only_its_resources_then_its_finalizer() {
    let mut h = harness();
    let a = ing("ns1", "a", json!({}));
    let b = ing("ns1", "b", json!({}));
    h.put(&a);
    h.put(&b);
    h.reconcile(&g()).await;
    let (a, b) = (written(&h, &a), written(&h, &b));
    assert_eq!(
        h.provider.cloud_names(),
        ["alb", "rule-a", "rule-b", "tg-a", "tg-b"]
    );

    // a is deleted: the API server keeps it (finalizer) with a deletionTimestamp.
    let mut a_del = a.clone();
    a_del.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_second(1_700_000_000).unwrap(),
    ));
    h.put(&a_del);
    h.put(&b);
    h.api.clear();
    let out = h.reconcile(&g()).await;
    assert_eq!(out.accepted, ["ns1/b"]);
    assert_eq!(out.released, ["ns1/a"]);
    assert_eq!(h.provider.cloud_names(), ["alb", "rule-b", "tg-b"]);
    assert_eq!(h.api.finalizer_patches(), [("a".to_string(), json!([]))]);
    // b's status is unchanged: no write; a is not written to (it is going away).
    assert!(h.api.status_patches().is_empty());
    let log = h.provider.calls();
    assert!(
        log.iter()
            .any(|c| c == "desired_group IngressGroup g [ns1/b]"),
        "{log:?}"
    );

    // Then the last member goes: no translation, everything is deleted, then the finalizer.
    h.remove(&a_del);
    let mut b_del = b.clone();
    b_del.metadata.deletion_timestamp = a_del.metadata.deletion_timestamp.clone();
    h.put(&b_del);
    h.api.clear();
    let before = h.provider.calls().len();
    let out = h.reconcile(&g()).await;
    assert!(out.accepted.is_empty());
    assert_eq!(out.released, ["ns1/b"]);
    assert_eq!(out.address, None);
    assert!(h.provider.cloud_names().is_empty());
    let log = h.provider.calls()[before..].to_vec();
    assert_eq!(
        log,
        ["observe IngressGroup g c1 desired=0", "plan", "apply 3"]
    );
    assert_eq!(h.api.finalizer_patches(), [("b".to_string(), json!([]))]);
}

#[tokio::test]
async fn the_finalizer_stays_when_the_cloud_fails() {
    let mut h = harness();
    let a = ing(
        "ns1",
        "a",
        json!({"metadata": {"finalizers": [GF], "deletionTimestamp": "2024-01-01T00:00:00Z"}}),
    );
    h.put(&a);
    *h.provider.fail_apply.lock().unwrap() = Some(providers::Error::cloud(
        "DeleteLoadBalancer",
        "throttled",
        true,
    ));
    let err = reconcile_group(&g(), &h.ctx).await.unwrap_err();
    assert_eq!(err.reason(), "CloudAPIError");
    assert!(h.api.finalizer_patches().is_empty());
}

#[tokio::test]
async fn an_implicit_group_uses_the_resources_finalizer_and_its_own_owner() {
    let mut h = harness();
    let a = ing(
        "ns1",
        "solo",
        json!({"metadata": {"annotations": {GROUP_NAME_ANNOTATION: null}}}),
    );
    h.put(&a);
    let gk = GroupKey::Implicit {
        namespace: "ns1".into(),
        name: "solo".into(),
    };
    assert_eq!(group_of(&a, aws()).0, gk);
    h.reconcile(&gk).await;
    assert_eq!(
        h.provider.calls()[0],
        "desired_group IngressGroup ns1/solo [ns1/solo]"
    );
    assert_eq!(
        h.api.finalizer_patches(),
        [("solo".to_string(), json!([FINALIZER_IMPLICIT]))]
    );
}

#[tokio::test]
async fn an_invalid_group_name_is_reported_and_touches_no_cloud() {
    let mut h = harness();
    let a = ing(
        "ns1",
        "bad",
        json!({"metadata": {"annotations": {GROUP_NAME_ANNOTATION: "Not_Valid"}}}),
    );
    h.put(&a);
    let (gk, err) = group_of(&a, aws());
    assert!(err.is_some());
    let out = h.reconcile(&gk).await;
    assert_eq!(out.rejected, ["ns1/bad"]);
    assert!(h.provider.calls().is_empty(), "{:?}", h.provider.calls());
    assert_eq!(h.api.events(), ["Warning InvalidAnnotation bad"]);
}

#[tokio::test]
async fn a_member_that_moves_or_is_deselected_is_released_by_its_old_group() {
    let mut h = harness();
    let a = ing("ns1", "a", json!({}));
    let b = ing("ns1", "b", json!({}));
    h.put(&a);
    h.put(&b);
    h.reconcile(&g()).await;
    let (a, b) = (written(&h, &a), written(&h, &b));

    // a moves to group h2; b switches to a class berth does not serve.
    let mut a2 = a.clone();
    a2.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(GROUP_NAME_ANNOTATION.into(), "h2".into());
    let mut b2 = b.clone();
    b2.spec.as_mut().unwrap().ingress_class_name = Some("nginx".into());
    h.put(&a2);
    h.put(&b2);
    let sel = IngressSelection::default();
    let classes = h.ctx.class_list();
    assert_eq!(
        groups_of(&a2, &sel, &classes)
            .into_iter()
            .collect::<Vec<_>>(),
        [g(), GroupKey::Explicit("h2".into())]
    );
    assert_eq!(
        groups_of(&b2, &sel, &classes)
            .into_iter()
            .collect::<Vec<_>>(),
        [g()]
    );
    h.api.clear();
    let out = h.reconcile(&g()).await;
    assert!(out.accepted.is_empty());
    assert_eq!(out.released, ["ns1/a", "ns1/b"]);
    assert!(h.provider.cloud_names().is_empty());
    // b no longer served: status and condition cleared; a's status is left to its new group.
    let st = h.api.status_patches();
    assert_eq!(
        st,
        [(
            "b".to_string(),
            json!({"status": {"loadBalancer": {"ingress": null}}})
        )]
    );
    assert!(h.api.object_patches().iter().any(|(n, p)| n == "b"
        && p["metadata"]["annotations"][STATUS_ANNOTATION].is_null()
        && p["metadata"]["annotations"]
            .get(STATUS_ANNOTATION)
            .is_some()));
}

#[test]
fn group_names_and_finalizers() {
    let named = |n: &str| {
        ing(
            "ns",
            "i",
            json!({"metadata": {"annotations": {GROUP_NAME_ANNOTATION: n}}}),
        )
    };
    assert_eq!(
        group_of(&named("shop.prod-1"), aws()).0,
        GroupKey::Explicit("shop.prod-1".into())
    );
    for bad in ["", "Shop", "-x", "x-", "a_b", &"x".repeat(64)] {
        let (k, e) = group_of(&named(bad), aws());
        assert!(e.is_some(), "{bad:?}");
        assert_eq!(
            k,
            GroupKey::Implicit {
                namespace: "ns".into(),
                name: "i".into()
            }
        );
    }
    assert_eq!(GroupKey::Explicit("g".into()).finalizer(aws()), GF);
    let held = ing(
        "ns",
        "i",
        json!({"metadata": {"finalizers": [GF, FINALIZER_IMPLICIT, "other/x"]}}),
    );
    assert_eq!(
        GroupKey::from_finalizers(&held, aws()),
        [
            g(),
            GroupKey::Implicit {
                namespace: "ns".into(),
                name: "i".into()
            }
        ]
    );
    // Queue keys: an explicit group has no namespace, an implicit one does.
    assert_eq!(g().to_ref().namespace, None);
    let imp = GroupKey::Implicit {
        namespace: "ns".into(),
        name: "i".into(),
    };
    assert_eq!(GroupKey::of(&IngressGroupRef::new(&imp)), imp);
    assert_eq!(GroupKey::of(&IngressGroupRef::new(&g())), g());
}

#[test]
fn services_are_found_in_backends_and_actions() {
    let i = ing(
        "ns",
        "i",
        json!({"metadata": {"annotations": {"alb.ingress.kubernetes.io/actions.blue-green":
            r#"{"type":"forward","forwardConfig":{"targetGroups":[{"serviceName":"green","servicePort":80}]}}"#}},
            "spec": {"defaultBackend": {"service": {"name": "dflt", "port": {"number": 80}}}}}),
    );
    assert!(references_service(&i, aws(), "ns", "svc-i"));
    assert!(references_service(&i, aws(), "ns", "dflt"));
    assert!(references_service(&i, aws(), "ns", "green"));
    assert!(!references_service(&i, aws(), "ns", "gree"));
    assert!(!references_service(&i, aws(), "other", "svc-i"));
}

#[test]
fn the_group_index_maps_ingress_events_to_groups() {
    let (store, writer) = reflector::store::<IngressGroupRef>();
    let mut ix = GroupIndex::new(writer);
    let classes = vec![class("berth", CONTROLLER_BERTH)];
    let sel = IngressSelection::default();
    let a = ing("n", "a", json!({}));
    let solo = ing(
        "n",
        "solo",
        json!({"metadata": {"annotations": {GROUP_NAME_ANNOTATION: null}}}),
    );
    let mut ev = |e: watcher::Event<Ingress>| {
        let mut v = ix.on_event(&e, &sel, &classes);
        v.sort();
        v
    };
    assert!(ev(watcher::Event::Init).is_empty());
    assert!(ev(watcher::Event::InitApply(a.clone())).is_empty());
    let solo_key = GroupKey::Implicit {
        namespace: "n".into(),
        name: "solo".into(),
    };
    // The first list reconciles every group, and the groups' cache is ready.
    assert_eq!(ev(watcher::Event::InitApply(solo.clone())), []);
    assert_eq!(ev(watcher::Event::InitDone), [g(), solo_key.clone()]);
    assert_eq!(store.state().len(), 2);
    // Only berth's own writes (finalizer, status annotation, status): nothing.
    let a_own = ing(
        "n",
        "a",
        json!({"metadata": {"finalizers": [GF], "annotations": {STATUS_ANNOTATION: "{}"}},
                                      "status": {"loadBalancer": {"ingress": [{"hostname": HOST}]}}}),
    );
    assert_eq!(ev(watcher::Event::Apply(a_own.clone())), []);
    // A spec change: its group.
    let a_spec = ing(
        "n",
        "a",
        json!({"metadata": {"finalizers": [GF]}, "spec": {"rules": []}}),
    );
    assert_eq!(ev(watcher::Event::Apply(a_spec.clone())), [g()]);
    // Moving to h2: both groups (the old one through the finalizer).
    let a_moved = ing(
        "n",
        "a",
        json!({"metadata": {"finalizers": [GF], "annotations": {GROUP_NAME_ANNOTATION: "h2"}}, "spec": {"rules": []}}),
    );
    let h2 = GroupKey::Explicit("h2".into());
    assert_eq!(
        ev(watcher::Event::Apply(a_moved.clone())),
        [g(), h2.clone()]
    );
    // Its old group released it (finalizer gone): g leaves the cache, h2 is not re-triggered.
    let a_released = ing(
        "n",
        "a",
        json!({"metadata": {"annotations": {GROUP_NAME_ANNOTATION: "h2"}}, "spec": {"rules": []}}),
    );
    assert_eq!(ev(watcher::Event::Apply(a_released.clone())), [g()]);
    assert!(store.get(&g().to_ref()).is_none());
    assert!(store.get(&h2.to_ref()).is_some());
    // Gone: its groups, and they leave the cache.
    assert_eq!(
        ev(watcher::Event::Delete(a_released)),
        std::slice::from_ref(&h2)
    );
    assert!(store.get(&h2.to_ref()).is_none());
    assert!(store.get(&solo_key.to_ref()).is_some());
}

#[test]
fn status_and_condition_patches_are_idempotent() {
    let a = ing(
        "n",
        "a",
        json!({"status": {"loadBalancer": {"ingress": [{"hostname": HOST}]}}}),
    );
    assert_eq!(
        status_patch(&a, &LbStatus::Set(Address::Hostname(HOST.to_uppercase()))),
        None
    );
    assert_eq!(status_patch(&a, &LbStatus::Keep), None);
    assert_eq!(
        status_patch(&a, &LbStatus::Clear),
        Some(json!({"status": {"loadBalancer": {"ingress": null}}}))
    );
    let fresh = ing("n", "a", json!({}));
    assert_eq!(status_patch(&fresh, &LbStatus::Clear), None);
    assert_eq!(
        status_patch(
            &fresh,
            &LbStatus::Set(Address::Hostname("X.example".into()))
        ),
        Some(json!({"status": {"loadBalancer": {"ingress": [{"hostname": "x.example"}]}}}))
    );
    let c = Condition::new(&fresh, false, "InvalidAnnotation", "bad");
    let p = condition_patch(&fresh, Some(&c)).unwrap();
    let v = p["metadata"]["annotations"][STATUS_ANNOTATION]
        .as_str()
        .unwrap();
    let parsed: Value = serde_json::from_str(v).unwrap();
    assert_eq!(parsed["type"], report::CONDITION_TYPE);
    assert_eq!(parsed["status"], "False");
    assert_eq!(parsed["observedGeneration"], 1);
    let mut with = fresh.clone();
    with.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert(STATUS_ANNOTATION.into(), v.to_string());
    assert_eq!(condition_patch(&with, Some(&c)), None);
    assert_eq!(condition_patch(&fresh, None), None);
    assert!(condition_patch(&with, None).is_some());
}

#[tokio::test]
async fn when_every_member_is_rejected_the_cloud_is_left_alone() {
    let mut h = harness();
    let a = ing("ns1", "a", json!({}));
    h.put(&a);
    h.reconcile(&g()).await;
    let a = written(&h, &a);
    let mut bad = a.clone();
    bad.metadata
        .annotations
        .as_mut()
        .unwrap()
        .insert("test/reject".into(), "x".into());
    h.put(&bad);
    h.api.clear();
    let before = h.provider.calls().len();
    let out = h.reconcile(&g()).await;
    assert_eq!(out.rejected, ["ns1/a"]);
    // Translated, but neither observed nor applied; the finalizer and the address stay.
    assert_eq!(h.provider.calls()[before..].len(), 1);
    assert_eq!(h.provider.cloud_names(), ["alb", "rule-a", "tg-a"]);
    assert!(h.api.finalizer_patches().is_empty());
    assert!(h.api.status_patches().is_empty());
    assert_eq!(h.api.events(), ["Warning InvalidAnnotation a"]);
}

/// A member its LoadBalancerPolicy forbids is rejected before the provider sees it (Warning
/// PolicyViolation, False condition, hostname cleared), the rest of the group converges with
/// the policy's defaults merged into their annotations.
#[tokio::test]
async fn a_member_its_policy_forbids_is_rejected_and_the_rest_converge() {
    let policy: crate::policy::LoadBalancerPolicy = serde_json::from_value(json!({
        "apiVersion": "berth.dev/v1alpha1", "kind": "LoadBalancerPolicy",
        "metadata": {"name": "tenants", "generation": 1},
        "spec": {"ingressClasses": ["berth"], "namespaces": ["ns1", "ns2"],
                 "defaults": {"tags": {"team": "platform"}},
                 "restrictions": {"internetFacingNamespaces": ["ns1"]}}
    }))
    .unwrap();
    let mut h = harness_with(Some(vec![policy]));
    let a = ing(
        "ns1",
        "a",
        json!({"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}}}),
    );
    let b = ing(
        "ns2",
        "b",
        json!({"metadata": {"annotations": {"alb.ingress.kubernetes.io/scheme": "internet-facing"}},
               "status": {"loadBalancer": {"ingress": [{"hostname": HOST}]}}}),
    );
    let c = ing("ns2", "c", json!({}));
    for i in [&a, &b, &c] {
        h.put(i);
    }
    let out = h.reconcile(&g()).await;
    assert_eq!(out.accepted, ["ns1/a", "ns2/c"]);
    assert_eq!(out.rejected, ["ns2/b"]);
    assert_eq!(out.address.as_deref(), Some(HOST));
    // The provider never saw b; it saw a and c with the policy's default tag.
    let first = &h.provider.calls()[0];
    assert!(
        first.starts_with("desired_group ") && first.ends_with(" [ns1/a,ns2/c]"),
        "{first}"
    );
    let seen = h.provider.members();
    assert_eq!(
        seen.iter().map(|(_, t)| t.as_deref()).collect::<Vec<_>>(),
        [Some("team=platform"), Some("team=platform")],
        "{seen:?}"
    );
    assert_eq!(
        h.provider.cloud_names(),
        ["alb", "rule-a", "rule-c", "tg-a", "tg-c"]
    );
    // b: Warning PolicyViolation, False condition naming the policy, hostname cleared; no
    // finalizer; and nothing berth writes carries the policy's defaults.
    let ev = h.api.events();
    assert!(
        ev.contains(&"Warning PolicyViolation b".to_string()),
        "{ev:?}"
    );
    let b2 = written(&h, &b);
    let cond = Condition::of(&b2).expect("condition on b");
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", "PolicyViolation")
    );
    assert!(
        cond.message.contains(r#"LoadBalancerPolicy "tenants""#),
        "{}",
        cond.message
    );
    assert!(cond.message.contains("internet-facing"), "{}", cond.message);
    assert!(b2
        .status
        .clone()
        .and_then(|s| s.load_balancer)
        .and_then(|l| l.ingress)
        .is_none());
    assert!(b2.finalizers().is_empty());
    assert!(!h.api.finalizer_patches().iter().any(|(n, _)| n == "b"));
    let a2 = written(&h, &a);
    assert_eq!(Condition::of(&a2).unwrap().status, "True");
    assert!(!a2
        .annotations()
        .contains_key("alb.ingress.kubernetes.io/tags"));
}

/// Before the policies are loaded, nothing is provisioned (fails closed, retryable).
#[tokio::test]
async fn an_ingress_waits_for_the_policies() {
    let (store, _w) = reflector::store::<crate::policy::LoadBalancerPolicy>();
    let mut h = harness();
    let mut base = context(&h.api, h.provider.clone(), reflector::store::<Node>().0)
        .with_policies(Some(store));
    base.policy_wait = Duration::from_millis(50);
    h.ctx.base = Arc::new(base);
    h.put(&ing("ns1", "a", json!({})));
    let err = reconcile_group(&g(), &h.ctx).await.unwrap_err();
    assert!(err.to_string().contains("not loaded"), "{err}");
    assert!(h.provider.calls().is_empty());
}

#[test]
fn provider_annotations_are_patched_only_where_they_differ() {
    let ing: Ingress = serde_json::from_value(json!({
        "metadata": {"name": "a", "namespace": "shop", "annotations": {
            "ingress.kubernetes.io/url-map": "berth-um-x", "other": "kept"}}
    }))
    .unwrap();
    let want: std::collections::BTreeMap<String, String> = [
        ("ingress.kubernetes.io/url-map", "berth-um-x"),
        ("ingress.kubernetes.io/forwarding-rule", "berth-fr-x"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(
        annotations_patch(&ing, &want),
        Some(
            json!({"metadata": {"annotations": {"ingress.kubernetes.io/forwarding-rule": "berth-fr-x"}}})
        )
    );
    assert_eq!(annotations_patch(&ing, &Default::default()), None);
}
