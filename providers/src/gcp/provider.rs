//! [`Provider`] for GCP: translate (no discovery call: names and URLs are deterministic, the
//! facts come from configuration and the Nodes), observe by name, plan, apply.

use super::client::GcpProvider;
use super::kinds::{FORWARDING_RULE, GLOBAL_FORWARDING_RULE};
use crate::error::Result;
use crate::frontend::{Frontend, ObjectRef};
use crate::ingress::{GroupDesired, IngressGroup};
use crate::plan::{Observed, Plan, Resource};
use crate::provider::{Address, ApplyOutcome, Provider};

#[async_trait::async_trait]
impl Provider for GcpProvider {
    fn cloud(&self) -> &'static str {
        "gcp"
    }

    async fn desired(&self, frontend: &Frontend) -> Result<Vec<Resource>> {
        super::desired(frontend, &self.settings)
    }

    async fn desired_group(&self, group: &IngressGroup) -> Result<GroupDesired> {
        Ok(super::desired_group(group, &self.settings))
    }

    async fn observe(
        &self,
        owner: &ObjectRef,
        cluster: &str,
        desired: &[Resource],
    ) -> Result<Observed> {
        self.observe_owned(owner, cluster, desired).await
    }

    fn plan(&self, desired: &[Resource], observed: &Observed) -> Result<Plan> {
        super::plan(desired, observed)
    }

    async fn apply(&self, plan: &Plan, observed: &Observed) -> Result<ApplyOutcome> {
        let applied = crate::engine::apply::apply(plan, observed, self, Default::default()).await?;
        let address = [FORWARDING_RULE, GLOBAL_FORWARDING_RULE]
            .into_iter()
            .find_map(|k| applied.output(observed, k, "IPAddress", plan))
            .map(Address::Ip);
        let annotations = super::l7::status_annotations(
            applied
                .ids
                .iter()
                .filter(|(_, id)| !applied.deleted.contains(*id))
                .map(|(name, _)| name.as_str()),
        );
        Ok(ApplyOutcome {
            address,
            pending: applied.pending,
            annotations,
        })
    }
}
