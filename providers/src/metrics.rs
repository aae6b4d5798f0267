//! Every cloud API call is counted by operation and outcome. The operator exports the counts
//! as Prometheus metrics; tests read them to prove, e.g., that a no-op reconcile mutates nothing.

use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    Success,
    Error,
}

impl Outcome {
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }
}

pub trait CallRecorder: Send + Sync {
    fn record(&self, service: &'static str, operation: &'static str, outcome: Outcome);
}

/// Operations that change something in the cloud (the IAM policy and the no-op proof use this).
pub fn is_mutating(operation: &str) -> bool {
    const READ: [&str; 3] = ["Describe", "Get", "List"];
    !READ.iter().any(|p| operation.starts_with(p))
}

/// An in-memory recorder: the operator wraps it for /metrics, tests read it directly.
#[derive(Debug, Default)]
pub struct CallCounter {
    counts: Mutex<BTreeMap<(String, String, Outcome), u64>>,
}

impl CallCounter {
    pub fn snapshot(&self) -> BTreeMap<(String, String, Outcome), u64> {
        self.counts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Total calls per operation, both outcomes.
    pub fn by_operation(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for ((_, op, _), n) in self.snapshot() {
            *out.entry(op).or_insert(0) += n;
        }
        out
    }

    pub fn total(&self) -> u64 {
        self.snapshot().values().sum()
    }

    pub fn mutating(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|((_, op, _), _)| is_mutating(op))
            .map(|(_, n)| n)
            .sum()
    }

    pub fn reset(&self) {
        if let Ok(mut m) = self.counts.lock() {
            m.clear();
        }
    }
}

impl CallRecorder for CallCounter {
    fn record(&self, service: &'static str, operation: &'static str, outcome: Outcome) {
        if let Ok(mut m) = self.counts.lock() {
            *m.entry((service.to_string(), operation.to_string(), outcome))
                .or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_classifies() {
        let c = CallCounter::default();
        c.record("elbv2", "DescribeLoadBalancers", Outcome::Success);
        c.record("elbv2", "CreateLoadBalancer", Outcome::Success);
        c.record("elbv2", "CreateLoadBalancer", Outcome::Error);
        assert_eq!(c.total(), 3);
        assert_eq!(c.mutating(), 2);
        assert_eq!(c.by_operation()["CreateLoadBalancer"], 2);
        assert!(!is_mutating("ListTags") && is_mutating("AddTags"));
    }
}
