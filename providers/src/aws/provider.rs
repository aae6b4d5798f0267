//! [`Provider`] for AWS: discover + translate, observe, plan, apply.

use super::client::AwsProvider;
use super::{annotations, discover, translate};
use crate::error::Result;
use crate::frontend::{Frontend, ObjectRef};
use crate::ingress::{GroupDesired, IngressGroup};
use crate::plan::{Observed, Plan, Resource};
use crate::provider::{ApplyOutcome, Provider};

#[async_trait::async_trait]
impl Provider for AwsProvider {
    fn cloud(&self) -> &'static str {
        "aws"
    }

    /// Annotations are parsed (and refused) before any call, then one DescribeSubnets call;
    /// with backend rules, the targets' security groups too (DescribeInstances or
    /// DescribeNetworkInterfaces, and one DescribeSecurityGroups).
    async fn desired(&self, frontend: &Frontend) -> Result<Vec<Resource>> {
        let a = annotations::parse(frontend)?;
        let mut facts = self.discover(frontend, &a).await?;
        if a.manage_backend_rules {
            let (instances, ips) = translate::target_ids(frontend, &a);
            facts.target_security_groups = Some(
                self.target_security_groups(&frontend.object, &instances, &ips)
                    .await?,
            );
        }
        translate::translate(frontend, &a, &facts)
    }

    /// Members' annotations are parsed (and bad members left out) before any call, then one
    /// DescribeSubnets call for the accepted members' placement.
    async fn desired_group(&self, group: &IngressGroup) -> Result<GroupDesired> {
        let Some((internal, subnets)) = super::alb::translate::placement(group) else {
            return Ok(super::alb::desired_group(group, &Default::default()));
        };
        let sel = match subnets {
            Some(l) if l.iter().all(|s| s.starts_with("subnet-")) => discover::Selection::Ids(l),
            Some(l) => discover::Selection::Names(l),
            None => discover::Selection::Tags {
                role: if internal {
                    discover::ROLE_INTERNAL_ELB
                } else {
                    discover::ROLE_ELB
                },
                cluster: group.cluster.clone(),
            },
        };
        let fe = Frontend::new(group.object.clone(), group.cluster.clone());
        let facts = self.discover_selection(&fe, sel).await?;
        Ok(super::alb::desired_group(group, &facts))
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
        self.apply_plan(plan, observed).await
    }
}
