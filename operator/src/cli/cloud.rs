//! The one place the operator names clouds: `--cloud`, its [`Profile`], and the live provider
//! (the only part that needs a cloud's own type: credentials and endpoints). Everything else
//! reaches the cloud through the profile or the `Provider` trait.

use clap::{Args, ValueEnum};
use providers::metrics::CallRecorder;
use providers::profile::{Profile, Settings};
use providers::Provider;
use std::sync::Arc;

/// The clouds compiled into this build (cargo features `aws`, `gcp`, `azure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Cloud {
    #[cfg(feature = "aws")]
    Aws,
    #[cfg(feature = "gcp")]
    Gcp,
    #[cfg(feature = "azure")]
    Azure,
}

impl Cloud {
    /// The first cloud of the build (AWS in the default build).
    pub fn default_for_build() -> Cloud {
        Cloud::value_variants()[0]
    }

    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "aws")]
            Cloud::Aws => "aws",
            #[cfg(feature = "gcp")]
            Cloud::Gcp => "gcp",
            #[cfg(feature = "azure")]
            Cloud::Azure => "azure",
        }
    }

    pub fn profile(self) -> &'static Profile {
        Profile::of(self.name())
            .unwrap_or_else(|| unreachable!("every Cloud variant has a compiled profile"))
    }
}

/// Each cloud's own settings, as `--<cloud>-<setting>` flags (and `BERTH_<CLOUD>_<SETTING>`).
#[derive(Args, Debug, Clone, Default)]
pub struct CloudArgs {
    /// GCP project. Default: from the Nodes' spec.providerID (gce://PROJECT/ZONE/NAME).
    #[cfg(feature = "gcp")]
    #[arg(long, env = "BERTH_GCP_PROJECT")]
    pub gcp_project: Option<String>,
    /// GCP region of the regional load balancers. Default: the Nodes'
    /// topology.kubernetes.io/region label, else their zones' region.
    #[cfg(feature = "gcp")]
    #[arg(long, env = "BERTH_GCP_REGION")]
    pub gcp_region: Option<String>,
    /// GCP network (VPC) name. Default: `default`.
    #[cfg(feature = "gcp")]
    #[arg(long, env = "BERTH_GCP_NETWORK")]
    pub gcp_network: Option<String>,
    /// The cluster's GCP subnetwork (internal load balancers without the
    /// internal-load-balancer-subnet annotation).
    #[cfg(feature = "gcp")]
    #[arg(long, env = "BERTH_GCP_SUBNETWORK")]
    pub gcp_subnetwork: Option<String>,
    /// Network tags of the cluster's node instances, comma-separated: the firewall rules
    /// berth creates target them (on GKE: the node pools' tag, gke-CLUSTER-HASH-node).
    #[cfg(feature = "gcp")]
    #[arg(long, env = "BERTH_GCP_NODE_TAGS")]
    pub gcp_node_tags: Option<String>,
    /// Compute API endpoint (default: Google's). A plain `http://` one (a local fake) is
    /// called without credentials.
    #[cfg(feature = "gcp")]
    #[arg(long, env = "BERTH_GCP_ENDPOINT")]
    pub gcp_endpoint: Option<String>,
}

impl CloudArgs {
    /// The settings of `cloud`, by the names its provider reads.
    #[cfg_attr(not(feature = "gcp"), allow(unused_variables, unused_mut))]
    pub fn settings(&self, cloud: Cloud) -> Settings {
        let mut s = Settings::default();
        match cloud {
            #[cfg(feature = "gcp")]
            Cloud::Gcp => {
                use providers::gcp::facts::*;
                let values = [
                    (PROJECT, &self.gcp_project),
                    (REGION, &self.gcp_region),
                    (NETWORK, &self.gcp_network),
                    (SUBNETWORK, &self.gcp_subnetwork),
                    (NODE_TAGS, &self.gcp_node_tags),
                    (ENDPOINT, &self.gcp_endpoint),
                ];
                for (name, v) in values {
                    if let Some(v) = v {
                        s.set(name, v.clone());
                    }
                }
            }
            #[allow(unreachable_patterns)]
            _ => {}
        }
        s
    }
}

/// Settings a live provider needs beyond the cluster name.
pub struct Live<'a> {
    pub cluster: &'a str,
    /// AWS: the VPC (default: the load balancer's subnets' VPC).
    pub vpc_id: Option<&'a str>,
    /// The cloud's own settings (`--gcp-project`, ...).
    pub settings: Settings,
    pub recorder: Arc<dyn CallRecorder>,
    /// Cloud API calls per second and burst.
    pub rate: Option<(u32, u32)>,
    /// How long one listing of berth's resources (the inventory) serves observes.
    pub inventory_max_age: Option<std::time::Duration>,
}

/// The provider that talks to the cloud, from the standard environment of that cloud's SDK.
#[cfg_attr(not(any(feature = "aws", feature = "gcp")), allow(unused_variables))]
pub async fn live_provider(cloud: Cloud, live: Live<'_>) -> crate::Result<Arc<dyn Provider>> {
    match cloud {
        #[cfg(feature = "aws")]
        Cloud::Aws => {
            let mut p = providers::aws::AwsProvider::from_env(
                live.cluster.to_string(),
                live.vpc_id.map(String::from),
                live.recorder,
            )
            .await;
            if let Some((qps, burst)) = live.rate {
                p = p.with_rate_limit(qps, burst);
            }
            if let Some(age) = live.inventory_max_age {
                p = p.with_inventory_max_age(age);
            }
            Ok(Arc::new(p))
        }
        #[cfg(feature = "gcp")]
        Cloud::Gcp => {
            use providers::gcp::facts::{ENDPOINT, PROJECT, REGION};
            let mut settings = live.settings;
            // On GKE the metadata server knows what the flags leave out.
            if settings.get(PROJECT).is_none() || settings.get(REGION).is_none() {
                let host = providers::gcp::metadata::host();
                let wait = std::time::Duration::from_secs(2);
                let found = providers::gcp::metadata::discover(&host, wait).await;
                for (name, value) in [(PROJECT, found.project), (REGION, found.region)] {
                    if let (None, Some(v)) = (settings.get(name), value) {
                        tracing::info!(setting = name, value = %v, "from the metadata server");
                        settings.set(name, v);
                    }
                }
            }
            let endpoint = settings.get(ENDPOINT).map(String::from);
            let anonymous = endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://"));
            let p = providers::gcp::GcpProvider::connect(
                live.cluster.to_string(),
                settings,
                endpoint.as_deref(),
                anonymous,
                live.recorder,
                providers::gcp::Timeouts::default(),
            )
            .await?;
            let p = match live.rate {
                Some((qps, burst)) => p.with_rate_limit(qps, burst),
                None => p,
            };
            Ok(Arc::new(p))
        }
        #[allow(unreachable_patterns)]
        other => Err(not_built(other)),
    }
}

/// The least-privilege policy for the calls berth makes on the cloud (AWS: an IAM policy; GCP:
/// a custom role).
#[cfg_attr(not(any(feature = "aws", feature = "gcp")), allow(unused_variables))]
pub fn iam_policy(cloud: Cloud, cluster: &str) -> crate::Result<serde_json::Value> {
    match cloud {
        #[cfg(feature = "aws")]
        Cloud::Aws => Ok(providers::aws::operations::iam_policy(cluster)),
        #[cfg(feature = "gcp")]
        Cloud::Gcp => Ok(providers::gcp::permissions::custom_role(cluster)),
        #[allow(unreachable_patterns)]
        other => Err(not_built(other)),
    }
}

/// A cloud whose profile is compiled in but whose provider is not written yet.
fn not_built(cloud: Cloud) -> crate::Error {
    let ready: Vec<&str> = providers::profile::compiled()
        .iter()
        .filter(|p| p.offline.is_some())
        .map(|p| p.cloud)
        .collect();
    crate::Error::Config(format!(
        "--cloud {c}: berth knows which objects are {c}'s, but its {c} provider does not exist yet (clouds this build provisions: {})",
        if ready.is_empty() { "none".to_string() } else { ready.join(", ") },
        c = cloud.name(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_value_has_its_profile() {
        for c in Cloud::value_variants() {
            assert_eq!(c.profile().cloud, c.name());
            let value = c.to_possible_value().unwrap();
            assert_eq!(value.get_name(), c.name());
        }
        assert_eq!(Cloud::default_for_build(), Cloud::value_variants()[0]);
    }

    #[cfg(feature = "azure")]
    #[test]
    fn a_cloud_without_a_provider_says_so() {
        let e = iam_policy(Cloud::Azure, "c").unwrap_err().to_string();
        assert!(
            e.contains("--cloud azure") && e.contains("provider does not exist yet"),
            "{e}"
        );
    }

    #[cfg(feature = "gcp")]
    #[test]
    fn gcp_s_policy_is_a_custom_role() {
        let role = iam_policy(Cloud::Gcp, "c").unwrap();
        let perms = role["includedPermissions"].as_array().unwrap();
        assert!(
            perms.iter().any(|p| p == "compute.forwardingRules.create"),
            "{role}"
        );
    }
}
