//! `AWS::ElasticLoadBalancingV2::TargetGroup`: its shape (health check, attributes, registered
//! targets, tags), its describe by ARN or name, CreateTargetGroup, ModifyTargetGroup for the whole
//! health check, attributes, and targets registered and deregistered as a delta.

use super::*;
use crate::aws::client::AwsProvider;
use crate::aws::inventory::By;
use crate::aws::operations as ops;
use crate::aws::KIND_TG;
use crate::error::Result;
use crate::plan::{Change, Resource};
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetDescription, TargetGroup, TargetGroupAttribute,
    TargetHealthDescription, TargetHealthStateEnum, TargetTypeEnum,
};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Sets the health check properties of `p` on a CreateTargetGroup or ModifyTargetGroup request.
macro_rules! with_health_check {
    ($req:expr, $p:expr) => {
        $req.set_health_check_enabled($p.get("HealthCheckEnabled").and_then(Value::as_bool))
            .set_health_check_protocol(str_of($p, "HealthCheckProtocol").map(ProtocolEnum::from))
            .set_health_check_port(str_of($p, "HealthCheckPort").map(String::from))
            .set_health_check_path(str_of($p, "HealthCheckPath").map(String::from))
            .set_health_check_interval_seconds(int_of($p, "HealthCheckIntervalSeconds"))
            .set_health_check_timeout_seconds(int_of($p, "HealthCheckTimeoutSeconds"))
            .set_healthy_threshold_count(int_of($p, "HealthyThresholdCount"))
            .set_unhealthy_threshold_count(int_of($p, "UnhealthyThresholdCount"))
            .set_matcher(matcher($p))
    };
}

pub type Target = (String, i32);

pub fn targets(p: Option<&Map<String, Value>>) -> BTreeSet<Target> {
    entries(p, "Targets", |t| Some((vstr(t, "Id")?, vint(t, "Port")?)))
}

/// (to register, to deregister).
pub fn target_delta(
    desired: &BTreeSet<Target>,
    current: &BTreeSet<Target>,
) -> (Vec<Target>, Vec<Target>) {
    (
        desired.difference(current).cloned().collect(),
        current.difference(desired).cloned().collect(),
    )
}

pub(crate) fn sdk_targets(t: &[Target]) -> Vec<TargetDescription> {
    t.iter()
        .map(|(id, port)| TargetDescription::builder().id(id).port(*port).build())
        .collect()
}

pub(crate) fn matcher(p: &Map<String, Value>) -> Option<Matcher> {
    let m = p.get("Matcher")?;
    Some(
        Matcher::builder()
            .set_http_code(vstr(m, "HttpCode"))
            .set_grpc_code(vstr(m, "GrpcCode"))
            .build(),
    )
}

/// Protocols a Network Load Balancer's target groups use; others cannot be ours.
pub(crate) const NLB_PROTOCOLS: [&str; 4] = ["TCP", "UDP", "TCP_UDP", "TLS"];

/// Protocols an Application Load Balancer's target groups use.
pub(crate) const ALB_PROTOCOLS: [&str; 2] = ["HTTP", "HTTPS"];

pub(crate) fn is_our_target_group(tg: &TargetGroup, alb: bool) -> bool {
    let protocols: &[&str] = if alb { &ALB_PROTOCOLS } else { &NLB_PROTOCOLS };
    tg.protocol()
        .map(ProtocolEnum::as_str)
        .is_some_and(|p| protocols.contains(&p))
}

/// A target group as translate describes it. `attributes` and `targets` only when described.
pub fn tg_resource(
    tg: &TargetGroup,
    tags: &Tags,
    attributes: Option<&[(String, String)]>,
    targets: Option<&[TargetHealthDescription]>,
) -> Resource {
    let name = tg.target_group_name().unwrap_or_default().to_string();
    let mut m = Map::new();
    m.insert("Name".into(), json!(name));
    if let Some(p) = tg.protocol() {
        m.insert("Protocol".into(), json!(p.as_str()));
        if ALB_PROTOCOLS.contains(&p.as_str()) {
            // AWS's default is HTTP1 (some emulators do not report it).
            m.insert(
                "ProtocolVersion".into(),
                json!(tg.protocol_version().unwrap_or("HTTP1")),
            );
        }
    }
    put(&mut m, "Port", tg.port());
    put(&mut m, "TargetType", tg.target_type().map(|t| t.as_str()));
    put(&mut m, "VpcId", tg.vpc_id());
    put(&mut m, "HealthCheckEnabled", tg.health_check_enabled());
    put(
        &mut m,
        "HealthCheckProtocol",
        tg.health_check_protocol().map(|p| p.as_str()),
    );
    put(&mut m, "HealthCheckPort", tg.health_check_port());
    put(&mut m, "HealthCheckPath", tg.health_check_path());
    let ints = [
        (
            "HealthCheckIntervalSeconds",
            tg.health_check_interval_seconds(),
        ),
        (
            "HealthCheckTimeoutSeconds",
            tg.health_check_timeout_seconds(),
        ),
        ("HealthyThresholdCount", tg.healthy_threshold_count()),
        ("UnhealthyThresholdCount", tg.unhealthy_threshold_count()),
    ];
    for (k, v) in ints {
        put(&mut m, k, v);
    }
    if let Some(code) = tg.matcher().and_then(|x| x.grpc_code()) {
        m.insert("Matcher".into(), json!({"GrpcCode": code}));
    } else if let Some(code) = tg.matcher().and_then(|x| x.http_code()) {
        m.insert("Matcher".into(), json!({"HttpCode": code}));
    }
    if let Some(a) = attributes {
        m.insert("TargetGroupAttributes".into(), pairs_value(a));
    }
    if let Some(t) = targets {
        m.insert("Targets".into(), targets_value(t));
    }
    m.insert(
        "Tags".into(),
        tags_value(&crate::aws::tags::berth_tags(tags)),
    );
    Resource {
        kind: KIND_TG.into(),
        name,
        properties: m,
    }
}

/// Registered targets `[{Id, Port}]`, sorted; targets being deregistered (draining) are gone.
pub fn targets_value(t: &[TargetHealthDescription]) -> Value {
    let mut out: Vec<(String, i32)> = t
        .iter()
        .filter(|d| {
            d.target_health().and_then(|h| h.state()) != Some(&TargetHealthStateEnum::Draining)
        })
        .filter_map(|d| {
            let t = d.target()?;
            Some((t.id()?.to_string(), t.port()?))
        })
        .collect();
    out.sort();
    out.dedup();
    Value::Array(
        out.into_iter()
            .map(|(id, port)| json!({"Id": id, "Port": port}))
            .collect(),
    )
}

impl AwsProvider {
    /// ModifyTargetGroupAttributes, unless there is nothing to set.
    pub(crate) async fn set_tg_attributes(
        &self,
        arn: &str,
        attrs: &[(String, String)],
    ) -> Result<()> {
        if attrs.is_empty() {
            return Ok(());
        }
        let req = self
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(map_pairs(attrs, |k, v| {
                TargetGroupAttribute::builder().key(k).value(v).build()
            })));
        self.call(ops::MODIFY_TARGET_GROUP_ATTRIBUTES, || req.clone().send())
            .await?;
        Ok(())
    }

    pub(crate) async fn register(&self, arn: &str, t: &[Target]) -> Result<()> {
        if t.is_empty() {
            return Ok(());
        }
        let req = self
            .elb
            .register_targets()
            .target_group_arn(arn)
            .set_targets(Some(sdk_targets(t)));
        self.call(ops::REGISTER_TARGETS, || req.clone().send())
            .await?;
        Ok(())
    }

    pub(crate) async fn deregister(&self, arn: &str, t: &[Target]) -> Result<()> {
        if t.is_empty() {
            return Ok(());
        }
        let req = self
            .elb
            .deregister_targets()
            .target_group_arn(arn)
            .set_targets(Some(sdk_targets(t)));
        self.call(ops::DEREGISTER_TARGETS, || req.clone().send())
            .await?;
        Ok(())
    }

    pub(crate) async fn create_tg(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
        let tags = pairs(Some(p), "Tags");
        let req = self
            .elb
            .create_target_group()
            .name(&c.name)
            .protocol(ProtocolEnum::from(required(c, p, "Protocol")?))
            .set_protocol_version(str_of(p, "ProtocolVersion").map(String::from))
            .set_port(int_of(p, "Port"))
            .set_target_type(str_of(p, "TargetType").map(TargetTypeEnum::from))
            .set_vpc_id(str_of(p, "VpcId").map(String::from));
        let req = with_health_check!(req, p).set_tags(Some(sdk_tags(&tags)));
        let out = self
            .call(ops::CREATE_TARGET_GROUP, || req.clone().send())
            .await?;
        let arn = returned(
            "CreateTargetGroup",
            "ARN",
            out.target_groups()
                .first()
                .and_then(|t| t.target_group_arn()),
        )?;
        self.set_tg_attributes(&arn, &pairs(Some(p), "TargetGroupAttributes"))
            .await?;
        let t: Vec<Target> = targets(Some(p)).into_iter().collect();
        self.register(&arn, &t).await?;
        Ok(arn)
    }

    pub(crate) async fn update_tg(
        &self,
        c: &Change,
        arn: &str,
        p: &Map<String, Value>,
    ) -> Result<()> {
        let cur = c.current.as_ref();
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if HEALTH_CHECK.iter().any(|k| changed(k)) {
            // The whole desired health check in one call (a protocol change needs its path and
            // matcher with it).
            let req = with_health_check!(self.elb.modify_target_group().target_group_arn(arn), p);
            self.call(ops::MODIFY_TARGET_GROUP, || req.clone().send())
                .await?;
        }
        if changed("TargetGroupAttributes") {
            self.set_tg_attributes(arn, &pairs_delta(p, cur, "TargetGroupAttributes"))
                .await?;
        }
        if changed("Tags") {
            self.add_tags(arn, p, cur).await?;
        }
        if changed("Targets") {
            let (add, remove) = target_delta(&targets(Some(p)), &targets(cur));
            self.register(arn, &add).await?;
            self.deregister(arn, &remove).await?;
        }
        Ok(())
    }

    /// Target groups by ARNs or names (at most 20); `None` when one of them does not exist.
    pub(crate) async fn tgs_by(
        &self,
        by: By,
        keys: Vec<String>,
    ) -> Result<Option<Vec<TargetGroup>>> {
        describe_by!(
            self,
            by,
            keys,
            describe_target_groups,
            set_target_group_arns,
            DESCRIBE_TARGET_GROUPS,
            "TargetGroupNotFound",
            target_groups
        )
    }

    pub(crate) async fn tg_attributes(&self, arn: &str) -> Result<Vec<(String, String)>> {
        let req = self
            .elb
            .describe_target_group_attributes()
            .target_group_arn(arn);
        let out = self
            .call(ops::DESCRIBE_TARGET_GROUP_ATTRIBUTES, || req.clone().send())
            .await?;
        Ok(out
            .attributes()
            .iter()
            .filter_map(|a| key_value(a.key(), a.value()))
            .collect())
    }

    pub(crate) async fn targets_of(&self, arn: &str) -> Result<Vec<TargetHealthDescription>> {
        let req = self.elb.describe_target_health().target_group_arn(arn);
        let out = self
            .call(ops::DESCRIBE_TARGET_HEALTH, || req.clone().send())
            .await?;
        Ok(out.target_health_descriptions().to_vec())
    }
}
