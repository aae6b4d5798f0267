//! A member's backends: the forward actions and the target groups they need (shared between
//! members that name the same Service port with the same settings).

use super::*;

pub(super) fn port_str(p: &BackendPort) -> String {
    match p {
        BackendPort::Number(n) => n.to_string(),
        BackendPort::Name(n) => n.clone(),
    }
}

/// The actions for a backend: `use-annotation` -> the member's `actions.<service>`, else a
/// forward to the backend's target group (created in `acc` if new).
pub(super) fn backend_action(
    acc: &mut Acc,
    group: &IngressGroup,
    m: &Member,
    s: &IngressSettings,
    b: &Backend,
    field: &str,
    facts: &AwsFacts,
) -> Result<Vec<Value>> {
    if b.port == BackendPort::Name(USE_ANNOTATION.into()) {
        let spec = s
            .actions
            .get(&b.service)
            .cloned()
            .ok_or_else(|| Error::InvalidField {
                object: m.object.clone(),
                field: format!("{field}.service.name"),
                value: b.service.clone(),
                expected: format!(
                    "port use-annotation needs the annotation {}{}{}",
                    ann::PREFIX,
                    ann::ACTIONS,
                    b.service
                ),
            })?;
        return Ok(vec![match spec {
            ActionSpec::Redirect(r) => json!({"Type": "redirect", "RedirectConfig": r}),
            ActionSpec::FixedResponse(f) => {
                json!({"Type": "fixed-response", "FixedResponseConfig": f})
            }
            ActionSpec::Forward {
                targets,
                stickiness,
            } => {
                let mut refs = Vec::new();
                for t in targets {
                    match t {
                        ForwardTarget::Arn { arn, weight } => refs.push((json!(arn), weight)),
                        ForwardTarget::Service { name, port, weight } => {
                            let found = m
                                .annotation_backends
                                .iter()
                                .chain(
                                    m.rules
                                        .iter()
                                        .flat_map(|r| r.paths.iter().map(|p| &p.backend)),
                                )
                                .find(|x| x.service == name && x.port == port)
                                .cloned()
                                .unwrap_or(Backend {
                                    service: name.clone(),
                                    port: port.clone(),
                                    resolved: Err(format!(
                                        "Service {}/{name} was not gathered",
                                        m.object.namespace
                                    )),
                                });
                            let key = format!("{}{}{}", ann::PREFIX, ann::ACTIONS, b.service);
                            let tg = target_group(acc, group, m, &found, &key, facts)?;
                            refs.push((json!({"Ref": tg}), weight));
                        }
                    }
                }
                rules::forward(&refs, stickiness)
            }
        }]);
    }
    let tg = target_group(acc, group, m, b, field, facts)?;
    Ok(vec![rules::forward(&[(json!({"Ref": tg}), None)], None)])
}

/// The target group for a backend (added to `acc` unless an identical one is there); its name.
pub(super) fn target_group(
    acc: &mut Acc,
    group: &IngressGroup,
    m: &Member,
    b: &Backend,
    field: &str,
    facts: &AwsFacts,
) -> Result<String> {
    let me = &m.object;
    let svc_ref = format!("{}/{}", me.namespace, b.service);
    let resolved = b.resolved.as_ref().map_err(|why| Error::InvalidField {
        object: me.clone(),
        field: field.to_string(),
        value: format!("{}:{}", b.service, port_str(&b.port)),
        expected: why.clone(),
    })?;
    let s: TgSettings =
        ann::tg_settings(me, &m.annotations, &svc_ref, &resolved.service_annotations)?;
    let sp = &resolved.port;
    let (port, targets): (u16, Vec<(String, u16)>) = if s.target_type == "instance" {
        let node_port = sp.node_port.ok_or_else(|| Error::InvalidField {
            object: me.clone(),
            field: field.to_string(),
            value: format!("{}:{}", b.service, port_str(&b.port)),
            expected: format!("instance targets need a NodePort, and Service {svc_ref} port {} has none: make the Service type NodePort or LoadBalancer, or set {}{}: ip", sp.port, ann::PREFIX, ann::TARGET_TYPE),
        })?;
        (node_port, instance_targets(&group.nodes, node_port))
    } else {
        if let Some(why) = &group.endpoints_unavailable {
            return Err(Error::Unavailable(format!(
                "{me}: ip targets for Service {svc_ref} need pod endpoints, which are unavailable: {why}"
            )));
        }
        crate::aws::translate::ip_targets(sp)
    };
    let version = s.protocol_version.clone().unwrap_or_else(|| "HTTP1".into());
    let stack = tags::stack_value(&group.object);
    let name_hash = hash_hex(
        &[
            &group.cluster,
            &stack,
            &me.namespace,
            &b.service,
            &sp.port.to_string(),
            &s.target_type,
            &s.protocol,
            &version,
            &port.to_string(),
        ],
        10,
    );
    let tg_name = format!(
        "k8s-{}-{}-{name_hash}",
        sanitize(&me.namespace, 8),
        sanitize(&b.service, 8)
    );

    let mut p = Map::new();
    p.insert("Name".into(), json!(tg_name));
    p.insert("Protocol".into(), json!(s.protocol));
    p.insert("ProtocolVersion".into(), json!(version));
    p.insert("Port".into(), json!(port));
    p.insert("TargetType".into(), json!(s.target_type));
    if let Some(vpc) = &facts.vpc_id {
        p.insert("VpcId".into(), json!(vpc));
    }
    let hc_port = match &s.hc_port {
        HcPort::TrafficPort => "traffic-port".to_string(),
        HcPort::Number(n) => n.to_string(),
        HcPort::Named(name) => {
            let n = (sp.name.as_deref() == Some(name.as_str()))
                .then(|| {
                    if s.target_type == "instance" {
                        sp.node_port
                    } else {
                        sp.target_port
                    }
                })
                .flatten();
            match n {
                Some(n) => n.to_string(),
                None => {
                    return Err(ann::ctx(me).err(
                        ann::HC_PORT,
                        name,
                        format!("expected traffic-port, a port number, or the name of the backend's Service port ({}) when it has a NodePort (instance) or numeric targetPort (ip)", sp.name.clone().unwrap_or_default()),
                    ))
                }
            }
        }
    };
    let grpc = version == "GRPC";
    p.insert("HealthCheckEnabled".into(), json!(true));
    p.insert(
        "HealthCheckProtocol".into(),
        json!(s.hc_protocol.clone().unwrap_or_else(|| s.protocol.clone())),
    );
    p.insert("HealthCheckPort".into(), json!(hc_port));
    let default_path = if grpc { "/AWS.ALB/healthcheck" } else { "/" };
    p.insert(
        "HealthCheckPath".into(),
        json!(s.hc_path.clone().unwrap_or_else(|| default_path.into())),
    );
    p.insert("HealthCheckIntervalSeconds".into(), json!(s.hc_interval));
    p.insert("HealthCheckTimeoutSeconds".into(), json!(s.hc_timeout));
    p.insert("HealthyThresholdCount".into(), json!(s.hc_healthy));
    p.insert("UnhealthyThresholdCount".into(), json!(s.hc_unhealthy));
    if grpc {
        p.insert(
            "Matcher".into(),
            json!({"GrpcCode": s.success_codes.clone().unwrap_or_else(|| "12".into())}),
        );
    } else {
        p.insert(
            "Matcher".into(),
            json!({"HttpCode": s.success_codes.clone().unwrap_or_else(|| "200".into())}),
        );
    }
    if !s.attributes.is_empty() {
        p.insert(
            "TargetGroupAttributes".into(),
            Value::Array(
                s.attributes
                    .iter()
                    .map(|(k, v)| json!({"Key": k, "Value": v}))
                    .collect(),
            ),
        );
    }
    p.insert(
        "Targets".into(),
        crate::aws::translate::targets_value(&targets),
    );
    let resource = format!("{svc_ref}:{}", sp.port);
    let tg_tags: BTreeMap<String, String> = acc
        .tags
        .iter()
        .map(|(k, v)| (k.clone(), v.value.clone()))
        .collect();
    p.insert(
        "Tags".into(),
        tags::owner_tags(&group.cluster, &group.object, &resource, &tg_tags),
    );

    if let Some((existing, by)) = acc.tgs.iter().find(|(r, _)| r.name == tg_name) {
        // Tags follow the group (filled in at the end); compare the rest.
        let differ: Vec<&String> = p
            .iter()
            .filter(|(k, v)| *k != "Tags" && existing.properties.get(*k) != Some(v))
            .map(|(k, _)| k)
            .collect();
        if !differ.is_empty() {
            return Err(Error::InvalidField {
                object: me.clone(),
                field: field.to_string(),
                value: format!("{}:{}", b.service, port_str(&b.port)),
                expected: format!(
                    "{by} already uses Service {svc_ref} port {} with different target-group settings ({}); put the settings on the Service, or make them agree",
                    sp.port,
                    differ.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                ),
            });
        }
        return Ok(tg_name);
    }
    acc.tgs.push((
        Resource {
            kind: KIND_TG.into(),
            name: tg_name.clone(),
            properties: p,
        },
        me.clone(),
    ));
    Ok(tg_name)
}
