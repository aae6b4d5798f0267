use crate::frontend::ObjectRef;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every variant says what a user (or operator of berth) can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An annotation's value is not acceptable. Nothing in the cloud is changed.
    #[error("{object}: annotation {annotation}={value:?} is invalid: {expected}")]
    InvalidAnnotation {
        object: ObjectRef,
        annotation: String,
        value: String,
        expected: String,
    },
    /// A Kubernetes field (spec.ports, spec.sessionAffinity, …) is not acceptable.
    #[error("{object}: {field}={value:?} is invalid: {expected}")]
    InvalidField {
        object: ObjectRef,
        field: String,
        value: String,
        expected: String,
    },
    /// A cloud resource with the name berth wants exists but carries no berth ownership tags.
    /// berth never touches it.
    #[error("{kind} {name:?} already exists ({id}) but is not owned by berth (no ownership tags for this object); berth will not touch it: delete or rename it, or set a different name annotation")]
    Conflict {
        kind: String,
        name: String,
        id: String,
    },
    /// The object asks for a change the cloud cannot make to the existing resource; only a new
    /// resource (with a new address) would have it, which berth does not decide on its own.
    /// Nothing is changed.
    #[error("{}{kind} {name:?} ({id}) cannot be changed in place: {why}", prefix(.object))]
    NeedsReplacement {
        object: String,
        kind: String,
        name: String,
        id: String,
        why: String,
    },
    /// berth itself is wrong: a plan it made cannot be carried out. Reported (please file it),
    /// retried slowly: a fast retry would fail the same way.
    #[error("berth bug: {0}")]
    Bug(String),
    /// Something berth needs from Kubernetes is not there (yet): e.g. pod endpoints for ip
    /// targets. Retried with back-off.
    #[error("{0}")]
    Unavailable(String),
    /// What the cloud account must provide is missing or ambiguous: subnets tagged for load
    /// balancers, subnets in one VPC, one cluster-tagged security group on the targets, an
    /// instance EC2 knows. The message says what to set up. Retried slowly: the account can
    /// change without the object changing.
    #[error("{0}")]
    CloudSetup(String),
    /// A cloud limit is reached (rules per listener, load balancers or rules per security
    /// group): raise the quota or ask for less. Retried slowly.
    #[error("{}quota reached: {what}", prefix(.object))]
    Quota { object: String, what: String },
    /// A shared resource changed under berth at every try to write it (its version token was
    /// stale each time). Retried soon, from a fresh read.
    #[error(
        "{resource} changed under berth {attempts} times in a row (stale version); trying again"
    )]
    StaleVersion { resource: String, attempts: usize },
    /// A long-running cloud operation ended in an error (the cloud's own message).
    #[error("cloud operation {operation} failed: {message}")]
    OperationFailed { operation: String, message: String },
    /// berth does not do this on this cloud (yet).
    #[error("{0}")]
    Unsupported(String),
    /// The cloud is still doing what berth asked (e.g. releasing a security group from a deleted
    /// load balancer): not a failure; the controller comes back soon and, while deleting, keeps
    /// its finalizer.
    #[error("still in progress: {0}")]
    InProgress(String),
    /// The cloud API refused or failed a call.
    #[error("cloud API call {operation} failed: {message}")]
    Cloud {
        operation: String,
        message: String,
        /// Throttling, 5xx and timeouts: worth retrying as is.
        retryable: bool,
    },
}

impl Error {
    /// A short CamelCase reason, used for Events and status conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidAnnotation { .. } => "InvalidAnnotation",
            Error::InvalidField { .. } => "InvalidField",
            Error::Conflict { .. } => "NameConflict",
            Error::NeedsReplacement { .. } => "ReplacementNeeded",
            Error::Bug(_) => "BerthBug",
            Error::Unavailable(_) => "Unavailable",
            Error::CloudSetup(_) => "CloudSetupMissing",
            Error::Quota { .. } => "QuotaExceeded",
            Error::StaleVersion { .. } => "StaleVersion",
            Error::OperationFailed { .. } => "CloudOperationFailed",
            Error::Unsupported(_) => "Unsupported",
            Error::InProgress(_) => "InProgress",
            Error::Cloud { .. } => "CloudAPIError",
        }
    }

    /// Errors in the user's input: retrying without a change to the object cannot help.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::InvalidAnnotation { .. }
                | Error::InvalidField { .. }
                | Error::Conflict { .. }
                | Error::NeedsReplacement { .. }
        )
    }

    /// Whether retrying soon (with backoff) can help: the cloud said so (throttling, 5xx,
    /// timeouts), a stale version, or something berth waits for is not there yet. Errors in the
    /// input, a cloud refusal that is not retryable (access denied, a validation error), a
    /// missing cloud setup, a quota, a failed operation and berth's own bugs wait for a change,
    /// or a slow requeue.
    pub fn retry_soon(&self) -> bool {
        match self {
            Error::Cloud { retryable, .. } => *retryable,
            Error::Unavailable(_) | Error::StaleVersion { .. } | Error::InProgress(_) => true,
            _ => false,
        }
    }

    pub fn cloud(
        operation: impl Into<String>,
        message: impl Into<String>,
        retryable: bool,
    ) -> Self {
        Error::Cloud {
            operation: operation.into(),
            message: message.into(),
            retryable,
        }
    }
}

/// `object: ` before a message, when the object is known.
fn prefix(object: &str) -> String {
    if object.is_empty() {
        String::new()
    } else {
        format!("{object}: ")
    }
}
