//! The rules berth adds to the targets' own security groups so that its NLB can reach them
//! (the aws-load-balancer-controller's `manage-backend-security-group-rules`): for every target
//! group, its port for its protocol and its health-check port, from the NLB's managed security
//! group. Each rule is one `AWS::EC2::SecurityGroupIngress` (CloudFormation's standalone ingress
//! rule) in a security group berth does not own — a node's (instance targets) or a pod ENI's (ip
//! targets) — so ownership is the rule itself: its source is berth's own group and its
//! description starts with [`DESCRIPTION_PREFIX`]. berth never touches any other rule of those
//! groups, and only edits groups the cluster claims (tag `kubernetes.io/cluster/<cluster>`).
//!
//! Here: which group each target's rules go to (discover), the desired rules (pure), berth's
//! rules as they exist (observe), and authorize / revoke (apply).

use super::ec2_filter;
use crate::aws::client::AwsProvider;
use crate::aws::operations as ops;
use crate::aws::{KIND_SG, KIND_SG_INGRESS, KIND_TG};
use crate::error::{Error, Result};
use crate::frontend::ObjectRef;
use crate::plan::{Observed, ObservedResource, Resource};
use aws_sdk_ec2::types::{IpPermission, SecurityGroup, UserIdGroupPair};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Every rule berth adds starts with this: with its source (berth's own group), it is the mark.
pub const DESCRIPTION_PREFIX: &str = "berth: targets of ";

/// The tag (any value) that marks a security group the cluster's nodes or pods use.
pub fn cluster_tag(cluster: &str) -> String {
    format!("kubernetes.io/cluster/{cluster}")
}

/// A target (instance ID or pod IP) -> the security group its rules go to.
pub type TargetGroups = BTreeMap<String, String>;

/// The protocols a target group's traffic arrives with, as security-group protocols.
fn ip_protocols(tg_protocol: &str) -> &'static [&'static str] {
    match tg_protocol {
        "UDP" => &["udp"],
        "TCP_UDP" => &["tcp", "udp"],
        _ => &["tcp"],
    }
}

fn name(group: &str, protocol: &str, port: u16) -> String {
    format!("{group}:{protocol}:{port}")
}

fn rule(group: &str, protocol: &str, port: u16, source: Value, description: &str) -> Resource {
    let mut p = Map::new();
    p.insert("GroupId".into(), json!(group));
    p.insert("IpProtocol".into(), json!(protocol));
    p.insert("FromPort".into(), json!(port));
    p.insert("ToPort".into(), json!(port));
    p.insert("SourceSecurityGroupId".into(), source);
    p.insert("Description".into(), json!(description));
    Resource {
        kind: KIND_SG_INGRESS.into(),
        name: name(group, protocol, port),
        properties: p,
    }
}

/// The desired rules for these target groups (pure): traffic port and health-check port of each,
/// in the security group of each of its targets, from the managed group `source` (its name).
/// `groups` must know every target (discover made sure).
pub fn desired(
    owner: &ObjectRef,
    target_groups: &[Resource],
    source: &str,
    groups: &TargetGroups,
) -> Result<Vec<Resource>> {
    let description = format!("{DESCRIPTION_PREFIX}{}", owner.stack());
    let mut want: BTreeSet<(String, &str, u16)> = BTreeSet::new();
    for tg in target_groups.iter().filter(|r| r.kind == KIND_TG) {
        let p = &tg.properties;
        let port = p.get("Port").and_then(Value::as_u64).unwrap_or_default() as u16;
        let protocol = p.get("Protocol").and_then(Value::as_str).unwrap_or("TCP");
        let hc_port = match p.get("HealthCheckPort").and_then(Value::as_str) {
            Some(n) if n != "traffic-port" => n.parse().unwrap_or(port),
            _ => port,
        };
        for t in p
            .get("Targets")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let id = t.get("Id").and_then(Value::as_str).unwrap_or_default();
            let group = groups.get(id).ok_or_else(|| {
                Error::CloudSetup(format!(
                    "{owner}: no security group is known for target {id} of target group {}",
                    tg.name
                ))
            })?;
            for proto in ip_protocols(protocol) {
                want.insert((group.clone(), proto, port));
            }
            want.insert((group.clone(), "tcp", hc_port));
        }
    }
    Ok(want
        .into_iter()
        .map(|(g, proto, port)| rule(&g, proto, port, json!({"Ref": source}), &description))
        .collect())
}

/// Keeps the rules only where their source group is desired (an NLB kept without security
/// groups has none to reference).
pub fn without_source(desired: &mut Vec<Resource>, source: &str) {
    desired.retain(|r| {
        !(r.kind == KIND_SG_INGRESS
            && r.properties.get("SourceSecurityGroupId") == Some(&json!({"Ref": source})))
    });
}

/// Chooses, among a network interface's security groups, the one berth adds rules to: the
/// single one carrying the cluster tag. None or several is an error naming them.
fn choose(
    owner: &ObjectRef,
    what: &str,
    candidates: &[String],
    tagged: &BTreeSet<String>,
    cluster: &str,
) -> Result<String> {
    let mine: Vec<&String> = candidates.iter().filter(|g| tagged.contains(*g)).collect();
    match mine.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(Error::CloudSetup(format!(
            "{owner}: berth adds the rules that let the load balancer reach {what} to exactly one of its security groups, the one tagged {} (any value); {} of its groups ({}) carry the tag. Tag exactly one, or set service.beta.kubernetes.io/aws-load-balancer-manage-backend-security-group-rules: \"false\" and allow the load balancer's security group in the targets' groups yourself",
            cluster_tag(cluster),
            mine.len(),
            if candidates.is_empty() { "none".to_string() } else { candidates.join(", ") },
        ))),
    }
}

impl AwsProvider {
    /// The security group each target's rules go to: for instances, their primary network
    /// interface's groups (DescribeInstances); for pod IPs, the groups of the network interface
    /// holding the IP (DescribeNetworkInterfaces); then one DescribeSecurityGroups for the tags.
    pub(crate) async fn target_security_groups(
        &self,
        owner: &ObjectRef,
        instances: &[String],
        ips: &[String],
    ) -> Result<TargetGroups> {
        // target -> (what it is, in errors; its candidate groups)
        let mut candidates: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
        if !instances.is_empty() {
            let reservations = self
                .all_pages(
                    ops::DESCRIBE_INSTANCES,
                    |token| {
                        self.ec2
                            .describe_instances()
                            .set_instance_ids(Some(instances.to_vec()))
                            .set_next_token(token)
                            .send()
                    },
                    |p| (p.reservations, p.next_token),
                )
                .await?;
            for i in reservations.iter().flat_map(|r| r.instances()) {
                let Some(id) = i.instance_id() else { continue };
                let primary = i
                    .network_interfaces()
                    .iter()
                    .find(|n| n.attachment().and_then(|a| a.device_index()) == Some(0));
                let groups: Vec<String> = match primary {
                    Some(eni) => eni
                        .groups()
                        .iter()
                        .filter_map(|g| g.group_id())
                        .map(String::from)
                        .collect(),
                    None => i
                        .security_groups()
                        .iter()
                        .filter_map(|g| g.group_id())
                        .map(String::from)
                        .collect(),
                };
                candidates.insert(id.to_string(), (format!("instance {id}"), groups));
            }
            if let Some(missing) = instances.iter().find(|i| !candidates.contains_key(*i)) {
                return Err(Error::CloudSetup(format!(
                    "{owner}: EC2 does not know the instance {missing} (a Node's spec.providerID), so berth cannot find its security group"
                )));
            }
        }
        if !ips.is_empty() {
            let enis = self
                .all_pages(
                    ops::DESCRIBE_NETWORK_INTERFACES,
                    |token| {
                        self.ec2
                            .describe_network_interfaces()
                            .filters(ec2_filter("addresses.private-ip-address", ips.to_vec()))
                            .set_next_token(token)
                            .send()
                    },
                    |p| (p.network_interfaces, p.next_token),
                )
                .await?;
            for eni in &enis {
                let groups: Vec<String> = eni
                    .groups()
                    .iter()
                    .filter_map(|g| g.group_id())
                    .map(String::from)
                    .collect();
                for a in eni.private_ip_addresses() {
                    if let Some(ip) = a
                        .private_ip_address()
                        .filter(|ip| ips.iter().any(|x| x == ip))
                    {
                        candidates.insert(ip.to_string(), (format!("pod IP {ip}"), groups.clone()));
                    }
                }
            }
            if let Some(missing) = ips.iter().find(|i| !candidates.contains_key(*i)) {
                return Err(Error::CloudSetup(format!(
                    "{owner}: no network interface holds the pod IP {missing}, so berth cannot find its security group"
                )));
            }
        }
        let all: BTreeSet<String> = candidates
            .values()
            .flat_map(|(_, g)| g.iter().cloned())
            .collect();
        let key = cluster_tag(&self.cluster);
        let tagged: BTreeSet<String> = if all.is_empty() {
            BTreeSet::new()
        } else {
            self.security_groups(vec![
                ec2_filter("group-id", all.iter().cloned().collect()),
                ec2_filter("tag-key", vec![key.clone()]),
            ])
            .await?
            .iter()
            .filter_map(|g| g.group_id().map(String::from))
            .collect()
        };
        candidates
            .into_iter()
            .map(|(target, (what, groups))| {
                choose(owner, &what, &groups, &tagged, &self.cluster).map(|g| (target, g))
            })
            .collect()
    }

    /// berth's rules that exist: those in any security group whose source is one of the owner's
    /// managed groups (one DescribeSecurityGroups filtered by that reference) and whose
    /// description is berth's.
    pub(crate) async fn observe_backend_rules(&self, observed: &mut Observed) -> Result<()> {
        let sources: BTreeSet<String> = observed.of_kind(KIND_SG).map(|o| o.id.clone()).collect();
        if sources.is_empty() {
            return Ok(());
        }
        let groups = self
            .security_groups(vec![ec2_filter(
                "ip-permission.group-id",
                sources.iter().cloned().collect(),
            )])
            .await?;
        for g in &groups {
            observed.resources.extend(rules_of(g, &sources));
        }
        Ok(())
    }

    pub(crate) async fn authorize_backend_rule(&self, p: &Map<String, Value>) -> Result<()> {
        let (group, perm) = permission(p)?;
        let req = self
            .ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(perm);
        self.call_unless(
            ops::AUTHORIZE_SECURITY_GROUP_INGRESS,
            &["InvalidPermission.Duplicate"],
            || req.clone().send(),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn revoke_backend_rule(&self, p: &Map<String, Value>) -> Result<()> {
        let (group, perm) = permission(p)?;
        let req = self
            .ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .ip_permissions(perm);
        self.call_unless(
            ops::REVOKE_SECURITY_GROUP_INGRESS,
            &["InvalidPermission.NotFound", "InvalidGroup.NotFound"],
            || req.clone().send(),
        )
        .await?;
        Ok(())
    }
}

/// berth's rules in one security group, as [`desired`] describes them. Their ID (what apply
/// acts on) is the rule itself: group, protocol, port and source.
pub fn rules_of(g: &SecurityGroup, sources: &BTreeSet<String>) -> Vec<ObservedResource> {
    let Some(group) = g.group_id() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in g.ip_permissions() {
        let (Some(proto), Some(from), Some(to)) = (p.ip_protocol(), p.from_port(), p.to_port())
        else {
            continue;
        };
        let Ok(port) = u16::try_from(from) else {
            continue;
        };
        if from != to {
            continue;
        }
        for pair in p.user_id_group_pairs() {
            let (Some(source), Some(description)) = (pair.group_id(), pair.description()) else {
                continue;
            };
            if !sources.contains(source) || !description.starts_with(DESCRIPTION_PREFIX) {
                continue;
            }
            let r = rule(group, proto, port, json!(source), description);
            out.push(ObservedResource {
                id: format!("{group}|{proto}|{port}|{source}"),
                resource: r,
                outputs: Map::new(),
            });
        }
    }
    out
}

fn permission(p: &Map<String, Value>) -> Result<(String, IpPermission)> {
    let s = |k: &str| p.get(k).and_then(Value::as_str).map(String::from);
    let n = |k: &str| {
        p.get(k)
            .and_then(Value::as_i64)
            .and_then(|v| i32::try_from(v).ok())
    };
    let (Some(group), Some(proto), Some(from), Some(to), Some(source)) = (
        s("GroupId"),
        s("IpProtocol"),
        n("FromPort"),
        n("ToPort"),
        s("SourceSecurityGroupId"),
    ) else {
        return Err(Error::Bug(format!(
            "an incomplete {KIND_SG_INGRESS}: {p:?}"
        )));
    };
    let perm = IpPermission::builder()
        .ip_protocol(proto)
        .from_port(from)
        .to_port(to)
        .user_id_group_pairs(
            UserIdGroupPair::builder()
                .group_id(source)
                .set_description(s("Description"))
                .build(),
        )
        .build();
    Ok((group, perm))
}

#[cfg(test)]
mod tests;
