//! One rate limit for every call a provider makes: a burst of objects must not exhaust the
//! account's API quota (a throttled account slows every cluster in it).

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
