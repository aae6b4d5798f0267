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
        Err(crate::error::Error::Unavailable(format!(
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

    /// Executes the plan; idempotent; returns the address of the load balancer if there is one.
    async fn apply(&self, plan: &Plan, observed: &Observed) -> Result<Option<Address>>;
}
