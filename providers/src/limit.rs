//! How a provider makes cloud calls: one rate limit for all of them (a burst of objects must not
//! exhaust the account's API quota; a throttled account slows every cluster in it), one retry
//! policy, and one attempt loop that counts every attempt.

use std::num::NonZeroU32;
use std::sync::Arc;

pub type Limiter = Arc<governor::DefaultDirectRateLimiter>;

/// At most `per_second` calls a second, `burst` at once after a quiet period (0 counts as 1).
pub fn per_second(per_second: u32, burst: u32) -> governor::Quota {
    governor::Quota::per_second(NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN))
        .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

pub fn limiter(quota: governor::Quota) -> Limiter {
    Arc::new(governor::RateLimiter::direct(quota))
}

/// berth's retry policy for cloud calls: 200 ms doubling to 5 s, three retries, with jitter.
pub fn default_backoff() -> backon::ExponentialBuilder {
    backon::ExponentialBuilder::default()
        .with_min_delay(std::time::Duration::from_millis(200))
        .with_max_delay(std::time::Duration::from_secs(5))
        .with_max_times(3)
        .with_jitter()
}

/// The attempts of one cloud call, the same on every cloud: each waits for the shared rate
/// limit, is counted on `recorder` as `service`/`operation`, and a failure `classify` calls
/// retryable is tried again after the next `backoff` delay, until the delays run out.
pub async fn attempts<T, E, R, F, Fut>(
    limiter: Option<&Limiter>,
    recorder: &dyn crate::metrics::CallRecorder,
    (service, operation): (&'static str, &'static str),
    backoff: &backon::ExponentialBuilder,
    mut f: F,
    classify: impl Fn(&E) -> (R, bool),
) -> std::result::Result<T, R>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, E>>,
{
    use crate::metrics::Outcome;
    use backon::BackoffBuilder;
    let mut delays = backoff.build();
    loop {
        if let Some(l) = limiter {
            l.until_ready().await;
        }
        match f().await {
            Ok(v) => {
                recorder.record(service, operation, Outcome::Success);
                return Ok(v);
            }
            Err(e) => {
                recorder.record(service, operation, Outcome::Error);
                let (failure, retry) = classify(&e);
                match delays.next().filter(|_| retry) {
                    Some(delay) => {
                        tracing::debug!(service, operation, ?delay, "retrying");
                        tokio::time::sleep(delay).await;
                    }
                    None => return Err(failure),
                }
            }
        }
    }
}
