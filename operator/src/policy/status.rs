//! `status.governedObjects`: how many selected Services and Ingresses each policy governs. Computed from the
//! caches by a pure function and written by a small background task, only when it differs
//! (an unchanged count costs no API call).

use super::crd::{LoadBalancerPolicy, INGRESS_CLASS_PARAMETERS};
use super::evaluate::{governing, Governed, IngressSubject, Subject};
use crate::gather::ingress::{IngressSelection, DEFAULT_CLASS_ANNOTATION, LEGACY_CLASS_ANNOTATION};
use crate::gather::Selection;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
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

/// The policy decision's view of an Ingress. Its IngressClass name is the legacy
/// `kubernetes.io/ingress.class` value when set (e.g. `alb`), else `spec.ingressClassName`, else
/// the cluster's default IngressClass; `parameters` is the policy that IngressClass's
/// `spec.parameters` names (apiGroup `berth.dev`, kind `LoadBalancerPolicy`, scope Cluster or
/// unset). A legacy class has no IngressClass object, so no parameters.
pub fn ingress_subject<'a>(ing: &'a Ingress, classes: &'a [IngressClass]) -> IngressSubject<'a> {
    let namespace = ing.metadata.namespace.as_deref().unwrap_or("default");
    let legacy = ing
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(LEGACY_CLASS_ANNOTATION))
        .map(|v| v.trim());
    if let Some(class) = legacy {
        return IngressSubject {
            namespace,
            class: Some(class),
            parameters: None,
        };
    }
    let named = ing
        .spec
        .as_ref()
        .and_then(|s| s.ingress_class_name.as_deref());
    let class = match named {
        Some(n) => classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(n)),
        None => {
            let mut defaults: Vec<&IngressClass> = classes
                .iter()
                .filter(|c| {
                    c.metadata
                        .annotations
                        .as_ref()
                        .and_then(|a| a.get(DEFAULT_CLASS_ANNOTATION))
                        .is_some_and(|v| v == "true")
                })
                .collect();
            defaults.sort_by_key(|c| c.metadata.name.clone());
            defaults.first().copied()
        }
    };
    let parameters = class
        .and_then(|c| c.spec.as_ref())
        .and_then(|s| s.parameters.as_ref())
        .filter(|p| {
            p.api_group.as_deref() == Some(INGRESS_CLASS_PARAMETERS.0)
                && p.kind == INGRESS_CLASS_PARAMETERS.1
                && p.scope.as_deref().is_none_or(|s| s == "Cluster")
        })
        .map(|p| p.name.as_str());
    IngressSubject {
        namespace,
        class: named.or_else(|| class.and_then(|c| c.metadata.name.as_deref())),
        parameters,
    }
}

/// The Ingresses (and IngressClasses) whose governing policies are counted too.
#[derive(Clone, Copy)]
pub struct Ingresses<'a> {
    pub ingresses: &'a [&'a Ingress],
    pub classes: &'a [IngressClass],
    pub selection: &'a IngressSelection,
}

/// The caches behind [`Ingresses`], for the status task (when the Ingress controller runs).
#[derive(Clone)]
pub struct IngressCaches {
    pub ingresses: Store<Ingress>,
    pub classes: Store<IngressClass>,
    pub selection: IngressSelection,
}

/// Policy name -> the number of Services and Ingresses berth serves (and that are not being
/// deleted) that it governs. Every policy has an entry; an object under conflicting policies
/// counts for none.
pub fn governed_counts(
    policies: &[&LoadBalancerPolicy],
    services: &[&Service],
    selection: &Selection,
    ingresses: Option<Ingresses<'_>>,
) -> BTreeMap<String, i64> {
    let mut out: BTreeMap<String, i64> = policies
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .map(|n| (n, 0))
        .collect();
    fn count<S: Governed>(
        out: &mut BTreeMap<String, i64>,
        policies: &[&LoadBalancerPolicy],
        subject: S,
    ) {
        if let Ok(Some(p)) = governing(policies, subject) {
            if let Some(n) = p.metadata.name.as_ref().and_then(|n| out.get_mut(n)) {
                *n += 1;
            }
        }
    }
    for svc in services {
        if svc.metadata.deletion_timestamp.is_some() || !selection.selects(svc) {
            continue;
        }
        count(&mut out, policies, subject(svc));
    }
    for i in ingresses.iter() {
        for ing in i.ingresses {
            if ing.metadata.deletion_timestamp.is_some() || !i.selection.selects(ing, i.classes) {
                continue;
            }
            count(&mut out, policies, ingress_subject(ing, i.classes));
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
    ingresses: Option<Ingresses<'_>>,
    watch_namespace: Option<&str>,
) -> Vec<(String, serde_json::Value)> {
    let counts = governed_counts(policies, services, selection, ingresses);
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

/// Keeps `status.governedObjects` up to date, checking every `interval` once the caches are
/// synced. `ingresses`: the Ingress controller's caches, when it runs. Runs until aborted.
pub async fn maintain(
    client: kube::Client,
    policies: Store<LoadBalancerPolicy>,
    services: Store<Service>,
    selection: Selection,
    ingresses: Option<IngressCaches>,
    watch_namespace: Option<String>,
    interval: Duration,
) {
    let second = Duration::from_secs(1);
    while !(super::loaded(&policies, second).await
        && super::loaded(&services, second).await
        && match &ingresses {
            Some(i) => {
                super::loaded(&i.ingresses, second).await && super::loaded(&i.classes, second).await
            }
            None => true,
        })
    {}
    let api: Api<LoadBalancerPolicy> = Api::all(client);
    loop {
        let ps = policies.state();
        let ss = services.state();
        let p: Vec<&LoadBalancerPolicy> = ps.iter().map(|p| &**p).collect();
        let s: Vec<&Service> = ss.iter().map(|s| &**s).collect();
        let is = ingresses
            .as_ref()
            .map(|i| i.ingresses.state())
            .unwrap_or_default();
        let i: Vec<&Ingress> = is.iter().map(|i| &**i).collect();
        let cs: Vec<IngressClass> = ingresses
            .as_ref()
            .map(|i| i.classes.state().iter().map(|c| (**c).clone()).collect())
            .unwrap_or_default();
        let view = ingresses.as_ref().map(|c| Ingresses {
            ingresses: &i,
            classes: &cs,
            selection: &c.selection,
        });
        for (name, patch) in status_patches(&p, &s, &selection, view, watch_namespace.as_deref()) {
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
        let counts = governed_counts(&[&a, &b, &c], &s, &sel, None);
        assert_eq!(
            counts,
            BTreeMap::from([("a".into(), 2), ("b".into(), 1), ("c".into(), 0)])
        );
        assert_eq!(
            status_patches(&[&a, &b, &c], &s, &sel, None, None),
            vec![("b".to_string(), json!({"status": {"governedObjects": 1}}))]
        );
        // Watching one namespace: only the policy scoped to exactly it.
        assert!(maintained(&a, Some("shop")));
        assert!(!maintained(&b, Some("shop")));
        assert!(status_patches(&[&a, &b, &c], &s, &sel, None, Some("shop")).is_empty());
    }

    #[test]
    fn governed_ingresses_are_counted_too() {
        let a = policy(
            "a",
            json!({"ingressClasses": ["shared"], "namespaces": ["shop"]}),
            None,
        );
        let p = policy("p", json!({"ingressClasses": ["unused"]}), Some(1));
        let classes: Vec<IngressClass> = serde_json::from_value(json!([
            {"metadata": {"name": "shared"}, "spec": {"controller": "berth.dev/alb"}},
            {"metadata": {"name": "pointing"}, "spec": {"controller": "berth.dev/alb",
             "parameters": {"apiGroup": "berth.dev", "kind": "LoadBalancerPolicy", "name": "p"}}},
            {"metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}
        ]))
        .unwrap();
        let ing = |ns: &str, name: &str, class: &str| -> Ingress {
            serde_json::from_value(json!({
                "metadata": {"name": name, "namespace": ns},
                "spec": {"ingressClassName": class}
            }))
            .unwrap()
        };
        let ingresses = [
            ing("shop", "web", "shared"),
            ing("blog", "web", "shared"),   // a is scoped to shop
            ing("shop", "api", "pointing"), // p, via spec.parameters
            ing("shop", "other", "nginx"),  // not berth's
        ];
        let refs: Vec<&Ingress> = ingresses.iter().collect();
        let sel = IngressSelection::default();
        let view = Ingresses {
            ingresses: &refs,
            classes: &classes,
            selection: &sel,
        };
        let svc = svc("shop", "web", "LoadBalancer");
        assert_eq!(
            governed_counts(&[&a, &p], &[&svc], &Selection::default(), Some(view)),
            BTreeMap::from([("a".into(), 1), ("p".into(), 1)])
        );
        assert_eq!(
            status_patches(&[&a, &p], &[], &Selection::default(), Some(view), None),
            vec![("a".to_string(), json!({"status": {"governedObjects": 1}}))]
        );
    }
}
