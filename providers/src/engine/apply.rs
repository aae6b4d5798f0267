//! Executes a plan through a cloud's [`Executor`]. What is the same on every cloud lives here,
//! once: the ownership gate (nothing is updated or deleted that observe did not vouch for as
//! ours), `Ref` resolution against what exists and what this run created, the deleted set, and
//! work the cloud is still doing (pending, so the controller requeues instead of waiting).

use crate::error::{Error, Result};
use crate::plan::{Action, Change, Observed, Plan};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// What a create returned: the new resource's ID and its read-only outputs (`DNSName`, an IP).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Created {
    pub id: String,
    pub outputs: Map<String, Value>,
}

impl Created {
    pub fn id(id: impl Into<String>) -> Self {
        Created {
            id: id.into(),
            outputs: Map::new(),
        }
    }
}

/// Whether a change is finished, or the cloud is still working on it (a long-running
/// operation past its wait): then the controller requeues and the next reconcile observes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    Done,
    Pending(String),
}

/// One cloud's create / update / delete per kind. `properties` have every `Ref` resolved.
#[async_trait::async_trait]
pub trait Executor: Send + Sync {
    async fn create(&self, change: &Change, properties: &Map<String, Value>) -> Result<Created>;
    async fn update(
        &self,
        change: &Change,
        id: &str,
        properties: &Map<String, Value>,
    ) -> Result<Progress>;
    async fn delete(&self, change: &Change, id: &str) -> Result<Progress>;
}

/// What an apply did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Applied {
    /// name -> ID of every resource that exists now (observed or created).
    pub ids: BTreeMap<String, String>,
    /// Outputs of what this run created, by name.
    pub created: BTreeMap<String, Map<String, Value>>,
    /// IDs deleted by this run.
    pub deleted: BTreeSet<String>,
    /// Changes the cloud is still working on: `kind name: why`.
    pub pending: Vec<String>,
}

impl Applied {
    /// An output of the first resource of `kind` that exists after the apply: one created now,
    /// else an observed one that was not deleted.
    pub fn output(
        &self,
        observed: &Observed,
        kind: &str,
        key: &str,
        plan: &Plan,
    ) -> Option<String> {
        let created = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Create && c.kind == kind)
            .find_map(|c| self.created.get(&c.name)?.get(key)?.as_str());
        created
            .or_else(|| {
                observed
                    .of_kind(kind)
                    .filter(|o| !self.deleted.contains(&o.id))
                    .find_map(|o| o.outputs.get(key)?.as_str())
            })
            .map(String::from)
    }
}

/// The one safety rule: an update or delete acts only on an ID observe found carrying our
/// ownership marks; checked for the whole plan before the first call.
pub fn gate(plan: &Plan, observed: &Observed) -> Result<()> {
    let owned: BTreeSet<&str> = observed.resources.iter().map(|o| o.id.as_str()).collect();
    for c in plan.changes.iter().filter(|c| c.action != Action::Create) {
        let id = c.id.as_deref().unwrap_or_default();
        if !owned.contains(id) {
            return Err(Error::Conflict {
                kind: c.kind.clone(),
                name: c.name.clone(),
                id: id.to_string(),
            });
        }
    }
    Ok(())
}

/// Replaces every `{"Ref": name}` by the ID of `name`; a reference to something that neither
/// exists nor was created earlier in the plan is an error.
pub fn resolve(c: &Change, v: &mut Value, ids: &BTreeMap<String, String>) -> Result<()> {
    match v {
        Value::Object(m) => {
            if let (1, Some(Value::String(name))) = (m.len(), m.get("Ref")) {
                let id = ids.get(name).ok_or_else(|| {
                    Error::Bug(format!(
                        "{} {} refers to {name:?}, which neither exists nor is created earlier in the plan",
                        c.kind, c.name
                    ))
                })?;
                *v = Value::String(id.clone());
                return Ok(());
            }
            m.values_mut().try_for_each(|x| resolve(c, x, ids))
        }
        Value::Array(a) => a.iter_mut().try_for_each(|x| resolve(c, x, ids)),
        _ => Ok(()),
    }
}

/// Runs the plan's changes in order (the plan already has creates forward through the kinds'
/// order and deletes backward). `done` holds IDs a cloud-specific pre-pass already deleted
/// (they count as deleted and are not called again). Stops at the first error: the next
/// reconcile observes what exists and plans the rest.
pub async fn apply(
    plan: &Plan,
    observed: &Observed,
    exec: &dyn Executor,
    done: BTreeSet<String>,
) -> Result<Applied> {
    gate(plan, observed)?;
    let mut out = Applied {
        ids: observed
            .resources
            .iter()
            .map(|o| (o.resource.name.clone(), o.id.clone()))
            .collect(),
        deleted: done,
        ..Default::default()
    };
    for c in &plan.changes {
        let id = c.id.clone().unwrap_or_default();
        if c.action == Action::Delete && out.deleted.contains(&id) {
            continue;
        }
        let mut v = Value::Object(c.properties.clone());
        if c.action != Action::Delete {
            resolve(c, &mut v, &out.ids)?;
        }
        let Value::Object(p) = v else {
            unreachable!("an object stays an object")
        };
        let progress = match c.action {
            Action::Create => {
                let created = exec.create(c, &p).await?;
                out.ids.insert(c.name.clone(), created.id);
                out.created.insert(c.name.clone(), created.outputs);
                Progress::Done
            }
            Action::Update => exec.update(c, &id, &p).await?,
            Action::Delete => {
                let p = exec.delete(c, &id).await?;
                if p == Progress::Done {
                    out.deleted.insert(id);
                }
                p
            }
        };
        if let Progress::Pending(why) = progress {
            out.pending.push(format!("{} {}: {why}", c.kind, c.name));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diff::diff;
    use crate::engine::kind::{KindSpec, Kinds};
    use crate::plan::{ObservedResource, Resource};
    use serde_json::json;
    use std::sync::Mutex;

    /// A fake cloud: resources by ID, a log of calls, and deletes of kind "Slow" that stay
    /// pending.
    #[derive(Default)]
    struct Fake {
        next: Mutex<u32>,
        log: Mutex<Vec<String>>,
    }

    #[async_trait::async_trait]
    impl Executor for Fake {
        async fn create(&self, c: &Change, p: &Map<String, Value>) -> Result<Created> {
            let mut n = self.next.lock().unwrap();
            *n += 1;
            self.log.lock().unwrap().push(format!(
                "create {} {}",
                c.name,
                Value::Object(p.clone())
            ));
            let mut outputs = Map::new();
            outputs.insert("Address".into(), json!(format!("addr-{}", c.name)));
            Ok(Created {
                id: format!("id-{n}"),
                outputs,
            })
        }
        async fn update(&self, c: &Change, id: &str, _: &Map<String, Value>) -> Result<Progress> {
            self.log
                .lock()
                .unwrap()
                .push(format!("update {} {id}", c.name));
            Ok(Progress::Done)
        }
        async fn delete(&self, c: &Change, id: &str) -> Result<Progress> {
            self.log
                .lock()
                .unwrap()
                .push(format!("delete {} {id}", c.name));
            Ok(if c.kind == "Slow" {
                Progress::Pending("operation op-1 still running".into())
            } else {
                Progress::Done
            })
        }
    }

    fn kinds() -> Kinds {
        Kinds::new(vec![
            KindSpec::new("Lb"),
            KindSpec::new("Listener").parent("Lb"),
            KindSpec::new("Slow"),
        ])
    }

    fn res(kind: &str, name: &str, props: Value) -> Resource {
        Resource {
            kind: kind.into(),
            name: name.into(),
            properties: props.as_object().cloned().unwrap(),
        }
    }

    #[tokio::test]
    async fn creates_resolve_refs_to_ids_created_earlier_in_the_same_run() {
        let desired = [
            res("Listener", "l", json!({"Lb": {"Ref": "lb"}})),
            res("Lb", "lb", json!({"Size": 1})),
        ];
        let plan = diff(&desired, &Observed::default(), &kinds()).unwrap();
        let fake = Fake::default();
        let out = apply(&plan, &Observed::default(), &fake, BTreeSet::new())
            .await
            .unwrap();
        let log = fake.log.lock().unwrap().clone();
        assert_eq!(log[0], "create lb {\"Size\":1}", "the parent first");
        assert_eq!(
            log[1], "create l {\"Lb\":\"id-1\"}",
            "the Ref became the new ID"
        );
        assert_eq!(out.ids["l"], "id-2");
        assert_eq!(
            out.output(&Observed::default(), "Lb", "Address", &plan)
                .as_deref(),
            Some("addr-lb")
        );
    }

    #[tokio::test]
    async fn nothing_is_touched_unless_observe_vouched_for_it() {
        let plan = Plan {
            changes: vec![Change {
                action: Action::Delete,
                kind: "Lb".into(),
                name: "theirs".into(),
                id: Some("id-theirs".into()),
                properties: Map::new(),
                changed: vec![],
                current: None,
                shared: false,
            }],
        };
        let fake = Fake::default();
        let e = apply(&plan, &Observed::default(), &fake, BTreeSet::new())
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "NameConflict");
        assert!(fake.log.lock().unwrap().is_empty(), "no call at all");
    }

    #[tokio::test]
    async fn deletes_run_backward_and_pending_work_is_reported_not_waited_for() {
        let o = Observed {
            resources: [
                ("Lb", "lb", "id-lb"),
                ("Listener", "l", "id-l"),
                ("Slow", "s", "id-s"),
            ]
            .iter()
            .map(|(k, n, id)| ObservedResource {
                id: id.to_string(),
                resource: res(k, n, json!({})),
                outputs: Map::new(),
            })
            .collect(),
            ..Default::default()
        };
        let plan = diff(&[], &o, &kinds()).unwrap();
        let fake = Fake::default();
        let out = apply(&plan, &o, &fake, ["id-l".to_string()].into())
            .await
            .unwrap();
        assert_eq!(
            *fake.log.lock().unwrap(),
            ["delete s id-s", "delete lb id-lb"],
            "backward, and the listener a pre-pass deleted is not deleted again"
        );
        assert_eq!(out.pending, ["Slow s: operation op-1 still running"]);
        assert!(!out.deleted.contains("id-s") && out.deleted.contains("id-lb"));
    }
}
