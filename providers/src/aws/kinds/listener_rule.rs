//! `AWS::ElasticLoadBalancingV2::ListenerRule` and the actions and conditions listeners and
//! rules share, in both directions (SDK <-> the translator's shapes); DescribeRules; and the
//! collision-free priority moves (one SetRulePriorities call) before rules are created.

use super::*;
use crate::aws::client::AwsProvider;
use crate::aws::operations as ops;
use crate::aws::KIND_RULE;
use crate::error::{Error, Result};
use crate::plan::{Change, Observed, Resource};
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, FixedResponseActionConfig, ForwardActionConfig,
    HostHeaderConditionConfig, HttpHeaderConditionConfig, HttpRequestMethodConditionConfig,
    PathPatternConditionConfig, QueryStringConditionConfig, QueryStringKeyValuePair,
    RedirectActionConfig, RedirectActionStatusCodeEnum, Rule, RuleCondition, RulePriorityPair,
    SourceIpConditionConfig, TargetGroupStickinessConfig, TargetGroupTuple,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

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
pub(crate) fn sdk_actions(p: &Map<String, Value>, key: &str) -> Vec<ElbAction> {
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

pub(crate) fn sdk_conditions(p: &Map<String, Value>) -> Vec<RuleCondition> {
    entries(Some(p), "Conditions", |c| Some(sdk_condition(c)))
}

/// An action in the shape [`crate::aws::alb::rules`] renders it (keys in its order):
/// - forward: `{Type, TargetGroupArn}` for one target group of weight 1 without stickiness
///   (AWS also reports it as a one-element ForwardConfig), else `{Type, ForwardConfig:
///   {TargetGroups: [{TargetGroupArn, Weight}], TargetGroupStickinessConfig?}}` (stickiness only
///   when enabled: disabled is the default AWS reports back);
/// - redirect: `{Type, RedirectConfig: {Protocol, Port, Host, Path, Query, StatusCode}}`;
/// - fixed-response: `{Type, FixedResponseConfig: {StatusCode, ContentType?, MessageBody?}}`.
pub fn action_value(a: &ElbAction) -> Value {
    let t = a.r#type().map(|t| t.as_str()).unwrap_or_default();
    let mut m = Map::new();
    m.insert("Type".into(), json!(t));
    match t {
        "forward" => {
            let fc = a.forward_config();
            let mut groups: Vec<(String, i32)> = fc
                .map(|fc| {
                    fc.target_groups()
                        .iter()
                        .filter_map(|g| {
                            Some((g.target_group_arn()?.to_string(), g.weight().unwrap_or(1)))
                        })
                        .collect()
                })
                .unwrap_or_default();
            if groups.is_empty() {
                if let Some(arn) = a.target_group_arn() {
                    groups.push((arn.to_string(), 1));
                }
            }
            let sticky = fc
                .and_then(|fc| fc.target_group_stickiness_config())
                .filter(|s| s.enabled() == Some(true));
            match (groups.as_slice(), sticky) {
                ([(arn, 1)], None) => {
                    m.insert("TargetGroupArn".into(), json!(arn));
                }
                ([], None) => {}
                _ => {
                    let mut f = Map::new();
                    f.insert(
                        "TargetGroups".into(),
                        Value::Array(
                            groups
                                .iter()
                                .map(|(arn, w)| json!({"TargetGroupArn": arn, "Weight": w}))
                                .collect(),
                        ),
                    );
                    if let Some(s) = sticky {
                        let mut sm = Map::new();
                        sm.insert("Enabled".into(), json!(true));
                        put(&mut sm, "DurationSeconds", s.duration_seconds());
                        f.insert("TargetGroupStickinessConfig".into(), Value::Object(sm));
                    }
                    m.insert("ForwardConfig".into(), Value::Object(f));
                }
            }
        }
        "redirect" => {
            if let Some(r) = a.redirect_config() {
                let fields = [
                    ("Protocol", r.protocol()),
                    ("Port", r.port()),
                    ("Host", r.host()),
                    ("Path", r.path()),
                    ("Query", r.query()),
                    ("StatusCode", r.status_code().map(|c| c.as_str())),
                ];
                m.insert("RedirectConfig".into(), present(fields));
            }
        }
        "fixed-response" => {
            if let Some(f) = a.fixed_response_config() {
                let fields = [
                    ("StatusCode", f.status_code()),
                    ("ContentType", f.content_type()),
                    ("MessageBody", f.message_body()),
                ];
                m.insert("FixedResponseConfig".into(), present(fields));
            }
        }
        _ => {
            put(&mut m, "TargetGroupArn", a.target_group_arn());
        }
    }
    Value::Object(m)
}

/// A rule condition in the shape [`crate::aws::alb`] writes it: `{Field, <Field>Config: {...}}`.
/// AWS (and emulators) may report host-header and path-pattern values only in the legacy
/// `Values`; they are read from there when the config is missing.
pub fn condition_value(c: &RuleCondition) -> Value {
    let field = c.field().unwrap_or_default();
    let strings = |v: &[String]| json!(v);
    let legacy = c.values();
    let (key, config) = match field {
        "host-header" => (
            "HostHeaderConfig",
            json!({"Values": strings(c.host_header_config().map(|h| h.values()).filter(|v| !v.is_empty()).unwrap_or(legacy))}),
        ),
        "path-pattern" => (
            "PathPatternConfig",
            json!({"Values": strings(c.path_pattern_config().map(|h| h.values()).filter(|v| !v.is_empty()).unwrap_or(legacy))}),
        ),
        "http-header" => {
            let h = c.http_header_config();
            (
                "HttpHeaderConfig",
                json!({
                    "HttpHeaderName": h.and_then(|h| h.http_header_name()).unwrap_or_default(),
                    "Values": strings(h.map(|h| h.values()).unwrap_or_default()),
                }),
            )
        }
        "http-request-method" => (
            "HttpRequestMethodConfig",
            json!({"Values": strings(c.http_request_method_config().map(|h| h.values()).unwrap_or_default())}),
        ),
        "source-ip" => (
            "SourceIpConfig",
            json!({"Values": strings(c.source_ip_config().map(|h| h.values()).unwrap_or_default())}),
        ),
        "query-string" => {
            let values: Vec<Value> = c
                .query_string_config()
                .map(|q| q.values())
                .unwrap_or_default()
                .iter()
                .map(|kv| {
                    let mut e = Map::new();
                    put(&mut e, "Key", kv.key());
                    e.insert("Value".into(), json!(kv.value().unwrap_or_default()));
                    Value::Object(e)
                })
                .collect();
            ("QueryStringConfig", json!({"Values": values}))
        }
        _ => ("Values", strings(legacy)),
    };
    let mut m = Map::new();
    m.insert("Field".into(), json!(field));
    m.insert(key.into(), config);
    Value::Object(m)
}

/// A listener rule as the ALB translator describes it, named by its listener and conditions
/// (the translator's [`crate::aws::alb::translate::rule_name`]); `None` for the default rule (the
/// listener's DefaultActions) and rules without a numeric priority.
pub fn rule_resource(listener_name: &str, listener_arn: &str, r: &Rule) -> Option<Resource> {
    if r.is_default() == Some(true) {
        return None;
    }
    let priority: u64 = r.priority()?.parse().ok()?;
    let conditions: Vec<Value> = r.conditions().iter().map(condition_value).collect();
    let mut actions: Vec<&ElbAction> = r.actions().iter().collect();
    actions.sort_by_key(|a| a.order().unwrap_or(0));
    let mut m = Map::new();
    m.insert("ListenerArn".into(), json!(listener_arn));
    m.insert("Priority".into(), json!(priority));
    m.insert("Conditions".into(), Value::Array(conditions.clone()));
    m.insert(
        "Actions".into(),
        Value::Array(actions.into_iter().map(action_value).collect()),
    );
    Some(Resource {
        kind: KIND_RULE.into(),
        name: crate::aws::alb::translate::rule_name(listener_name, &conditions),
        properties: m,
    })
}

impl AwsProvider {
    pub(crate) async fn set_rule_priorities(
        &self,
        moves: &[(String, i32)],
        absent: &[&str],
    ) -> Result<bool> {
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
    pub(crate) async fn move_rules(
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
                    .ok_or_else(|| Error::Quota {
                        object: String::new(),
                        what: format!("listener {l} has no free rule priority (1-50000)"),
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
    pub(crate) async fn create_rule(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
        let priority = int_of(p, "Priority").ok_or_else(|| {
            Error::Bug(format!(
                "the plan's {} {} has no numeric Priority",
                c.kind, c.name
            ))
        })?;
        let req = self
            .elb
            .create_rule()
            .listener_arn(required(c, p, "ListenerArn")?)
            .priority(priority)
            .set_conditions(Some(sdk_conditions(p)))
            .set_actions(Some(sdk_actions(p, "Actions")))
            .set_tags(Some(sdk_tags(&pairs(Some(p), "Tags"))).filter(|t| !t.is_empty()));
        let out = self.call(ops::CREATE_RULE, || req.clone().send()).await?;
        returned(
            "CreateRule",
            "ARN",
            out.rules().first().and_then(|r| r.rule_arn()),
        )
    }

    /// ModifyRule for conditions and actions; a priority moved earlier (SetRulePriorities).
    pub(crate) async fn update_rule(
        &self,
        c: &Change,
        arn: &str,
        p: &Map<String, Value>,
    ) -> Result<()> {
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if changed("Tags") {
            self.add_tags(arn, p, c.current.as_ref()).await?;
        }
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

    pub(crate) async fn delete_rule(&self, arn: &str) -> Result<()> {
        let req = self.elb.delete_rule().rule_arn(arn);
        self.call_unless(ops::DELETE_RULE, &["RuleNotFound"], || req.clone().send())
            .await?;
        Ok(())
    }

    /// A listener's rules (paged), the default rule included.
    pub(crate) async fn rules_of(&self, listener_arn: &str) -> Result<Vec<Rule>> {
        self.all_pages(
            ops::DESCRIBE_RULES,
            |m| {
                self.elb
                    .describe_rules()
                    .listener_arn(listener_arn)
                    .set_marker(m)
                    .send()
            },
            |p| (p.rules, p.next_marker),
        )
        .await
    }
}
