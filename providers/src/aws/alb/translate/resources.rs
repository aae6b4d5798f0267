//! The accepted members, merged, as the ALB's resources: load balancer, managed security
//! group, target groups, listeners and rules.

use super::*;

pub(super) fn finish(group: &IngressGroup, acc: Acc, facts: &AwsFacts) -> Vec<Resource> {
    let owner = &group.object;
    let user_tags: BTreeMap<String, String> = acc
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    let scheme = acc
        .scheme
        .as_ref()
        .map(|s| s.value.clone())
        .unwrap_or_else(|| "internal".into());
    let lb_name = acc
        .lb_name
        .as_ref()
        .map(|s| s.value.clone())
        .unwrap_or_else(|| lb_generated_name(&group.cluster, owner, &scheme));

    let mut out = Vec::new();
    // Without `security-groups`, berth creates and owns the load balancer's security group:
    // TCP on every listener port from `inbound-cidrs` (default 0.0.0.0/0, and ::/0 when
    // dualstack), as the aws-load-balancer-controller's managed frontend security group.
    let managed_sg = acc.security_groups.is_none().then(|| {
        let rules = acc.managed_sg_rules();
        let r = sg::managed(
            &group.cluster,
            owner,
            facts.vpc_id.as_deref(),
            rules,
            &user_tags,
        );
        let name = r.name.clone();
        out.push(r);
        name
    });
    let mut lb = Map::new();
    lb.insert("Name".into(), json!(lb_name));
    lb.insert("Type".into(), json!("application"));
    lb.insert("Scheme".into(), json!(scheme));
    let subnets = facts.subnets.clone().or_else(|| {
        acc.subnets
            .as_ref()
            .map(|s| s.value.clone())
            .filter(|l| l.iter().all(|s| s.starts_with("subnet-")))
    });
    if let Some(s) = subnets {
        lb.insert("Subnets".into(), json!(s));
    }
    if let Some(sg) = &acc.security_groups {
        lb.insert("SecurityGroups".into(), json!(sg.value));
    } else if let Some(name) = &managed_sg {
        lb.insert("SecurityGroups".into(), json!([{"Ref": name}]));
    }
    // Always written (ipv4 unless annotated), so removing the annotation goes back to ipv4.
    let ip_type = acc
        .ip_address_type
        .as_ref()
        .map_or("ipv4", |t| t.value.as_str());
    lb.insert("IpAddressType".into(), json!(ip_type));
    if !acc.lb_attributes.is_empty() {
        lb.insert(
            "LoadBalancerAttributes".into(),
            Value::Array(
                acc.lb_attributes
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v.value}))
                    .collect(),
            ),
        );
    }
    lb.insert(
        "Tags".into(),
        tags::owner_tags(&group.cluster, owner, "LoadBalancer", &user_tags),
    );
    out.push(Resource {
        kind: KIND_LB.into(),
        name: lb_name.clone(),
        properties: lb,
    });

    for (mut tg, _) in acc.tgs {
        // Every target group carries the group's tags (a later member may have added some).
        let resource = tg
            .properties
            .get("Tags")
            .and_then(|t| {
                t.as_array()?
                    .iter()
                    .find(|x| x["Key"] == tags::resource_key(owner))
                    .cloned()
            })
            .and_then(|x| x["Value"].as_str().map(String::from))
            .unwrap_or_default();
        tg.properties.insert(
            "Tags".into(),
            tags::owner_tags(&group.cluster, owner, &resource, &user_tags),
        );
        out.push(tg);
    }

    let default_action = acc
        .default_action
        .map(|s| s.value)
        .unwrap_or_else(|| vec![rules::fixed_404()]);
    let redirect = acc.ssl_redirect.map(|s| s.value);
    let mut listener_rules = Vec::new();
    for (port, proto) in &acc.listeners {
        let l_name = listener_name(&lb_name, *port);
        let mut m = Map::new();
        m.insert("LoadBalancerArn".into(), json!({"Ref": lb_name}));
        m.insert("Port".into(), json!(port));
        m.insert("Protocol".into(), json!(proto.value.as_str()));
        let redirected = proto.value == ListenProtocol::Http && redirect.is_some();
        if proto.value == ListenProtocol::Https {
            m.insert(
                "Certificates".into(),
                Value::Array(
                    acc.certificates
                        .iter()
                        .map(|c| json!({"CertificateArn": c}))
                        .collect(),
                ),
            );
            m.insert(
                "SslPolicy".into(),
                json!(acc
                    .ssl_policy
                    .as_ref()
                    .map(|s| s.value.as_str())
                    .unwrap_or(ann::DEFAULT_SSL_POLICY)),
            );
        }
        let actions = match redirect {
            Some(to) if redirected => vec![
                json!({"Type": "redirect", "RedirectConfig": rules::redirect_config("HTTPS", &to.to_string(), "#{host}", "/#{path}", "#{query}", "HTTP_301")}),
            ],
            _ => default_action.clone(),
        };
        m.insert("DefaultActions".into(), Value::Array(actions));
        // Ownership marks: listeners and rules someone else adds to the ALB carry none and are
        // left alone.
        let mark = match proto.value {
            ListenProtocol::Https => certificates_mark(&acc.certificates),
            ListenProtocol::Http => BTreeMap::new(),
        };
        m.insert(
            "Tags".into(),
            tags::owner_tags(&group.cluster, owner, "Listener", &mark),
        );
        out.push(Resource {
            kind: KIND_LISTENER.into(),
            name: l_name.clone(),
            properties: m,
        });
        if redirected {
            // With ssl-redirect every HTTP request is redirected: no rules on HTTP listeners.
            continue;
        }
        for (i, r) in acc.rules.iter().filter(|r| r.port == *port).enumerate() {
            let mut p = Map::new();
            p.insert("ListenerArn".into(), json!({"Ref": l_name}));
            p.insert("Priority".into(), json!(i + 1));
            p.insert("Conditions".into(), Value::Array(r.conditions.clone()));
            p.insert("Actions".into(), Value::Array(r.actions.clone()));
            p.insert(
                "Tags".into(),
                tags::owner_tags(&group.cluster, owner, "ListenerRule", &BTreeMap::new()),
            );
            listener_rules.push(Resource {
                kind: KIND_RULE.into(),
                name: rule_name(&l_name, &r.conditions),
                properties: p,
            });
        }
    }
    out.extend(listener_rules);
    out
}
