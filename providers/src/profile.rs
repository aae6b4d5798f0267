//! What the operator must know about a cloud without naming it: which Services and Ingresses
//! are this cloud's (classes, legacy annotations, IngressClass controllers), the finalizers the
//! incumbent controller uses (so clusters can migrate), how Ingresses group into load
//! balancers, the annotations a LoadBalancerPolicy's fields stand for, and the offline
//! translation `berth plan` runs without credentials. One [`Profile`] per cloud, in the cloud's
//! module; the operator holds a `&'static Profile` and never imports a cloud module itself.

use crate::error::Result;
use crate::frontend::Frontend;
use crate::ingress::{GroupDesired, IngressGroup};
use crate::plan::{Observed, Plan, Resource};
use std::collections::BTreeMap;

pub struct Profile {
    /// `aws`, `gcp` or `azure` (the `--cloud` value).
    pub cloud: &'static str,
    pub service: ServiceProfile,
    /// `None`: this cloud's berth serves no Ingresses yet.
    pub ingress: Option<IngressProfile>,
    /// `None`: LoadBalancerPolicies cannot be mapped onto this cloud's annotations yet, so an
    /// object a policy governs is refused (never served as if ungoverned).
    pub policy: Option<PolicyVocabulary>,
    /// The translation with default cloud facts (no discovery), then the plan; `None` when the
    /// cloud has no provider in this build yet.
    pub offline: Option<Offline>,
}

/// Which `type: LoadBalancer` Services are this cloud's.
pub struct ServiceProfile {
    /// The `spec.loadBalancerClass` values served by default (berth's own first).
    pub classes: &'static [&'static str],
    /// Annotations (any of the names) whose value (one of `legacy_values`) hands a Service
    /// without a class to this controller, as the incumbent controller reads them.
    pub legacy_annotations: &'static [&'static str],
    pub legacy_values: &'static [&'static str],
    /// The finalizer on a Service whose cloud resources exist.
    pub finalizer: &'static str,
}

/// Which Ingresses are this cloud's and how they share load balancers.
pub struct IngressProfile {
    /// berth's own IngressClass `spec.controller` (served by default).
    pub controller: &'static str,
    /// The incumbent controller's (served when asked: `berth run` on a migrating cluster;
    /// `berth plan` always).
    pub incumbent_controller: &'static str,
    /// `kubernetes.io/ingress.class` values served.
    pub legacy_classes: &'static [&'static str],
    pub grouping: Grouping,
    /// The finalizer on an Ingress that is its own group.
    pub finalizer: &'static str,
    /// Annotations with this prefix name backend Services too (ALB `actions.*`): a change of
    /// such a Service triggers the Ingress's group.
    pub backend_annotation_prefix: Option<&'static str>,
    /// The backends' pods are read (GCP: health checks follow their readiness probes): the
    /// controller watches Pods, keeping only labels, ports and readiness probes.
    pub reads_pods: bool,
}

/// How Ingresses share a load balancer.
#[derive(Clone, Copy)]
pub enum Grouping {
    /// Ingresses (of any namespace) that give the same valid name in `annotation` share one
    /// load balancer and carry the finalizer `finalizer_prefix` + name; the others are their
    /// own group. An invalid name is refused on the Ingress (it stays its own group).
    Annotation {
        annotation: &'static str,
        finalizer_prefix: &'static str,
        max_len: usize,
        valid: fn(&str) -> bool,
    },
    /// Every Ingress is its own load balancer (GCE).
    PerIngress,
}

/// The annotations a LoadBalancerPolicy's defaults and restrictions stand for.
pub struct PolicyVocabulary {
    pub service: Vocabulary,
    /// `None` when this cloud's berth serves no Ingresses.
    pub ingress: Option<Vocabulary>,
    /// Tag (label) key prefixes a policy may not set: berth's ownership keys, the cloud's own.
    pub reserved_tag_prefixes: &'static [&'static str],
}

/// The annotation names for one kind of object.
#[derive(Debug)]
pub struct Vocabulary {
    /// The object's kind, in messages.
    pub kind: &'static str,
    /// The annotation prefixes (the first is the canonical one, used for defaults); a name
    /// under one prefix is the same annotation under the others.
    pub prefixes: &'static [&'static str],
    /// The keys, without prefix.
    pub scheme: &'static str,
    /// The legacy "internal" flag (`"false"`: internet-facing), if the kind has one.
    pub internal: Option<&'static str>,
    pub subnets: &'static str,
    pub tags: &'static str,
    /// What `defaults.certificateArn` and `defaults.sslPolicy` stand for; `None` where the
    /// cloud has no such annotation (a policy that sets them is then refused, never ignored).
    pub certificate: Option<&'static str>,
    pub ssl_policy: Option<&'static str>,
}

/// A cloud's settings from configuration (`--gcp-project` is `project` for GCP), by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Settings(BTreeMap<String, String>);

impl Settings {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Settings(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_string(), value.into());
    }

    /// The value, if set and not blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }
}

/// `berth plan` without credentials: the cloud's pure translation on the configured settings
/// and default facts.
pub struct Offline {
    pub service: fn(&Frontend, &Settings) -> Result<Vec<Resource>>,
    pub group: Option<fn(&IngressGroup, &Settings) -> GroupDesired>,
    pub plan: fn(&[Resource], &Observed) -> Result<Plan>,
}

impl Profile {
    /// The profile of a cloud compiled into this build.
    pub fn of(cloud: &str) -> Option<&'static Profile> {
        compiled().iter().copied().find(|p| p.cloud == cloud)
    }
}

/// The clouds compiled into this build, in `--cloud` order (AWS first where present).
pub fn compiled() -> &'static [&'static Profile] {
    COMPILED
}

static COMPILED: &[&Profile] = &[
    #[cfg(feature = "aws")]
    &crate::aws::profile::PROFILE,
    #[cfg(feature = "gcp")]
    &crate::gcp::profile::PROFILE,
    #[cfg(feature = "azure")]
    &crate::azure::profile::PROFILE,
];

/// The default cloud of this build (the first compiled).
pub fn default_profile() -> &'static Profile {
    compiled()
        .first()
        .copied()
        .expect("berth is built with at least one cloud feature (aws, gcp, azure)")
}

#[cfg(not(any(feature = "aws", feature = "gcp", feature = "azure")))]
compile_error!("berth needs at least one cloud feature: aws, gcp or azure");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_compiled_profile_is_found_by_its_name_and_names_distinct_finalizers() {
        let all = compiled();
        assert!(!all.is_empty());
        for p in all {
            assert!(std::ptr::eq(Profile::of(p.cloud).unwrap(), *p));
            assert!(
                !p.service.classes.is_empty(),
                "{}: no default class",
                p.cloud
            );
            if let Some(i) = &p.ingress {
                assert_ne!(i.finalizer, p.service.finalizer, "{}", p.cloud);
                if let Grouping::Annotation {
                    finalizer_prefix, ..
                } = i.grouping
                {
                    assert!(finalizer_prefix.ends_with('/'), "{}", p.cloud);
                }
            }
        }
        assert!(Profile::of("nowhere").is_none());
        assert!(std::ptr::eq(default_profile(), all[0]));
    }
}
