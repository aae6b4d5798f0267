use providers::frontend::ObjectRef;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The operator's errors. Provider errors carry the object, annotation and value themselves.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Provider(#[from] providers::Error),
    #[error("{source_name}: {message}")]
    Manifest {
        source_name: String,
        message: String,
    },
    #[error("Kubernetes API error on {object}: {source}")]
    Kube {
        object: String,
        #[source]
        source: kube::Error,
    },
    #[error("{0}")]
    Config(String),
    /// The object breaks a LoadBalancerPolicy, or its policies are unusable (the message names
    /// the policy, the rule and what is allowed).
    #[error("{0}")]
    Policy(crate::policy::evaluate::Violation),
}

impl Error {
    pub fn kube(object: &ObjectRef, source: kube::Error) -> Self {
        Error::Kube {
            object: object.to_string(),
            source,
        }
    }

    /// Errors in the user's input (annotations, fields, names): retrying without a change to
    /// the object cannot help.
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::Provider(e) => e.is_user_error(),
            Error::Manifest { .. } => true,
            Error::Kube { .. } | Error::Config(_) => false,
            // Fixed by a change of the object or of a policy (which re-reconciles everything).
            Error::Policy(_) => true,
        }
    }

    /// Whether a retry with backoff can help (see [`providers::Error::retry_soon`]).
    pub fn retry_soon(&self) -> bool {
        match self {
            Error::Provider(e) => e.retry_soon(),
            // Not loaded yet (policies), a finalizer write: worth retrying.
            Error::Kube { .. } | Error::Config(_) => true,
            Error::Manifest { .. } | Error::Policy(_) => false,
        }
    }

    /// CamelCase reason for Events and conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Provider(e) => e.reason(),
            Error::Manifest { .. } => "InvalidManifest",
            Error::Kube { .. } => "KubernetesAPIError",
            Error::Config(_) => "InvalidConfiguration",
            Error::Policy(v) => v.reason(),
        }
    }
}
