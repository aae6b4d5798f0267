//! Reading Kubernetes manifests from disk (multi-document YAML) for `berth plan`: Services,
//! Ingresses and IngressClasses, the EndpointSlices and Nodes behind them, and the
//! LoadBalancerPolicies that govern them.

use crate::error::{Error, Result};
use crate::policy::LoadBalancerPolicy;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::Deserialize;
use std::path::Path;

/// The objects `berth plan` understands; others (Deployments, ConfigMaps, …) are skipped.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub nodes: Vec<Node>,
    /// Pods (their readiness probes are GCP's default health checks).
    pub pods: Vec<Pod>,
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub policies: Vec<LoadBalancerPolicy>,
    /// Documents of kinds berth plan does not read (Deployments, ConfigMaps, …): said on
    /// stderr, so nothing is left out silently.
    pub skipped: Vec<String>,
}

/// The kinds berth plan reads, with their API version.
const READ: [(&str, &str); 7] = [
    ("v1", "Service"),
    ("v1", "Node"),
    ("v1", "Pod"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "IngressClass"),
    ("discovery.k8s.io/v1", "EndpointSlice"),
    ("berth.dev/v1alpha1", "LoadBalancerPolicy"),
];

/// `namespace/name` (or `name`) of a manifest, for messages.
fn name_of(v: &serde_json::Value) -> String {
    let m = &v["metadata"];
    match (m["namespace"].as_str(), m["name"].as_str()) {
        (Some(ns), Some(n)) => format!("{ns}/{n}"),
        (None, Some(n)) => n.to_string(),
        _ => "(unnamed)".to_string(),
    }
}

/// A JSON value from YAML that refuses a key given twice in one mapping (YAML parsers keep the
/// last one silently; a user who wrote `type:` twice meant one of them).
struct Strict(serde_json::Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> std::result::Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: serde::Deserializer<'de>>(
        self,
        d: D,
    ) -> std::result::Result<Self::Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(
        self,
        mut seq: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(out.into())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(
        self,
        mut map: A,
    ) -> std::result::Result<Self::Value, A::Error> {
        let mut out = serde_json::Map::new();
        while let Some(k) = map.next_key::<String>()? {
            let Strict(v) = map.next_value()?;
            if out.insert(k.clone(), v).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "the key {k:?} is given twice in one mapping"
                )));
            }
        }
        Ok(out.into())
    }
}

impl Manifests {
    pub fn read_files(paths: &[impl AsRef<Path>]) -> Result<Self> {
        let mut m = Manifests::default();
        for p in paths {
            let p = p.as_ref();
            let text = std::fs::read_to_string(p).map_err(|e| Error::Manifest {
                source_name: p.display().to_string(),
                message: format!("cannot read: {e}"),
            })?;
            m.add_yaml(&p.display().to_string(), &text)?;
        }
        Ok(m)
    }

    pub fn add_yaml(&mut self, source_name: &str, text: &str) -> Result<()> {
        let mut documents = 0;
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let at = format!("{source_name} (document {})", i + 1);
            let err = |message: String| Error::Manifest {
                source_name: at.clone(),
                message,
            };
            let value = Strict::deserialize(doc)
                .map(|s| s.0)
                .map_err(|e| err(format!("not valid YAML: {e}")))?;
            if value.is_null() {
                continue;
            }
            documents += 1;
            if value.get("kind").and_then(|k| k.as_str()) == Some("List") {
                for item in value
                    .get("items")
                    .and_then(|i| i.as_array())
                    .cloned()
                    .unwrap_or_default()
                {
                    self.add_value(&at, item).map_err(&err)?;
                }
                continue;
            }
            self.add_value(&at, value).map_err(err)?;
        }
        if documents == 0 {
            return Err(Error::Manifest {
                source_name: source_name.to_string(),
                message: "holds no Kubernetes object (an empty file, or only comments)".into(),
            });
        }
        Ok(())
    }

    fn add_value(&mut self, at: &str, value: serde_json::Value) -> std::result::Result<(), String> {
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let api = value
            .get("apiVersion")
            .and_then(|k| k.as_str())
            .unwrap_or_default()
            .to_string();
        let bad = |e: serde_json::Error| format!("{kind} is not valid {api} {kind}: {e}");
        match (api.as_str(), kind.as_str()) {
            ("v1", "Service") => self
                .services
                .push(serde_json::from_value(value).map_err(bad)?),
            ("v1", "Node") => self.nodes.push(serde_json::from_value(value).map_err(bad)?),
            ("v1", "Pod") => self.pods.push(serde_json::from_value(value).map_err(bad)?),
            ("networking.k8s.io/v1", "Ingress") => self
                .ingresses
                .push(serde_json::from_value(value).map_err(bad)?),
            ("networking.k8s.io/v1", "IngressClass") => self
                .ingress_classes
                .push(serde_json::from_value(value).map_err(bad)?),
            ("berth.dev/v1alpha1", "LoadBalancerPolicy") => self
                .policies
                .push(serde_json::from_value(value).map_err(bad)?),
            ("discovery.k8s.io/v1", "EndpointSlice") => self
                .endpoint_slices
                .push(serde_json::from_value(value).map_err(bad)?),
            ("", _) | (_, "") => return Err("missing apiVersion or kind".to_string()),
            (_, k) if READ.iter().any(|(_, r)| r.eq_ignore_ascii_case(k)) => {
                // A kind berth reads, under another API version or spelling: a silent skip
                // would plan as if the object were not there.
                let (want_api, want_kind) = READ
                    .iter()
                    .find(|(_, r)| r.eq_ignore_ascii_case(k))
                    .copied()
                    .unwrap_or_default();
                return Err(format!("{api} {kind} is not read by berth plan: expected apiVersion {want_api}, kind {want_kind}"));
            }
            _ => self.skipped.push(format!(
                "{at}: {api} {kind} {}: not a kind berth plan reads",
                name_of(&value)
            )),
        }
        Ok(())
    }

    /// EndpointSlices in the Service's namespace.
    pub fn slices_for(&self, svc: &Service) -> Vec<EndpointSlice> {
        self.endpoint_slices
            .iter()
            .filter(|s| {
                s.metadata.namespace.as_deref().unwrap_or("default")
                    == svc.metadata.namespace.as_deref().unwrap_or("default")
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> std::result::Result<Manifests, String> {
        let mut m = Manifests::default();
        m.add_yaml("m.yaml", text).map_err(|e| e.to_string())?;
        Ok(m)
    }

    #[test]
    fn what_berth_plan_cannot_read_is_said_never_skipped_silently() {
        let e = read("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec:\n  type: LoadBalancer\n  type: ClusterIP\n").unwrap_err();
        assert!(
            e.contains("m.yaml (document 1)") && e.contains("\"type\" is given twice"),
            "{e}"
        );
        let e = read("").unwrap_err();
        assert!(e.contains("holds no Kubernetes object"), "{e}");
        let e = read("# only a comment\n---\n").unwrap_err();
        assert!(e.contains("holds no Kubernetes object"), "{e}");
        let e = read("apiVersion: networking.k8s.io/v1beta1\nkind: Ingress\nmetadata: {name: a}\n")
            .unwrap_err();
        assert!(
            e.contains("expected apiVersion networking.k8s.io/v1, kind Ingress"),
            "{e}"
        );
        let e = read("apiVersion: v1\nkind: service\nmetadata: {name: a}\n").unwrap_err();
        assert!(e.contains("expected apiVersion v1, kind Service"), "{e}");
        let m =
            read("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\n")
                .unwrap();
        assert_eq!(
            m.skipped,
            ["m.yaml (document 1): apps/v1 Deployment shop/web: not a kind berth plan reads"]
        );
        let m = read("apiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {ports: [{port: 80}, {port: 81}]}\n").unwrap();
        assert_eq!(m.services.len(), 1);
    }
}
