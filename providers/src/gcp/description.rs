//! Ownership on GCP: a resource's `description`, JSON as GKE's controllers write it
//! (`networking.gke.io/service-name`, `networking.gke.io/api-version`) with berth's own keys:
//! `berth.dev/cluster` (the cluster name) and `berth.dev/owner` (the object, or `shared` for
//! what every load balancer of the cluster uses). Compute resources carry no labels on most
//! kinds, so the description is the mark: a same-named resource without it is foreign, never
//! touched.

use crate::frontend::ObjectRef;
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const CLUSTER: &str = "berth.dev/cluster";
pub const OWNER: &str = "berth.dev/owner";
pub const SERVICE_NAME: &str = "networking.gke.io/service-name";
pub const API_VERSION: &str = "networking.gke.io/api-version";
pub const INGRESS_NAME: &str = "kubernetes.io/ingress-name";
const SHARED: &str = "shared";

/// Who a described resource belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// One object's (`Service shop/web`).
    Object(String),
    /// Every load balancer of the cluster's.
    Shared,
}

fn render(fields: BTreeMap<&str, String>) -> String {
    let m: Map<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    Value::Object(m).to_string()
}

/// The description of a resource made for one object: GKE's keys for a Service's
/// (`networking.gke.io/service-name`, `api-version`) or an Ingress's (`kubernetes.io/ingress-name`)
/// resources, with berth's.
pub fn owned(cluster: &str, object: &ObjectRef) -> String {
    let mut fields = BTreeMap::from([(CLUSTER, cluster.to_string()), (OWNER, object.to_string())]);
    match object.kind {
        crate::frontend::FrontendKind::Service => {
            fields.insert(SERVICE_NAME, object.stack());
            fields.insert(API_VERSION, "ga".to_string());
        }
        _ => {
            fields.insert(INGRESS_NAME, object.stack());
        }
    }
    render(fields)
}

/// The description of an Ingress's backend service or health check: GKE's L7 keys
/// (`kubernetes.io/service-name`, `kubernetes.io/service-port`) with berth's.
pub fn owned_backend(cluster: &str, ingress: &ObjectRef, service: &str, port: &str) -> String {
    render(BTreeMap::from([
        (
            "kubernetes.io/service-name",
            format!("{}/{service}", ingress.namespace),
        ),
        ("kubernetes.io/service-port", port.to_string()),
        (CLUSTER, cluster.to_string()),
        (OWNER, ingress.to_string()),
    ]))
}

/// The description of a resource every load balancer of the cluster uses.
pub fn shared(cluster: &str) -> String {
    render(BTreeMap::from([
        (SERVICE_NAME, String::new()),
        (API_VERSION, "ga".to_string()),
        (CLUSTER, cluster.to_string()),
        (OWNER, SHARED.to_string()),
    ]))
}

/// Whose resource this is, if berth of `cluster` made it.
pub fn owner(cluster: &str, description: Option<&str>) -> Option<Owner> {
    let v: Value = serde_json::from_str(description?).ok()?;
    if v.get(CLUSTER)?.as_str()? != cluster {
        return None;
    }
    match v.get(OWNER)?.as_str()? {
        SHARED => Some(Owner::Shared),
        o => Some(Owner::Object(o.to_string())),
    }
}

/// Whether a resource's properties (its `description`) mark it as the cluster's.
pub fn marked_shared(properties: &Map<String, Value>) -> bool {
    properties
        .get("description")
        .and_then(Value::as_str)
        .and_then(|d| serde_json::from_str::<Value>(d).ok())
        .is_some_and(|v| v.get(OWNER).and_then(Value::as_str) == Some(SHARED))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_mark_the_owner_and_the_cluster() {
        let web = ObjectRef::service("shop", "web");
        let d = owned("prod", &web);
        assert!(
            d.contains(r#""networking.gke.io/service-name":"shop/web""#),
            "{d}"
        );
        assert_eq!(
            owner("prod", Some(&d)),
            Some(Owner::Object("Service shop/web".into()))
        );
        assert_eq!(owner("stage", Some(&d)), None);
        assert_eq!(owner("prod", Some(&shared("prod"))), Some(Owner::Shared));
        // GKE's own descriptions and free text are foreign.
        assert_eq!(
            owner(
                "prod",
                Some(r#"{"networking.gke.io/service-name":"shop/web"}"#)
            ),
            None
        );
        assert_eq!(owner("prod", Some("made by hand")), None);
        assert_eq!(owner("prod", None), None);
    }
}
