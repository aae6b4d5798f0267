//! Executes a [`Plan`] in its order: creates forward through the dependency graph, updates as
//! deltas against the observed state, deletes backward. `{"Ref": name}` values are resolved to
//! the ARNs that earlier creates returned. Updates and deletes act only on ARNs that observe
//! found carrying our ownership tags (checked for the whole plan before the first call).
//!
//! A managed security group is created tagged (TagSpecifications) and then given its ingress
//! rules; an update authorizes the missing rules before it revokes the extra ones; it is deleted
//! after the load balancer, retrying DependencyViolation (AWS releases the load balancer's
//! network interfaces asynchronously).
//!
//! Listener rules (ALB) first make room, so that no priority is ever taken twice: rules that go
//! are deleted (unless their listener goes too), rules that stay move to their new priorities
//! in one SetRulePriorities call; only then are rules created (with the other creates) and
//! changed in place (ModifyRule, with the other updates).

use super::client::AwsProvider;
use super::operations as ops;
use super::{KIND_LB, KIND_LISTENER, KIND_RULE, KIND_SG, KIND_SG_INGRESS, KIND_TG};
use crate::engine;
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Observed, Plan};
use crate::provider::Address;
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, Certificate, FixedResponseActionConfig,
    ForwardActionConfig, HostHeaderConditionConfig, HttpHeaderConditionConfig,
    HttpRequestMethodConditionConfig, IpAddressType, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum, Matcher, PathPatternConditionConfig, ProtocolEnum,
    QueryStringConditionConfig, QueryStringKeyValuePair, RedirectActionConfig,
    RedirectActionStatusCodeEnum, RuleCondition, RulePriorityPair, SourceIpConditionConfig, Tag,
    TargetDescription, TargetGroupAttribute, TargetGroupStickinessConfig, TargetGroupTuple,
    TargetTypeEnum,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Target-group properties that ModifyTargetGroup changes.
use super::kinds::HEALTH_CHECK;

fn str_of<'a>(p: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

fn as_i32(v: &Value) -> Option<i32> {
    v.as_i64().and_then(|n| i32::try_from(n).ok())
}

fn int_of(p: &Map<String, Value>, key: &str) -> Option<i32> {
    p.get(key).and_then(as_i32)
}

/// The entries of the array under `key` that `f` converts (none when there is no array).
fn entries<'a, T, C: FromIterator<T>>(
    p: Option<&'a Map<String, Value>>,
    key: &str,
    f: impl FnMut(&'a Value) -> Option<T>,
) -> C {
    p.and_then(|p| p.get(key))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(f)
        .collect()
}

fn required<'a>(c: &Change, p: &'a Map<String, Value>, key: &str) -> Result<&'a str> {
    str_of(p, key).ok_or_else(|| {
        Error::Unavailable(format!(
            "plan: {} {} has no {key} (a berth bug)",
            c.kind, c.name
        ))
    })
}

/// `[{Key, Value}]` -> pairs (in order).
pub fn pairs(p: Option<&Map<String, Value>>, key: &str) -> Vec<(String, String)> {
    entries(p, key, |x| Some((vstr(x, "Key")?, vstr(x, "Value")?)))
}

/// The desired pairs that are missing from, or different in, the current ones.
pub fn pairs_to_set(
    desired: &[(String, String)],
    current: &[(String, String)],
) -> Vec<(String, String)> {
    let have: BTreeMap<&str, &str> = current
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    desired
        .iter()
        .filter(|(k, v)| have.get(k.as_str()) != Some(&v.as_str()))
        .cloned()
        .collect()
}

/// The desired pairs under `key` that the current ones lack or hold otherwise.
fn pairs_delta(
    desired: &Map<String, Value>,
    current: Option<&Map<String, Value>>,
    key: &str,
) -> Vec<(String, String)> {
    pairs_to_set(&pairs(Some(desired), key), &pairs(current, key))
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

fn certificate_arns(p: Option<&Map<String, Value>>) -> Vec<String> {
    entries(p, "Certificates", |c| vstr(c, "CertificateArn"))
}

/// Key-value pairs -> one SDK value each (tags, attributes).
fn key_values<T>(pairs: &[(String, String)], f: impl Fn(&str, &str) -> T) -> Vec<T> {
    pairs.iter().map(|(k, v)| f(k, v)).collect()
}

fn sdk_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    key_values(pairs, |k, v| Tag::builder().key(k).value(v).build())
}

fn sdk_targets(t: &[Target]) -> Vec<TargetDescription> {
    t.iter()
        .map(|(id, port)| TargetDescription::builder().id(id).port(*port).build())
        .collect()
}

fn strings_of(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|x| x.as_str().map(String::from))
            .collect()
    })
}

fn vstr(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(String::from)
}

fn vint(v: &Value, key: &str) -> Option<i32> {
    v.get(key).and_then(as_i32)
}

/// One action in CloudFormation's shape (forward with TargetGroupArn or ForwardConfig,
/// redirect, fixed-response) -> the SDK's.
pub fn sdk_action(x: &Value) -> ElbAction {
    let mut b = ElbAction::builder()
        .set_type(
            x.get("Type")
                .and_then(Value::as_str)
                .map(ActionTypeEnum::from),
        )
        .set_target_group_arn(vstr(x, "TargetGroupArn"));
    if let Some(fc) = x.get("ForwardConfig") {
        let groups: Vec<TargetGroupTuple> = fc
            .get("TargetGroups")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|g| {
                TargetGroupTuple::builder()
                    .set_target_group_arn(vstr(g, "TargetGroupArn"))
                    .set_weight(vint(g, "Weight"))
                    .build()
            })
            .collect();
        let sticky = fc.get("TargetGroupStickinessConfig").map(|s| {
            TargetGroupStickinessConfig::builder()
                .set_enabled(s.get("Enabled").and_then(Value::as_bool))
                .set_duration_seconds(vint(s, "DurationSeconds"))
                .build()
        });
        b = b.forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(groups))
                .set_target_group_stickiness_config(sticky)
                .build(),
        );
    }
    if let Some(r) = x.get("RedirectConfig") {
        b = b.redirect_config(
            RedirectActionConfig::builder()
                .set_protocol(vstr(r, "Protocol"))
                .set_port(vstr(r, "Port"))
                .set_host(vstr(r, "Host"))
                .set_path(vstr(r, "Path"))
                .set_query(vstr(r, "Query"))
                .set_status_code(
                    r.get("StatusCode")
                        .and_then(Value::as_str)
                        .map(RedirectActionStatusCodeEnum::from),
                )
                .build(),
        );
    }
    if let Some(f) = x.get("FixedResponseConfig") {
        b = b.fixed_response_config(
            FixedResponseActionConfig::builder()
                .set_status_code(vstr(f, "StatusCode"))
                .set_content_type(vstr(f, "ContentType"))
                .set_message_body(vstr(f, "MessageBody"))
                .build(),
        );
    }
    b.build()
}

/// The actions listed under `key` (`DefaultActions` of a listener, `Actions` of a rule).
fn sdk_actions(p: &Map<String, Value>, key: &str) -> Vec<ElbAction> {
    entries(Some(p), key, |x| Some(sdk_action(x)))
}

/// One rule condition in CloudFormation's shape -> the SDK's.
pub fn sdk_condition(c: &Value) -> RuleCondition {
    let field = c.get("Field").and_then(Value::as_str).unwrap_or_default();
    let b = RuleCondition::builder().field(field);
    let values = |key: &str| strings_of(c.get(key).and_then(|x| x.get("Values")));
    match field {
        "host-header" => b.host_header_config(
            HostHeaderConditionConfig::builder()
                .set_values(values("HostHeaderConfig"))
                .build(),
        ),
        "path-pattern" => b.path_pattern_config(
            PathPatternConditionConfig::builder()
                .set_values(values("PathPatternConfig"))
                .build(),
        ),
        "http-header" => b.http_header_config(
            HttpHeaderConditionConfig::builder()
                .set_http_header_name(
                    c.get("HttpHeaderConfig")
                        .and_then(|h| vstr(h, "HttpHeaderName")),
                )
                .set_values(values("HttpHeaderConfig"))
                .build(),
        ),
        "http-request-method" => b.http_request_method_config(
            HttpRequestMethodConditionConfig::builder()
                .set_values(values("HttpRequestMethodConfig"))
                .build(),
        ),
        "source-ip" => b.source_ip_config(
            SourceIpConditionConfig::builder()
                .set_values(values("SourceIpConfig"))
                .build(),
        ),
        "query-string" => b.query_string_config(
            QueryStringConditionConfig::builder()
                .set_values(Some(
                    c.get("QueryStringConfig")
                        .and_then(|q| q.get("Values"))
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .map(|kv| {
                            QueryStringKeyValuePair::builder()
                                .set_key(vstr(kv, "Key"))
                                .set_value(vstr(kv, "Value"))
                                .build()
                        })
                        .collect(),
                ))
                .build(),
        ),
        _ => b.set_values(strings_of(c.get("Values"))),
    }
    .build()
}

fn sdk_conditions(p: &Map<String, Value>) -> Vec<RuleCondition> {
    entries(Some(p), "Conditions", |c| Some(sdk_condition(c)))
}

/// One ingress rule of a security group: (protocol, from port, to port, source: a CIDR or a
/// prefix list ID, description).
pub type SgRule = (String, i32, i32, String, String);

/// The `SecurityGroupIngress` entries as rules.
pub fn sg_rules(p: Option<&Map<String, Value>>) -> BTreeSet<SgRule> {
    entries(p, "SecurityGroupIngress", |r| {
        Some((
            vstr(r, "IpProtocol")?,
            vint(r, "FromPort")?,
            vint(r, "ToPort")?,
            vstr(r, "CidrIp")
                .or_else(|| vstr(r, "CidrIpv6"))
                .or_else(|| vstr(r, "SourcePrefixListId"))?,
            vstr(r, "Description").unwrap_or_default(),
        ))
    })
}

/// What to change on a security group, in this order: (revoke first: current rules that a
/// desired one replaces with another description, authorize: the desired rules that are
/// missing, revoke last: the other current rules no longer desired). New rules are authorized
/// before old ones are revoked, so changing `inbound-cidrs` never closes the load balancer.
pub fn sg_rule_delta(
    desired: &BTreeSet<SgRule>,
    current: &BTreeSet<SgRule>,
) -> (Vec<SgRule>, Vec<SgRule>, Vec<SgRule>) {
    let add: Vec<SgRule> = desired.difference(current).cloned().collect();
    let (first, last): (Vec<SgRule>, Vec<SgRule>) =
        current
            .difference(desired)
            .cloned()
            .partition(|(p, f, t, c, _)| {
                add.iter()
                    .any(|(p2, f2, t2, c2, _)| (p, f, t, c) == (p2, f2, t2, c2))
            });
    (first, add, last)
}

/// Rules -> the EC2 SDK's permissions (one per rule).
fn sdk_permissions(rules: &[SgRule]) -> Vec<aws_sdk_ec2::types::IpPermission> {
    use aws_sdk_ec2::types::{IpPermission, IpRange, Ipv6Range, PrefixListId};
    rules
        .iter()
        .map(|(proto, from, to, cidr, description)| {
            let description = Some(description.clone()).filter(|d| !d.is_empty());
            let b = IpPermission::builder()
                .ip_protocol(proto)
                .from_port(*from)
                .to_port(*to);
            if cidr.starts_with("pl-") {
                b.prefix_list_ids(
                    PrefixListId::builder()
                        .prefix_list_id(cidr)
                        .set_description(description)
                        .build(),
                )
            } else if cidr.contains(':') {
                b.ipv6_ranges(
                    Ipv6Range::builder()
                        .cidr_ipv6(cidr)
                        .set_description(description)
                        .build(),
                )
            } else {
                b.ip_ranges(
                    IpRange::builder()
                        .cidr_ip(cidr)
                        .set_description(description)
                        .build(),
                )
            }
            .build()
        })
        .collect()
}

fn ec2_tags(pairs: &[(String, String)]) -> Vec<aws_sdk_ec2::types::Tag> {
    key_values(pairs, |k, v| {
        aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
    })
}

/// How long a DeleteSecurityGroup that fails with DependencyViolation is retried: after
/// DeleteLoadBalancer, AWS releases the load balancer's network interfaces asynchronously.
const SG_DELETE_RETRIES: [u64; 7] = [2, 4, 8, 15, 15, 30, 30];

fn cert(arn: &str) -> Certificate {
    Certificate::builder().certificate_arn(arn).build()
}

pub use crate::engine::apply::resolve;

/// An ID a create call returned; its absence is a (retryable) cloud error.
fn returned(operation: &str, what: &str, id: Option<&str>) -> Result<String> {
    id.map(String::from)
        .ok_or_else(|| Error::cloud(operation, format!("the response has no {what}"), true))
}

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

impl AwsProvider {
    /// Executes the plan through the engine (ownership gate, `Ref`s, order). Listener rules
    /// first make room: rules that go are deleted, and rules that stay move to their new
    /// priorities in one SetRulePriorities call, so no create or move collides with a priority
    /// that is still taken (a rule whose listener goes too is deleted with it). Returns the load
    /// balancer's DNS name (lower-cased), if one remains.
    pub async fn apply_plan(&self, plan: &Plan, observed: &Observed) -> Result<Option<Address>> {
        engine::apply::gate(plan, observed)?;
        let mut deleted: BTreeSet<String> = BTreeSet::new();
        let is_rule = |c: &&Change, a: Action| c.kind == KIND_RULE && c.action == a;
        let listeners_going: BTreeSet<&str> = plan
            .changes
            .iter()
            .filter(|c| c.kind == KIND_LISTENER && c.action == Action::Delete)
            .filter_map(|c| c.id.as_deref())
            .collect();
        for c in plan.changes.iter().filter(|c| is_rule(c, Action::Delete)) {
            let id = c.id.clone().unwrap_or_default();
            if !str_of(&c.properties, "ListenerArn").is_some_and(|l| listeners_going.contains(l)) {
                self.delete_rule(&id).await?;
            }
            deleted.insert(id);
        }
        let moves: Vec<(String, i32)> = plan
            .changes
            .iter()
            .filter(|c| is_rule(c, Action::Update) && c.changed.iter().any(|k| k == "Priority"))
            .filter_map(|c| Some((c.id.clone()?, int_of(&c.properties, "Priority")?)))
            .collect();
        if !moves.is_empty() {
            self.move_rules(&moves, observed, &deleted).await?;
        }

        let applied = engine::apply::apply(plan, observed, self, deleted).await?;
        Ok(applied
            .output(observed, KIND_LB, "DNSName", plan)
            .map(|d| Address::Hostname(d.to_ascii_lowercase())))
    }

    /// CreateSecurityGroup, tagged at creation (TagSpecifications), then its ingress rules.
    async fn create_sg(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
        use aws_sdk_ec2::types::{ResourceType, TagSpecification};
        let req = self
            .ec2
            .create_security_group()
            .group_name(required(c, p, "GroupName")?)
            .description(required(c, p, "GroupDescription")?)
            .set_vpc_id(str_of(p, "VpcId").map(String::from))
            .tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::SecurityGroup)
                    .set_tags(Some(ec2_tags(&pairs(Some(p), "Tags"))))
                    .build(),
            );
        let out = self
            .call(ops::CREATE_SECURITY_GROUP, || req.clone().send())
            .await?;
        let id = returned("CreateSecurityGroup", "GroupId", out.group_id())?;
        let rules: Vec<SgRule> = sg_rules(Some(p)).into_iter().collect();
        self.authorize(&id, &rules).await?;
        Ok(id)
    }

    async fn authorize(&self, id: &str, rules: &[SgRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let req = self
            .ec2
            .authorize_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(sdk_permissions(rules)));
        self.call(ops::AUTHORIZE_SECURITY_GROUP_INGRESS, || req.clone().send())
            .await?;
        Ok(())
    }

    async fn revoke(&self, id: &str, rules: &[SgRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let req = self
            .ec2
            .revoke_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(sdk_permissions(rules)));
        self.call(ops::REVOKE_SECURITY_GROUP_INGRESS, || req.clone().send())
            .await?;
        Ok(())
    }

    /// The ingress rules as a delta (authorize the missing, revoke the extra); tags added.
    async fn update_sg(&self, c: &Change, id: &str, p: &Map<String, Value>) -> Result<()> {
        let cur = c.current.as_ref();
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if changed("SecurityGroupIngress") {
            let (first, add, last) = sg_rule_delta(&sg_rules(Some(p)), &sg_rules(cur));
            self.revoke(id, &first).await?;
            self.authorize(id, &add).await?;
            self.revoke(id, &last).await?;
        }
        if changed("Tags") {
            let add = pairs_delta(p, cur, "Tags");
            if !add.is_empty() {
                let req = self
                    .ec2
                    .create_tags()
                    .resources(id)
                    .set_tags(Some(ec2_tags(&add)));
                self.call(ops::CREATE_TAGS, || req.clone().send()).await?;
            }
        }
        Ok(())
    }

    /// DeleteSecurityGroup. Right after DeleteLoadBalancer, AWS may still hold the load
    /// balancer's network interfaces in the group (DependencyViolation): retried with backoff
    /// for about two minutes, then a retryable error (the next reconcile tries again).
    async fn delete_sg(&self, id: &str) -> Result<()> {
        let mut waits = SG_DELETE_RETRIES.iter();
        loop {
            let req = self.ec2.delete_security_group().group_id(id);
            match self
                .call_coded(ops::DELETE_SECURITY_GROUP, || req.clone().send())
                .await
            {
                Ok(_) => return Ok(()),
                Err(f) if f.code.as_deref() == Some("InvalidGroup.NotFound") => return Ok(()),
                Err(f) if f.code.as_deref() == Some("DependencyViolation") => {
                    let Some(secs) = waits.next() else {
                        return Err(Error::cloud(
                            "DeleteSecurityGroup",
                            format!("{id} is still in use (DependencyViolation): {}", f.error),
                            true,
                        ));
                    };
                    tracing::debug!(id, secs, "security group still in use; retrying");
                    tokio::time::sleep(Duration::from_secs(*secs)).await;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    async fn create_lb(
        &self,
        c: &Change,
        p: &Map<String, Value>,
    ) -> Result<(String, Option<String>)> {
        let tags = pairs(Some(p), "Tags");
        let req = self
            .elb
            .create_load_balancer()
            .name(&c.name)
            .r#type(LoadBalancerTypeEnum::from(
                str_of(p, "Type").unwrap_or("network"),
            ))
            // Always sent: AWS defaults to internet-facing.
            .scheme(LoadBalancerSchemeEnum::from(required(c, p, "Scheme")?))
            .set_subnets(strings_of(p.get("Subnets")))
            .set_security_groups(strings_of(p.get("SecurityGroups")))
            .set_ip_address_type(str_of(p, "IpAddressType").map(IpAddressType::from))
            .set_tags(Some(sdk_tags(&tags)));
        let out = self
            .call(ops::CREATE_LOAD_BALANCER, || req.clone().send())
            .await?;
        let lb = out.load_balancers().first();
        let arn = returned(
            "CreateLoadBalancer",
            "ARN",
            lb.and_then(|l| l.load_balancer_arn()),
        )?;
        let dns = lb.and_then(|l| l.dns_name()).map(String::from);
        self.set_lb_attributes(&arn, &pairs(Some(p), "LoadBalancerAttributes"))
            .await?;
        Ok((arn, dns))
    }

    /// ModifyLoadBalancerAttributes, unless there is nothing to set.
    async fn set_lb_attributes(&self, arn: &str, attrs: &[(String, String)]) -> Result<()> {
        if attrs.is_empty() {
            return Ok(());
        }
        let req = self
            .elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(key_values(attrs, |k, v| {
                LoadBalancerAttribute::builder().key(k).value(v).build()
            })));
        self.call(ops::MODIFY_LOAD_BALANCER_ATTRIBUTES, || req.clone().send())
            .await?;
        Ok(())
    }

    /// ModifyTargetGroupAttributes, unless there is nothing to set.
    async fn set_tg_attributes(&self, arn: &str, attrs: &[(String, String)]) -> Result<()> {
        if attrs.is_empty() {
            return Ok(());
        }
        let req = self
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(key_values(attrs, |k, v| {
                TargetGroupAttribute::builder().key(k).value(v).build()
            })));
        self.call(ops::MODIFY_TARGET_GROUP_ATTRIBUTES, || req.clone().send())
            .await?;
        Ok(())
    }

    /// AddTags for the desired tags that are missing or different; tags others added stay.
    async fn add_tags(
        &self,
        arn: &str,
        p: &Map<String, Value>,
        current: Option<&Map<String, Value>>,
    ) -> Result<()> {
        let add = pairs_delta(p, current, "Tags");
        if add.is_empty() {
            return Ok(());
        }
        let req = self
            .elb
            .add_tags()
            .resource_arns(arn)
            .set_tags(Some(sdk_tags(&add)));
        self.call(ops::ADD_TAGS, || req.clone().send()).await?;
        Ok(())
    }

    async fn register(&self, arn: &str, t: &[Target]) -> Result<()> {
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

    async fn deregister(&self, arn: &str, t: &[Target]) -> Result<()> {
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

    async fn create_tg(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
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

    async fn create_listener(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
        let certs = certificate_arns(Some(p));
        let req = self
            .elb
            .create_listener()
            .load_balancer_arn(required(c, p, "LoadBalancerArn")?)
            .set_port(int_of(p, "Port"))
            .protocol(ProtocolEnum::from(required(c, p, "Protocol")?))
            // The first certificate is the default one; the others are added below.
            .set_certificates(certs.first().map(|a| vec![cert(a)]))
            .set_ssl_policy(str_of(p, "SslPolicy").map(String::from))
            .set_alpn_policy(strings_of(p.get("AlpnPolicy")))
            .set_default_actions(Some(sdk_actions(p, "DefaultActions")));
        let out = self
            .call(ops::CREATE_LISTENER, || req.clone().send())
            .await?;
        let arn = returned(
            "CreateListener",
            "ARN",
            out.listeners().first().and_then(|l| l.listener_arn()),
        )?;
        if certs.len() > 1 {
            self.add_certificates(&arn, &certs[1..]).await?;
        }
        Ok(arn)
    }

    async fn add_certificates(&self, arn: &str, certs: &[String]) -> Result<()> {
        let req = self
            .elb
            .add_listener_certificates()
            .listener_arn(arn)
            .set_certificates(Some(certs.iter().map(|a| cert(a)).collect()));
        self.call(ops::ADD_LISTENER_CERTIFICATES, || req.clone().send())
            .await?;
        Ok(())
    }

    async fn set_rule_priorities(&self, moves: &[(String, i32)], absent: &[&str]) -> Result<bool> {
        let req = self.elb.set_rule_priorities().set_rule_priorities(Some(
            moves
                .iter()
                .map(|(arn, p)| {
                    RulePriorityPair::builder()
                        .rule_arn(arn)
                        .priority(*p)
                        .build()
                })
                .collect(),
        ));
        Ok(self
            .call_unless(ops::SET_RULE_PRIORITIES, absent, || req.clone().send())
            .await?
            .is_some())
    }

    /// Moves rules to new priorities. AWS takes the whole reordering in one SetRulePriorities
    /// call (only the new order must be free of conflicts). Should that call be refused with
    /// PriorityInUse (moto checks every new priority against the rules' *current* ones, so it
    /// refuses shifts and swaps that AWS accepts), the moves go in waves: each call moves the
    /// rules whose new priority is free by then, and a cycle is broken by parking one rule on
    /// a free priority from the top of the range.
    async fn move_rules(
        &self,
        moves: &[(String, i32)],
        observed: &Observed,
        deleted: &BTreeSet<String>,
    ) -> Result<()> {
        if self.set_rule_priorities(moves, &["PriorityInUse"]).await? {
            return Ok(());
        }
        let listener_of: BTreeMap<&str, &str> = observed
            .of_kind(KIND_RULE)
            .filter_map(|o| {
                Some((
                    o.id.as_str(),
                    str_of(&o.resource.properties, "ListenerArn")?,
                ))
            })
            .collect();
        // (listener, priority) -> rule, as it stands after the deletes.
        let mut taken: BTreeMap<(String, i32), String> = observed
            .of_kind(KIND_RULE)
            .filter(|o| !deleted.contains(&o.id))
            .filter_map(|o| {
                let p = &o.resource.properties;
                Some((
                    (
                        str_of(p, "ListenerArn")?.to_string(),
                        int_of(p, "Priority")?,
                    ),
                    o.id.clone(),
                ))
            })
            .collect();
        let mut pending: Vec<(String, i32)> = moves.to_vec();
        while !pending.is_empty() {
            let listener = |arn: &str| {
                listener_of
                    .get(arn)
                    .copied()
                    .unwrap_or_default()
                    .to_string()
            };
            let free: Vec<(String, i32)> = pending
                .iter()
                .filter(|(arn, p)| {
                    taken
                        .get(&(listener(arn), *p))
                        .is_none_or(|holder| holder == arn)
                })
                .cloned()
                .collect();
            let wave = if free.is_empty() {
                let (arn, _) = &pending[0];
                let l = listener(arn);
                let park = (1..=50_000)
                    .rev()
                    .find(|p| !taken.contains_key(&(l.clone(), *p)))
                    .ok_or_else(|| {
                        Error::Unavailable(format!("listener {l} has no free rule priority"))
                    })?;
                vec![(arn.clone(), park)]
            } else {
                free
            };
            self.set_rule_priorities(&wave, &[]).await?;
            for (arn, p) in &wave {
                taken.retain(|_, holder| holder != arn);
                taken.insert((listener(arn), *p), arn.clone());
            }
            pending.retain(|(arn, p)| !wave.contains(&(arn.clone(), *p)));
        }
        Ok(())
    }

    /// CreateRule (no tags: a rule is ours because its listener is).
    async fn create_rule(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
        let priority = int_of(p, "Priority").ok_or_else(|| {
            Error::Unavailable(format!(
                "plan: {} {} has no numeric Priority (a berth bug)",
                c.kind, c.name
            ))
        })?;
        let req = self
            .elb
            .create_rule()
            .listener_arn(required(c, p, "ListenerArn")?)
            .priority(priority)
            .set_conditions(Some(sdk_conditions(p)))
            .set_actions(Some(sdk_actions(p, "Actions")));
        let out = self.call(ops::CREATE_RULE, || req.clone().send()).await?;
        returned(
            "CreateRule",
            "ARN",
            out.rules().first().and_then(|r| r.rule_arn()),
        )
    }

    /// ModifyRule for conditions and actions; a priority moved earlier (SetRulePriorities).
    async fn update_rule(&self, c: &Change, arn: &str, p: &Map<String, Value>) -> Result<()> {
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if !changed("Conditions") && !changed("Actions") {
            return Ok(());
        }
        let mut req = self.elb.modify_rule().rule_arn(arn);
        if changed("Conditions") {
            req = req.set_conditions(Some(sdk_conditions(p)));
        }
        if changed("Actions") {
            req = req.set_actions(Some(sdk_actions(p, "Actions")));
        }
        self.call(ops::MODIFY_RULE, || req.clone().send()).await?;
        Ok(())
    }

    async fn delete_rule(&self, arn: &str) -> Result<()> {
        let req = self.elb.delete_rule().rule_arn(arn);
        self.call_unless(ops::DELETE_RULE, &["RuleNotFound"], || req.clone().send())
            .await?;
        Ok(())
    }

    async fn update_lb(&self, c: &Change, arn: &str, p: &Map<String, Value>) -> Result<()> {
        let cur = c.current.as_ref();
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if changed("LoadBalancerAttributes") {
            self.set_lb_attributes(arn, &pairs_delta(p, cur, "LoadBalancerAttributes"))
                .await?;
        }
        if changed("Tags") {
            self.add_tags(arn, p, cur).await?;
        }
        if changed("Subnets") {
            let req = self
                .elb
                .set_subnets()
                .load_balancer_arn(arn)
                .set_subnets(Some(strings_of(p.get("Subnets")).unwrap_or_default()));
            self.call(ops::SET_SUBNETS, || req.clone().send()).await?;
        }
        if changed("SecurityGroups") {
            let req = self
                .elb
                .set_security_groups()
                .load_balancer_arn(arn)
                .set_security_groups(strings_of(p.get("SecurityGroups")));
            self.call(ops::SET_SECURITY_GROUPS, || req.clone().send())
                .await?;
        }
        if changed("IpAddressType") {
            if let Some(t) = str_of(p, "IpAddressType") {
                let req = self
                    .elb
                    .set_ip_address_type()
                    .load_balancer_arn(arn)
                    .ip_address_type(IpAddressType::from(t));
                self.call(ops::SET_IP_ADDRESS_TYPE, || req.clone().send())
                    .await?;
            }
        }
        Ok(())
    }

    async fn update_tg(&self, c: &Change, arn: &str, p: &Map<String, Value>) -> Result<()> {
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

    async fn update_listener(&self, c: &Change, arn: &str, p: &Map<String, Value>) -> Result<()> {
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        let certs = certificate_arns(Some(p));
        let mut req = self.elb.modify_listener().listener_arn(arn);
        // Only what changed (a protocol is sent only when it changes: some emulators refuse
        // TLS/UDP in ModifyListener).
        if changed("Port") {
            req = req.set_port(int_of(p, "Port"));
        }
        if changed("Protocol") {
            req = req.set_protocol(str_of(p, "Protocol").map(ProtocolEnum::from));
        }
        if changed("Protocol") || changed("SslPolicy") {
            req = req.set_ssl_policy(str_of(p, "SslPolicy").map(String::from));
        }
        if changed("Protocol") || changed("Certificates") {
            req = req.set_certificates(certs.first().map(|a| vec![cert(a)]));
        }
        if changed("AlpnPolicy") {
            req = req.set_alpn_policy(strings_of(p.get("AlpnPolicy")));
        }
        if changed("DefaultActions") {
            req = req.set_default_actions(Some(sdk_actions(p, "DefaultActions")));
        }
        self.call(ops::MODIFY_LISTENER, || req.clone().send())
            .await?;

        if changed("Certificates") {
            // The additional (SNI) certificates: as listed, beyond the default one.
            let have: BTreeSet<String> = self
                .listener_certificates(arn)
                .await?
                .iter()
                .filter(|c| !c.is_default().unwrap_or(false))
                .filter_map(|c| c.certificate_arn().map(String::from))
                .collect();
            let want: BTreeSet<String> = certs.iter().skip(1).cloned().collect();
            let add: Vec<String> = want.difference(&have).cloned().collect();
            let remove: Vec<String> = have
                .difference(&want)
                .filter(|a| certs.first() != Some(*a))
                .cloned()
                .collect();
            if !add.is_empty() {
                self.add_certificates(arn, &add).await?;
            }
            if !remove.is_empty() {
                let r = self
                    .elb
                    .remove_listener_certificates()
                    .listener_arn(arn)
                    .set_certificates(Some(remove.iter().map(|a| cert(a)).collect()));
                self.call(ops::REMOVE_LISTENER_CERTIFICATES, || r.clone().send())
                    .await?;
            }
        }
        Ok(())
    }
}

fn matcher(p: &Map<String, Value>) -> Option<Matcher> {
    let m = p.get("Matcher")?;
    Some(
        Matcher::builder()
            .set_http_code(vstr(m, "HttpCode"))
            .set_grpc_code(vstr(m, "GrpcCode"))
            .build(),
    )
}

/// One AWS call sequence per kind and action (see the functions above).
#[async_trait::async_trait]
impl engine::Executor for AwsProvider {
    async fn create(&self, c: &Change, p: &Map<String, Value>) -> Result<engine::Created> {
        let id = match c.kind.as_str() {
            KIND_SG => self.create_sg(c, p).await?,
            KIND_LB => {
                let (arn, dns) = self.create_lb(c, p).await?;
                let mut out = engine::Created::id(arn);
                if let Some(d) = dns {
                    out.outputs.insert("DNSName".into(), Value::String(d));
                }
                return Ok(out);
            }
            KIND_TG => self.create_tg(c, p).await?,
            KIND_LISTENER => self.create_listener(c, p).await?,
            KIND_RULE => self.create_rule(c, p).await?,
            // A rule has no ID of its own; it is named by what it is.
            KIND_SG_INGRESS => {
                self.authorize_backend_rule(p).await?;
                c.name.clone()
            }
            kind => return Err(unmanaged(kind, c)),
        };
        Ok(engine::Created::id(id))
    }

    async fn update(
        &self,
        c: &Change,
        id: &str,
        p: &Map<String, Value>,
    ) -> Result<engine::Progress> {
        match c.kind.as_str() {
            KIND_SG => self.update_sg(c, id, p).await?,
            KIND_LB => self.update_lb(c, id, p).await?,
            KIND_TG => self.update_tg(c, id, p).await?,
            KIND_LISTENER => self.update_listener(c, id, p).await?,
            KIND_RULE => self.update_rule(c, id, p).await?,
            KIND_SG_INGRESS => {
                if let Some(cur) = &c.current {
                    self.revoke_backend_rule(cur).await?;
                }
                self.authorize_backend_rule(p).await?
            }
            kind => return Err(unmanaged(kind, c)),
        }
        Ok(engine::Progress::Done)
    }

    async fn delete(&self, c: &Change, id: &str) -> Result<engine::Progress> {
        match c.kind.as_str() {
            KIND_SG => self.delete_sg(id).await?,
            KIND_SG_INGRESS => self.revoke_backend_rule(&c.properties).await?,
            KIND_RULE => self.delete_rule(id).await?,
            KIND_LISTENER => {
                let req = self.elb.delete_listener().listener_arn(id);
                self.call_unless(ops::DELETE_LISTENER, &["ListenerNotFound"], || {
                    req.clone().send()
                })
                .await?;
            }
            KIND_TG => {
                let req = self.elb.delete_target_group().target_group_arn(id);
                self.call_unless(ops::DELETE_TARGET_GROUP, &["TargetGroupNotFound"], || {
                    req.clone().send()
                })
                .await?;
            }
            KIND_LB => {
                let req = self.elb.delete_load_balancer().load_balancer_arn(id);
                self.call_unless(ops::DELETE_LOAD_BALANCER, &["LoadBalancerNotFound"], || {
                    req.clone().send()
                })
                .await?;
            }
            kind => return Err(unmanaged(kind, c)),
        }
        Ok(engine::Progress::Done)
    }
}

fn unmanaged(kind: &str, c: &Change) -> Error {
    Error::Unavailable(format!(
        "the AWS provider does not manage {kind} (resource {})",
        c.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(props: Value) -> Change {
        Change {
            action: Action::Create,
            kind: KIND_LISTENER.into(),
            name: "lb:80".into(),
            id: None,
            properties: props.as_object().cloned().unwrap_or_default(),
            changed: vec![],
            current: None,
            shared: false,
        }
    }

    #[test]
    fn refs_resolve_or_fail_clearly() {
        let c = change(json!({}));
        let mut ids = BTreeMap::new();
        ids.insert("lb".to_string(), "arn:lb".to_string());
        let mut v = json!({"LoadBalancerArn": {"Ref": "lb"}, "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "tg"}}]});
        let err = resolve(&c, &mut v, &ids).unwrap_err();
        assert!(err.to_string().contains("\"tg\""), "{err}");
        ids.insert("tg".to_string(), "arn:tg".to_string());
        let mut v = json!({"LoadBalancerArn": {"Ref": "lb"}, "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "tg"}}]});
        resolve(&c, &mut v, &ids).unwrap();
        assert_eq!(
            v,
            json!({"LoadBalancerArn": "arn:lb", "DefaultActions": [{"Type": "forward", "TargetGroupArn": "arn:tg"}]})
        );
    }

    #[test]
    fn deltas() {
        let d = json!({"Targets": [{"Id": "i-1", "Port": 80}, {"Id": "i-2", "Port": 80}]});
        let c = json!({"Targets": [{"Id": "i-2", "Port": 80}, {"Id": "i-3", "Port": 80}]});
        let (add, remove) = target_delta(&targets(d.as_object()), &targets(c.as_object()));
        assert_eq!(add, vec![("i-1".to_string(), 80)]);
        assert_eq!(remove, vec![("i-3".to_string(), 80)]);

        let d = json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]});
        let c = json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "3"}, {"Key": "x", "Value": "y"}]});
        assert_eq!(
            pairs_to_set(&pairs(d.as_object(), "Tags"), &pairs(c.as_object(), "Tags")),
            vec![("b".to_string(), "2".to_string())]
        );
    }

    /// Apply refuses, before any call, to update or delete an ID that observe did not vouch for.
    #[tokio::test]
    async fn never_touches_an_id_observe_did_not_find() {
        use crate::metrics::CallCounter;
        use std::sync::Arc;
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let calls = Arc::new(CallCounter::default());
        let p = AwsProvider::new(&config, "c1".into(), None, calls.clone());
        for action in [Action::Delete, Action::Update] {
            let mut c = change(json!({}));
            c.action = action;
            c.kind = KIND_LB.into();
            c.id = Some("arn:theirs".into());
            c.changed = vec!["Tags".into()];
            let plan = Plan { changes: vec![c] };
            let err = p.apply_plan(&plan, &Observed::default()).await.unwrap_err();
            assert!(
                matches!(&err, Error::Conflict { id, .. } if id == "arn:theirs"),
                "{err}"
            );
        }
        assert_eq!(calls.total(), 0);
    }

    #[test]
    fn security_group_rules_change_by_delta_new_before_old() {
        let rule =
            |port: u16, cidr: &str| crate::aws::security_group::ingress_rule("tcp", port, cidr);
        let d = json!({"SecurityGroupIngress": [rule(80, "10.0.0.0/8"), rule(80, "192.168.0.0/16"), rule(443, "10.0.0.0/8")]});
        let mut stale = rule(443, "10.0.0.0/8");
        stale["Description"] = json!("old");
        let c = json!({"SecurityGroupIngress": [rule(80, "10.0.0.0/8"), rule(80, "0.0.0.0/0"), stale, rule(80, "::/0")]});
        let (first, add, last) = sg_rule_delta(&sg_rules(d.as_object()), &sg_rules(c.as_object()));
        let cidrs = |v: &[SgRule]| {
            v.iter()
                .map(|r| format!("{}/{}", r.1, r.3))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cidrs(&first),
            ["443/10.0.0.0/8"],
            "same rule, other description"
        );
        assert_eq!(cidrs(&add), ["80/192.168.0.0/16", "443/10.0.0.0/8"]);
        assert_eq!(cidrs(&last), ["80/0.0.0.0/0", "80/::/0"]);
        let same = sg_rules(d.as_object());
        let (a, b, c) = sg_rule_delta(&same, &same);
        assert!(a.is_empty() && b.is_empty() && c.is_empty());
        let perms = sdk_permissions(&last);
        assert_eq!(perms[1].ipv6_ranges()[0].cidr_ipv6(), Some("::/0"));
        assert_eq!(perms[0].ip_ranges()[0].cidr_ip(), Some("0.0.0.0/0"));
    }
}
