//! [`Provider`] for AWS: discover + translate, observe, plan, apply.

use super::client::AwsProvider;
use super::{annotations, translate};
use crate::error::Result;
use crate::frontend::{Frontend, ObjectRef};
use crate::plan::{Observed, Plan, Resource};
use crate::provider::{Address, Provider};

#[async_trait::async_trait]
impl Provider for AwsProvider {
    fn cloud(&self) -> &'static str {
        "aws"
    }

    /// Annotations are parsed (and refused) before any call, then one DescribeSubnets call.
    async fn desired(&self, frontend: &Frontend) -> Result<Vec<Resource>> {
        let a = annotations::parse(frontend)?;
        let facts = self.discover(frontend, &a).await?;
        translate::translate(frontend, &a, &facts)
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

    async fn apply(&self, plan: &Plan, observed: &Observed) -> Result<Option<Address>> {
        self.apply_plan(plan, observed).await
    }
}
