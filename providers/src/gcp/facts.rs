//! The project, region, zones, network and node tags a translation needs: from configuration
//! (`--gcp-*` flags), else from the Nodes (`spec.providerID` `gce://PROJECT/ZONE/NAME`, the
//! `topology.kubernetes.io/region` label), else GKE's defaults (network `default`). Resolved
//! once per translation, so a missing fact is one clear error before any call.

use crate::error::{Error, Result};
use crate::frontend::Node;
use crate::profile::Settings;
use std::collections::BTreeSet;

pub const PROJECT: &str = "project";
pub const REGION: &str = "region";
pub const NETWORK: &str = "network";
pub const SUBNETWORK: &str = "subnetwork";
pub const NODE_TAGS: &str = "node-tags";
/// The Compute endpoint (a fake, or Private Service Connect); not a translation fact.
pub const ENDPOINT: &str = "endpoint";
/// Every setting a GCP translation reads (the flags are `--gcp-<name>`).
pub const SETTINGS: [&str; 5] = [PROJECT, REGION, NETWORK, SUBNETWORK, NODE_TAGS];

/// Compute's URLs as the API writes them in responses (references in bodies use them too).
pub const API: &str = "https://www.googleapis.com/compute/v1/";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    pub project: String,
    pub region: String,
    /// The network's name (default `default`).
    pub network: String,
    /// The cluster's subnetwork in the region (internal load balancers), if known.
    pub subnetwork: Option<String>,
    /// The network tags of the cluster's node instances: firewall rules target them.
    pub node_tags: Vec<String>,
}

/// A Node's instance, from its `gce://PROJECT/ZONE/NAME` providerID.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instance {
    pub project: String,
    pub zone: String,
    pub name: String,
}

impl Instance {
    pub fn of(node: &Node) -> Result<Instance> {
        let id = node.provider_id.as_deref().unwrap_or_default();
        let parts: Vec<&str> = id
            .strip_prefix("gce://")
            .map(|r| r.split('/').collect())
            .unwrap_or_default();
        match parts.as_slice() {
            [p, z, n] if !p.is_empty() && !z.is_empty() && !n.is_empty() => Ok(Instance {
                project: p.to_string(),
                zone: z.to_string(),
                name: n.to_string(),
            }),
            _ => Err(Error::CloudSetup(format!(
                "Node {}: spec.providerID is {:?}, not gce://PROJECT/ZONE/NAME, so berth cannot put it behind a GCP load balancer (is this node a Compute Engine instance?)",
                node.name, id
            ))),
        }
    }

    pub fn url(&self) -> String {
        format!(
            "{API}projects/{}/zones/{}/instances/{}",
            self.project, self.zone, self.name
        )
    }
}

/// `us-central1-a` -> `us-central1`.
pub fn region_of_zone(zone: &str) -> &str {
    zone.rsplit_once('-').map(|(r, _)| r).unwrap_or(zone)
}

impl Facts {
    /// Settings first, then what the Nodes say; every fact that stays unknown is named.
    pub fn resolve(settings: &Settings, nodes: &[Node]) -> Result<Facts> {
        let instances: Vec<Instance> = nodes.iter().filter_map(|n| Instance::of(n).ok()).collect();
        let from_nodes = |f: fn(&Instance) -> String| {
            instances
                .iter()
                .map(f)
                .collect::<BTreeSet<String>>()
                .into_iter()
                .next()
        };
        let project = settings
            .get(PROJECT)
            .map(String::from)
            .or_else(|| from_nodes(|i| i.project.clone()));
        let region = settings
            .get(REGION)
            .map(String::from)
            .or_else(|| {
                nodes
                    .iter()
                    .find_map(|n| n.labels.get("topology.kubernetes.io/region").cloned())
            })
            .or_else(|| from_nodes(|i| region_of_zone(&i.zone).to_string()));
        let (Some(project), Some(region)) = (project, region) else {
            return Err(Error::CloudSetup(
                "the GCP project and region are unknown: pass --gcp-project and --gcp-region (or give Nodes whose spec.providerID is gce://PROJECT/ZONE/NAME)".into(),
            ));
        };
        let node_tags = super::names::comma_list(settings.get(NODE_TAGS));
        if let Some(bad) = node_tags.iter().find(|t| !super::names::is_rfc1035(t)) {
            return Err(Error::CloudSetup(format!(
                "--gcp-node-tags: {bad:?} is not a network tag (lower-case letters, digits and '-', at most 63)"
            )));
        }
        Ok(Facts {
            project,
            region,
            network: settings.get(NETWORK).unwrap_or("default").to_string(),
            subnetwork: settings.get(SUBNETWORK).map(String::from),
            node_tags,
        })
    }

    pub fn network_url(&self) -> String {
        format!(
            "{API}projects/{}/global/networks/{}",
            self.project, self.network
        )
    }

    pub fn subnetwork_url(&self, name: &str) -> String {
        format!(
            "{API}projects/{}/regions/{}/subnetworks/{name}",
            self.project, self.region
        )
    }

    pub fn address_url(&self, name: &str) -> String {
        format!(
            "{API}projects/{}/regions/{}/addresses/{name}",
            self.project, self.region
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, id: &str) -> Node {
        Node {
            name: name.into(),
            provider_id: Some(id.into()),
            ..Default::default()
        }
    }

    #[test]
    fn facts_from_settings_then_nodes() {
        let nodes = [node("n1", "gce://shop-prod/europe-west1-b/gke-n1")];
        let f = Facts::resolve(&Settings::default(), &nodes).unwrap();
        assert_eq!(
            (f.project.as_str(), f.region.as_str(), f.network.as_str()),
            ("shop-prod", "europe-west1", "default")
        );
        let s = Settings::from_pairs([
            ("project", "p2"),
            ("region", "us-east1"),
            ("network", "vpc"),
        ]);
        let f = Facts::resolve(&s, &nodes).unwrap();
        assert_eq!((f.project.as_str(), f.region.as_str()), ("p2", "us-east1"));
        assert_eq!(
            f.network_url(),
            format!("{API}projects/p2/global/networks/vpc")
        );

        let e = Facts::resolve(&Settings::default(), &[])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("--gcp-project") && e.contains("--gcp-region"),
            "{e}"
        );
        let e = Facts::resolve(&Settings::from_pairs([("node-tags", "Bad_Tag")]), &nodes)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Bad_Tag"), "{e}");

        let e = Instance::of(&node("n2", "aws:///us-east-1a/i-1"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Node n2") && e.contains("gce://PROJECT/ZONE/NAME"),
            "{e}"
        );
        let i = Instance::of(&nodes[0]).unwrap();
        assert_eq!(
            i.url(),
            format!("{API}projects/shop-prod/zones/europe-west1-b/instances/gke-n1")
        );
    }
}
