//! What exists now and is ours: load balancers and target groups found by their ownership tags
//! (never by name alone), their listeners, attributes and registered targets, converted to the
//! same names and property shapes that [`super::translate`] produces, so that an unchanged
//! Service plans to nothing.
//!
//! Calls: DescribeLoadBalancers and DescribeTargetGroups (paged), DescribeTags in batches of 20
//! ARNs, then only for our resources: DescribeListeners per load balancer, and the details the
//! desired state compares (attributes, targets, extra certificates).

use super::client::AwsProvider;
use super::operations as ops;
use super::{tags, translate, KIND_LB, KIND_LISTENER, KIND_TG};
use crate::error::Result;
use crate::frontend::ObjectRef;
use crate::plan::{Observed, ObservedResource, Resource};
use aws_sdk_elasticloadbalancingv2::types::{
    Action, Certificate, Listener, LoadBalancer, LoadBalancerTypeEnum, ProtocolEnum, TargetGroup,
    TargetHealthDescription, TargetHealthStateEnum,
};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// DescribeTags accepts at most 20 ARNs.
pub const TAG_BATCH: usize = 20;

/// Protocols a Network Load Balancer's target groups use; others cannot be ours.
const NLB_PROTOCOLS: [&str; 4] = ["TCP", "UDP", "TCP_UDP", "TLS"];

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

/// A load balancer as translate describes it. `attributes` only when they were described.
pub fn lb_resource(
    lb: &LoadBalancer,
    tags: &Tags,
    attributes: Option<&[(String, String)]>,
) -> Resource {
    let name = lb.load_balancer_name().unwrap_or_default().to_string();
    let mut m = Map::new();
    m.insert("Name".into(), json!(name));
    if let Some(t) = lb.r#type() {
        m.insert("Type".into(), json!(t.as_str()));
    }
    if let Some(s) = lb.scheme() {
        m.insert("Scheme".into(), json!(s.as_str()));
    }
    let mut subnets: Vec<&str> = lb
        .availability_zones()
        .iter()
        .filter_map(|z| z.subnet_id())
        .collect();
    subnets.sort();
    m.insert("Subnets".into(), json!(subnets));
    if let Some(t) = lb.ip_address_type() {
        m.insert("IpAddressType".into(), json!(t.as_str()));
    }
    if let Some(a) = attributes {
        m.insert(
            "LoadBalancerAttributes".into(),
            key_values(a.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
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
    }
    if let Some(p) = tg.port() {
        m.insert("Port".into(), json!(p));
    }
    if let Some(t) = tg.target_type() {
        m.insert("TargetType".into(), json!(t.as_str()));
    }
    if let Some(v) = tg.vpc_id() {
        m.insert("VpcId".into(), json!(v));
    }
    if let Some(e) = tg.health_check_enabled() {
        m.insert("HealthCheckEnabled".into(), json!(e));
    }
    if let Some(p) = tg.health_check_protocol() {
        m.insert("HealthCheckProtocol".into(), json!(p.as_str()));
    }
    if let Some(p) = tg.health_check_port() {
        m.insert("HealthCheckPort".into(), json!(p));
    }
    if let Some(p) = tg.health_check_path() {
        m.insert("HealthCheckPath".into(), json!(p));
    }
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
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    if let Some(code) = tg.matcher().and_then(|x| x.http_code()) {
        m.insert("Matcher".into(), json!({"HttpCode": code}));
    }
    if let Some(a) = attributes {
        m.insert(
            "TargetGroupAttributes".into(),
            key_values(a.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        );
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

/// `{Type, TargetGroupArn}` for forward actions (AWS also reports the same target group as a
/// one-element ForwardConfig), `{Type}` for the others.
pub fn action_value(a: &Action) -> Value {
    let t = a.r#type().map(|t| t.as_str()).unwrap_or_default();
    let tg = a.target_group_arn().or_else(|| {
        let groups = a.forward_config()?.target_groups();
        match groups {
            [one] => one.target_group_arn(),
            _ => None,
        }
    });
    match tg {
        Some(arn) => json!({"Type": t, "TargetGroupArn": arn}),
        None => json!({"Type": t}),
    }
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
    if let Some(a) = l.load_balancer_arn() {
        m.insert("LoadBalancerArn".into(), json!(a));
    }
    m.insert("Port".into(), json!(port));
    if let Some(p) = l.protocol() {
        m.insert("Protocol".into(), json!(p.as_str()));
    }
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
    if let Some(p) = l.ssl_policy() {
        m.insert("SslPolicy".into(), json!(p));
    }
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

fn is_network(lb: &LoadBalancer) -> bool {
    lb.r#type() == Some(&LoadBalancerTypeEnum::Network)
}

fn is_nlb_target_group(tg: &TargetGroup) -> bool {
    tg.protocol()
        .map(ProtocolEnum::as_str)
        .is_some_and(|p| NLB_PROTOCOLS.contains(&p))
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

impl AwsProvider {
    /// Every load balancer in the region (paged).
    async fn all_load_balancers(&self) -> Result<Vec<LoadBalancer>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = self
                .elb
                .describe_load_balancers()
                .page_size(400)
                .set_marker(marker.clone());
            let page = self
                .call(ops::DESCRIBE_LOAD_BALANCERS, || req.clone().send())
                .await?;
            out.extend(page.load_balancers().iter().cloned());
            marker = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(String::from);
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    /// Every target group in the region (paged).
    async fn all_target_groups(&self) -> Result<Vec<TargetGroup>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = self
                .elb
                .describe_target_groups()
                .page_size(400)
                .set_marker(marker.clone());
            let page = self
                .call(ops::DESCRIBE_TARGET_GROUPS, || req.clone().send())
                .await?;
            out.extend(page.target_groups().iter().cloned());
            marker = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(String::from);
            if marker.is_none() {
                return Ok(out);
            }
        }
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
                    .filter_map(|t| {
                        Some((
                            t.key()?.to_string(),
                            t.value().unwrap_or_default().to_string(),
                        ))
                    })
                    .collect();
                out.insert(arn.to_string(), t);
            }
        }
        Ok(out)
    }

    async fn listeners_of(&self, lb_arn: &str) -> Result<Vec<Listener>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = self
                .elb
                .describe_listeners()
                .load_balancer_arn(lb_arn)
                .set_marker(marker.clone());
            let page = self
                .call(ops::DESCRIBE_LISTENERS, || req.clone().send())
                .await?;
            out.extend(page.listeners().iter().cloned());
            marker = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(String::from);
            if marker.is_none() {
                return Ok(out);
            }
        }
    }

    async fn listener_certificates(&self, listener_arn: &str) -> Result<Vec<Certificate>> {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let req = self
                .elb
                .describe_listener_certificates()
                .listener_arn(listener_arn)
                .set_marker(marker.clone());
            let page = self
                .call(ops::DESCRIBE_LISTENER_CERTIFICATES, || req.clone().send())
                .await?;
            out.extend(page.certificates().iter().cloned());
            marker = page
                .next_marker()
                .filter(|m| !m.is_empty())
                .map(String::from);
            if marker.is_none() {
                return Ok(out);
            }
        }
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
            .filter_map(|a| {
                Some((
                    a.key()?.to_string(),
                    a.value().unwrap_or_default().to_string(),
                ))
            })
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
            .filter_map(|a| {
                Some((
                    a.key()?.to_string(),
                    a.value().unwrap_or_default().to_string(),
                ))
            })
            .collect())
    }

    async fn targets_of(&self, arn: &str) -> Result<Vec<TargetHealthDescription>> {
        let req = self.elb.describe_target_health().target_group_arn(arn);
        let out = self
            .call(ops::DESCRIBE_TARGET_HEALTH, || req.clone().send())
            .await?;
        Ok(out.target_health_descriptions().to_vec())
    }

    /// Our resources for `owner`, and same-named resources that are not ours.
    pub async fn observe_owned(
        &self,
        owner: &ObjectRef,
        cluster: &str,
        desired: &[Resource],
    ) -> Result<Observed> {
        let stack = owner.stack();
        let wanted = Wanted::new(desired);
        let mut observed = Observed::default();

        // Load balancers: only network ones can be ours; same-named others are conflicts.
        let lbs: Vec<LoadBalancer> = self
            .all_load_balancers()
            .await?
            .into_iter()
            .filter(|lb| {
                is_network(lb)
                    || wanted
                        .get(KIND_LB, lb.load_balancer_name().unwrap_or_default())
                        .is_some()
            })
            .collect();
        let arns: Vec<String> = lbs
            .iter()
            .filter_map(|lb| lb.load_balancer_arn().map(String::from))
            .collect();
        let lb_tags = if arns.is_empty() {
            BTreeMap::new()
        } else {
            self.tags_of(&arns).await?
        };
        let empty = Tags::new();
        let mut owned_lbs: Vec<(&LoadBalancer, &Tags)> = Vec::new();
        for lb in &lbs {
            let (Some(arn), Some(name)) = (lb.load_balancer_arn(), lb.load_balancer_name()) else {
                continue;
            };
            let t = lb_tags.get(arn).unwrap_or(&empty);
            if is_network(lb) && tags::owned_by(t, cluster, &stack) {
                owned_lbs.push((lb, t));
            } else if wanted.get(KIND_LB, name).is_some() {
                observed
                    .foreign
                    .insert((KIND_LB.to_string(), name.to_string()), arn.to_string());
            }
        }

        // Target groups.
        let tgs: Vec<TargetGroup> = self
            .all_target_groups()
            .await?
            .into_iter()
            .filter(|tg| {
                is_nlb_target_group(tg)
                    || wanted
                        .get(KIND_TG, tg.target_group_name().unwrap_or_default())
                        .is_some()
            })
            .collect();
        let arns: Vec<String> = tgs
            .iter()
            .filter_map(|tg| tg.target_group_arn().map(String::from))
            .collect();
        let tg_tags = if arns.is_empty() {
            BTreeMap::new()
        } else {
            self.tags_of(&arns).await?
        };
        let mut owned_tgs: Vec<(&TargetGroup, &Tags)> = Vec::new();
        for tg in &tgs {
            let (Some(arn), Some(name)) = (tg.target_group_arn(), tg.target_group_name()) else {
                continue;
            };
            let t = tg_tags.get(arn).unwrap_or(&empty);
            if is_nlb_target_group(tg) && tags::owned_by(t, cluster, &stack) {
                owned_tgs.push((tg, t));
            } else if wanted.get(KIND_TG, name).is_some() {
                observed
                    .foreign
                    .insert((KIND_TG.to_string(), name.to_string()), arn.to_string());
            }
        }

        // Details, only for ours and only what the desired state compares.
        let mut listeners = Vec::new();
        for (lb, t) in owned_lbs {
            let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
            let name = lb.load_balancer_name().unwrap_or_default();
            let attrs = if wanted.has(KIND_LB, name, "LoadBalancerAttributes") {
                Some(self.lb_attributes(&arn).await?)
            } else {
                None
            };
            let mut outputs = Map::new();
            if let Some(dns) = lb.dns_name() {
                outputs.insert("DNSName".into(), json!(dns));
            }
            if let Some(zone) = lb.canonical_hosted_zone_id() {
                outputs.insert("CanonicalHostedZoneID".into(), json!(zone));
            }
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
                listeners.push(ObservedResource {
                    id: l_arn,
                    resource: listener_resource(name, &l, certs.as_deref()),
                    outputs: Map::new(),
                });
            }
        }
        for (tg, t) in owned_tgs {
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
            observed.resources.push(ObservedResource {
                id: arn,
                resource: tg_resource(tg, t, attrs.as_deref(), targets.as_deref()),
                outputs: Map::new(),
            });
        }
        observed.resources.extend(listeners);
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
}
