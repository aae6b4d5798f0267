//! Azure as the operator sees it: berth's own class and finalizer (the AKS cloud provider keeps
//! running and must not see its finalizer on objects berth serves). No Ingresses yet: an
//! Application Gateway is shared per IngressClass, a grouping the Azure issue adds.

use crate::profile::*;

pub static PROFILE: Profile = Profile {
    cloud: "azure",
    service: ServiceProfile {
        classes: &["berth.dev/azure-lb"],
        legacy_annotations: &[],
        legacy_values: &[],
        finalizer: "berth.dev/azure-load-balancer",
    },
    ingress: None,
    policy: None,
    offline: None,
};
