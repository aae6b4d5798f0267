//! What every reconciliation shares: the Kubernetes client, the cloud provider, the caches of
//! Nodes and EndpointSlices, the Event recorder, metrics and settings.

use crate::gather::Selection;
use crate::metrics::Metrics;
use crate::policy::LoadBalancerPolicy;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use providers::Provider;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The controller name in Events (`reportingController`).
pub const CONTROLLER_NAME: &str = "berth";

pub struct Context {
    pub client: kube::Client,
    pub provider: Arc<dyn Provider>,
    pub recorder: Recorder,
    pub metrics: Metrics,
    pub selection: Selection,
    pub cluster: String,
    /// Cached Nodes (all of them; `gather` filters the eligible ones).
    pub nodes: Store<Node>,
    /// Cached EndpointSlices; `None` when the API server does not serve `discovery.k8s.io/v1`.
    pub slices: Option<Store<EndpointSlice>>,
    /// How often a converged object is reconciled again to correct drift in the cloud.
    pub resync: Duration,
    /// Consecutive failures per object (`namespace/name`), for exponential back-off.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Cached LoadBalancerPolicies; `None` when the API server does not serve them (the CRD is
    /// not installed): berth then applies no policy.
    pub policies: Option<Store<LoadBalancerPolicy>>,
    /// How long a reconciliation waits for the policies' first list before it gives up (and
    /// retries with back-off).
    pub policy_wait: Duration,
}

impl Context {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: kube::Client,
        provider: Arc<dyn Provider>,
        metrics: Metrics,
        selection: Selection,
        cluster: String,
        nodes: Store<Node>,
        slices: Option<Store<EndpointSlice>>,
        resync: Duration,
        identity: Option<String>,
    ) -> Self {
        let recorder = Recorder::new(
            client.clone(),
            Reporter {
                controller: CONTROLLER_NAME.into(),
                instance: identity,
            },
        );
        Context {
            client,
            provider,
            recorder,
            metrics,
            selection,
            cluster,
            nodes,
            slices,
            resync,
            failures: Mutex::new(HashMap::new()),
            policies: None,
            policy_wait: Duration::from_secs(30),
        }
    }

    /// Applies the LoadBalancerPolicies of this cache to every reconciliation.
    pub fn with_policies(mut self, policies: Option<Store<LoadBalancerPolicy>>) -> Self {
        self.policies = policies;
        self
    }

    /// Records one more consecutive failure of `key`; returns the count.
    pub fn failed(&self, key: &str) -> u32 {
        let Ok(mut f) = self.failures.lock() else {
            return 1;
        };
        let n = f.entry(key.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    pub fn succeeded(&self, key: &str) {
        if let Ok(mut f) = self.failures.lock() {
            f.remove(key);
        }
    }
}
