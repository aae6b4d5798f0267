//! GCP as the operator sees it. berth's own classes and finalizers (not GKE's: GKE's
//! controllers keep running on a GKE cluster, and a shared finalizer would make them act on
//! berth's objects); the legacy `kubernetes.io/ingress.class` values are GKE's (`gce`,
//! `gce-internal`); every Ingress is its own load balancer, as with ingress-gce.

use crate::profile::*;

pub static PROFILE: Profile = Profile {
    cloud: "gcp",
    service: ServiceProfile {
        classes: &["berth.dev/gce-l4"],
        legacy_annotations: &[],
        legacy_values: &[],
        finalizer: "berth.dev/gcp-load-balancer",
    },
    ingress: Some(IngressProfile {
        controller: "berth.dev/gce",
        incumbent_controller: "k8s.io/ingress-gce",
        legacy_classes: &["gce", "gce-internal"],
        grouping: Grouping::PerIngress,
        finalizer: "berth.dev/gce-ingress",
        backend_annotation_prefix: None,
        reads_pods: true,
    }),
    policy: None,
    offline: Some(Offline {
        service: super::desired,
        group: Some(super::desired_group),
        plan: super::plan,
    }),
};
