//! What the GCP provider tests share: a provider for the Compute fake (fast timeouts and
//! retries) and the fake's resources by what their description says.
#![allow(dead_code)]

use gcp_fake::Fake;
use providers::gcp::{GcpProvider, Timeouts};
use providers::metrics::CallCounter;
use providers::profile::Settings;
use std::sync::Arc;
use std::time::Duration;

pub const PROJECT: &str = "p";

/// A provider for project `p`, region us-central1, cluster `prod`, against `fake`.
pub async fn provider(fake: &Fake, calls: Arc<CallCounter>) -> GcpProvider {
    let settings = Settings::from_pairs([
        ("project", PROJECT),
        ("region", "us-central1"),
        ("node-tags", "gke-prod-node"),
    ]);
    let timeouts = Timeouts {
        attempt: Duration::from_secs(5),
        deadline: Duration::from_secs(20),
        operation: Duration::from_secs(3),
        poll: Duration::from_millis(20),
    };
    GcpProvider::connect(
        "prod".into(),
        settings,
        Some(&fake.url()),
        true,
        calls,
        timeouts,
    )
    .await
    .expect("clients for the fake")
    .with_backoff(Duration::from_millis(10), Duration::from_millis(50), 3)
}

/// The fake's resources whose description contains `needle`, by key.
pub fn described(fake: &Fake, needle: &str) -> Vec<String> {
    let has = |v: &serde_json::Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| d.contains(needle))
    };
    fake.resources()
        .into_iter()
        .filter(|(_, v)| has(v))
        .map(|(k, _)| k)
        .collect()
}
