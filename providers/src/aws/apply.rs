//! AWS's executor for the engine ([`crate::engine::apply`]): which calls each kind's create,
//! update and delete make (the calls themselves live with their kind in [`super::kinds`]). The
//! engine runs the plan in order, resolves `Ref`s and acts only on what observe found carrying
//! our ownership tags.
//!
//! Listener rules (ALB) first make room, so that no priority is ever taken twice: rules that go
//! are deleted (unless their listener goes too), rules that stay move to their new priorities
//! in one SetRulePriorities call; then the engine runs the rest.

use super::client::AwsProvider;
use super::convert::*;
use super::operations as ops;
use super::{KIND_LB, KIND_LISTENER, KIND_RULE, KIND_SG, KIND_SG_INGRESS, KIND_TG};
use crate::engine;
use crate::error::{Error, Result};
use crate::plan::{Action, Change, Observed, Plan};
use crate::provider::{Address, ApplyOutcome};
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Target-group properties that ModifyTargetGroup changes.
pub use crate::engine::apply::resolve;

impl AwsProvider {
    /// Executes the plan through the engine (ownership gate, `Ref`s, order). Listener rules
    /// first make room: rules that go are deleted, and rules that stay move to their new
    /// priorities in one SetRulePriorities call, so no create or move collides with a priority
    /// that is still taken (a rule whose listener goes too is deleted with it). Returns the load
    /// balancer's DNS name (lower-cased), if one remains, and what is still pending (a security
    /// group the deleted load balancer has not released yet).
    pub async fn apply_plan(&self, plan: &Plan, observed: &Observed) -> Result<ApplyOutcome> {
        engine::apply::gate(plan, observed)?;
        self.refuse_protected_deletes(plan).await?;
        let mut deleted: BTreeSet<String> = BTreeSet::new();
        let is_rule = |c: &&Change, a: Action| c.kind == KIND_RULE && c.action == a;
        let listeners_going: BTreeSet<&str> = plan
            .changes
            .iter()
            .filter(|c| c.kind == KIND_LISTENER && c.action == Action::Delete)
            .filter_map(|c| c.id.as_deref())
            .collect();
        for c in plan.changes.iter().filter(|c| is_rule(c, Action::Delete)) {
            let id = c.id.clone().unwrap_or_default();
            if !str_of(&c.properties, "ListenerArn").is_some_and(|l| listeners_going.contains(l)) {
                self.delete_rule(&id).await?;
            }
            deleted.insert(id);
        }
        let moves: Vec<(String, i32)> = plan
            .changes
            .iter()
            .filter(|c| is_rule(c, Action::Update) && c.changed.iter().any(|k| k == "Priority"))
            .filter_map(|c| Some((c.id.clone()?, int_of(&c.properties, "Priority")?)))
            .collect();
        if !moves.is_empty() {
            self.move_rules(&moves, observed, &deleted).await?;
        }

        let applied = engine::apply::apply(plan, observed, self, deleted).await?;
        let address = applied
            .output(observed, KIND_LB, "DNSName", plan)
            .map(|d| Address::Hostname(d.to_ascii_lowercase()));
        Ok(ApplyOutcome {
            address,
            pending: applied.pending,
            ..Default::default()
        })
    }
}

impl AwsProvider {
    /// A load balancer with deletion protection on cannot be deleted: found before anything
    /// else of the plan is (one DescribeLoadBalancerAttributes per load balancer to delete), so
    /// nothing is left half-deleted (an NLB without listeners, a Service stuck terminating).
    async fn refuse_protected_deletes(&self, plan: &Plan) -> Result<()> {
        for c in plan
            .changes
            .iter()
            .filter(|c| c.kind == KIND_LB && c.action == Action::Delete)
        {
            let Some(id) = c.id.as_deref() else { continue };
            let attrs = self.lb_attributes(id).await?;
            if attrs
                .iter()
                .any(|(k, v)| k == "deletion_protection.enabled" && v == "true")
            {
                return Err(Error::CloudSetup(format!(
                    "load balancer {} ({id}) has deletion protection on, so berth deleted nothing of it: turn it off (attribute deletion_protection.enabled=false, in the annotation or the console) and berth deletes it at the next try",
                    c.name
                )));
            }
        }
        Ok(())
    }
}

/// One AWS call sequence per kind and action (see the functions above).
#[async_trait::async_trait]
impl engine::Executor for AwsProvider {
    async fn create(&self, c: &Change, p: &Map<String, Value>) -> Result<engine::Created> {
        let id = match c.kind.as_str() {
            KIND_SG => self.create_sg(c, p).await?,
            KIND_LB => {
                let (arn, dns) = self.create_lb(c, p).await?;
                self.created(&arn, p);
                let mut out = engine::Created::id(arn);
                if let Some(d) = dns {
                    out.outputs.insert("DNSName".into(), Value::String(d));
                }
                return Ok(out);
            }
            KIND_TG => {
                let arn = self.create_tg(c, p).await?;
                self.created(&arn, p);
                arn
            }
            KIND_LISTENER => self.create_listener(c, p).await?,
            KIND_RULE => self.create_rule(c, p).await?,
            // A rule has no ID of its own; it is named by what it is.
            KIND_SG_INGRESS => {
                self.authorize_backend_rule(p).await?;
                c.name.clone()
            }
            kind => return Err(unmanaged(kind, c)),
        };
        Ok(engine::Created::id(id))
    }

    async fn update(
        &self,
        c: &Change,
        id: &str,
        p: &Map<String, Value>,
    ) -> Result<engine::Progress> {
        match c.kind.as_str() {
            KIND_SG => self.update_sg(c, id, p).await?,
            KIND_LB => self.update_lb(c, id, p).await?,
            KIND_TG => self.update_tg(c, id, p).await?,
            KIND_LISTENER => self.update_listener(c, id, p).await?,
            KIND_RULE => self.update_rule(c, id, p).await?,
            KIND_SG_INGRESS => {
                if let Some(cur) = &c.current {
                    self.revoke_backend_rule(cur).await?;
                }
                self.authorize_backend_rule(p).await?
            }
            kind => return Err(unmanaged(kind, c)),
        }
        Ok(engine::Progress::Done)
    }

    async fn delete(&self, c: &Change, id: &str) -> Result<engine::Progress> {
        match c.kind.as_str() {
            KIND_SG => return self.delete_sg(id).await,
            KIND_SG_INGRESS => self.revoke_backend_rule(&c.properties).await?,
            KIND_RULE => self.delete_rule(id).await?,
            KIND_LISTENER => {
                let req = self.elb.delete_listener().listener_arn(id);
                self.call_unless(ops::DELETE_LISTENER, &["ListenerNotFound"], || {
                    req.clone().send()
                })
                .await?;
            }
            KIND_TG => {
                let req = self.elb.delete_target_group().target_group_arn(id);
                self.call_unless(ops::DELETE_TARGET_GROUP, &["TargetGroupNotFound"], || {
                    req.clone().send()
                })
                .await?;
                self.forget(id);
            }
            KIND_LB => {
                let req = self.elb.delete_load_balancer().load_balancer_arn(id);
                self.call_unless(ops::DELETE_LOAD_BALANCER, &["LoadBalancerNotFound"], || {
                    req.clone().send()
                })
                .await?;
                self.forget(id);
            }
            kind => return Err(unmanaged(kind, c)),
        }
        Ok(engine::Progress::Done)
    }
}

fn unmanaged(kind: &str, c: &Change) -> Error {
    Error::Bug(format!(
        "the AWS provider does not manage {kind} (resource {})",
        c.name
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::kinds::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn change(props: Value) -> Change {
        Change {
            action: Action::Create,
            kind: KIND_LISTENER.into(),
            name: "lb:80".into(),
            id: None,
            properties: props.as_object().cloned().unwrap_or_default(),
            changed: vec![],
            current: None,
            shared: false,
        }
    }

    #[test]
    fn refs_resolve_or_fail_clearly() {
        let c = change(json!({}));
        let mut ids = BTreeMap::new();
        ids.insert("lb".to_string(), "arn:lb".to_string());
        let mut v = json!({"LoadBalancerArn": {"Ref": "lb"}, "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "tg"}}]});
        let err = resolve(&c, &mut v, &ids).unwrap_err();
        assert!(err.to_string().contains("\"tg\""), "{err}");
        ids.insert("tg".to_string(), "arn:tg".to_string());
        let mut v = json!({"LoadBalancerArn": {"Ref": "lb"}, "DefaultActions": [{"Type": "forward", "TargetGroupArn": {"Ref": "tg"}}]});
        resolve(&c, &mut v, &ids).unwrap();
        assert_eq!(
            v,
            json!({"LoadBalancerArn": "arn:lb", "DefaultActions": [{"Type": "forward", "TargetGroupArn": "arn:tg"}]})
        );
    }

    #[test]
    fn deltas() {
        let d = json!({"Targets": [{"Id": "i-1", "Port": 80}, {"Id": "i-2", "Port": 80}]});
        let c = json!({"Targets": [{"Id": "i-2", "Port": 80}, {"Id": "i-3", "Port": 80}]});
        let (add, remove) = target_delta(&targets(d.as_object()), &targets(c.as_object()));
        assert_eq!(add, vec![("i-1".to_string(), 80)]);
        assert_eq!(remove, vec![("i-3".to_string(), 80)]);

        let d = json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]});
        let c = json!({"Tags": [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "3"}, {"Key": "x", "Value": "y"}]});
        assert_eq!(
            pairs_to_set(&pairs(d.as_object(), "Tags"), &pairs(c.as_object(), "Tags")),
            vec![("b".to_string(), "2".to_string())]
        );
    }

    /// Apply refuses, before any call, to update or delete an ID that observe did not vouch for.
    #[tokio::test]
    async fn never_touches_an_id_observe_did_not_find() {
        use crate::metrics::CallCounter;
        use std::sync::Arc;
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url("http://127.0.0.1:9")
            .build();
        let calls = Arc::new(CallCounter::default());
        let p = AwsProvider::new(&config, "c1".into(), None, calls.clone());
        for action in [Action::Delete, Action::Update] {
            let mut c = change(json!({}));
            c.action = action;
            c.kind = KIND_LB.into();
            c.id = Some("arn:theirs".into());
            c.changed = vec!["Tags".into()];
            let plan = Plan { changes: vec![c] };
            let err = p.apply_plan(&plan, &Observed::default()).await.unwrap_err();
            assert!(
                matches!(&err, Error::Conflict { id, .. } if id == "arn:theirs"),
                "{err}"
            );
        }
        assert_eq!(calls.total(), 0);
    }
}
