//! The SDK clients and the one wrapper every AWS call goes through: it counts the call on the
//! [`CallRecorder`], maps SDK errors to [`Error::Cloud`] (with AWS's error code and message) and
//! retries throttling, 5xx and timeouts with exponential backoff.

use super::operations::Op;
use crate::engine::inventory::{Inventory, DEFAULT_MAX_AGE};
use crate::error::{Error, Result};
use crate::metrics::CallRecorder;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_elasticloadbalancingv2::config::retry::RetryConfig;
use aws_sdk_elasticloadbalancingv2::config::timeout::TimeoutConfig;
use aws_sdk_elasticloadbalancingv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use backon::ExponentialBuilder;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// AWS error codes that mean "slow down", whatever the HTTP status.
const THROTTLING: [&str; 9] = [
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// How long one cloud call may take. Every call has all three, so an endpoint that accepts a
/// connection and never answers cannot hold a worker (or a finalizer, or `berth plan
/// --observe`) forever.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// To establish the TCP (and TLS) connection.
    pub connect: Duration,
    /// For one attempt: the request sent and the whole response read.
    pub attempt: Duration,
    /// For the call as a whole: every attempt and berth's backoff between them.
    pub deadline: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(5),
            attempt: Duration::from_secs(30),
            deadline: Duration::from_secs(120),
        }
    }
}

/// More pages than this from one Describe call is taken as a cloud (or emulator) that pages
/// forever, not as an account that holds them: 10,000 pages of 400 load balancers is far above
/// any ELBv2 quota.
pub(crate) const MAX_PAGES: usize = 10_000;

/// The AWS provider: NLBs for Services, through ELBv2 (and EC2 for subnet discovery).
pub struct AwsProvider {
    pub(crate) elb: aws_sdk_elasticloadbalancingv2::Client,
    pub(crate) ec2: aws_sdk_ec2::Client,
    pub(crate) tagging: aws_sdk_resourcegroupstagging::Client,
    pub(crate) cluster: String,
    pub(crate) vpc_id: Option<String>,
    recorder: Arc<dyn CallRecorder>,
    backoff: ExponentialBuilder,
    deadline: Duration,
    /// Shared by every worker: a burst of Services must not exhaust the account's API quota.
    limiter: Option<crate::limit::Limiter>,
    /// The cluster's berth-owned load balancers and target groups (see [`super::inventory`]).
    pub(crate) inventory: Inventory<super::inventory::Entry>,
}

impl std::fmt::Debug for AwsProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsProvider")
            .field("cluster", &self.cluster)
            .field("vpc_id", &self.vpc_id)
            .finish_non_exhaustive()
    }
}

/// A failed call: the AWS error code (if AWS answered with one) and berth's error.
pub(crate) struct Failure {
    pub code: Option<String>,
    pub error: Error,
}

impl AwsProvider {
    /// Loads the SDK configuration from the environment (`AWS_REGION`, `AWS_ENDPOINT_URL`,
    /// credentials chain, ...).
    pub async fn from_env(
        cluster: String,
        vpc_id: Option<String>,
        recorder: Arc<dyn CallRecorder>,
    ) -> Self {
        let config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        Self::new(&config, cluster, vpc_id, recorder)
    }

    /// The SDK's own retries are turned off: berth retries (and counts every attempt) itself.
    pub fn new(
        config: &SdkConfig,
        cluster: String,
        vpc_id: Option<String>,
        recorder: Arc<dyn CallRecorder>,
    ) -> Self {
        Self::with_timeouts(config, cluster, vpc_id, recorder, Timeouts::default())
    }

    /// [`Self::new`] with other [`Timeouts`].
    pub fn with_timeouts(
        config: &SdkConfig,
        cluster: String,
        vpc_id: Option<String>,
        recorder: Arc<dyn CallRecorder>,
        timeouts: Timeouts,
    ) -> Self {
        let timeout_config = TimeoutConfig::builder()
            .connect_timeout(timeouts.connect)
            .read_timeout(timeouts.attempt)
            .operation_attempt_timeout(timeouts.attempt)
            .operation_timeout(timeouts.deadline)
            .build();
        let elb_conf = aws_sdk_elasticloadbalancingv2::config::Builder::from(config)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeout_config.clone())
            .build();
        let ec2_conf = aws_sdk_ec2::config::Builder::from(config)
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .timeout_config(timeout_config.clone())
            .build();
        let tagging_conf = aws_sdk_resourcegroupstagging::config::Builder::from(config)
            .retry_config(aws_sdk_resourcegroupstagging::config::retry::RetryConfig::disabled())
            .timeout_config(timeout_config)
            .build();
        AwsProvider {
            elb: aws_sdk_elasticloadbalancingv2::Client::from_conf(elb_conf),
            ec2: aws_sdk_ec2::Client::from_conf(ec2_conf),
            tagging: aws_sdk_resourcegroupstagging::Client::from_conf(tagging_conf),
            cluster,
            vpc_id,
            recorder,
            backoff: crate::limit::default_backoff(),
            deadline: timeouts.deadline,
            limiter: None,
            inventory: Inventory::new(DEFAULT_MAX_AGE),
        }
    }

    /// How old the inventory's listing may get before observe lists again (default: 5
    /// minutes, the operator's default resync period). Own writes keep it current in between.
    pub fn with_inventory_max_age(mut self, max_age: Duration) -> Self {
        self.inventory = Inventory::new(max_age);
        self
    }

    /// At most `per_second` calls a second, `burst` at once after a quiet period.
    pub fn with_rate_limit(self, per_second: u32, burst: u32) -> Self {
        self.with_quota(crate::limit::per_second(per_second, burst))
    }

    fn with_quota(mut self, quota: governor::Quota) -> Self {
        self.limiter = Some(crate::limit::limiter(quota));
        self
    }

    pub fn cluster(&self) -> &str {
        &self.cluster
    }

    /// Runs one API call (`f` builds and sends a fresh request each time), recording and
    /// retrying it.
    pub(crate) async fn call<T, E, F, Fut>(&self, op: Op, f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        self.call_coded(op, f).await.map_err(|f| f.error)
    }

    /// Every page of a Describe call (ELBv2's Marker / NextMarker, EC2's NextToken): `send(marker)`
    /// sends one page's request, `split` takes a page apart into its items and the next marker.
    /// Bounded: a marker that comes back a second time, or more than [`MAX_PAGES`] pages, ends
    /// it with an error instead of looping forever.
    pub(crate) async fn all_pages<P, T, E, F, Fut>(
        &self,
        op: Op,
        mut send: F,
        split: impl Fn(P) -> (Option<Vec<T>>, Option<String>),
    ) -> Result<Vec<T>>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: Future<Output = std::result::Result<P, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut out = Vec::new();
        let mut marker: Option<String> = None;
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let page = self.call(op, || send(marker.clone())).await?;
            let (items, next) = split(page);
            out.extend(items.unwrap_or_default());
            marker = next.filter(|m| !m.is_empty());
            match &marker {
                None => return Ok(out),
                Some(m) if !seen.insert(m.clone()) => {
                    return Err(Error::cloud(
                        op.name,
                        format!("the API returned the page marker {m:?} a second time (after {} pages); stopped instead of paging forever", seen.len()),
                        true,
                    ))
                }
                Some(_) => {}
            }
        }
        Err(Error::cloud(
            op.name,
            format!("more than {MAX_PAGES} pages; stopped instead of paging forever"),
            true,
        ))
    }

    /// Like [`Self::call`], but an error whose AWS code is in `absent` (e.g.
    /// `LoadBalancerNotFound` on a delete) is `Ok(None)`: the thing is already gone.
    pub(crate) async fn call_unless<T, E, F, Fut>(
        &self,
        op: Op,
        absent: &[&str],
        f: F,
    ) -> Result<Option<T>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        match self.call_coded(op, f).await {
            Ok(v) => Ok(Some(v)),
            Err(Failure {
                code: Some(code), ..
            }) if absent.contains(&code.as_str()) => Ok(None),
            Err(f) => Err(f.error),
        }
    }

    pub(crate) async fn call_coded<T, E, F, Fut>(
        &self,
        op: Op,
        f: F,
    ) -> std::result::Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let operation = op.name;
        let deadline = self.deadline;
        match tokio::time::timeout(deadline, self.attempts(op, f)).await {
            Ok(r) => r,
            Err(_) => Err(Failure {
                code: None,
                error: Error::cloud(
                    operation,
                    format!("no answer within the call deadline of {deadline:?} (every attempt and retry included)"),
                    true,
                ),
            }),
        }
    }

    async fn attempts<T, E, F, Fut>(&self, op: Op, f: F) -> std::result::Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = std::result::Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let (service, operation) = (op.service.label(), op.name);
        let classify = |e: &SdkError<E>| {
            let failure = classify(operation, e);
            let retry = matches!(
                failure.error,
                Error::Cloud {
                    retryable: true,
                    ..
                }
            );
            (failure, retry)
        };
        let limiter = self.limiter.as_ref();
        crate::limit::attempts(
            limiter,
            &*self.recorder,
            (service, operation),
            &self.backoff,
            f,
            classify,
        )
        .await
    }
}

/// A limit of the account (TooManyRules, TooManyLoadBalancers,
/// RulesPerSecurityGroupLimitExceeded, ...): not the object's fault, and no retry fixes it; the
/// user raises the quota or asks for less. (RequestLimitExceeded is throttling: retryable.)
fn is_quota(code: Option<&str>, retryable: bool) -> bool {
    !retryable && code.is_some_and(|c| c.starts_with("TooMany") || c.ends_with("LimitExceeded"))
}

/// SDK error -> berth error: `<Code>: <message>` when AWS answered, the whole error chain
/// otherwise. Throttling, 5xx, timeouts and I/O failures are retryable.
fn classify<E>(operation: &str, e: &SdkError<E>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (code, message, retryable) = match e {
        SdkError::ServiceError(se) => {
            let status = se.raw().status().as_u16();
            let code = se.err().code().map(str::to_string);
            let msg = se.err().message().unwrap_or("(no message)");
            let retryable = status >= 500
                || status == 429
                || code.as_deref().is_some_and(|c| THROTTLING.contains(&c));
            let message = match &code {
                Some(c) => format!("{c}: {msg} (HTTP {status})"),
                None => format!("{msg} (HTTP {status})"),
            };
            (code, message, retryable)
        }
        SdkError::TimeoutError(_) => (None, format!("timed out: {}", DisplayErrorContext(e)), true),
        // A connection closed before the request completed is what the connector calls
        // transient (`Other(Some(TransientError))`): worth another attempt, like I/O errors.
        SdkError::DispatchFailure(d) => (
            None,
            DisplayErrorContext(e).to_string(),
            d.is_timeout()
                || d.is_io()
                || d.as_other() == Some(aws_smithy_types::retry::ErrorKind::TransientError),
        ),
        // A response that could not be read (a body cut short) is a transport fault, whatever
        // its status line said; the retry limit still ends a persistent one.
        SdkError::ResponseError(_) => (None, DisplayErrorContext(e).to_string(), true),
        _ => (None, DisplayErrorContext(e).to_string(), false),
    };
    let error = if is_quota(code.as_deref(), retryable) {
        Error::Quota {
            object: String::new(),
            what: format!("{operation}: {message}"),
        }
    } else {
        Error::cloud(operation, message, retryable)
    };
    Failure { code, error }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_limits_are_quotas_and_throttling_is_not() {
        assert!(is_quota(Some("TooManyRules"), false));
        assert!(is_quota(Some("RulesPerSecurityGroupLimitExceeded"), false));
        assert!(!is_quota(Some("RequestLimitExceeded"), true));
        assert!(!is_quota(Some("ValidationError"), false));
        assert!(!is_quota(None, false));
    }
    use crate::aws::operations;
    use crate::metrics::CallCounter;
    use aws_sdk_elasticloadbalancingv2::operation::describe_tags::DescribeTagsError;
    use std::num::NonZeroU32;

    #[tokio::test]
    async fn every_call_takes_a_token_from_the_shared_bucket_and_is_counted() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .build();
        let calls = Arc::new(CallCounter::default());
        let one_per_hour = governor::Quota::per_hour(NonZeroU32::MIN);
        let p = AwsProvider::new(&config, "c".into(), None, calls.clone()).with_quota(one_per_hour);
        let v = p
            .call(operations::DESCRIBE_TAGS, || {
                std::future::ready(Ok::<u8, SdkError<DescribeTagsError>>(7))
            })
            .await
            .unwrap();
        assert_eq!(v, 7);
        let limiter = p.limiter.as_ref().unwrap();
        assert!(limiter.check().is_err(), "the call used the only token");
        assert_eq!(calls.by_operation().get("DescribeTags"), Some(&1));
    }
}
