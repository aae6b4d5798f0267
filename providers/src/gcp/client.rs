//! The Compute clients (`google-cloud-compute-v1`, one per collection berth uses) and the one
//! wrapper every call goes through: it counts the call on the [`CallRecorder`], maps the
//! client's errors to berth's (429, 5xx, timeouts and I/O retryable; 404 "absent" where the
//! caller says so), retries with backoff, and bounds the call with a deadline. The clients' own
//! retries are off, so every attempt is counted and berth decides.

use crate::error::{Error, Result};
use crate::metrics::CallRecorder;
use crate::profile::Settings;
use backon::ExponentialBuilder;
use google_cloud_compute_v1::client::{
    Addresses, BackendServices, Firewalls, ForwardingRules, GlobalAddresses, GlobalForwardingRules,
    HealthChecks, InstanceGroups, RegionBackendServices, RegionHealthChecks, TargetHttpProxies,
    TargetHttpsProxies, UrlMaps,
};
use google_cloud_gax::error::Error as GaxError;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The metrics' service label for Compute calls.
const SERVICE: &str = "compute";

/// How long calls and operations may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// One attempt of one call.
    pub attempt: Duration,
    /// One call, retries included.
    pub deadline: Duration,
    /// How long a mutation's Operation is waited for before it is left pending (the next
    /// reconcile looks again).
    pub operation: Duration,
    /// Between polls of an Operation.
    pub poll: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            attempt: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
            operation: Duration::from_secs(60),
            poll: Duration::from_secs(1),
        }
    }
}

pub(crate) struct Clients {
    pub region_backend_services: RegionBackendServices,
    pub region_health_checks: RegionHealthChecks,
    pub firewalls: Firewalls,
    pub forwarding_rules: ForwardingRules,
    pub instance_groups: InstanceGroups,
    pub addresses: Addresses,
    pub health_checks: HealthChecks,
    pub backend_services: BackendServices,
    pub url_maps: UrlMaps,
    pub target_http_proxies: TargetHttpProxies,
    pub target_https_proxies: TargetHttpsProxies,
    pub global_addresses: GlobalAddresses,
    pub global_forwarding_rules: GlobalForwardingRules,
}

/// The GCP provider: passthrough Network Load Balancers for Services, through Compute.
pub struct GcpProvider {
    pub(crate) clients: Clients,
    pub(crate) cluster: String,
    pub(crate) settings: Settings,
    pub(crate) project: String,
    pub(crate) region: String,
    recorder: Arc<dyn CallRecorder>,
    backoff: ExponentialBuilder,
    pub(crate) timeouts: Timeouts,
    /// Shared by every worker (`--cloud-api-qps`, `--cloud-api-burst`).
    limiter: Option<crate::limit::Limiter>,
}

impl std::fmt::Debug for GcpProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcpProvider")
            .field("cluster", &self.cluster)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Builds one collection's client: berth's endpoint (a fake, or Private Service Connect) and
/// credentials, no client-side retries, the attempt timeout.
macro_rules! client {
    ($ty:ty, $endpoint:expr, $creds:expr, $attempt:expr) => {{
        let mut b = <$ty>::builder()
            .with_credentials($creds.clone())
            .with_retry_policy(google_cloud_gax::retry_policy::NeverRetry)
            .with_attempt_timeout($attempt);
        if let Some(e) = $endpoint {
            b = b.with_endpoint(e.to_string());
        }
        b.build()
            .await
            .map_err(|e| Error::CloudSetup(format!("GCP Compute client: {e}")))?
    }};
}

impl GcpProvider {
    /// Clients for `endpoint` (default: Google's), with Application Default Credentials (on
    /// GKE: Workload Identity), or anonymous ones for an endpoint that needs none (the fake).
    pub async fn connect(
        cluster: String,
        settings: Settings,
        endpoint: Option<&str>,
        anonymous: bool,
        recorder: Arc<dyn CallRecorder>,
        timeouts: Timeouts,
    ) -> Result<Self> {
        use super::facts::{PROJECT, REGION};
        let need = |name: &str| {
            settings.get(name).map(String::from).ok_or_else(|| {
                Error::CloudSetup(format!(
                    "berth run --cloud gcp needs --gcp-{name} (or BERTH_GCP_{}): the metadata server ({}) did not say it (off GKE and Compute Engine it cannot)",
                    name.to_uppercase(),
                    super::metadata::host()
                ))
            })
        };
        let (project, region) = (need(PROJECT)?, need(REGION)?);
        let creds = if anonymous {
            google_cloud_auth::credentials::anonymous::Builder::new().build()
        } else {
            google_cloud_auth::credentials::Builder::default()
                .build()
                .map_err(|e| {
                    Error::CloudSetup(format!(
                        "GCP credentials (Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud auth application-default login, or Workload Identity on GKE): {e}"
                    ))
                })?
        };
        let a = timeouts.attempt;
        let clients = Clients {
            region_backend_services: client!(RegionBackendServices, endpoint, creds, a),
            region_health_checks: client!(RegionHealthChecks, endpoint, creds, a),
            firewalls: client!(Firewalls, endpoint, creds, a),
            forwarding_rules: client!(ForwardingRules, endpoint, creds, a),
            instance_groups: client!(InstanceGroups, endpoint, creds, a),
            addresses: client!(Addresses, endpoint, creds, a),
            health_checks: client!(HealthChecks, endpoint, creds, a),
            backend_services: client!(BackendServices, endpoint, creds, a),
            url_maps: client!(UrlMaps, endpoint, creds, a),
            target_http_proxies: client!(TargetHttpProxies, endpoint, creds, a),
            target_https_proxies: client!(TargetHttpsProxies, endpoint, creds, a),
            global_addresses: client!(GlobalAddresses, endpoint, creds, a),
            global_forwarding_rules: client!(GlobalForwardingRules, endpoint, creds, a),
        };
        Ok(GcpProvider {
            clients,
            cluster,
            settings,
            project,
            region,
            recorder,
            backoff: crate::limit::default_backoff(),
            timeouts,
            limiter: None,
        })
    }

    /// At most `per_second` Compute calls a second, `burst` at once.
    pub fn with_rate_limit(mut self, per_second: u32, burst: u32) -> Self {
        self.limiter = Some(crate::limit::limiter(crate::limit::per_second(
            per_second, burst,
        )));
        self
    }

    /// Faster retries (tests).
    pub fn with_backoff(mut self, min: Duration, max: Duration, times: usize) -> Self {
        self.backoff = ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay(max)
            .with_max_times(times);
        self
    }

    /// One call (`f` sends a fresh request each time), recorded, retried, bounded.
    pub(crate) async fn call<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, GaxError>>,
    {
        match self.call_status(op, f).await {
            Ok(v) => Ok(v),
            Err((_, e)) => Err(e),
        }
    }

    /// Like [`Self::call`]; a 404 is `Ok(None)` (the resource is not there).
    pub(crate) async fn call_unless_absent<T, F, Fut>(
        &self,
        op: &'static str,
        f: F,
    ) -> Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, GaxError>>,
    {
        match self.call_status(op, f).await {
            Ok(v) => Ok(Some(v)),
            Err((Some(404), _)) => Ok(None),
            Err((_, e)) => Err(e),
        }
    }

    /// The call's result, or its HTTP status (when Compute answered) and berth's error.
    pub(crate) async fn call_status<T, F, Fut>(
        &self,
        op: &'static str,
        f: F,
    ) -> std::result::Result<T, (Option<u16>, Error)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, GaxError>>,
    {
        let classify = |e: &GaxError| {
            let (status, error) = classify(op, e);
            let retry = matches!(
                error,
                Error::Cloud {
                    retryable: true,
                    ..
                }
            );
            ((status, error), retry)
        };
        let limiter = self.limiter.as_ref();
        let attempts = crate::limit::attempts(
            limiter,
            &*self.recorder,
            (SERVICE, op),
            &self.backoff,
            f,
            classify,
        );
        let deadline = self.timeouts.deadline;
        match tokio::time::timeout(deadline, attempts).await {
            Ok(r) => r,
            Err(_) => Err((
                None,
                Error::cloud(
                    op,
                    format!("no answer within the call deadline of {deadline:?} (every attempt and retry included)"),
                    true,
                ),
            )),
        }
    }
}

/// Compute's reason for a refusal (`resourceInUseByAnotherResource`, `alreadyExists`), from
/// the error body's `error.errors[0].reason`.
fn reason(e: &GaxError) -> Option<String> {
    let body: serde_json::Value = serde_json::from_slice(e.http_payload()?).ok()?;
    Some(body["error"]["errors"][0]["reason"].as_str()?.to_string())
}

/// The refusal of a delete whose resource another one still references.
pub(crate) const IN_USE: &str = "resourceInUseByAnotherResource";

/// Client error -> berth error, with Compute's HTTP status when it answered; the message ends
/// with Compute's reason in brackets.
fn classify(op: &str, e: &GaxError) -> (Option<u16>, Error) {
    let status = e.http_status_code();
    let mut message = match e.status() {
        Some(s) if !s.message.is_empty() => format!("{} (HTTP {})", s.message, status.unwrap_or(0)),
        _ => e.to_string(),
    };
    if let Some(r) = reason(e) {
        message.push_str(&format!(" [{r}]"));
    }
    let transport = e.is_timeout() || e.is_io() || e.is_connect() || e.is_transport();
    let retryable = transport || matches!(status, Some(429) | Some(500..=599));
    let error = match status {
        Some(412) => Error::StaleVersion {
            resource: format!("{op}: {message}"),
            attempts: 1,
        },
        Some(403) if message.contains("uota") => Error::Quota {
            object: String::new(),
            what: format!("{op}: {message}"),
        },
        _ => Error::cloud(op, message, retryable),
    };
    (status, error)
}
