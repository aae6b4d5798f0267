//! What exists now and is ours: load balancers and target groups found by their ownership tags
//! (never by name alone), their listeners, attributes and registered targets, converted to the
//! same names and property shapes that [`super::translate`] (a Service's NLB) and
//! [`crate::aws::alb::translate`] (an Ingress group's ALB) produce, so that an unchanged Service or
//! group plans to nothing. Which load balancers and target groups can be ours follows the
//! owner: network ones with TCP/UDP/TLS target groups for a Service, application ones with
//! HTTP/HTTPS target groups (and the `ingress.k8s.aws/*` tags) for an Ingress group.
//!
//! Calls, none of them over the region: the owner's load balancer and target group ARNs come
//! from the cluster's inventory ([`super::inventory`]: one GetResources listing per max age,
//! shared by every object, and one made now for a deletion). Then one DescribeLoadBalancers by
//! those ARNs and one DescribeTargetGroups by theirs (a batch that finds one gone is retried ARN
//! by ARN, and the gone one leaves the inventory), one DescribeLoadBalancers / DescribeTargetGroups
//! by name only for desired names not found by ARN (a same-named resource: a conflict, or ours
//! unknown to the inventory), DescribeListeners per load balancer of our type, and one
//! DescribeTags for exactly the resources found and their listeners (per 20): the ownership
//! check on fresh data. Then only for our resources: DescribeRules per listener (ALBs only; the
//! default rule is the listener's DefaultActions), and the details the desired state compares
//! (attributes, targets, extra certificates). None of these grow with the number of objects.
//! Also one DescribeSecurityGroups call (EC2 filters by the cluster and stack tags server-side)
//! for the owner's managed security group, and a second one by group name (in its VPC) only
//! while a desired security group is not found among ours; for a Service whose group exists, one
//! more for the rules berth added to the targets' groups (filtered by their source, berth's
//! group: see [`super::backend_rules`]).

use super::client::AwsProvider;
use super::convert::*;
use super::kinds::*;
use super::{tags, translate, KIND_LB, KIND_LISTENER, KIND_TG};
use crate::error::Result;
use crate::frontend::{FrontendKind, ObjectRef};
use crate::plan::{Observed, ObservedResource, Resource};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

mod owned;

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

    /// The names the desired state wants of `kind`.
    fn names(&self, kind: &str) -> Vec<&'a str> {
        self.by_name
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| *n)
            .collect()
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
    /// The listeners and rules of our load balancers that are ours: those carrying our
    /// ownership tags (`known`, else one DescribeTags per 20), and — made by berth before it tagged them —
    /// untagged ones the desired state names whose forwards go only to our target groups (their
    /// tags are added by the update). Others are someone else's: left alone, and a conflict if
    /// berth wants their name.
    async fn sub_resources_of(
        &self,
        scope: &Scope<'_>,
        our_tgs: &BTreeSet<&str>,
        candidates: impl Iterator<Item = ObservedResource>,
        known: BTreeMap<String, Tags>,
        observed: &mut Observed,
    ) -> Result<Vec<ObservedResource>> {
        let candidates: Vec<ObservedResource> = candidates.collect();
        let arns: Vec<String> = (candidates.iter().map(|o| &o.id))
            .filter(|id| !known.contains_key(*id))
            .cloned()
            .collect();
        let mut tags = self.tags_of(&arns).await?;
        tags.extend(known);
        let mut out = Vec::new();
        for mut o in candidates {
            let t = tags.get(&o.id).cloned().unwrap_or_default();
            let (kind, name) = (o.resource.kind.clone(), o.resource.name.clone());
            let wanted = scope.wanted.get(&kind, &name).is_some();
            let own = tags::owned_by_owner(&t, scope.cluster, scope.owner);
            let adopted = !own
                && !t.contains_key(tags::MANAGED_BY)
                && wanted
                && forwards_only_to(&Value::Object(o.resource.properties.clone()), our_tgs);
            if own || adopted {
                if kind == KIND_LISTENER {
                    self.own_certificates(scope, &mut o, &t).await?;
                }
                if own {
                    o.resource
                        .properties
                        .insert("Tags".into(), tags_value(&tags::berth_tags(&t)));
                }
                out.push(o);
            } else if wanted {
                observed.foreign.insert((kind, name), o.id);
            }
        }
        Ok(out)
    }

    /// A listener's certificates as far as they are berth's (see
    /// [`listener::keep_own_certificates`]); read here when berth marked extras the desired
    /// listener no longer lists (DescribeListeners reports only the default one).
    async fn own_certificates(
        &self,
        scope: &Scope<'_>,
        o: &mut ObservedResource,
        tags: &Tags,
    ) -> Result<()> {
        let name = o.resource.name.clone();
        if listener::marks_certificates(tags) && scope.wanted.certificates(&name) <= 1 {
            let all = self.listener_certificates(&o.id).await?;
            if let Some(v) = listener::certificates_value(&all) {
                o.resource.properties.insert("Certificates".into(), v);
            }
        }
        let desired = scope
            .wanted
            .get(KIND_LISTENER, &name)
            .map(|r| &r.properties);
        listener::keep_own_certificates(&mut o.resource.properties, tags, desired);
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
        // be ours; same-named others are conflicts. Target groups likewise.
        let scope = Scope {
            owner,
            cluster,
            wanted: &wanted,
        };
        let found = self.owned_lbs_and_tgs(&scope, alb, &mut observed).await?;
        let (owned_lbs, owned_tgs, mut lb_listeners) = (found.lbs, found.tgs, found.listeners);

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
            for l in lb_listeners.remove(&arn).unwrap_or_default() {
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
        let our_tgs: BTreeSet<&str> = owned_tgs
            .iter()
            .filter_map(|(tg, _)| tg.target_group_arn())
            .collect();
        let subs = self
            .sub_resources_of(
                &scope,
                &our_tgs,
                listeners.into_iter().chain(rules),
                found.tags,
                &mut observed,
            )
            .await?;
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
        observed.resources.extend(subs);
        Ok(observed)
    }
}

/// Whether every target group a listener's or rule's actions forward to is one of ours.
fn forwards_only_to(v: &Value, ours: &BTreeSet<&str>) -> bool {
    match v {
        Value::Object(m) => m.iter().all(|(k, x)| match (k.as_str(), x) {
            ("TargetGroupArn", Value::String(arn)) => ours.contains(arn.as_str()),
            _ => forwards_only_to(x, ours),
        }),
        Value::Array(a) => a.iter().all(|x| forwards_only_to(x, ours)),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::KIND_RULE;
    use aws_sdk_elasticloadbalancingv2::types::{
        Action, ActionTypeEnum, AvailabilityZone, Certificate, ForwardActionConfig, IpAddressType,
        Listener, LoadBalancer, LoadBalancerSchemeEnum, LoadBalancerTypeEnum, Matcher,
        ProtocolEnum, RuleCondition, TargetDescription, TargetGroup, TargetGroupTuple,
        TargetHealth, TargetHealthDescription, TargetHealthStateEnum, TargetTypeEnum,
    };
    use serde_json::json;

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
        // "aaa" is not named in a berth.dev/tags mark: someone else's, not reported.
        let keys: Vec<&str> = p["Tags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["Key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, [tags::MANAGED_BY, tags::CLUSTER, tags::STACK]);
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
        use crate::aws::kinds::listener_rule::{sdk_action, sdk_condition};
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
            include_str!("../../../testdata/aws/alb-actions.plan.json"),
            include_str!("../../../testdata/aws/alb-basic.plan.json"),
            include_str!("../../../testdata/aws/alb-group.plan.json"),
            include_str!("../../../testdata/aws/alb-group-isolation.plan.json"),
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
