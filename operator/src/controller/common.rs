//! What the Service and Ingress controllers share: the measured reconcile wrapper, the requeue
//! after an error, the plan summary in Events, and waiting for a cache's first list.

use crate::context::Context;
use crate::error::{Error, Result};
use kube::runtime::controller::Action;
use kube::runtime::reflector::Store;
use providers::plan::Action as PlanAction;
use providers::Plan;
use std::future::Future;
use std::time::{Duration, Instant};

/// Requeue after an error in the user's input: the object changing triggers a reconcile anyway.
pub const USER_ERROR_REQUEUE: Duration = Duration::from_secs(300);
/// Requeue after an API conflict (a stale cache, or two groups editing one object's finalizers).
pub const CONFLICT_REQUEUE: Duration = Duration::from_secs(1);
/// Come back this soon while the cloud is still doing what berth asked (work reported pending).
pub const PENDING_REQUEUE: Duration = Duration::from_secs(10);
const BACKOFF_BASE: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Exponential back-off for the `n`th consecutive failure (n >= 1): 5 s doubling to 5 min.
pub fn backoff(n: u32) -> Duration {
    let shift = n.saturating_sub(1).min(16);
    BACKOFF_BASE.saturating_mul(1 << shift).min(BACKOFF_MAX)
}

/// A 409 from the API server: the cache was stale; retry at once.
pub fn conflict(e: &Error) -> bool {
    matches!(e, Error::Kube { source: kube::Error::Api(s), .. } if s.code == 409)
}

/// The error policy of both controllers: a conflict retries at once; user errors, and cloud
/// refusals a retry cannot fix (not retryable: access denied, validation), wait for the object
/// to change (or a slow requeue); the others back off exponentially per object (`key`).
pub fn requeue_after(err: &Error, ctx: &Context, key: &str) -> Action {
    if conflict(err) {
        Action::requeue(CONFLICT_REQUEUE)
    } else if err.is_user_error() || !err.retry_soon() {
        Action::requeue(USER_ERROR_REQUEUE)
    } else {
        Action::requeue(backoff(ctx.failed(key)))
    }
}

/// Runs one reconciliation with the in-flight gauge and the duration histogram; a success
/// resets the object's back-off (`key`).
pub async fn measured<T, F>(ctx: &Context, key: &str, work: F) -> Result<T>
where
    F: Future<Output = Result<T>>,
    T: std::fmt::Debug,
{
    let started = Instant::now();
    ctx.metrics.in_flight.inc();
    let result = work.await;
    ctx.metrics.in_flight.dec();
    ctx.metrics.reconciled(result.is_ok(), started.elapsed());
    if let Ok(outcome) = &result {
        ctx.succeeded(key);
        tracing::debug!(
            ?outcome,
            took_ms = started.elapsed().as_millis() as u64,
            "reconciled"
        );
    }
    result
}

/// Warning for a failure; Normal for work the cloud is still doing (not a failure).
pub fn event_type(e: &Error) -> kube::runtime::events::EventType {
    match e {
        Error::Provider(providers::Error::InProgress(_)) => {
            kube::runtime::events::EventType::Normal
        }
        _ => kube::runtime::events::EventType::Warning,
    }
}

/// `2 to create, 0 to update, 1 to delete` (the Events' summary of a plan).
pub fn counts(plan: &Plan) -> String {
    format!(
        "{} to create, {} to update, {} to delete",
        plan.count(PlanAction::Create),
        plan.count(PlanAction::Update),
        plan.count(PlanAction::Delete)
    )
}

/// Waits until a store has its initial list. A store's readiness wakes only its most recent
/// waiter (a controller waits on its main store too), so this polls again now and then.
pub async fn synced<K>(store: &Store<K>) -> bool
where
    K: kube::runtime::reflector::Lookup + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        match tokio::time::timeout(Duration::from_millis(200), store.wait_until_ready()).await {
            Ok(r) => return r.is_ok(),
            Err(_) => continue,
        }
    }
}
