//! Removing an attribute annotation reverts its effect. AWS keeps every attribute at some value,
//! so "removed" means "back to AWS's default": the tag [`ATTRIBUTES_MARK`] names (6-hex hashes
//! of the keys) the load-balancer or target-group attributes berth set; when a marked key is no
//! longer desired, the plan sets it back to its default ([`default_of`]), and the mark follows
//! the desired keys. Keys whose default depends on more than the kind (for example
//! `preserve_client_ip.enabled`, by target type and protocol) have no entry and keep their last
//! value — listed in the README.

use super::alb::annotations::{ALB_LB_ATTRIBUTES, ALB_TG_ATTRIBUTES};
use super::annotations::{NLB_LB_ATTRIBUTES, NLB_TG_ATTRIBUTES};
use super::{tags, KIND_LB, KIND_TG};
use crate::plan::{Observed, Resource};
use serde_json::{json, Value};

/// The tag naming the attribute keys berth set on a load balancer or target group.
pub const ATTRIBUTES_MARK: &str = "berth.dev/attributes";

fn key_mark(key: &str) -> String {
    crate::naming::hash_hex(&["attribute", key], 6)
}

/// Which attributes a resource takes: (its property, the keys it accepts, its defaults).
fn vocabulary(r: &Resource) -> Option<(&'static str, &'static [&'static str], Defaults)> {
    let network = |p: &str| {
        r.properties
            .get(p)
            .and_then(Value::as_str)
            .is_some_and(|v| matches!(v, "network" | "TCP" | "UDP" | "TLS" | "TCP_UDP"))
    };
    match r.kind.as_str() {
        KIND_LB if network("Type") => Some(("LoadBalancerAttributes", &NLB_LB_ATTRIBUTES, NLB_LB)),
        KIND_LB => Some(("LoadBalancerAttributes", &ALB_LB_ATTRIBUTES, ALB_LB)),
        KIND_TG if network("Protocol") => {
            Some(("TargetGroupAttributes", &NLB_TG_ATTRIBUTES, NLB_TG))
        }
        KIND_TG => Some(("TargetGroupAttributes", &ALB_TG_ATTRIBUTES, ALB_TG)),
        _ => None,
    }
}

type Defaults = &'static [(&'static str, &'static str)];

/// AWS's documented defaults, per kind of load balancer and target group.
const NLB_LB: Defaults = &[
    ("access_logs.s3.enabled", "false"),
    ("deletion_protection.enabled", "false"),
    ("load_balancing.cross_zone.enabled", "false"),
    ("dns_record.client_routing_policy", "any_availability_zone"),
    ("zonal_shift.config.enabled", "false"),
];
const ALB_LB: Defaults = &[
    ("access_logs.s3.enabled", "false"),
    ("connection_logs.s3.enabled", "false"),
    ("deletion_protection.enabled", "false"),
    ("idle_timeout.timeout_seconds", "60"),
    ("client_keep_alive.seconds", "3600"),
    ("routing.http.desync_mitigation_mode", "defensive"),
    ("routing.http.drop_invalid_header_fields.enabled", "false"),
    ("routing.http.preserve_host_header.enabled", "false"),
    (
        "routing.http.x_amzn_tls_version_and_cipher_suite.enabled",
        "false",
    ),
    ("routing.http.xff_client_port.enabled", "false"),
    ("routing.http.xff_header_processing.mode", "append"),
    ("routing.http2.enabled", "true"),
    ("waf.fail_open.enabled", "false"),
    ("zonal_shift.config.enabled", "false"),
];
const NLB_TG: Defaults = &[
    ("deregistration_delay.timeout_seconds", "300"),
    (
        "deregistration_delay.connection_termination.enabled",
        "false",
    ),
    ("proxy_protocol_v2.enabled", "false"),
    ("stickiness.enabled", "false"),
    ("stickiness.type", "source_ip"),
];
const ALB_TG: Defaults = &[
    ("deregistration_delay.timeout_seconds", "300"),
    ("slow_start.duration_seconds", "0"),
    ("stickiness.enabled", "false"),
    ("stickiness.type", "lb_cookie"),
    ("stickiness.lb_cookie.duration_seconds", "86400"),
    ("load_balancing.algorithm.type", "round_robin"),
];

/// The default of `key` for this resource, if berth knows one.
pub fn default_of(r: &Resource, key: &str) -> Option<&'static str> {
    let (_, _, defaults) = vocabulary(r)?;
    defaults.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

fn keys_of(r: &Resource, property: &str) -> Vec<String> {
    r.properties
        .get(property)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.get("Key").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Adds the mark for the attributes each desired load balancer and target group sets (to its
/// Tags, as one of berth's own, so observe reports it).
pub fn mark(resources: &mut [Resource]) {
    for r in resources.iter_mut() {
        let Some((property, _, _)) = vocabulary(r) else {
            continue;
        };
        let mut marks: Vec<String> = keys_of(r, property).iter().map(|k| key_mark(k)).collect();
        if marks.is_empty() {
            continue;
        }
        marks.sort();
        marks.dedup();
        if let Some(t) = r.properties.get_mut("Tags") {
            tags::add_extra(t, ATTRIBUTES_MARK, &marks.join(","));
        }
    }
}

/// For each desired load balancer and target group that exists: the attributes its mark names
/// and the desired state no longer sets go back to their defaults.
pub fn revert(desired: &[Resource], observed: &Observed) -> Vec<Resource> {
    let mut out = desired.to_vec();
    for r in out.iter_mut() {
        let Some((property, known, _)) = vocabulary(r) else {
            continue;
        };
        let Some(seen) = observed
            .resources
            .iter()
            .find(|o| o.resource.kind == r.kind && o.resource.name == r.name)
        else {
            continue;
        };
        let marked: Vec<String> = seen
            .resource
            .properties
            .get("Tags")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|t| t.get("Key").and_then(Value::as_str) == Some(ATTRIBUTES_MARK))
            .and_then(|t| t.get("Value").and_then(Value::as_str))
            .map(|v| v.split(',').map(String::from).collect())
            .unwrap_or_default();
        if marked.is_empty() {
            continue;
        }
        let wanted = keys_of(r, property);
        let back: Vec<(&str, &str)> = known
            .iter()
            .filter(|k| marked.contains(&key_mark(k)) && !wanted.iter().any(|w| w == *k))
            .filter_map(|k| default_of(r, k).map(|d| (*k, d)))
            .collect();
        if back.is_empty() {
            continue;
        }
        let list = r
            .properties
            .entry(property.to_string())
            .or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.extend(back.iter().map(|(k, v)| json!({"Key": k, "Value": v})));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ObservedResource;
    use serde_json::Map;

    fn tg(attrs: &[(&str, &str)], tags: Value) -> Resource {
        let mut p = Map::new();
        p.insert("Protocol".into(), json!("TCP"));
        if !attrs.is_empty() {
            p.insert(
                "TargetGroupAttributes".into(),
                Value::Array(
                    attrs
                        .iter()
                        .map(|(k, v)| json!({"Key": k, "Value": v}))
                        .collect(),
                ),
            );
        }
        p.insert("Tags".into(), tags);
        Resource {
            kind: KIND_TG.into(),
            name: "tg".into(),
            properties: p,
        }
    }

    #[test]
    fn a_dropped_attribute_goes_back_to_its_default_and_others_keep_theirs() {
        // What berth made while the annotation set two attributes.
        let mut made = vec![tg(
            &[
                ("deregistration_delay.timeout_seconds", "30"),
                ("preserve_client_ip.enabled", "false"),
            ],
            json!([]),
        )];
        mark(&mut made);
        let seen = Observed {
            resources: vec![ObservedResource {
                id: "arn:tg".into(),
                resource: made[0].clone(),
                outputs: Default::default(),
            }],
            ..Default::default()
        };
        // The annotation is gone: the delay goes back to 300; preserve_client_ip has no fixed
        // default and keeps its value.
        let now = revert(&[tg(&[], json!([]))], &seen);
        assert_eq!(
            now[0].properties["TargetGroupAttributes"],
            json!([{"Key": "deregistration_delay.timeout_seconds", "Value": "300"}])
        );
        // Still set: nothing added.
        let kept = revert(
            &[tg(
                &[("deregistration_delay.timeout_seconds", "30")],
                json!([]),
            )],
            &seen,
        );
        assert_eq!(
            kept[0].properties["TargetGroupAttributes"],
            json!([{"Key": "deregistration_delay.timeout_seconds", "Value": "30"}])
        );
        // A resource without the mark (someone else's setting, or from before it): untouched.
        let plain = Observed {
            resources: vec![ObservedResource {
                id: "arn:tg".into(),
                resource: tg(&[("deregistration_delay.timeout_seconds", "30")], json!([])),
                outputs: Default::default(),
            }],
            ..Default::default()
        };
        assert!(revert(&[tg(&[], json!([]))], &plain)[0]
            .properties
            .get("TargetGroupAttributes")
            .is_none());
    }
}
