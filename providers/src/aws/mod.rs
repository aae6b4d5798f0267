//! AWS: Service -> Network Load Balancer, Ingress group -> Application Load Balancer (ELBv2). annotations -> translate are pure; the
//! provider (discover, observe, apply) wraps the SDK calls.

pub mod alb;
pub mod annotations;
pub mod apply;
pub mod client;
pub mod discover;
pub mod observe;
pub mod operations;
pub mod provider;
pub mod tags;
pub mod translate;

pub use client::AwsProvider;

use crate::error::Result;
use crate::frontend::Frontend;
use crate::plan::{self, Observed, Plan, Resource};

pub const KIND_LB: &str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
pub const KIND_TG: &str = "AWS::ElasticLoadBalancingV2::TargetGroup";
pub const KIND_LISTENER: &str = "AWS::ElasticLoadBalancingV2::Listener";
pub const KIND_RULE: &str = "AWS::ElasticLoadBalancingV2::ListenerRule";

/// Creation order: a listener needs its load balancer and target group, a rule its listener.
pub const KIND_ORDER: [&str; 4] = [KIND_LB, KIND_TG, KIND_LISTENER, KIND_RULE];

/// The pure half of the pipeline: annotations + Kubernetes facts + cloud facts -> resources.
pub fn desired(frontend: &Frontend, facts: &translate::AwsFacts) -> Result<Vec<Resource>> {
    let a = annotations::parse(frontend)?;
    translate::translate(frontend, &a, facts)
}

pub fn plan(desired: &[Resource], observed: &Observed) -> Result<Plan> {
    plan::diff(desired, observed, &KIND_ORDER)
}
