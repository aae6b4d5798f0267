//! Prometheus metrics of `berth run`, served on `/metrics` (see [`crate::http`]).
//!
//! - `berth_reconciles_total{result}` and `berth_reconcile_duration_seconds`
//! - `berth_cloud_api_calls_total{service,operation,outcome}`: every cloud API call the provider
//!   makes (the provider reports them through [`providers::metrics::CallRecorder`])
//! - `berth_managed_load_balancers`: Services for which berth currently holds a load balancer
//! - `berth_reconciles_in_flight`: reconciliations running now (kube-runtime keeps its queue
//!   private, so this is the closest honest measure of backlog: it sits at `--workers` when
//!   berth cannot keep up)
//! - `berth_leader`: 1 while this process holds the leader Lease

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use providers::metrics::{CallCounter, CallRecorder, Outcome};
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub service: String,
    pub operation: String,
    pub outcome: String,
}

/// All of berth's metrics, cheap to clone (every field is shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Arc<Registry>,
    pub reconciles: Family<ResultLabels, Counter>,
    pub reconcile_duration: Histogram,
    pub cloud_calls: Family<CallLabels, Counter>,
    pub managed_load_balancers: Gauge,
    pub leader: Gauge,
    pub in_flight: Gauge,
    /// The in-memory count of the same cloud calls (tests and logs read it).
    pub calls: Arc<CallCounter>,
    managed: Arc<Mutex<BTreeSet<String>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let reconciles = Family::<ResultLabels, Counter>::default();
        let reconcile_duration = Histogram::new(exponential_buckets(0.01, 2.0, 12));
        let cloud_calls = Family::<CallLabels, Counter>::default();
        let managed_load_balancers = Gauge::default();
        let leader = Gauge::default();
        let in_flight = Gauge::default();
        registry.register(
            "berth_reconciles_in_flight",
            "Reconciliations running now (at --workers when berth cannot keep up)",
            in_flight.clone(),
        );
        registry.register(
            "berth_reconciles",
            "Reconciliations by result (success, error)",
            reconciles.clone(),
        );
        registry.register(
            "berth_reconcile_duration_seconds",
            "Duration of reconciliations",
            reconcile_duration.clone(),
        );
        registry.register(
            "berth_cloud_api_calls",
            "Cloud API calls by service, operation and outcome",
            cloud_calls.clone(),
        );
        registry.register(
            "berth_managed_load_balancers",
            "Objects for which berth currently manages a load balancer",
            managed_load_balancers.clone(),
        );
        registry.register(
            "berth_leader",
            "1 while this process holds the leader Lease, 0 otherwise",
            leader.clone(),
        );
        Metrics {
            registry: Arc::new(registry),
            reconciles,
            reconcile_duration,
            cloud_calls,
            managed_load_balancers,
            leader,
            in_flight,
            calls: Arc::new(CallCounter::default()),
            managed: Arc::default(),
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }

    pub fn reconciled(&self, ok: bool, took: Duration) {
        let result = if ok { "success" } else { "error" };
        self.reconciles
            .get_or_create(&ResultLabels {
                result: result.into(),
            })
            .inc();
        self.reconcile_duration.observe(took.as_secs_f64());
    }

    /// Marks `key` (`namespace/name`) as having (or no longer having) a load balancer.
    pub fn set_managed(&self, key: &str, managed: bool) {
        if let Ok(mut m) = self.managed.lock() {
            if managed {
                m.insert(key.to_string());
            } else {
                m.remove(key);
            }
            self.managed_load_balancers
                .set(i64::try_from(m.len()).unwrap_or(i64::MAX));
        }
    }

    pub fn set_leader(&self, leader: bool) {
        self.leader.set(i64::from(leader));
    }

    /// The recorder to hand to a provider: each call increments the Prometheus family.
    pub fn call_recorder(&self) -> Arc<dyn CallRecorder> {
        Arc::new(PromCallRecorder {
            family: self.cloud_calls.clone(),
            inner: self.calls.clone(),
        })
    }
}

/// Wraps [`CallCounter`] so that each cloud call also increments
/// `berth_cloud_api_calls_total{service,operation,outcome}`.
pub struct PromCallRecorder {
    family: Family<CallLabels, Counter>,
    inner: Arc<CallCounter>,
}

impl CallRecorder for PromCallRecorder {
    fn record(&self, service: &'static str, operation: &'static str, outcome: Outcome) {
        self.inner.record(service, operation, outcome);
        self.family
            .get_or_create(&CallLabels {
                service: service.into(),
                operation: operation.into(),
                outcome: outcome.as_str().into(),
            })
            .inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_every_family() {
        let m = Metrics::new();
        let rec = m.call_recorder();
        rec.record("elbv2", "CreateLoadBalancer", Outcome::Success);
        rec.record("elbv2", "CreateLoadBalancer", Outcome::Success);
        rec.record("ec2", "DescribeSubnets", Outcome::Error);
        m.reconciled(true, Duration::from_millis(20));
        m.set_managed("a/b", true);
        m.set_managed("a/c", true);
        m.set_managed("a/c", false);
        m.set_leader(true);
        let text = m.encode();
        assert!(
            text.contains(r#"berth_cloud_api_calls_total{service="elbv2",operation="CreateLoadBalancer",outcome="success"} 2"#),
            "{text}"
        );
        assert!(text.contains(r#"outcome="error"} 1"#), "{text}");
        assert!(
            text.contains(r#"berth_reconciles_total{result="success"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("berth_reconcile_duration_seconds_count 1"),
            "{text}"
        );
        assert!(text.contains("berth_managed_load_balancers 1"), "{text}");
        assert!(text.contains("berth_leader 1"), "{text}");
        assert!(text.contains("berth_reconciles_in_flight 0"), "{text}");
        assert_eq!(m.calls.total(), 3);
    }
}
