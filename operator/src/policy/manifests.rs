//! LoadBalancerPolicies for `berth plan`: the manifests as `berth run` would see them under the
//! policies the manifests themselves contain — each governed Service's and Ingress's
//! annotations with its policy's defaults merged in, and the objects a policy refuses left out
//! with their violation (so the plan shows what `berth run` would do, errors included).

use super::evaluate::{evaluate, PolicyVocabulary};
use super::status::{ingress_subject, subject};
use super::LoadBalancerPolicy;
use crate::gather::ingress::IngressSelection;
use crate::gather::Selection;
use crate::manifests::Manifests;
use providers::ObjectRef;

/// The governed manifests, and the objects refused by a policy (with the error to print).
pub fn govern(
    manifests: &Manifests,
    services: &Selection,
    ingresses: Option<&IngressSelection>,
    vocabulary: Option<&PolicyVocabulary>,
) -> (Manifests, Vec<(ObjectRef, crate::Error)>) {
    let policies: Vec<&LoadBalancerPolicy> = manifests.policies.iter().collect();
    let mut out = manifests.clone();
    let mut refused = Vec::new();
    if policies.is_empty() {
        return (out, refused);
    }
    out.services.retain_mut(|svc| {
        if !services.selects(svc) {
            return true;
        }
        let own = svc.metadata.annotations.clone().unwrap_or_default();
        match evaluate(&policies, subject(svc), &own, vocabulary) {
            Ok(e) => {
                svc.metadata.annotations = Some(e.annotations);
                true
            }
            Err(v) => {
                refused.push((crate::gather::object_ref(svc), crate::Error::Policy(v)));
                false
            }
        }
    });
    if let Some(sel) = ingresses {
        let classes = &manifests.ingress_classes;
        out.ingresses.retain_mut(|ing| {
            if !sel.selects(ing, classes) {
                return true;
            }
            let own = ing.metadata.annotations.clone().unwrap_or_default();
            match evaluate(&policies, ingress_subject(ing, classes), &own, vocabulary) {
                Ok(e) => {
                    ing.metadata.annotations = Some(e.annotations);
                    true
                }
                Err(v) => {
                    let object = crate::gather::ingress::ingress_ref(ing);
                    refused.push((object, crate::Error::Policy(v)));
                    false
                }
            }
        });
    }
    (out, refused)
}
