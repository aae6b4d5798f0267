//! Long-running operations (GCP's Operation, Azure's `Azure-AsyncOperation`): wait with a
//! deadline, or hand back "pending" so that a controller worker is not held for minutes.

use super::apply::Progress;
use crate::error::Result;
use std::future::Future;
use std::time::Duration;
use tokio::time::Instant;

/// Polls `poll` (which says whether the operation is finished, or fails it) until it is done or
/// `deadline` has passed; then the operation is [`Progress::Pending`], described by `what`, and
/// the next reconcile looks again. Polls soon at first (a sixteenth of `interval`), then ever
/// less often, doubling up to `interval`: most operations finish within seconds, and a long one
/// costs few polls.
pub async fn wait<F, Fut>(
    what: &str,
    deadline: Duration,
    interval: Duration,
    mut poll: F,
) -> Result<Progress>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<bool>>,
{
    let end = Instant::now() + deadline;
    let mut delay = (interval / 16).max(Duration::from_millis(10)).min(interval);
    loop {
        if poll().await? {
            return Ok(Progress::Done);
        }
        let now = Instant::now();
        if now >= end {
            return Ok(Progress::Pending(format!(
                "{what} still running after {deadline:?}; checked again at the next reconcile"
            )));
        }
        tokio::time::sleep(delay.min(end - now)).await;
        delay = (delay * 2).min(interval);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn done_within_the_deadline_or_pending_after_it() {
        let polls = AtomicU32::new(0);
        let p = wait(
            "op-1",
            Duration::from_secs(5),
            Duration::from_millis(1),
            || async { Ok(polls.fetch_add(1, Ordering::SeqCst) >= 2) },
        )
        .await
        .unwrap();
        assert_eq!(p, Progress::Done);
        assert_eq!(polls.load(Ordering::SeqCst), 3);

        let p = wait(
            "op-2",
            Duration::from_millis(20),
            Duration::from_millis(5),
            || async { Ok(false) },
        )
        .await
        .unwrap();
        assert!(
            matches!(&p, Progress::Pending(w) if w.contains("op-2")),
            "{p:?}"
        );

        let e = wait(
            "op-3",
            Duration::from_secs(1),
            Duration::from_millis(1),
            || async {
                Err(crate::Error::OperationFailed {
                    operation: "op-3".into(),
                    message: "QUOTA_EXCEEDED".into(),
                })
            },
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("QUOTA_EXCEEDED"));
        assert!(
            !e.retry_soon() && !e.is_user_error(),
            "a failed operation is retried slowly"
        );
    }
}
