//! One member's contribution to the group, validated on its own and checked against what
//! earlier members set (the group's isolation rule).

use super::*;

/// AWS's default quota of rules per Application Load Balancer.
pub(super) const MAX_RULES: usize = 100;

pub(super) fn add_member(
    acc: &mut Acc,
    group: &IngressGroup,
    m: &Member,
    s: &IngressSettings,
    facts: &AwsFacts,
) -> Result<()> {
    let me = &m.object;
    let g = &group.object;
    agree(&mut acc.scheme, &s.scheme, me, g, ann::SCHEME, |v| {
        v.clone()
    })?;
    agree(&mut acc.subnets, &s.subnets, me, g, ann::SUBNETS, |v| {
        v.join(",")
    })?;
    agree(
        &mut acc.security_groups,
        &s.security_groups,
        me,
        g,
        ann::SECURITY_GROUPS,
        |v| v.join(","),
    )?;
    agree(
        &mut acc.ip_address_type,
        &s.ip_address_type,
        me,
        g,
        ann::IP_ADDRESS_TYPE,
        |v| v.clone(),
    )?;
    agree(
        &mut acc.inbound_cidrs,
        &s.inbound_cidrs,
        me,
        g,
        ann::INBOUND_CIDRS,
        |v| v.join(","),
    )?;
    if let Some(c) = &acc.inbound_cidrs {
        let v6 = c.value.iter().find(|x| x.contains(':'));
        let ip_type = acc.ip_address_type.as_ref().map(|t| t.value.as_str());
        if let (Some(v6), None, false) = (v6, &acc.security_groups, dualstack(ip_type)) {
            return Err(ann::ctx(me).err(
                ann::INBOUND_CIDRS,
                &c.value.join(","),
                format!(
                    "{v6} is an IPv6 CIDR, but the load balancer of the Ingress group {} is {} (IPv6 clients need {}{}: dualstack)",
                    display_group(g),
                    ip_type.unwrap_or("ipv4"),
                    ann::PREFIX,
                    ann::IP_ADDRESS_TYPE
                ),
            ));
        }
    }
    // With `security-groups` the load balancer's groups are the user's, which berth never
    // changes: `inbound-cidrs` could not be honoured, so it is refused rather than ignored.
    if let (Some(c), Some(sgs)) = (&acc.inbound_cidrs, &acc.security_groups) {
        return Err(ann::ctx(me).err(
            ann::INBOUND_CIDRS,
            &c.value.join(","),
            format!(
                "the Ingress group {} uses the security groups {} ({}{}), which berth does not change, so inbound-cidrs cannot be applied: allow these CIDRs in those groups and remove inbound-cidrs, or remove security-groups to let berth manage the load balancer's security group",
                display_group(g),
                sgs.value.join(","),
                ann::PREFIX,
                ann::SECURITY_GROUPS
            ),
        ));
    }
    agree(&mut acc.lb_name, &s.lb_name, me, g, ann::LB_NAME, |v| {
        v.clone()
    })?;
    agree(
        &mut acc.ssl_policy,
        &s.ssl_policy,
        me,
        g,
        ann::SSL_POLICY,
        |v| v.clone(),
    )?;
    agree(
        &mut acc.ssl_redirect,
        &s.ssl_redirect,
        me,
        g,
        ann::SSL_REDIRECT,
        |v| v.to_string(),
    )?;
    agree_map(&mut acc.tags, &s.tags, me, g, ann::TAGS)?;
    agree_map(
        &mut acc.lb_attributes,
        &s.lb_attributes,
        me,
        g,
        ann::LB_ATTRIBUTES,
    )?;
    for (proto, port) in &s.listen_ports {
        agree(
            &mut acc.listeners.get(port).cloned(),
            &Some(*proto),
            me,
            g,
            ann::LISTEN_PORTS,
            |p| format!("{}:{port}", p.as_str()),
        )?;
        acc.listeners.entry(*port).or_insert(Set {
            value: *proto,
            by: me.clone(),
        });
    }
    // The managed security group: one inbound rule per listener port and CIDR (per address
    // family); the member whose ports would pass AWS's 60 is left out.
    if acc.security_groups.is_none() {
        let rules = acc.managed_sg_rules();
        let field = format!(
            "{}{} x {}{}",
            ann::PREFIX,
            ann::LISTEN_PORTS,
            ann::PREFIX,
            ann::INBOUND_CIDRS
        );
        sg::check_rule_quota(me, &field, &rules)?;
    }
    for c in &s.certificates {
        if !acc.certificates.contains(c) {
            acc.certificates.push(c.clone());
        }
    }
    if !m.tls.is_empty() && s.certificates.is_empty() {
        return Err(Error::InvalidField {
            object: me.clone(),
            field: "spec.tls".into(),
            value: m
                .tls
                .iter()
                .flat_map(|t| t.hosts.iter().cloned())
                .collect::<Vec<_>>()
                .join(","),
            expected: format!(
                "berth does not discover ACM certificates by host yet; set {}{}",
                ann::PREFIX,
                ann::CERTIFICATE_ARN
            ),
        });
    }

    if let Some(b) = &m.default_backend {
        let action = backend_action(acc, group, m, s, b, "spec.defaultBackend", facts)?;
        agree(&mut acc.default_action, &Some(action), me, g, "spec.defaultBackend", |v| Value::Array(v.clone()).to_string())
            .map_err(|_| Error::InvalidField {
                object: me.clone(),
                field: "spec.defaultBackend".into(),
                value: format!("{}:{}", b.service, port_str(&b.port)),
                expected: format!(
                    "the Ingress group {} already has a different default backend from {}; only one member of a group may set one",
                    display_group(g),
                    acc.default_action.as_ref().map(|s| s.by.to_string()).unwrap_or_default()
                ),
            })?;
    }

    // Rules, most specific first within this member.
    let mut paths = Vec::new();
    for (i, r) in m.rules.iter().enumerate() {
        for (j, p) in r.paths.iter().enumerate() {
            paths.push((i, j, r.host.as_deref(), p));
        }
    }
    paths.sort_by_key(|(_, _, host, p)| rules::specificity(*host, &p.path, p.path_type));
    let mut mine: Vec<(Vec<Value>, Vec<Value>, String)> = Vec::new();
    for (i, j, host, p) in paths {
        let field = format!("spec.rules[{i}].http.paths[{j}]");
        let action = backend_action(
            acc,
            group,
            m,
            s,
            &p.backend,
            &format!("{field}.backend"),
            facts,
        )?;
        let mut conditions = Vec::new();
        if let Some(h) = host {
            conditions.push(json!({"Field": "host-header", "HostHeaderConfig": {"Values": [h]}}));
        }
        let patterns = if p.path.is_empty() && p.path_type == PathType::ImplementationSpecific {
            Vec::new()
        } else {
            rules::path_patterns(&p.path, p.path_type)
        };
        if !patterns.is_empty() {
            conditions
                .push(json!({"Field": "path-pattern", "PathPatternConfig": {"Values": patterns}}));
        }
        if let Some(extra) = s.conditions.get(&p.backend.service) {
            conditions.extend(extra.iter().cloned());
        }
        if conditions.is_empty() {
            conditions
                .push(json!({"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}));
        }
        let key = canonical(&conditions);
        if mine.iter().any(|(_, _, k)| *k == key) {
            return Err(Error::InvalidField {
                object: me.clone(),
                field,
                value: format!("{}{}", host.unwrap_or(""), p.path),
                expected: "another path of this Ingress has the same host, path and conditions; remove one".into(),
            });
        }
        for (_, port) in &s.listen_ports {
            if let Some(by) = acc.conditions.get(&(*port, key.clone())) {
                return Err(Error::InvalidField {
                    object: me.clone(),
                    field,
                    value: format!("{}{}", host.unwrap_or(""), p.path),
                    expected: format!(
                        "{by} (earlier in the Ingress group {} by group.order, namespace and name) already routes the same host and path on port {port}",
                        display_group(g)
                    ),
                });
            }
        }
        mine.push((conditions, action, key));
    }
    // AWS's quota of rules per Application Load Balancer (default rules aside): the member
    // that would pass it is left out, so the members before it still converge.
    let adding = mine.len() * s.listen_ports.len();
    if acc.rules.len() + adding > MAX_RULES {
        return Err(Error::InvalidField {
            object: me.clone(),
            field: "spec.rules".into(),
            value: format!("{adding} rules"),
            expected: format!(
                "room in the Ingress group {}'s load balancer: AWS allows {MAX_RULES} rules per ALB and the members before this one use {}; split the group (group.name) or route fewer paths",
                display_group(g),
                acc.rules.len()
            ),
        });
    }
    for (_, port) in &s.listen_ports {
        for (conditions, action, key) in &mine {
            acc.conditions.insert((*port, key.clone()), me.clone());
            acc.rules.push(RuleDraft {
                port: *port,
                conditions: conditions.clone(),
                actions: action.clone(),
            });
        }
    }
    Ok(())
}
