//! `status.governedObjects`: how many selected Services each policy governs. Computed from the
//! caches by a pure function and written by a small background task, only when it differs
//! (an unchanged count costs no API call).

use super::crd::LoadBalancerPolicy;
use super::evaluate::{governing, Subject};
use crate::gather::Selection;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::reflector::Store;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;
use tracing::{debug, warn};

/// The policy decision's view of a Service.
pub fn subject(svc: &Service) -> Subject<'_> {
    Subject {
        namespace: svc.metadata.namespace.as_deref().unwrap_or("default"),
        class: svc
            .spec
            .as_ref()
            .and_then(|s| s.load_balancer_class.as_deref()),
    }
}

/// Policy name -> the number of Services berth serves (and that are not being deleted) that it
/// governs. Every policy has an entry; a Service under conflicting policies counts for none.
pub fn governed_counts(
    policies: &[&LoadBalancerPolicy],
    services: &[&Service],
    selection: &Selection,
) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = policies
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .map(|n| (n, 0))
        .collect();
    for svc in services {
        if svc.metadata.deletion_timestamp.is_some() || !selection.selects(svc) {
            continue;
        }
        if let Ok(Some(p)) = governing(policies, subject(svc)) {
            if let Some(n) = p.metadata.name.as_ref().and_then(|n| out.get_mut(n)) {
                *n += 1;
            }
        }
    }
    out
}

/// Whether this berth keeps the policy's status: all policies when it watches every namespace;
/// with `--watch-namespace N`, only the policies scoped to exactly `[N]` (it cannot count the
/// Services of other namespaces, and must not overwrite another instance's count).
pub fn maintained(policy: &LoadBalancerPolicy, watch_namespace: Option<&str>) -> bool {
    match watch_namespace {
        None => true,
        Some(ns) => policy.spec.namespaces.as_deref() == Some(&[ns.to_string()][..]),
    }
}

/// The status patches to send: (policy name, merge patch) for every maintained policy whose
/// recorded count differs.
pub fn status_patches(
    policies: &[&LoadBalancerPolicy],
    services: &[&Service],
    selection: &Selection,
    watch_namespace: Option<&str>,
) -> Vec<(String, serde_json::Value)> {
    let counts = governed_counts(policies, services, selection);
    policies
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && maintained(p, watch_namespace))
        .filter_map(|p| {
            let name = p.metadata.name.clone()?;
            let want = *counts.get(&name)?;
            let have = p.status.as_ref().map(|s| s.governed_objects);
            (have != Some(want)).then(|| (name, json!({"status": {"governedObjects": want}})))
        })
        .collect()
}

/// Keeps `status.governedObjects` up to date, checking every `interval` once both caches are
/// synced. Runs until aborted.
pub async fn maintain(
    client: kube::Client,
    policies: Store<LoadBalancerPolicy>,
    services: Store<Service>,
    selection: Selection,
    watch_namespace: Option<String>,
    interval: Duration,
) {
    while !(super::loaded(&policies, Duration::from_secs(1)).await
        && super::loaded(&services, Duration::from_secs(1)).await)
    {}
    let api: Api<LoadBalancerPolicy> = Api::all(client);
    loop {
        let ps = policies.state();
        let ss = services.state();
        let p: Vec<&LoadBalancerPolicy> = ps.iter().map(|p| &**p).collect();
        let s: Vec<&Service> = ss.iter().map(|s| &**s).collect();
        for (name, patch) in status_patches(&p, &s, &selection, watch_namespace.as_deref()) {
            debug!(policy = %name, %patch, "updating LoadBalancerPolicy status");
            if let Err(e) = api
                .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
            {
                warn!(policy = %name, error = %e, "could not update the LoadBalancerPolicy status");
            }
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(name: &str, spec: serde_json::Value, governed: Option<i64>) -> LoadBalancerPolicy {
        let mut v = json!({"metadata": {"name": name}, "spec": spec});
        if let Some(n) = governed {
            v["status"] = json!({"governedObjects": n});
        }
        serde_json::from_value(v).unwrap()
    }

    fn svc(ns: &str, name: &str, typ: &str) -> Service {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": ns,
                         "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "external"}},
            "spec": {"type": typ}
        }))
        .unwrap()
    }

    #[test]
    fn counts_and_patches_only_what_changed() {
        let a = policy(
            "a",
            json!({"loadBalancerClasses": [""], "namespaces": ["shop"]}),
            Some(2),
        );
        let b = policy("b", json!({"loadBalancerClasses": [""]}), None);
        let c = policy("c", json!({"loadBalancerClasses": ["x/y"]}), Some(0));
        let services = [
            svc("shop", "web", "LoadBalancer"),
            svc("shop", "api", "LoadBalancer"),
            svc("blog", "web", "LoadBalancer"),
            svc("blog", "internal", "ClusterIP"),
        ];
        let s: Vec<&Service> = services.iter().collect();
        let sel = Selection::default();
        let counts = governed_counts(&[&a, &b, &c], &s, &sel);
        assert_eq!(
            counts,
            BTreeMap::from([("a".into(), 2), ("b".into(), 1), ("c".into(), 0)])
        );
        assert_eq!(
            status_patches(&[&a, &b, &c], &s, &sel, None),
            vec![("b".to_string(), json!({"status": {"governedObjects": 1}}))]
        );
        // Watching one namespace: only the policy scoped to exactly it.
        assert!(maintained(&a, Some("shop")));
        assert!(!maintained(&b, Some("shop")));
        assert!(status_patches(&[&a, &b, &c], &s, &sel, Some("shop")).is_empty());
    }
}
