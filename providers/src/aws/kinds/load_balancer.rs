//! `AWS::ElasticLoadBalancingV2::LoadBalancer`: its shape as observe reads it (subnets, security
//! groups, attributes, tags; the DNS name as an output), its describe by ARN or name, and
//! CreateLoadBalancer (then its attributes) / in-place changes (attributes, tags, subnets,
//! security groups, IP address type). Deleted by the executor in `apply`.

use super::*;
use crate::aws::client::AwsProvider;
use crate::aws::inventory::By;
use crate::aws::operations as ops;
use crate::aws::KIND_LB;
use crate::error::Result;
use crate::plan::{Change, Resource};
use aws_sdk_elasticloadbalancingv2::types::{
    IpAddressType, LoadBalancer, LoadBalancerAttribute, LoadBalancerSchemeEnum,
    LoadBalancerTypeEnum,
};
use serde_json::{json, Map, Value};

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
    m.insert(
        "Tags".into(),
        tags_value(&crate::aws::tags::berth_tags(tags)),
    );
    Resource {
        kind: KIND_LB.into(),
        name,
        properties: m,
    }
}

/// Whether a load balancer is of the type berth makes for this owner: network for a Service,
/// application for an Ingress group.
pub(crate) fn is_our_type(lb: &LoadBalancer, alb: bool) -> bool {
    lb.r#type()
        == Some(if alb {
            &LoadBalancerTypeEnum::Application
        } else {
            &LoadBalancerTypeEnum::Network
        })
}

impl AwsProvider {
    pub(crate) async fn create_lb(
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
    pub(crate) async fn set_lb_attributes(
        &self,
        arn: &str,
        attrs: &[(String, String)],
    ) -> Result<()> {
        if attrs.is_empty() {
            return Ok(());
        }
        let req = self
            .elb
            .modify_load_balancer_attributes()
            .load_balancer_arn(arn)
            .set_attributes(Some(map_pairs(attrs, |k, v| {
                LoadBalancerAttribute::builder().key(k).value(v).build()
            })));
        self.call(ops::MODIFY_LOAD_BALANCER_ATTRIBUTES, || req.clone().send())
            .await?;
        Ok(())
    }

    pub(crate) async fn update_lb(
        &self,
        c: &Change,
        arn: &str,
        p: &Map<String, Value>,
    ) -> Result<()> {
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

    /// Load balancers by ARNs or names (at most 20); `None` when one of them does not exist
    /// (ELBv2 then fails the whole call).
    pub(crate) async fn lbs_by(
        &self,
        by: By,
        keys: Vec<String>,
    ) -> Result<Option<Vec<LoadBalancer>>> {
        describe_by!(
            self,
            by,
            keys,
            describe_load_balancers,
            set_load_balancer_arns,
            DESCRIBE_LOAD_BALANCERS,
            "LoadBalancerNotFound",
            load_balancers
        )
    }

    pub(crate) async fn lb_attributes(&self, arn: &str) -> Result<Vec<(String, String)>> {
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
}
