//! Executes a [`Plan`] in its order: creates forward through the dependency graph, updates as
//! deltas against the observed state, deletes backward. `{"Ref": name}` values are resolved to
//! the ARNs that earlier creates returned. Updates and deletes act only on ARNs that observe
//! found carrying our ownership tags.

use super::client::AwsProvider;
use super::observe::owned_ids;
use super::operations as ops;
use super::{KIND_LB, KIND_LISTENER, KIND_TG};
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Observed, Plan};
use crate::provider::Address;
use aws_sdk_elasticloadbalancingv2::types::{
    Action as ElbAction, ActionTypeEnum, Certificate, IpAddressType, LoadBalancerAttribute,
    LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher, ProtocolEnum, Tag, TargetDescription,
    TargetGroupAttribute, TargetTypeEnum,
};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Target-group properties that ModifyTargetGroup changes.
const HEALTH_CHECK: [&str; 9] = [
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

fn str_of<'a>(p: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str)
}

fn int_of(p: &Map<String, Value>, key: &str) -> Option<i32> {
    p.get(key)
        .and_then(Value::as_i64)
        .and_then(|n| i32::try_from(n).ok())
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
    p.and_then(|p| p.get(key))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| {
                    Some((
                        x.get("Key")?.as_str()?.to_string(),
                        x.get("Value")?.as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
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

pub type Target = (String, i32);

pub fn targets(p: Option<&Map<String, Value>>) -> BTreeSet<Target> {
    p.and_then(|p| p.get("Targets"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|t| {
                    let id = t.get("Id")?.as_str()?.to_string();
                    let port = i32::try_from(t.get("Port")?.as_i64()?).ok()?;
                    Some((id, port))
                })
                .collect()
        })
        .unwrap_or_default()
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
    p.and_then(|p| p.get("Certificates"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|c| Some(c.get("CertificateArn")?.as_str()?.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn sdk_tags(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn sdk_targets(t: &[Target]) -> Vec<TargetDescription> {
    t.iter()
        .map(|(id, port)| TargetDescription::builder().id(id).port(*port).build())
        .collect()
}

fn sdk_actions(p: &Map<String, Value>) -> Vec<ElbAction> {
    p.get("DefaultActions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|x| {
                    ElbAction::builder()
                        .set_type(
                            x.get("Type")
                                .and_then(Value::as_str)
                                .map(ActionTypeEnum::from),
                        )
                        .set_target_group_arn(
                            x.get("TargetGroupArn")
                                .and_then(Value::as_str)
                                .map(String::from),
                        )
                        .build()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn cert(arn: &str) -> Certificate {
    Certificate::builder().certificate_arn(arn).build()
}

/// Replaces every `{"Ref": name}` by the ARN of `name`; a reference to something that neither
/// exists nor was created earlier in the plan is an error.
pub fn resolve(c: &Change, v: &mut Value, ids: &BTreeMap<String, String>) -> Result<()> {
    match v {
        Value::Object(m) => {
            if let (1, Some(Value::String(name))) = (m.len(), m.get("Ref")) {
                let id = ids.get(name).ok_or_else(|| {
                    Error::Unavailable(format!(
                        "{} {} refers to {name:?}, which neither exists nor is created earlier in the plan",
                        c.kind, c.name
                    ))
                })?;
                *v = Value::String(id.clone());
                return Ok(());
            }
            m.values_mut().try_for_each(|x| resolve(c, x, ids))
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve(c, x, ids)),
        _ => Ok(()),
    }
}

fn immutable(c: &Change, allowed: &[&str]) -> Result<()> {
    let fixed: Vec<&str> = c
        .changed
        .iter()
        .map(String::as_str)
        .filter(|k| !allowed.contains(k))
        .collect();
    if fixed.is_empty() {
        return Ok(());
    }
    Err(Error::Unavailable(format!(
        "{} {} ({}): {} cannot be changed in place on AWS; delete the Service and create it again, or give it a new name",
        c.kind,
        c.name,
        c.id.as_deref().unwrap_or_default(),
        fixed.join(", ")
    )))
}

impl AwsProvider {
    /// Executes the plan. Returns the load balancer's DNS name (lower-cased), if one remains.
    pub async fn apply_plan(&self, plan: &Plan, observed: &Observed) -> Result<Option<Address>> {
        let owned = owned_ids(observed);
        let mut ids: BTreeMap<String, String> = observed
            .resources
            .iter()
            .map(|o| (o.resource.name.clone(), o.id.clone()))
            .collect();
        let mut created_dns: Option<String> = None;
        let mut deleted: BTreeSet<String> = BTreeSet::new();

        for c in &plan.changes {
            if c.action != Action::Create {
                // Never act on something observe did not find carrying our tags.
                let id = c.id.as_deref().unwrap_or_default();
                if !owned.contains(id) {
                    return Err(Error::Conflict {
                        kind: c.kind.clone(),
                        name: c.name.clone(),
                        id: id.to_string(),
                    });
                }
            }
            let mut v = Value::Object(c.properties.clone());
            if c.action != Action::Delete {
                resolve(c, &mut v, &ids)?;
            }
            let Value::Object(p) = v else {
                unreachable!("an object stays an object")
            };
            let id = c.id.clone().unwrap_or_default();
            match (c.action, c.kind.as_str()) {
                (Action::Create, KIND_LB) => {
                    let (arn, dns) = self.create_lb(c, &p).await?;
                    ids.insert(c.name.clone(), arn);
                    created_dns = dns.or(created_dns);
                }
                (Action::Create, KIND_TG) => {
                    let arn = self.create_tg(c, &p).await?;
                    ids.insert(c.name.clone(), arn);
                }
                (Action::Create, KIND_LISTENER) => {
                    let arn = self.create_listener(c, &p).await?;
                    ids.insert(c.name.clone(), arn);
                }
                (Action::Update, KIND_LB) => self.update_lb(c, &id, &p).await?,
                (Action::Update, KIND_TG) => self.update_tg(c, &id, &p).await?,
                (Action::Update, KIND_LISTENER) => self.update_listener(c, &id, &p).await?,
                (Action::Delete, KIND_LISTENER) => {
                    let req = self.elb.delete_listener().listener_arn(&id);
                    self.call_unless(ops::DELETE_LISTENER, &["ListenerNotFound"], || {
                        req.clone().send()
                    })
                    .await?;
                    deleted.insert(id);
                }
                (Action::Delete, KIND_TG) => {
                    let req = self.elb.delete_target_group().target_group_arn(&id);
                    self.call_unless(ops::DELETE_TARGET_GROUP, &["TargetGroupNotFound"], || {
                        req.clone().send()
                    })
                    .await?;
                    deleted.insert(id);
                }
                (Action::Delete, KIND_LB) => {
                    let req = self.elb.delete_load_balancer().load_balancer_arn(&id);
                    self.call_unless(ops::DELETE_LOAD_BALANCER, &["LoadBalancerNotFound"], || {
                        req.clone().send()
                    })
                    .await?;
                    deleted.insert(id);
                }
                (_, kind) => {
                    return Err(Error::Unavailable(format!(
                        "the AWS provider does not manage {kind} (resource {})",
                        c.name
                    )))
                }
            }
        }

        let dns = created_dns.or_else(|| {
            observed
                .of_kind(KIND_LB)
                .filter(|o| !deleted.contains(&o.id))
                .find_map(|o| o.outputs.get("DNSName")?.as_str().map(String::from))
        });
        Ok(dns.map(|d| Address::Hostname(d.to_ascii_lowercase())))
    }

    async fn create_lb(
        &self,
        c: &Change,
        p: &Map<String, Value>,
    ) -> Result<(String, Option<String>)> {
        let tags = pairs(Some(p), "Tags");
        let subnets: Option<Vec<String>> = p.get("Subnets").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        });
        let req = self
            .elb
            .create_load_balancer()
            .name(&c.name)
            .r#type(LoadBalancerTypeEnum::from(
                str_of(p, "Type").unwrap_or("network"),
            ))
            // Always sent: AWS defaults to internet-facing.
            .scheme(LoadBalancerSchemeEnum::from(required(c, p, "Scheme")?))
            .set_subnets(subnets)
            .set_ip_address_type(str_of(p, "IpAddressType").map(IpAddressType::from))
            .set_tags(Some(sdk_tags(&tags)));
        let out = self
            .call(ops::CREATE_LOAD_BALANCER, || req.clone().send())
            .await?;
        let lb = out.load_balancers().first();
        let arn = lb
            .and_then(|l| l.load_balancer_arn())
            .ok_or_else(|| Error::cloud("CreateLoadBalancer", "the response has no ARN", true))?
            .to_string();
        let dns = lb.and_then(|l| l.dns_name()).map(String::from);
        let attrs = pairs(Some(p), "LoadBalancerAttributes");
        if !attrs.is_empty() {
            self.set_lb_attributes(&arn, &attrs).await?;
        }
        Ok((arn, dns))
    }

    async fn set_lb_attributes(&self, arn: &str, attrs: &[(String, String)]) -> Result<()> {
        let req = self
            .elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(
                attrs
                    .iter()
                    .map(|(k, v)| LoadBalancerAttribute::builder().key(k).value(v).build())
                    .collect(),
            ));
        self.call(ops::MODIFY_LOAD_BALANCER_ATTRIBUTES, || req.clone().send())
            .await?;
        Ok(())
    }

    async fn set_tg_attributes(&self, arn: &str, attrs: &[(String, String)]) -> Result<()> {
        let req = self
            .elb
            .modify_target_group_attributes()
            .target_group_arn(arn)
            .set_attributes(Some(
                attrs
                    .iter()
                    .map(|(k, v)| TargetGroupAttribute::builder().key(k).value(v).build())
                    .collect(),
            ));
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
        let add = pairs_to_set(&pairs(Some(p), "Tags"), &pairs(current, "Tags"));
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
            .set_port(int_of(p, "Port"))
            .set_target_type(str_of(p, "TargetType").map(TargetTypeEnum::from))
            .set_vpc_id(str_of(p, "VpcId").map(String::from))
            .set_health_check_enabled(p.get("HealthCheckEnabled").and_then(Value::as_bool))
            .set_health_check_protocol(str_of(p, "HealthCheckProtocol").map(ProtocolEnum::from))
            .set_health_check_port(str_of(p, "HealthCheckPort").map(String::from))
            .set_health_check_path(str_of(p, "HealthCheckPath").map(String::from))
            .set_health_check_interval_seconds(int_of(p, "HealthCheckIntervalSeconds"))
            .set_health_check_timeout_seconds(int_of(p, "HealthCheckTimeoutSeconds"))
            .set_healthy_threshold_count(int_of(p, "HealthyThresholdCount"))
            .set_unhealthy_threshold_count(int_of(p, "UnhealthyThresholdCount"))
            .set_matcher(matcher(p))
            .set_tags(Some(sdk_tags(&tags)));
        let out = self
            .call(ops::CREATE_TARGET_GROUP, || req.clone().send())
            .await?;
        let arn = out
            .target_groups()
            .first()
            .and_then(|t| t.target_group_arn())
            .ok_or_else(|| Error::cloud("CreateTargetGroup", "the response has no ARN", true))?
            .to_string();
        let attrs = pairs(Some(p), "TargetGroupAttributes");
        if !attrs.is_empty() {
            self.set_tg_attributes(&arn, &attrs).await?;
        }
        let t: Vec<Target> = targets(Some(p)).into_iter().collect();
        self.register(&arn, &t).await?;
        Ok(arn)
    }

    async fn create_listener(&self, c: &Change, p: &Map<String, Value>) -> Result<String> {
        let certs = certificate_arns(Some(p));
        let alpn: Option<Vec<String>> = p.get("AlpnPolicy").and_then(Value::as_array).map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        });
        let req = self
            .elb
            .create_listener()
            .load_balancer_arn(required(c, p, "LoadBalancerArn")?)
            .set_port(int_of(p, "Port"))
            .protocol(ProtocolEnum::from(required(c, p, "Protocol")?))
            // The first certificate is the default one; the others are added below.
            .set_certificates(certs.first().map(|a| vec![cert(a)]))
            .set_ssl_policy(str_of(p, "SslPolicy").map(String::from))
            .set_alpn_policy(alpn)
            .set_default_actions(Some(sdk_actions(p)));
        let out = self
            .call(ops::CREATE_LISTENER, || req.clone().send())
            .await?;
        let arn = out
            .listeners()
            .first()
            .and_then(|l| l.listener_arn())
            .ok_or_else(|| Error::cloud("CreateListener", "the response has no ARN", true))?
            .to_string();
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

    async fn update_lb(&self, c: &Change, arn: &str, p: &Map<String, Value>) -> Result<()> {
        immutable(
            c,
            &["LoadBalancerAttributes", "Tags", "Subnets", "IpAddressType"],
        )?;
        let cur = c.current.as_ref();
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if changed("LoadBalancerAttributes") {
            let set = pairs_to_set(
                &pairs(Some(p), "LoadBalancerAttributes"),
                &pairs(cur, "LoadBalancerAttributes"),
            );
            if !set.is_empty() {
                self.set_lb_attributes(arn, &set).await?;
            }
        }
        if changed("Tags") {
            self.add_tags(arn, p, cur).await?;
        }
        if changed("Subnets") {
            let subnets: Vec<String> = p
                .get("Subnets")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let req = self
                .elb
                .set_subnets()
                .load_balancer_arn(arn)
                .set_subnets(Some(subnets));
            self.call(ops::SET_SUBNETS, || req.clone().send()).await?;
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
        let mut allowed = HEALTH_CHECK.to_vec();
        allowed.extend(["TargetGroupAttributes", "Tags", "Targets"]);
        immutable(c, &allowed)?;
        let cur = c.current.as_ref();
        let changed = |k: &str| c.changed.iter().any(|x| x == k);
        if HEALTH_CHECK.iter().any(|k| changed(k)) {
            // The whole desired health check in one call (a protocol change needs its path and
            // matcher with it).
            let req = self
                .elb
                .modify_target_group()
                .target_group_arn(arn)
                .set_health_check_enabled(p.get("HealthCheckEnabled").and_then(Value::as_bool))
                .set_health_check_protocol(str_of(p, "HealthCheckProtocol").map(ProtocolEnum::from))
                .set_health_check_port(str_of(p, "HealthCheckPort").map(String::from))
                .set_health_check_path(str_of(p, "HealthCheckPath").map(String::from))
                .set_health_check_interval_seconds(int_of(p, "HealthCheckIntervalSeconds"))
                .set_health_check_timeout_seconds(int_of(p, "HealthCheckTimeoutSeconds"))
                .set_healthy_threshold_count(int_of(p, "HealthyThresholdCount"))
                .set_unhealthy_threshold_count(int_of(p, "UnhealthyThresholdCount"))
                .set_matcher(matcher(p));
            self.call(ops::MODIFY_TARGET_GROUP, || req.clone().send())
                .await?;
        }
        if changed("TargetGroupAttributes") {
            let set = pairs_to_set(
                &pairs(Some(p), "TargetGroupAttributes"),
                &pairs(cur, "TargetGroupAttributes"),
            );
            if !set.is_empty() {
                self.set_tg_attributes(arn, &set).await?;
            }
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
        immutable(
            c,
            &[
                "Port",
                "Protocol",
                "Certificates",
                "SslPolicy",
                "AlpnPolicy",
                "DefaultActions",
            ],
        )?;
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
            req = req.set_alpn_policy(p.get("AlpnPolicy").and_then(Value::as_array).map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            }));
        }
        if changed("DefaultActions") {
            req = req.set_default_actions(Some(sdk_actions(p)));
        }
        self.call(ops::MODIFY_LISTENER, || req.clone().send())
            .await?;

        if changed("Certificates") {
            // The additional (SNI) certificates: as listed, beyond the default one.
            let mut have = BTreeSet::new();
            let mut marker: Option<String> = None;
            loop {
                let r = self
                    .elb
                    .describe_listener_certificates()
                    .listener_arn(arn)
                    .set_marker(marker.clone());
                let page = self
                    .call(ops::DESCRIBE_LISTENER_CERTIFICATES, || r.clone().send())
                    .await?;
                have.extend(
                    page.certificates()
                        .iter()
                        .filter(|c| !c.is_default().unwrap_or(false))
                        .filter_map(|c| c.certificate_arn().map(String::from)),
                );
                marker = page
                    .next_marker()
                    .filter(|m| !m.is_empty())
                    .map(String::from);
                if marker.is_none() {
                    break;
                }
            }
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
    let code = p.get("Matcher")?.get("HttpCode")?.as_str()?;
    Some(Matcher::builder().http_code(code).build())
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
    fn immutable_properties_are_refused() {
        let mut c = change(json!({}));
        c.kind = KIND_TG.into();
        c.changed = vec!["Port".into(), "Targets".into()];
        let err = immutable(&c, &["Targets"]).unwrap_err();
        assert!(err.to_string().contains("Port cannot be changed"), "{err}");
        c.changed = vec!["Targets".into()];
        immutable(&c, &["Targets"]).unwrap();
    }
}
