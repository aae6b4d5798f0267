//! What exists now and is ours: load balancers and target groups found by their ownership tags
//! (never by name alone), their listeners, attributes and registered targets, converted to the
//! same names and property shapes that [`super::translate`] (a Service's NLB) and
//! [`super::alb::translate`] (an Ingress group's ALB) produce, so that an unchanged Service or
//! group plans to nothing. Which load balancers and target groups can be ours follows the
//! owner: network ones with TCP/UDP/TLS target groups for a Service, application ones with
//! HTTP/HTTPS target groups (and the `ingress.k8s.aws/*` tags) for an Ingress group.
//!
//! Calls: DescribeLoadBalancers and DescribeTargetGroups (paged), DescribeTags in batches of 20
//! ARNs, then only for our resources: DescribeListeners per load balancer, DescribeRules per
//! listener (ALBs only; the default rule is the listener's DefaultActions), and the details the
//! desired state compares (attributes, targets, extra certificates).
//! Also one DescribeSecurityGroups call (EC2 filters by the cluster and stack tags server-side)
//! for the owner's managed security group, and a second one by group name (in its VPC) only
//! while a desired security group is not found among ours; for a Service whose group exists, one
//! more for the rules berth added to the targets' groups (filtered by their source, berth's
//! group: see [`super::backend_rules`]).

use super::client::AwsProvider;
use super::operations as ops;
use super::{tags, translate, KIND_LB, KIND_LISTENER, KIND_RULE, KIND_SG, KIND_TG};
use crate::error::Result;
use crate::frontend::{FrontendKind, ObjectRef};
use crate::plan::{Observed, ObservedResource, Resource};
use aws_sdk_ec2::types::{Filter, SecurityGroup};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, Certificate, Listener, LoadBalancer, LoadBalancerTypeEnum, ProtocolEnum, Rule,
    RuleCondition, TargetGroup, TargetHealthDescription, TargetHealthStateEnum,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// DescribeTags accepts at most 20 ARNs.
pub const TAG_BATCH: usize = 20;

/// Protocols a Network Load Balancer's target groups use; others cannot be ours.
const NLB_PROTOCOLS: [&str; 4] = ["TCP", "UDP", "TCP_UDP", "TLS"];

/// Protocols an Application Load Balancer's target groups use.
const ALB_PROTOCOLS: [&str; 2] = ["HTTP", "HTTPS"];

pub type Tags = BTreeMap<String, String>;

/// `[{Key, Value}]`, sorted by key (the shape translate uses for tags and attributes).
pub fn key_values<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Value {
    let sorted: BTreeMap<&str, &str> = pairs.into_iter().collect();
    Value::Array(
        sorted
            .into_iter()
            .map(|(k, v)| json!({"Key": k, "Value": v}))
            .collect(),
    )
}

fn tags_value(t: &Tags) -> Value {
    key_values(t.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

fn pairs_value(a: &[(String, String)]) -> Value {
    key_values(a.iter().map(|(k, v)| (k.as_str(), v.as_str())))
}

/// An SDK key and value (tag, attribute) as a pair; none without a key, "" without a value.
fn key_value(key: Option<&str>, value: Option<&str>) -> Option<(String, String)> {
    Some((key?.to_string(), value.unwrap_or_default().to_string()))
}

fn sg_tags(sg: &SecurityGroup) -> Tags {
    sg.tags()
        .iter()
        .filter_map(|t| key_value(t.key(), t.value()))
        .collect()
}

/// Sets `key` when there is a value.
fn put(m: &mut Map<String, Value>, key: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(key.into(), v.into());
    }
}

/// An object of the fields that have a value (in their order).
fn present<'a>(fields: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Value {
    let mut m = Map::new();
    for (k, v) in fields {
        put(&mut m, k, v);
    }
    Value::Object(m)
}

fn ours(id: impl Into<String>, resource: Resource) -> ObservedResource {
    ObservedResource {
        id: id.into(),
        resource,
        outputs: Map::new(),
    }
}

/// A load balancer as translate describes it. `attributes` only when they were described.
pub fn lb_resource(
    lb: &LoadBalancer,
    tags: &Tags,
    attributes: Option<&[(String, String)]>,
) -> Resource {
    let name = lb.load_balancer_name().unwrap_or_default().to_string();
    let mut m = Map::new();
    m.insert("Name".into(), json!(name));
    put(&mut m, "Type", lb.r#type().map(|t| t.as_str()));
    put(&mut m, "Scheme", lb.scheme().map(|s| s.as_str()));
    let mut subnets: Vec<&str> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    subnets.sort();
    m.insert("Subnets".into(), json!(subnets));
    let mut sgs: Vec<&str> = lb.security_groups().iter().map(String::as_str).collect();
    if !sgs.is_empty() {
        sgs.sort();
        m.insert("SecurityGroups".into(), json!(sgs));
    }
    put(
        &mut m,
        "IpAddressType",
        lb.ip_address_type().map(|t| t.as_str()),
    );
    if let Some(a) = attributes {
        m.insert("LoadBalancerAttributes".into(), pairs_value(a));
    }
    m.insert("Tags".into(), tags_value(tags));
    Resource {
        kind: KIND_LB.into(),
        name,
        properties: m,
    }
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
    m.insert("Tags".into(), tags_value(tags));
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

/// An action in the shape [`super::alb::rules`] renders it (keys in its order):
/// - forward: `{Type, TargetGroupArn}` for one target group of weight 1 without stickiness
///   (AWS also reports it as a one-element ForwardConfig), else `{Type, ForwardConfig:
///   {TargetGroups: [{TargetGroupArn, Weight}], TargetGroupStickinessConfig?}}` (stickiness only
///   when enabled: disabled is the default AWS reports back);
/// - redirect: `{Type, RedirectConfig: {Protocol, Port, Host, Path, Query, StatusCode}}`;
/// - fixed-response: `{Type, FixedResponseConfig: {StatusCode, ContentType?, MessageBody?}}`.
pub fn action_value(a: &Action) -> Value {
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

/// A rule condition in the shape [`super::alb`] writes it: `{Field, <Field>Config: {...}}`.
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
/// (the translator's [`super::alb::translate::rule_name`]); `None` for the default rule (the
/// listener's DefaultActions) and rules without a numeric priority.
pub fn rule_resource(listener_name: &str, listener_arn: &str, r: &Rule) -> Option<Resource> {
    if r.is_default() == Some(true) {
        return None;
    }
    let priority: u64 = r.priority()?.parse().ok()?;
    let conditions: Vec<Value> = r.conditions().iter().map(condition_value).collect();
    let mut actions: Vec<&Action> = r.actions().iter().collect();
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
        name: super::alb::translate::rule_name(listener_name, &conditions),
        properties: m,
    })
}

/// A listener as translate describes it, named `<lb name>:<port>`. `certificates`: the full
/// list when described (DescribeListenerCertificates), else the default one from the listener.
pub fn listener_resource(
    lb_name: &str,
    l: &Listener,
    certificates: Option<&[Certificate]>,
) -> Resource {
    let port = l.port().unwrap_or_default();
    let mut m = Map::new();
    put(&mut m, "LoadBalancerArn", l.load_balancer_arn());
    m.insert("Port".into(), json!(port));
    put(&mut m, "Protocol", l.protocol().map(|p| p.as_str()));
    let mut certs: Vec<&Certificate> = certificates.unwrap_or(l.certificates()).iter().collect();
    // The default certificate first, as translate lists it.
    certs.sort_by_key(|c| !c.is_default().unwrap_or(false));
    let certs: Vec<Value> = certs
        .iter()
        .filter_map(|c| c.certificate_arn())
        .map(|arn| json!({"CertificateArn": arn}))
        .collect();
    if !certs.is_empty() {
        m.insert("Certificates".into(), Value::Array(certs));
    }
    put(&mut m, "SslPolicy", l.ssl_policy());
    if !l.alpn_policy().is_empty() {
        m.insert("AlpnPolicy".into(), json!(l.alpn_policy()));
    }
    m.insert(
        "DefaultActions".into(),
        Value::Array(l.default_actions().iter().map(action_value).collect()),
    );
    Resource {
        kind: KIND_LISTENER.into(),
        name: translate::listener_name(lb_name, u16::try_from(port).unwrap_or_default()),
        properties: m,
    }
}

/// A managed security group as the translator describes it: one ingress entry per source
/// (`{IpProtocol, FromPort, ToPort, CidrIp | CidrIpv6 | SourcePrefixListId, Description?}`),
/// sorted. Rules that reference other security groups are not read (berth writes none).
pub fn sg_resource(sg: &SecurityGroup) -> Resource {
    let name = sg.group_name().unwrap_or_default().to_string();
    let mut m = Map::new();
    m.insert("GroupName".into(), json!(name));
    put(&mut m, "GroupDescription", sg.description());
    put(&mut m, "VpcId", sg.vpc_id());
    let mut rules: Vec<Value> = Vec::new();
    for p in sg.ip_permissions() {
        let entry = |key: &str, cidr: &str, description: Option<&str>| {
            let mut e = Map::new();
            e.insert(
                "IpProtocol".into(),
                json!(p.ip_protocol().unwrap_or_default()),
            );
            put(&mut e, "FromPort", p.from_port());
            put(&mut e, "ToPort", p.to_port());
            e.insert(key.into(), json!(cidr));
            put(&mut e, "Description", description.filter(|d| !d.is_empty()));
            Value::Object(e)
        };
        for r in p.ip_ranges() {
            if let Some(c) = r.cidr_ip() {
                rules.push(entry("CidrIp", c, r.description()));
            }
        }
        for r in p.ipv6_ranges() {
            if let Some(c) = r.cidr_ipv6() {
                rules.push(entry("CidrIpv6", c, r.description()));
            }
        }
        for r in p.prefix_list_ids() {
            if let Some(id) = r.prefix_list_id() {
                rules.push(entry("SourcePrefixListId", id, r.description()));
            }
        }
    }
    rules.sort_by_key(Value::to_string);
    rules.dedup();
    m.insert("SecurityGroupIngress".into(), Value::Array(rules));
    m.insert("Tags".into(), tags_value(&sg_tags(sg)));
    Resource {
        kind: KIND_SG.into(),
        name,
        properties: m,
    }
}

fn ec2_filter(name: &str, values: Vec<String>) -> Filter {
    Filter::builder()
        .name(name)
        .set_values(Some(values))
        .build()
}

/// Whether a load balancer is of the type berth makes for this owner: network for a Service,
/// application for an Ingress group.
fn is_our_type(lb: &LoadBalancer, alb: bool) -> bool {
    lb.r#type()
        == Some(if alb {
            &LoadBalancerTypeEnum::Application
        } else {
            &LoadBalancerTypeEnum::Network
        })
}

fn is_our_target_group(tg: &TargetGroup, alb: bool) -> bool {
    let protocols: &[&str] = if alb { &ALB_PROTOCOLS } else { &NLB_PROTOCOLS };
    tg.protocol()
        .map(ProtocolEnum::as_str)
        .is_some_and(|p| protocols.contains(&p))
}

/// What the desired state asks about, by kind and name.
struct Wanted<'a> {
    by_name: BTreeMap<(&'a str, &'a str), &'a Resource>,
}

impl<'a> Wanted<'a> {
    fn new(desired: &'a [Resource]) -> Self {
        Wanted {
            by_name: desired
                .iter()
                .map(|r| ((r.kind.as_str(), r.name.as_str()), r))
                .collect(),
        }
    }

    fn get(&self, kind: &str, name: &str) -> Option<&'a Resource> {
        self.by_name.get(&(kind, name)).copied()
    }

    fn has(&self, kind: &str, name: &str, property: &str) -> bool {
        self.get(kind, name)
            .is_some_and(|r| r.properties.contains_key(property))
    }

    /// How many certificates the desired listener lists.
    fn certificates(&self, name: &str) -> usize {
        self.get(KIND_LISTENER, name)
            .and_then(|r| r.properties.get("Certificates"))
            .and_then(Value::as_array)
            .map_or(0, Vec::len)
    }
}

/// Whose resources observe looks for.
struct Scope<'a> {
    owner: &'a ObjectRef,
    cluster: &'a str,
    wanted: &'a Wanted<'a>,
}

impl AwsProvider {
    /// Of load balancers or target groups (`kind`): those of our type that carry the owner's
    /// tags, with their tags (DescribeTags only for ours by type and the wanted by name); the
    /// others that the desired state names are recorded as foreign.
    async fn sort_out<T>(
        &self,
        all: Vec<T>,
        kind: &str,
        arn_name: impl Fn(&T) -> (Option<&str>, Option<&str>),
        our_type: impl Fn(&T) -> bool,
        scope: &Scope<'_>,
        observed: &mut Observed,
    ) -> Result<Vec<(T, Tags)>> {
        let candidates: Vec<T> = all
            .into_iter()
            .filter(|x| {
                our_type(x)
                    || scope
                        .wanted
                        .get(kind, arn_name(x).1.unwrap_or_default())
                        .is_some()
            })
            .collect();
        let arns: Vec<String> = candidates
            .iter()
            .filter_map(|x| arn_name(x).0.map(String::from))
            .collect();
        let tags_by_arn = if arns.is_empty() {
            BTreeMap::new()
        } else {
            self.tags_of(&arns).await?
        };
        let mut owned = Vec::new();
        for x in candidates {
            let (Some(arn), Some(name)) = arn_name(&x) else {
                continue;
            };
            let t = tags_by_arn.get(arn).cloned().unwrap_or_default();
            if our_type(&x) && tags::owned_by_owner(&t, scope.cluster, scope.owner) {
                owned.push((x, t));
            } else if scope.wanted.get(kind, name).is_some() {
                observed
                    .foreign
                    .insert((kind.to_string(), name.to_string()), arn.to_string());
            }
        }
        Ok(owned)
    }

    /// Every load balancer in the region (paged).
    async fn all_load_balancers(&self) -> Result<Vec<LoadBalancer>> {
        self.all_pages(
            ops::DESCRIBE_LOAD_BALANCERS,
            |m| {
                self.elb
                    .describe_load_balancers()
                    .page_size(400)
                    .set_marker(m)
                    .send()
            },
            |p| (p.load_balancers, p.next_marker),
        )
        .await
    }

    /// Every target group in the region (paged).
    async fn all_target_groups(&self) -> Result<Vec<TargetGroup>> {
        self.all_pages(
            ops::DESCRIBE_TARGET_GROUPS,
            |m| {
                self.elb
                    .describe_target_groups()
                    .page_size(400)
                    .set_marker(m)
                    .send()
            },
            |p| (p.target_groups, p.next_marker),
        )
        .await
    }

    /// Tags of ELBv2 resources, 20 ARNs per DescribeTags call.
    pub(crate) async fn tags_of(&self, arns: &[String]) -> Result<BTreeMap<String, Tags>> {
        let mut out = BTreeMap::new();
        for batch in arns.chunks(TAG_BATCH) {
            let req = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(batch.to_vec()));
            let page = self.call(ops::DESCRIBE_TAGS, || req.clone().send()).await?;
            for d in page.tag_descriptions() {
                let Some(arn) = d.resource_arn() else {
                    continue;
                };
                let t: Tags = d
                    .tags()
                    .iter()
                    .filter_map(|t| key_value(t.key(), t.value()))
                    .collect();
                out.insert(arn.to_string(), t);
            }
        }
        Ok(out)
    }

    async fn listeners_of(&self, lb_arn: &str) -> Result<Vec<Listener>> {
        self.all_pages(
            ops::DESCRIBE_LISTENERS,
            |m| {
                self.elb
                    .describe_listeners()
                    .load_balancer_arn(lb_arn)
                    .set_marker(m)
                    .send()
            },
            |p| (p.listeners, p.next_marker),
        )
        .await
    }

    /// A listener's rules (paged), the default rule included.
    async fn rules_of(&self, listener_arn: &str) -> Result<Vec<Rule>> {
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

    pub(crate) async fn listener_certificates(
        &self,
        listener_arn: &str,
    ) -> Result<Vec<Certificate>> {
        self.all_pages(
            ops::DESCRIBE_LISTENER_CERTIFICATES,
            |m| {
                self.elb
                    .describe_listener_certificates()
                    .listener_arn(listener_arn)
                    .set_marker(m)
                    .send()
            },
            |p| (p.certificates, p.next_marker),
        )
        .await
    }

    async fn lb_attributes(&self, arn: &str) -> Result<Vec<(String, String)>> {
        let req = self
            .elb
            .describe_load_balancer_attributes()
            .load_balancer_arn(arn);
        let out = self
            .call(ops::DESCRIBE_LOAD_BALANCER_ATTRIBUTES, || {
                req.clone().send()
            })
            .await?;
        Ok(out
            .attributes()
            .iter()
            .filter_map(|a| key_value(a.key(), a.value()))
            .collect())
    }

    async fn tg_attributes(&self, arn: &str) -> Result<Vec<(String, String)>> {
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

    async fn targets_of(&self, arn: &str) -> Result<Vec<TargetHealthDescription>> {
        let req = self.elb.describe_target_health().target_group_arn(arn);
        let out = self
            .call(ops::DESCRIBE_TARGET_HEALTH, || req.clone().send())
            .await?;
        Ok(out.target_health_descriptions().to_vec())
    }

    /// Security groups matching the filters (paged).
    async fn security_groups(&self, filters: Vec<Filter>) -> Result<Vec<SecurityGroup>> {
        self.all_pages(
            ops::DESCRIBE_SECURITY_GROUPS,
            |token| {
                self.ec2
                    .describe_security_groups()
                    .set_filters(Some(filters.clone()))
                    .set_next_token(token)
                    .send()
            },
            |p| (p.security_groups, p.next_token),
        )
        .await
    }

    /// An owner's managed security groups: found by the cluster and stack tags in one
    /// DescribeSecurityGroups call (EC2 filters by tag server-side). A desired group that is
    /// not among them is looked up by name (in its VPC): one that exists is someone else's.
    async fn observe_security_groups(
        &self,
        owner: &ObjectRef,
        cluster: &str,
        desired: &[Resource],
        observed: &mut Observed,
    ) -> Result<()> {
        let found = self
            .security_groups(vec![
                ec2_filter(&format!("tag:{}", tags::CLUSTER), vec![cluster.to_string()]),
                ec2_filter(
                    &format!("tag:{}", tags::stack_key(owner)),
                    vec![tags::stack_value(owner)],
                ),
            ])
            .await?;
        for sg in &found {
            let Some(id) = sg.group_id() else { continue };
            if tags::owned_by_owner(&sg_tags(sg), cluster, owner) {
                observed.resources.push(ours(id, sg_resource(sg)));
            }
        }
        for d in desired.iter().filter(|d| d.kind == KIND_SG) {
            if observed.find(KIND_SG, &d.name).is_some() {
                continue;
            }
            let mut filters = vec![ec2_filter("group-name", vec![d.name.clone()])];
            let vpc = d
                .properties
                .get("VpcId")
                .and_then(Value::as_str)
                .map(String::from)
                .or_else(|| self.vpc_id.clone());
            if let Some(v) = vpc {
                filters.push(ec2_filter("vpc-id", vec![v]));
            }
            if let Some(id) = self
                .security_groups(filters)
                .await?
                .iter()
                .find_map(|sg| sg.group_id())
            {
                observed
                    .foreign
                    .insert((KIND_SG.to_string(), d.name.clone()), id.to_string());
            }
        }
        Ok(())
    }

    /// Our resources for `owner`, and same-named resources that are not ours.
    pub async fn observe_owned(
        &self,
        owner: &ObjectRef,
        cluster: &str,
        desired: &[Resource],
    ) -> Result<Observed> {
        let alb = owner.kind != FrontendKind::Service;
        let wanted = Wanted::new(desired);
        let mut observed = Observed::default();
        self.observe_security_groups(owner, cluster, desired, &mut observed)
            .await?;
        if !alb {
            self.observe_backend_rules(&mut observed).await?;
        }

        // Load balancers: only network ones (Services) or application ones (Ingress groups) can
        // be ours; same-named others are conflicts.
        let scope = Scope {
            owner,
            cluster,
            wanted: &wanted,
        };
        let owned_lbs = self
            .sort_out(
                self.all_load_balancers().await?,
                KIND_LB,
                |lb| (lb.load_balancer_arn(), lb.load_balancer_name()),
                |lb| is_our_type(lb, alb),
                &scope,
                &mut observed,
            )
            .await?;

        // Target groups.
        let owned_tgs = self
            .sort_out(
                self.all_target_groups().await?,
                KIND_TG,
                |tg| (tg.target_group_arn(), tg.target_group_name()),
                |tg| is_our_target_group(tg, alb),
                &scope,
                &mut observed,
            )
            .await?;

        // Details, only for ours and only what the desired state compares.
        let mut listeners = Vec::new();
        let mut rules = Vec::new();
        for (lb, t) in &owned_lbs {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let name = lb.load_balancer_name().unwrap_or_default();
            let attrs = if wanted.has(KIND_LB, name, "LoadBalancerAttributes") {
                Some(self.lb_attributes(&arn).await?)
            } else {
                None
            };
            let mut outputs = Map::new();
            put(&mut outputs, "DNSName", lb.dns_name());
            put(
                &mut outputs,
                "CanonicalHostedZoneID",
                lb.canonical_hosted_zone_id(),
            );
            observed.resources.push(ObservedResource {
                id: arn.clone(),
                resource: lb_resource(lb, t, attrs.as_deref()),
                outputs,
            });
            for l in self.listeners_of(&arn).await? {
                let Some(l_arn) = l.listener_arn().map(String::from) else {
                    continue;
                };
                let l_name = translate::listener_name(
                    name,
                    u16::try_from(l.port().unwrap_or_default()).unwrap_or_default(),
                );
                // DescribeListeners reports only the default certificate.
                let certs = if wanted.certificates(&l_name) > 1 {
                    Some(self.listener_certificates(&l_arn).await?)
                } else {
                    None
                };
                if alb {
                    for r in self.rules_of(&l_arn).await? {
                        if let (Some(r_arn), Some(res)) =
                            (r.rule_arn(), rule_resource(&l_name, &l_arn, &r))
                        {
                            rules.push(ours(r_arn, res));
                        }
                    }
                }
                listeners.push(ours(l_arn, listener_resource(name, &l, certs.as_deref())));
            }
        }
        for (tg, t) in &owned_tgs {
            let arn = tg.target_group_arn().unwrap_or_default().to_string();
            let name = tg.target_group_name().unwrap_or_default();
            let attrs = if wanted.has(KIND_TG, name, "TargetGroupAttributes") {
                Some(self.tg_attributes(&arn).await?)
            } else {
                None
            };
            let targets = if wanted.get(KIND_TG, name).is_some() {
                Some(self.targets_of(&arn).await?)
            } else {
                None
            };
            observed.resources.push(ours(
                arn,
                tg_resource(tg, t, attrs.as_deref(), targets.as_deref()),
            ));
        }
        observed.resources.extend(listeners);
        observed.resources.extend(rules);
        Ok(observed)
    }
}

/// The IDs observe vouched for (apply acts on nothing else).
pub fn owned_ids(observed: &Observed) -> BTreeSet<&str> {
    observed.resources.iter().map(|o| o.id.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_elasticloadbalancingv2::types::{
        ActionTypeEnum, AvailabilityZone, ForwardActionConfig, IpAddressType,
        LoadBalancerSchemeEnum, Matcher, TargetDescription, TargetGroupTuple, TargetHealth,
        TargetTypeEnum,
    };

    fn owner_tags() -> Tags {
        [
            (tags::CLUSTER, "c1"),
            (tags::STACK, "ns/web"),
            (tags::MANAGED_BY, tags::MANAGED_BY_VALUE),
            ("aaa", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn load_balancer_shape() {
        let lb = LoadBalancer::builder()
            .load_balancer_name("lb1")
            .r#type(LoadBalancerTypeEnum::Network)
            .scheme(LoadBalancerSchemeEnum::Internal)
            .ip_address_type(IpAddressType::Ipv4)
            .availability_zones(AvailabilityZone::builder().subnet_id("subnet-b").build())
            .availability_zones(AvailabilityZone::builder().subnet_id("subnet-a").build())
            .build();
        let attrs = vec![
            ("b".to_string(), "2".to_string()),
            ("a".to_string(), "1".to_string()),
        ];
        let r = lb_resource(&lb, &owner_tags(), Some(&attrs));
        assert_eq!(r.kind, KIND_LB);
        assert_eq!(r.name, "lb1");
        let p = Value::Object(r.properties);
        assert_eq!(p["Type"], "network");
        assert_eq!(p["Scheme"], "internal");
        assert_eq!(p["Subnets"], json!(["subnet-a", "subnet-b"]));
        assert_eq!(
            p["LoadBalancerAttributes"],
            json!([{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}])
        );
        assert_eq!(p["Tags"][0], json!({"Key": "aaa", "Value": "x"}));
    }

    #[test]
    fn target_group_shape_and_draining_targets_are_gone() {
        let tg = TargetGroup::builder()
            .target_group_name("tg1")
            .protocol(ProtocolEnum::Tcp)
            .port(30080)
            .target_type(TargetTypeEnum::Instance)
            .vpc_id("vpc-1")
            .health_check_enabled(true)
            .health_check_protocol(ProtocolEnum::Http)
            .health_check_port("traffic-port")
            .health_check_path("/healthz")
            .health_check_interval_seconds(10)
            .matcher(Matcher::builder().http_code("200-399").build())
            .build();
        let health = |id: &str, state: TargetHealthStateEnum| {
            TargetHealthDescription::builder()
                .target(TargetDescription::builder().id(id).port(30080).build())
                .target_health(TargetHealth::builder().state(state).build())
                .build()
        };
        let targets = vec![
            health("i-2", TargetHealthStateEnum::Healthy),
            health("i-1", TargetHealthStateEnum::Initial),
            health("i-3", TargetHealthStateEnum::Draining),
        ];
        let r = tg_resource(&tg, &owner_tags(), None, Some(&targets));
        let p = Value::Object(r.properties);
        assert_eq!(p["Port"], json!(30080u16));
        assert_eq!(p["HealthCheckPort"], "traffic-port");
        assert_eq!(p["Matcher"], json!({"HttpCode": "200-399"}));
        assert_eq!(
            p["Targets"],
            json!([{"Id": "i-1", "Port": 30080}, {"Id": "i-2", "Port": 30080}])
        );
        assert!(p.get("TargetGroupAttributes").is_none());
    }

    #[test]
    fn listener_shape_default_certificate_first_and_forward_config_folded() {
        let l = Listener::builder()
            .load_balancer_arn("arn:lb")
            .port(443)
            .protocol(ProtocolEnum::Tls)
            .ssl_policy("ELBSecurityPolicy-2016-08")
            .default_actions(
                Action::builder()
                    .r#type(ActionTypeEnum::Forward)
                    .forward_config(
                        ForwardActionConfig::builder()
                            .target_groups(
                                TargetGroupTuple::builder()
                                    .target_group_arn("arn:tg")
                                    .weight(1)
                                    .build(),
                            )
                            .build(),
                    )
                    .build(),
            )
            .build();
        let certs = vec![
            Certificate::builder()
                .certificate_arn("arn:c2")
                .is_default(false)
                .build(),
            Certificate::builder()
                .certificate_arn("arn:c1")
                .is_default(true)
                .build(),
        ];
        let r = listener_resource("lb1", &l, Some(&certs));
        assert_eq!(r.name, "lb1:443");
        let p = Value::Object(r.properties);
        assert_eq!(
            p["Certificates"],
            json!([{"CertificateArn": "arn:c1"}, {"CertificateArn": "arn:c2"}])
        );
        assert_eq!(
            p["DefaultActions"],
            json!([{"Type": "forward", "TargetGroupArn": "arn:tg"}])
        );
        assert_eq!(p["Port"], json!(443));
    }

    /// Every action and condition of the ALB goldens survives the trip desired JSON -> SDK
    /// request (apply) -> what observe makes of it, byte for byte (key order included: the
    /// plan compares list items as strings), and an observed rule gets the translator's name.
    #[test]
    fn alb_goldens_round_trip_through_the_sdk_shapes() {
        use crate::aws::apply::{sdk_action, sdk_condition};
        use aws_sdk_elasticloadbalancingv2::types::Rule as SdkRule;
        fn unref(v: &mut Value) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(name)) = m.get("Ref") {
                        *v = json!(format!("arn:{name}"));
                        return;
                    }
                    m.values_mut().for_each(unref);
                }
                Value::Array(a) => a.iter_mut().for_each(unref),
                _ => {}
            }
        }
        let goldens = [
            include_str!("../../../testdata/alb-actions.plan.json"),
            include_str!("../../../testdata/alb-basic.plan.json"),
            include_str!("../../../testdata/alb-group.plan.json"),
            include_str!("../../../testdata/alb-group-isolation.plan.json"),
        ];
        let mut seen = BTreeSet::new();
        for g in goldens {
            let mut plan: Value = serde_json::from_str(g).unwrap();
            unref(&mut plan);
            for c in plan["changes"].as_array().unwrap() {
                let p = &c["properties"];
                for key in ["DefaultActions", "Actions"] {
                    for a in p[key].as_array().into_iter().flatten() {
                        let back = action_value(&sdk_action(a));
                        assert_eq!(back.to_string(), a.to_string());
                        seen.insert(a["Type"].as_str().unwrap().to_string());
                        if a.get("ForwardConfig").is_some() {
                            seen.insert("weighted".to_string());
                        }
                    }
                }
                if c["kind"] != KIND_RULE {
                    continue;
                }
                let conditions: Vec<RuleCondition> = p["Conditions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(sdk_condition)
                    .collect();
                for (sent, cond) in p["Conditions"].as_array().unwrap().iter().zip(&conditions) {
                    assert_eq!(condition_value(cond).to_string(), sent.to_string());
                    seen.insert(sent["Field"].as_str().unwrap().to_string());
                }
                let rule = SdkRule::builder()
                    .rule_arn("arn:rule")
                    .priority(p["Priority"].to_string())
                    .is_default(false)
                    .set_conditions(Some(conditions))
                    .set_actions(Some(
                        p["Actions"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(sdk_action)
                            .collect(),
                    ))
                    .build();
                let listener = p["ListenerArn"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("arn:");
                let r = rule_resource(listener, "arn:l", &rule).unwrap();
                assert_eq!(r.name, c["name"].as_str().unwrap());
                assert_eq!(r.properties["Priority"], p["Priority"]);
                assert_eq!(r.properties["Conditions"], p["Conditions"]);
            }
        }
        for kind in [
            "forward",
            "weighted",
            "redirect",
            "fixed-response",
            "host-header",
            "path-pattern",
        ] {
            assert!(seen.contains(kind), "the goldens have no {kind}: {seen:?}");
        }
    }

    #[test]
    fn a_simple_forward_reported_as_a_forward_config_reads_as_the_short_form() {
        use aws_sdk_elasticloadbalancingv2::types::TargetGroupStickinessConfig;
        let a = Action::builder()
            .r#type(ActionTypeEnum::Forward)
            .target_group_arn("arn:tg")
            .forward_config(
                ForwardActionConfig::builder()
                    .target_groups(
                        TargetGroupTuple::builder()
                            .target_group_arn("arn:tg")
                            .weight(1)
                            .build(),
                    )
                    .target_group_stickiness_config(
                        TargetGroupStickinessConfig::builder()
                            .enabled(false)
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(
            action_value(&a),
            json!({"Type": "forward", "TargetGroupArn": "arn:tg"})
        );
    }
}
