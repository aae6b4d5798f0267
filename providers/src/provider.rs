//! The contract every cloud implements. The operator drives it in one direction:
//! desired (discover + translate) -> observe -> plan -> apply.

use crate::error::Result;
use crate::frontend::{Frontend, ObjectRef};
use crate::ingress::{GroupDesired, IngressGroup};
use crate::plan::{Observed, Plan, Resource};
use serde::{Deserialize, Serialize};

/// Where clients reach the load balancer: AWS gives a DNS name, GCP and Azure an IP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Address {
    Hostname(String),
    Ip(String),
}

/// What an apply did: the load balancer's address (if one remains), and the work the cloud is
/// still doing, which berth did not wait for (see [`crate::engine::operation`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplyOutcome {
    pub address: Option<Address>,
    pub pending: Vec<String>,
    /// Annotations the cloud's incumbent controller writes on the object (GKE's
    /// `ingress.kubernetes.io/url-map`, ...), which its users and tools read.
    pub annotations: std::collections::BTreeMap<String, String>,
}

impl ApplyOutcome {
    pub fn done(address: Option<Address>) -> Self {
        ApplyOutcome {
            address,
            ..Default::default()
        }
    }

    /// While work is pending, the error that keeps a deletion (and its finalizer) going.
    pub fn in_progress(&self) -> Option<crate::error::Error> {
        (!self.pending.is_empty()).then(|| crate::error::Error::InProgress(self.pending.join("; ")))
    }
}

#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// `aws`, `gcp` or `azure`.
    fn cloud(&self) -> &'static str;

    /// The desired cloud resources for a Frontend. May read the cloud (subnet discovery, VPC),
    /// never writes; the translation itself is a pure function of the provider's module.
    async fn desired(&self, frontend: &Frontend) -> Result<Vec<Resource>>;

    /// The desired cloud resources for an Ingress group (an L7 load balancer), and the members
    /// left out of it with why (invalid annotations, missing backends, conflicts with earlier
    /// members): the rest of the group still converges. Reads the cloud like [`Self::desired`]
    /// (subnet discovery), never writes. Errors only for the group as a whole (cloud calls).
    /// Then observe/plan/apply with `owner` = `group.object`, unless
    /// [`GroupDesired::converge`] says not to.
    /// The default says the provider serves no Ingresses (so test fakes need not implement it).
    async fn desired_group(&self, group: &IngressGroup) -> Result<GroupDesired> {
        Err(crate::error::Error::Unsupported(format!(
            "{}: the {} provider does not serve Ingress groups",
            group.object,
            self.cloud()
        )))
    }

    /// The resources that exist now and carry our ownership marks for `owner`.
    /// `names` are the names the desired state wants, so that same-named foreign resources are
    /// reported as conflicts (see [`Observed::foreign`]).
    async fn observe(
        &self,
        owner: &ObjectRef,
        cluster: &str,
        desired: &[Resource],
    ) -> Result<Observed>;

    /// Pure diff (see [`crate::plan::diff`]).
    fn plan(&self, desired: &[Resource], observed: &Observed) -> Result<Plan>;

    /// Executes the plan; idempotent; returns the address of the load balancer if there is one,
    /// and what the cloud is still doing (the caller comes back soon rather than waiting).
    async fn apply(&self, plan: &Plan, observed: &Observed) -> Result<ApplyOutcome>;
}
