//! The load balancer's managed ("frontend") security group, as berth builds it for an NLB (a
//! Service) and an ALB (an Ingress group): one `AWS::EC2::SecurityGroup` owned by the object,
//! created before its load balancer and deleted after it, whose ingress rules open each listener
//! port to the allowed sources (CIDRs, or managed prefix lists) and nothing else. Here: the
//! translation helpers, the shape observe reads, the lookup by tags (and by name for
//! conflicts), and create (tagged at creation) / rules as a delta / delete (retried while AWS
//! still holds the load balancer's interfaces in it).

use super::*;
use crate::aws::client::AwsProvider;
use crate::aws::operations as ops;
use crate::aws::{tags, KIND_LB, KIND_SG};
use crate::engine::Progress;
use crate::error::{Error, Result};
use crate::frontend::{FrontendKind, ObjectRef};
use crate::naming::{hash_hex, sanitize};
use crate::plan::{Change, Observed, Resource};
use aws_sdk_ec2::types::{Filter, SecurityGroup};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::collections::BTreeSet;
use std::time::Duration;

/// The managed security group's description (the aws-load-balancer-controller's).
pub const DESCRIPTION: &str = "[k8s] Managed SecurityGroup for LoadBalancer";

/// The `*.k8s.aws/resource` tag of the managed security group (the aws-load-balancer-controller's
/// value).
pub const RESOURCE: &str = "ManagedLBSecurityGroup";

/// `k8s-<group>-<hash>` or `k8s-<namespace>-<name>-<hash>`: from the owner alone, so it survives
/// a scheme or name change of the load balancer. A Service and an Ingress of the same
/// namespace/name get different hashes (both may exist in one VPC).
pub fn name(cluster: &str, owner: &ObjectRef) -> String {
    let salt = match owner.kind {
        FrontendKind::Service => "service-managed-sg",
        FrontendKind::Ingress | FrontendKind::IngressGroup => "managed-sg",
    };
    let hash = hash_hex(&[cluster, &owner.namespace, &owner.name, salt], 10);
    if owner.namespace.is_empty() {
        format!("k8s-{}-{hash}", sanitize(&owner.name, 17))
    } else {
        format!(
            "k8s-{}-{}-{hash}",
            sanitize(&owner.namespace, 8),
            sanitize(&owner.name, 8)
        )
    }
}

/// Every ingress rule berth writes in its group starts its description with this; rules
/// without it were added by someone else and are never revoked.
pub const RULE_PREFIX: &str = "berth: ";

/// One ingress rule, in the shape observe reads it back: `protocol` (`tcp`, `udp`) on one
/// listener port from one source, an IPv4 or IPv6 CIDR or a managed prefix list (`pl-…`).
pub fn ingress_rule(protocol: &str, port: u16, source: &str) -> Value {
    let mut m = Map::new();
    m.insert("IpProtocol".into(), json!(protocol));
    m.insert("FromPort".into(), json!(port));
    m.insert("ToPort".into(), json!(port));
    let key = if source.starts_with("pl-") {
        "SourcePrefixListId"
    } else if crate::cidr::is_v6(source) {
        "CidrIpv6"
    } else {
        "CidrIp"
    };
    m.insert(key.into(), json!(source));
    m.insert(
        "Description".into(),
        json!(format!("{RULE_PREFIX}listener port {port}")),
    );
    Value::Object(m)
}

/// AWS's default quota of inbound rules per security group, counted per address family.
pub const MAX_INBOUND_RULES: usize = 60;

/// The managed group's rules (one per listener port, protocol and source) within AWS's quota.
/// `field`: what the user changes to get fewer (the source ranges, the listen ports).
pub fn check_rule_quota(object: &ObjectRef, field: &str, rules: &[Value]) -> Result<()> {
    let v6 = rules.iter().filter(|r| r.get("CidrIpv6").is_some()).count();
    let v4 = rules.len() - v6;
    if v4.max(v6) <= MAX_INBOUND_RULES {
        return Ok(());
    }
    Err(Error::InvalidField {
        object: object.clone(),
        field: field.into(),
        value: format!("{} rules ({v4} IPv4, {v6} IPv6)", rules.len()),
        expected: format!("at most {MAX_INBOUND_RULES} per address family in the load balancer's security group (one per listener port, protocol and source range or prefix list): fewer or wider ranges, fewer ports, or your own security groups"),
    })
}

/// The managed security group of `owner`, with these ingress rules.
pub fn managed(
    cluster: &str,
    owner: &ObjectRef,
    vpc_id: Option<&str>,
    rules: Vec<Value>,
    user_tags: &BTreeMap<String, String>,
) -> Resource {
    let name = name(cluster, owner);
    let mut p = Map::new();
    p.insert("GroupName".into(), json!(name));
    p.insert("GroupDescription".into(), json!(DESCRIPTION));
    if let Some(vpc) = vpc_id {
        p.insert("VpcId".into(), json!(vpc));
    }
    p.insert("SecurityGroupIngress".into(), Value::Array(rules));
    p.insert(
        "Tags".into(),
        tags::owner_tags(cluster, owner, RESOURCE, user_tags),
    );
    Resource {
        kind: KIND_SG.into(),
        name,
        properties: p,
    }
}

/// The sources a load balancer open to everyone allows: `0.0.0.0/0`, and `::/0` when it also
/// serves IPv6 clients.
pub fn everyone(dualstack: bool) -> Vec<String> {
    let mut d = vec!["0.0.0.0/0".to_string()];
    if dualstack {
        d.push("::/0".into());
    }
    d
}

/// Whether an ingress rule (as [`ingress_rule`] writes it) admits every client.
pub fn is_open_to_everyone(rule: &Value) -> bool {
    ["CidrIp", "CidrIpv6"]
        .iter()
        .filter_map(|k| rule.get(*k).and_then(Value::as_str))
        .any(|c| c == "0.0.0.0/0" || c == "::/0")
}

/// AWS cannot add security groups to a Network Load Balancer created without any (berth's before
/// it managed them, or another controller's). For such an NLB the desired state is reconciled
/// with what is possible: a managed group that admits everyone changes nothing for its clients,
/// so it is left out and the NLB kept as it is; any other restriction (source ranges, prefix
/// lists, the user's security groups) is refused with what to do, rather than silently not
/// applied or the NLB deleted and recreated under a new address.
pub fn for_existing_nlbs(desired: &[Resource], observed: &Observed) -> Result<Vec<Resource>> {
    let mut out = desired.to_vec();
    for lb in desired.iter().filter(|r| r.kind == KIND_LB) {
        let (Some(wanted), Some(current)) = (
            lb.properties.get("SecurityGroups"),
            observed.find(KIND_LB, &lb.name),
        ) else {
            continue;
        };
        if current
            .resource
            .properties
            .get("Type")
            .and_then(Value::as_str)
            != Some("network")
            || current.resource.properties.contains_key("SecurityGroups")
        {
            continue;
        }
        let managed = wanted
            .as_array()
            .filter(|a| a.len() == 1)
            .and_then(|a| a[0].get("Ref"))
            .and_then(Value::as_str)
            .and_then(|n| desired.iter().find(|r| r.kind == KIND_SG && r.name == n));
        let open = managed.is_some_and(|sg| {
            sg.properties
                .get("SecurityGroupIngress")
                .and_then(Value::as_array)
                .is_some_and(|rules| rules.iter().all(is_open_to_everyone))
        });
        if open {
            let sg = managed.map(|m| m.name.clone());
            out.retain(|r| !(r.kind == KIND_SG && Some(&r.name) == sg.as_ref()));
            if let Some(name) = &sg {
                super::backend_rules::without_source(&mut out, name);
            }
            if let Some(r) = out
                .iter_mut()
                .find(|r| r.kind == KIND_LB && r.name == lb.name)
            {
                r.properties.remove("SecurityGroups");
            }
            continue;
        }
        // The owner is named by `aws::plan` (from the stack tag), as for every refusal of a plan.
        return Err(Error::NeedsReplacement {
            object: String::new(),
            kind: KIND_LB.into(),
            name: lb.name.clone(),
            id: current.id.clone(),
            why: "the Service restricts its clients (spec.loadBalancerSourceRanges, the load-balancer-source-ranges annotation, aws-load-balancer-security-group-prefix-lists or aws-load-balancer-security-groups), which needs a security group on the NLB, and AWS cannot add security groups to a Network Load Balancer created without any. The NLB stays as it is, open to every client its listeners and the targets' security groups admit. To apply the restriction, let berth create a new NLB (its DNS name changes): set service.beta.kubernetes.io/aws-load-balancer-name to a new name (berth then creates the new NLB with its security group, moves the Service's address to it and deletes this one), or delete and recreate the Service".into(),
        });
    }
    Ok(out)
}

pub fn dualstack(ip_address_type: Option<&str>) -> bool {
    ip_address_type.is_some_and(|t| t.starts_with("dualstack"))
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
pub(crate) fn sdk_permissions(rules: &[SgRule]) -> Vec<aws_sdk_ec2::types::IpPermission> {
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

pub(crate) fn ec2_tags(pairs: &[(String, String)]) -> Vec<aws_sdk_ec2::types::Tag> {
    map_pairs(pairs, |k, v| {
        aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
    })
}

/// How long a DeleteSecurityGroup that fails with DependencyViolation is retried: after
/// DeleteLoadBalancer, AWS releases the load balancer's network interfaces asynchronously.
pub(crate) const SG_DELETE_RETRIES: [u64; 3] = [2, 4, 8];

pub(crate) fn sg_tags(sg: &SecurityGroup) -> Tags {
    sg.tags()
        .iter()
        .filter_map(|t| key_value(t.key(), t.value()))
        .collect()
}

/// A managed security group as the translator describes it: one ingress entry per source
/// (`{IpProtocol, FromPort, ToPort, CidrIp | CidrIpv6 | SourcePrefixListId, Description}`),
/// sorted; only berth's own rules (description [`RULE_PREFIX`]…), so a rule someone else added
/// is never revoked. Rules that reference other security groups are not read (berth writes none).
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
    // Only berth's rules: one that someone added to the group by hand is not berth's to revoke.
    rules.retain(|r| {
        r.get("Description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.starts_with(RULE_PREFIX))
    });
    rules.sort_by_key(Value::to_string);
    rules.dedup();
    m.insert("SecurityGroupIngress".into(), Value::Array(rules));
    m.insert("Tags".into(), tags_value(&tags::berth_tags(&sg_tags(sg))));
    Resource {
        kind: KIND_SG.into(),
        name,
        properties: m,
    }
}

impl AwsProvider {
    /// CreateSecurityGroup, tagged at creation (TagSpecifications), then its ingress rules.
    pub(crate) async fn create_sg(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
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

    pub(crate) async fn authorize(&self, id: &str, rules: &[SgRule]) -> Result<()> {
        if rules.is_empty() {
            return Ok(());
        }
        let req = self
            .ec2
            .authorize_security_group_ingress()
            .group_id(id)
            .set_ip_permissions(Some(sdk_permissions(rules)));
        // Duplicate: someone else's rule already admits exactly this (with their description);
        // the traffic is admitted, and their rule is theirs.
        self.call_unless(
            ops::AUTHORIZE_SECURITY_GROUP_INGRESS,
            &["InvalidPermission.Duplicate"],
            || req.clone().send(),
        )
        .await?;
        Ok(())
    }

    pub(crate) async fn revoke(&self, id: &str, rules: &[SgRule]) -> Result<()> {
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
    pub(crate) async fn update_sg(
        &self,
        c: &Change,
        id: &str,
        p: &Map<String, Value>,
    ) -> Result<()> {
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
            let remove = keys_gone(p, cur, "Tags");
            if !remove.is_empty() {
                let keys = remove
                    .iter()
                    .map(|k| aws_sdk_ec2::types::Tag::builder().key(k).build());
                let req = self
                    .ec2
                    .delete_tags()
                    .resources(id)
                    .set_tags(Some(keys.collect()));
                self.call(ops::DELETE_TAGS, || req.clone().send()).await?;
            }
        }
        Ok(())
    }

    /// Deletes a security group. A group the deleted load balancer has not released yet
    /// (DependencyViolation) is tried again after short waits ([`SG_DELETE_RETRIES`], about
    /// 14 s in all), then reported as pending: the controller comes back for it rather than
    /// holding a worker (AWS can take minutes to release an NLB's interfaces).
    pub(crate) async fn delete_sg(&self, id: &str) -> Result<Progress> {
        let mut waits = SG_DELETE_RETRIES.iter();
        loop {
            let req = self.ec2.delete_security_group().group_id(id);
            match self
                .call_coded(ops::DELETE_SECURITY_GROUP, || req.clone().send())
                .await
            {
                Ok(_) => return Ok(Progress::Done),
                Err(f) if f.code.as_deref() == Some("InvalidGroup.NotFound") => {
                    return Ok(Progress::Done)
                }
                Err(f) if f.code.as_deref() == Some("DependencyViolation") => {
                    let Some(secs) = waits.next() else {
                        return Ok(Progress::Pending(format!(
                            "security group {id} is still in use (DependencyViolation), usually by the load balancer just deleted; berth deletes it at the next try"
                        )));
                    };
                    tracing::debug!(id, secs, "security group still in use; retrying");
                    tokio::time::sleep(Duration::from_secs(*secs)).await;
                }
                Err(f) => return Err(f.error),
            }
        }
    }

    /// Security groups matching the filters (paged).
    pub(crate) async fn security_groups(&self, filters: Vec<Filter>) -> Result<Vec<SecurityGroup>> {
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
    pub(crate) async fn observe_security_groups(
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
}

#[cfg(test)]
mod tests;
