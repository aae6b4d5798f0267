//! AWS: Service -> Network Load Balancer, Ingress group -> Application Load Balancer (ELBv2). annotations -> translate are pure; the
//! provider (discover, observe, apply) wraps the SDK calls.

pub mod alb;
pub mod annotation_values;
pub mod apply;
pub mod attributes;
pub mod client;
pub mod convert;
pub mod discover;
pub mod inventory;
pub mod kinds;
pub mod nlb;
pub mod observe;
pub mod operations;
pub mod profile;
pub mod provider;
pub mod tags;

pub use client::AwsProvider;
pub use kinds::{backend_rules, security_group};
pub use nlb::{annotations, translate};

use crate::error::Result;
use crate::frontend::Frontend;
use crate::plan::{Observed, Plan, Resource};

pub const KIND_LB: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
pub const KIND_TG: &str = "AWS::ElasticLoadBalancingV2::TargetGroup";
pub const KIND_LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
pub const KIND_RULE: &str = "AWS::ElasticLoadBalancingV2::ListenerRule";
/// An ALB's managed (frontend) security group.
pub const KIND_SG: &str = "AWS::EC2::SecurityGroup";

/// A rule berth adds to a target's security group (see [`backend_rules`]).
pub const KIND_SG_INGRESS: &str = "AWS::EC2::SecurityGroupIngress";

/// The pure half of the pipeline: annotations + Kubernetes facts + cloud facts -> resources.
pub fn desired(frontend: &Frontend, facts: &translate::AwsFacts) -> Result<Vec<Resource>> {
    let a = annotations::parse(frontend)?;
    translate::translate(frontend, &a, facts)
}

pub fn plan(desired: &[Resource], observed: &Observed) -> Result<Plan> {
    let desired =
        security_group::for_existing_nlbs(desired, observed).map_err(|e| named(e, desired))?;
    let desired = attributes::revert(&desired, observed);
    crate::engine::diff::diff(&desired, observed, &kinds::KINDS).map_err(|e| named(e, &desired))
}

/// Names the owner (from the stack tag of the desired resources) in a refusal the engine made.
pub(crate) fn named(e: crate::Error, desired: &[Resource]) -> crate::Error {
    let crate::Error::NeedsReplacement {
        object,
        kind,
        name,
        id,
        why,
    } = e
    else {
        return e;
    };
    let stack = |key: &str, what: &str| {
        desired
            .iter()
            .find_map(|r| convert::tag_value(r, key))
            .map(|v| format!("{what} {v}"))
    };
    let object = if object.is_empty() {
        stack(tags::STACK, "Service")
            .or_else(|| stack(tags::INGRESS_STACK, "Ingress group"))
            .unwrap_or_default()
    } else {
        object
    };
    crate::Error::NeedsReplacement {
        object,
        kind,
        name,
        id,
        why,
    }
}
