//! Reading Kubernetes manifests from disk (multi-document YAML) for `berth plan`: Services,
//! Ingresses and IngressClasses, the EndpointSlices and Nodes behind them, and the
//! LoadBalancerPolicies that govern them.

use crate::error::{Error, Result};
use crate::policy::LoadBalancerPolicy;
use k8s_openapi::api::core::v1::{Node, Service};
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
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub policies: Vec<LoadBalancerPolicy>,
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
        for (i, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let err = |message: String| Error::Manifest {
                source_name: format!("{source_name} (document {})", i + 1),
                message,
            };
            let value = serde_json::Value::deserialize(doc)
                .map_err(|e| err(format!("not valid YAML: {e}")))?;
            if value.is_null() {
                continue;
            }
            if value.get("kind").and_then(|k| k.as_str()) == Some("List") {
                for item in value
                    .get("items")
                    .and_then(|i| i.as_array())
                    .cloned()
                    .unwrap_or_default()
                {
                    self.add_value(item).map_err(&err)?;
                }
                continue;
            }
            self.add_value(value).map_err(err)?;
        }
        Ok(())
    }

    fn add_value(&mut self, value: serde_json::Value) -> std::result::Result<(), String> {
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
            _ => {}
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
