//! AWS: Ingress group -> Application Load Balancer. annotations, rules and translate are pure;
//! the provider reuses the ELBv2 observe/apply edges of the NLB path (plus listener rules).

pub mod annotations;
pub mod rules;
pub mod translate;

use crate::aws::translate::AwsFacts;
use crate::ingress::{GroupDesired, IngressGroup};

/// The pure half of the pipeline for a group: members' annotations + Kubernetes facts + cloud
/// facts -> resources, and the members left out with why.
pub fn desired_group(group: &IngressGroup, facts: &AwsFacts) -> GroupDesired {
    translate::translate(group, facts)
}

/// The pure diff for an ALB (same kinds and order as the NLB's, plus listener rules).
pub fn plan(
    desired: &[crate::plan::Resource],
    observed: &crate::plan::Observed,
) -> crate::error::Result<crate::plan::Plan> {
    let desired = crate::aws::attributes::revert(desired, observed);
    crate::engine::diff::diff(&desired, observed, &crate::aws::kinds::KINDS)
        .map_err(|e| crate::aws::named(e, &desired))
}
