//! What exists for one owner, read fresh by name: names are deterministic, so observing a
//! Service or an Ingress is a fixed number of GETs (the desired resources, and every name the
//! owner's resources can have, so a deletion finds them all; an Ingress's backend services and
//! health checks are found through its URL map), whatever the number of objects. A resource is
//! berth's when its description names this cluster and this owner (or marks it the cluster's
//! shared one); a same-named resource without that is foreign: a conflict, never touched.

use super::client::GcpProvider;
use super::description::{self, Owner};
use super::kinds::instance_group::split;
use super::kinds::*;
use super::names;
use crate::error::Result;
use crate::frontend::{FrontendKind, ObjectRef};
use crate::plan::{Observed, ObservedResource, Resource};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Output-only fields: not part of a body, so not shown or compared.
const OUTPUT_ONLY: [&str; 10] = [
    "id",
    "kind",
    "creationTimestamp",
    "selfLink",
    "selfLinkWithId",
    "fingerprint",
    "labelFingerprint",
    "region",
    "zone",
    "size",
];

/// The object that owns the resources: a GCE Ingress is its own group, and its resources name
/// the Ingress.
pub fn owner_of(group_or_object: &ObjectRef) -> ObjectRef {
    match group_or_object.kind {
        FrontendKind::IngressGroup if !group_or_object.namespace.is_empty() => ObjectRef {
            kind: FrontendKind::Ingress,
            ..group_or_object.clone()
        },
        _ => group_or_object.clone(),
    }
}

/// Every (kind, name) an owner's own resources can have (an Ingress's backends come from its
/// URL map).
pub fn owner_names(cluster: &str, owner: &ObjectRef) -> Vec<(&'static str, String)> {
    let (ns, n) = (owner.namespace.as_str(), owner.name.as_str());
    if owner.kind == FrontendKind::Ingress {
        let t = |k: &str| names::typed(k, cluster, ns, n);
        return vec![
            (FIREWALL, t("l7")),
            (URL_MAP, t("um")),
            (TARGET_HTTP_PROXY, t("tp")),
            (TARGET_HTTPS_PROXY, t("ts")),
            (GLOBAL_ADDRESS, t("ip")),
            (GLOBAL_FORWARDING_RULE, t("fr")),
            (GLOBAL_FORWARDING_RULE, t("fs")),
        ];
    }
    let backend = names::l4_backend(cluster, ns, n);
    let mut out = vec![
        (REGION_HEALTH_CHECK, names::typed("hc", cluster, ns, n)),
        (FIREWALL, names::typed("fw", cluster, ns, n)),
        (FIREWALL, names::l4_health_check_firewall(cluster, ns, n)),
        (REGION_BACKEND_SERVICE, backend),
    ];
    for proto in ["tcp", "udp", "l3"] {
        out.push((
            FORWARDING_RULE,
            names::l4_forwarding_rule(cluster, ns, n, proto),
        ));
    }
    out
}

/// The backend services a URL map sends to.
fn url_map_backends(url_map: &Map<String, Value>) -> BTreeSet<String> {
    let mut links: Vec<&Value> = vec![&url_map["defaultService"]];
    for m in url_map
        .get("pathMatchers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        links.push(&m["defaultService"]);
        for r in m["pathRules"].as_array().into_iter().flatten() {
            links.push(&r["service"]);
        }
    }
    links
        .into_iter()
        .filter_map(Value::as_str)
        .filter_map(|l| l.rsplit('/').next())
        .map(String::from)
        .collect()
}

fn split_outputs(mut m: Map<String, Value>) -> (String, Map<String, Value>) {
    let id = m
        .get("selfLink")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    for k in OUTPUT_ONLY {
        m.remove(k);
    }
    (id, m)
}

impl GcpProvider {
    /// The IP the address a desired forwarding rule names holds: a reserved address by URL
    /// (read), or an address of the same plan by `Ref` (observed).
    async fn address_ip(
        &self,
        wanted: &Value,
        observed: &Observed,
    ) -> Result<Option<(String, String)>> {
        if let Some(r) = wanted.get("Ref").and_then(Value::as_str) {
            let o = observed.find(GLOBAL_ADDRESS, r);
            return Ok(o.and_then(|o| {
                let ip = o.resource.properties.get("address")?.as_str()?;
                Some((o.id.clone(), ip.to_string()))
            }));
        }
        let Some(url) = wanted.as_str().filter(|u| u.contains("/addresses/")) else {
            return Ok(None);
        };
        let name = url.rsplit('/').next().unwrap_or_default();
        let ip = if url.contains("/global/") {
            self.get_named(GLOBAL_ADDRESS, name)
                .await?
                .and_then(|a| a.get("address")?.as_str().map(String::from))
        } else {
            self.get_address(name).await?
        };
        Ok(ip.map(|ip| (url.to_string(), ip)))
    }

    /// Compute answers a forwarding rule's `IPAddress` as the literal IP even when it was given
    /// an address's URL: when the desired rule names an address that holds the rule's IP, the
    /// rule is reported with the address, as asked.
    async fn addresses_as_asked(
        &self,
        desired: &[Resource],
        observed: &mut Observed,
    ) -> Result<()> {
        for d in desired
            .iter()
            .filter(|d| d.kind == FORWARDING_RULE || d.kind == GLOBAL_FORWARDING_RULE)
        {
            let Some(wanted) = d.properties.get("IPAddress") else {
                continue;
            };
            let Some((link, ip)) = self.address_ip(wanted, observed).await? else {
                continue;
            };
            if let Some(o) = observed
                .resources
                .iter_mut()
                .find(|o| o.resource.kind == d.kind && o.resource.name == d.name)
            {
                if o.resource
                    .properties
                    .get("IPAddress")
                    .and_then(Value::as_str)
                    == Some(ip.as_str())
                {
                    o.resource
                        .properties
                        .insert("IPAddress".into(), Value::String(link));
                }
            }
        }
        Ok(())
    }

    async fn read(&self, kind: &str, name: &str) -> Result<Option<Map<String, Value>>> {
        if kind == INSTANCE_GROUP {
            let (zone, group) = split(name);
            self.get_instance_group(zone, group).await
        } else {
            self.get_named(kind, name).await
        }
    }

    pub(crate) async fn observe_owned(
        &self,
        owner: &ObjectRef,
        cluster: &str,
        desired: &[Resource],
    ) -> Result<Observed> {
        let owner = owner_of(owner);
        let sub = |k: &str| k == INSTANCE_GROUP_MEMBERS || k == INSTANCE_GROUP_NAMED_PORTS;
        let mut wanted: Vec<(String, String)> = desired
            .iter()
            .filter(|r| !sub(&r.kind))
            .map(|r| (r.kind.clone(), r.name.clone()))
            .collect();
        wanted.extend(
            owner_names(cluster, &owner)
                .into_iter()
                .map(|(k, n)| (k.to_string(), n)),
        );
        let named_ports: BTreeSet<&str> = desired
            .iter()
            .filter(|r| r.kind == INSTANCE_GROUP_NAMED_PORTS)
            .map(|r| r.name.as_str())
            .collect();
        let mine = owner.to_string();
        let mut out = Observed::default();
        let mut done: BTreeSet<(String, String)> = BTreeSet::new();
        while let Some((kind, name)) = wanted.pop() {
            if !done.insert((kind.clone(), name.clone())) {
                continue;
            }
            let Some(body) = self.read(&kind, &name).await? else {
                continue;
            };
            let (id, mut props) = split_outputs(body);
            let ours =
                match description::owner(cluster, props.get("description").and_then(Value::as_str))
                {
                    Some(Owner::Object(o)) => o == mine,
                    Some(Owner::Shared) => true,
                    None => false,
                };
            if !ours {
                out.foreign.insert((kind, name), id);
                continue;
            }
            let mut outputs = Map::new();
            match kind.as_str() {
                FORWARDING_RULE | GLOBAL_FORWARDING_RULE => {
                    if let Some(ip) = props.get("IPAddress").cloned() {
                        outputs.insert("IPAddress".into(), ip);
                    }
                }
                URL_MAP => {
                    for be in url_map_backends(&props) {
                        wanted.push((BACKEND_SERVICE.into(), be));
                    }
                }
                BACKEND_SERVICE => {
                    // Its health checks (an Ingress's own: global ones).
                    let checks = props.get("healthChecks").and_then(Value::as_array);
                    for hc in checks.into_iter().flatten().filter_map(Value::as_str) {
                        if hc.contains("/global/") {
                            let name = hc.rsplit('/').next().unwrap_or_default();
                            wanted.push((HEALTH_CHECK.into(), name.to_string()));
                        }
                    }
                }
                INSTANCE_GROUP => {
                    let (zone, group) = split(&name);
                    let members = self.list_members(zone, group).await?;
                    out.resources.push(ObservedResource {
                        id: id.clone(),
                        resource: Resource {
                            kind: INSTANCE_GROUP_MEMBERS.into(),
                            name: name.clone(),
                            properties: members,
                        },
                        outputs: Map::new(),
                    });
                    if named_ports.contains(name.as_str()) {
                        let ports = props
                            .remove("namedPorts")
                            .unwrap_or(Value::Array(Vec::new()));
                        out.resources.push(ObservedResource {
                            id: id.clone(),
                            resource: Resource {
                                kind: INSTANCE_GROUP_NAMED_PORTS.into(),
                                name: name.clone(),
                                properties: Map::from_iter([("namedPorts".to_string(), ports)]),
                            },
                            outputs: Map::new(),
                        });
                    }
                }
                _ => {}
            }
            props.retain(|_, v| !v.is_null());
            out.resources.push(ObservedResource {
                id,
                resource: Resource {
                    kind,
                    name,
                    properties: props,
                },
                outputs,
            });
        }
        self.addresses_as_asked(desired, &mut out).await?;
        Ok(out)
    }
}
