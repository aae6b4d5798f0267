//! What exists for one owner, read fresh by name: names are deterministic, so observing a
//! Service is a fixed number of GETs (the desired resources, and every name the owner's
//! resources can have, so a deletion finds them all), whatever the number of Services. A
//! resource is berth's when its description names this cluster and this owner (or marks it the
//! cluster's shared one); a same-named resource without that is foreign: a conflict, never
//! touched.

use super::client::GcpProvider;
use super::description::{self, Owner};
use super::kinds::instance_group::split;
use super::kinds::*;
use super::names;
use crate::error::Result;
use crate::frontend::ObjectRef;
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

/// Every (kind, name) an owner's own resources can have.
pub fn owner_names(cluster: &str, owner: &ObjectRef) -> Vec<(&'static str, String)> {
    let (ns, n) = (owner.namespace.as_str(), owner.name.as_str());
    let backend = names::l4_backend(cluster, ns, n);
    let mut out = vec![
        (REGION_HEALTH_CHECK, backend.clone()),
        (FIREWALL, backend.clone()),
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
    /// Compute answers a forwarding rule's `IPAddress` as the literal IP even when it was given
    /// a reserved address's URL: when the desired rule names an address and that address holds
    /// the rule's IP, the rule is reported with the URL, as asked.
    async fn address_as_asked(
        &self,
        desired: &[Resource],
        name: &str,
        props: &mut Map<String, Value>,
    ) -> Result<()> {
        let wanted = desired
            .iter()
            .find(|r| r.kind == FORWARDING_RULE && r.name == name)
            .and_then(|r| r.properties.get("IPAddress")?.as_str());
        let Some(url) = wanted.filter(|u| u.contains("/addresses/")) else {
            return Ok(());
        };
        let address = url.rsplit('/').next().unwrap_or_default();
        let held = self.get_address(address).await?;
        if held.is_some() && held.as_deref() == props.get("IPAddress").and_then(Value::as_str) {
            props.insert("IPAddress".into(), Value::String(url.to_string()));
        }
        Ok(())
    }

    pub(crate) async fn observe_owned(
        &self,
        owner: &ObjectRef,
        cluster: &str,
        desired: &[Resource],
    ) -> Result<Observed> {
        let mut wanted: BTreeSet<(String, String)> = desired
            .iter()
            .filter(|r| r.kind != INSTANCE_GROUP_MEMBERS)
            .map(|r| (r.kind.clone(), r.name.clone()))
            .collect();
        wanted.extend(
            owner_names(cluster, owner)
                .into_iter()
                .map(|(k, n)| (k.to_string(), n)),
        );
        let mine = owner.to_string();
        let mut out = Observed::default();
        for (kind, name) in wanted {
            let found = if kind == INSTANCE_GROUP {
                let (zone, group) = split(&name);
                self.get_instance_group(zone, group).await?
            } else {
                self.get_named(&kind, &name).await?
            };
            let Some(body) = found else { continue };
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
            if kind == FORWARDING_RULE {
                if let Some(ip) = props.get("IPAddress").cloned() {
                    outputs.insert("IPAddress".into(), ip);
                }
                self.address_as_asked(desired, &name, &mut props).await?;
            }
            if kind == INSTANCE_GROUP {
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
        Ok(out)
    }
}
