//! The AWS resource kinds: one module per kind, each with its shape as observe reads it from the
//! SDK, its conversion to SDK requests, its describe calls and its create / update / delete;
//! and here, the kinds as the engine sees them: creation order, and which properties AWS
//! changes in place (any other change is refused by the plan, before a call). Properties
//! compare by their shape: `{Key, Value}` lists (tags, attributes) as subsets, other lists as
//! multisets.

/// One Describe call of a load balancer or target group by ARNs or names (at most 20), through
/// `AwsProvider::described_by`: `None` when one of them does not exist.
macro_rules! describe_by {
    ($self:ident, $by:ident, $keys:ident, $call:ident, $set_arns:ident, $op:ident, $not_found:literal, $items:ident) => {{
        let req = $self.elb.$call();
        let req = match $by {
            By::Arns => req.$set_arns(Some($keys)),
            By::Names => req.set_names(Some($keys)),
        };
        let send = || req.clone().send();
        $self
            .described_by(ops::$op, $not_found, send, |o| o.$items)
            .await
    }};
}

pub mod backend_rules;
pub mod listener;
pub mod listener_rule;
pub mod load_balancer;
pub mod security_group;
pub mod target_group;

// The kinds use each other's conversions (a listener's default actions are a rule's actions,
// every kind has tags) and the shared helpers.
pub(crate) use super::convert::*;
pub(crate) use listener::*;
pub(crate) use listener_rule::*;
pub(crate) use load_balancer::*;
pub(crate) use target_group::*;

use super::{KIND_LB, KIND_LISTENER, KIND_RULE, KIND_SG, KIND_SG_INGRESS, KIND_TG};
use crate::engine::{Compare, KindSpec, Kinds};
use std::sync::LazyLock;

/// A target group's health check: one ModifyTargetGroup changes all of it.
pub const HEALTH_CHECK: [&str; 9] = [
    "HealthCheckEnabled",
    "HealthCheckProtocol",
    "HealthCheckPort",
    "HealthCheckPath",
    "HealthCheckIntervalSeconds",
    "HealthCheckTimeoutSeconds",
    "HealthyThresholdCount",
    "UnhealthyThresholdCount",
    "Matcher",
];

/// Creation order: a load balancer needs its managed security group, a listener its load
/// balancer and target group, a rule its listener; the targets' rules reference the managed
/// group. Deletes run backward, so the targets' rules go first (a referenced group cannot be
/// deleted) and the security group after the load balancer that uses it.
pub static KINDS: LazyLock<Kinds> = LazyLock::new(|| {
    let mut tg = HEALTH_CHECK.to_vec();
    tg.extend(["TargetGroupAttributes", "Tags", "Targets"]);
    // Tags: observe reports only berth's (see `tags::berth_tags`), so they compare exactly and a
    // tag the annotation no longer lists is removed.
    let tagged = |k: KindSpec| k.compare("Tags", Compare::Multiset);
    Kinds::new(vec![
        tagged(KindSpec::new(KIND_SG).mutable(&["SecurityGroupIngress", "Tags"])),
        tagged(KindSpec::new(KIND_LB).mutable(&[
            "LoadBalancerAttributes",
            "Tags",
            "Subnets",
            "IpAddressType",
            "SecurityGroups",
        ])),
        tagged(KindSpec::new(KIND_TG).mutable(&tg)),
        tagged(KindSpec::new(KIND_LISTENER).parent(KIND_LB).mutable(&[
            "Port",
            "Protocol",
            "Certificates",
            "SslPolicy",
            "AlpnPolicy",
            "DefaultActions",
            "Tags",
        ])),
        tagged(KindSpec::new(KIND_RULE).parent(KIND_LISTENER).mutable(&[
            "Priority",
            "Conditions",
            "Actions",
            "Tags",
        ])),
        // A rule in a security group that is not berth's: only berth's own rules are observed.
        KindSpec::new(KIND_SG_INGRESS).mutable(&["Description"]),
    ])
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{Observed, ObservedResource, Resource};
    use serde_json::json;

    #[test]
    fn immutable_aws_properties_are_refused_by_the_plan() {
        let tg = |port: u16, targets: &[&str]| Resource {
            kind: KIND_TG.into(),
            name: "tg".into(),
            properties: json!({"Port": port, "Targets": targets})
                .as_object()
                .unwrap()
                .clone(),
        };
        let observed = Observed {
            resources: vec![ObservedResource {
                id: "arn:tg".into(),
                resource: tg(30080, &["i-1"]),
                outputs: Default::default(),
            }],
            ..Default::default()
        };
        let e = super::super::plan(&[tg(30081, &["i-1"])], &observed).unwrap_err();
        assert!(e.to_string().contains("Port cannot be changed"), "{e}");
        let p = super::super::plan(&[tg(30080, &["i-2"])], &observed).unwrap();
        assert_eq!(p.changes[0].changed, ["Targets"]);
    }
}
