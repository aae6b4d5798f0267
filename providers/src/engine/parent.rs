//! A shared parent resource (Azure's cluster load balancer, an Application Gateway, a GCP URL
//! map) whose children several owners edit: berth changes only the children it owns, in memory,
//! on the freshly read parent, and writes the parent once, guarded by its version token (Azure's
//! etag with `If-Match`, GCP's fingerprint). Everything else in the parent — other owners'
//! children, fields berth does not model — is written back exactly as it was read. A stale token
//! (HTTP 412) means someone wrote in between: read again, edit again, a bounded number of times.

use crate::error::{Error, Result};
use serde_json::Value;

/// A parent as read: its whole body (kept as JSON, so unknown fields survive) and its version.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned {
    pub body: Value,
    pub version: String,
}

/// What a conditional write did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    /// Written; the parent's new version.
    Ok(String),
    /// The version did not match (someone else wrote first).
    Stale,
}

#[async_trait::async_trait]
pub trait ParentStore: Send + Sync {
    async fn read(&self, id: &str) -> Result<Versioned>;
    async fn write(&self, id: &str, body: &Value, if_match: &str) -> Result<Written>;
}

/// One child to put (`child: Some`) or remove (`None`), by its `name`, in the array at the JSON
/// pointer `collection` (e.g. `/properties/loadBalancingRules`).
#[derive(Clone, Debug, PartialEq)]
pub struct Edit {
    pub collection: String,
    pub name: String,
    pub child: Option<Value>,
}

/// Applies `edits` to `body`. `owned(collection, child)` says whether an existing child is
/// berth's (a name prefix, a tag, the parent's bookkeeping): only those are replaced or
/// removed; putting a child whose name an unowned one has is a conflict; removing an unowned
/// one leaves it. Returns whether anything changed.
pub fn edit(
    body: &mut Value,
    edits: &[Edit],
    owned: &dyn Fn(&str, &Value) -> bool,
) -> Result<bool> {
    let before = body.clone();
    for e in edits {
        let Some(list) = body.pointer_mut(&e.collection) else {
            if e.child.is_none() {
                continue;
            }
            return Err(Error::Bug(format!(
                "the parent has no {} to put {:?} in",
                e.collection, e.name
            )));
        };
        if list.is_null() {
            *list = Value::Array(Vec::new());
        }
        let Some(items) = list.as_array_mut() else {
            return Err(Error::Bug(format!("{} is not a list", e.collection)));
        };
        let at = items
            .iter()
            .position(|c| c.get("name").and_then(Value::as_str) == Some(e.name.as_str()));
        match (at, &e.child) {
            (Some(i), Some(child)) => {
                if !owned(&e.collection, &items[i]) {
                    return Err(Error::Conflict {
                        kind: e.collection.clone(),
                        name: e.name.clone(),
                        id: "(a child of the shared parent)".into(),
                    });
                }
                items[i] = child.clone();
            }
            (None, Some(child)) => items.push(child.clone()),
            (Some(i), None) if owned(&e.collection, &items[i]) => {
                items.remove(i);
            }
            _ => {}
        }
    }
    Ok(*body != before)
}

/// Read (unless `start` holds what observe read), edit, write with the version; on a stale
/// version read again and retry, at most `attempts` writes. Returns the new version, or the
/// current one when the edits changed nothing (no write).
pub async fn read_modify_write(
    store: &dyn ParentStore,
    id: &str,
    start: Option<Versioned>,
    edits: &[Edit],
    owned: &dyn Fn(&str, &Value) -> bool,
    attempts: usize,
) -> Result<String> {
    let mut current = match start {
        Some(v) => v,
        None => store.read(id).await?,
    };
    for _ in 0..attempts {
        let mut body = current.body.clone();
        if !edit(&mut body, edits, owned)? {
            return Ok(current.version);
        }
        match store.write(id, &body, &current.version).await? {
            Written::Ok(v) => return Ok(v),
            Written::Stale => current = store.read(id).await?,
        }
    }
    Err(Error::StaleVersion {
        resource: id.to_string(),
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Mutex;

    /// An in-memory parent with an etag; `interfere` writes of someone else land just before
    /// berth's next write (so berth's version is stale), one per write.
    struct Store {
        parent: Mutex<Versioned>,
        interfere: Mutex<Vec<Value>>,
        writes: Mutex<u32>,
    }

    #[async_trait::async_trait]
    impl ParentStore for Store {
        async fn read(&self, _: &str) -> Result<Versioned> {
            Ok(self.parent.lock().unwrap().clone())
        }
        async fn write(&self, _: &str, body: &Value, if_match: &str) -> Result<Written> {
            *self.writes.lock().unwrap() += 1;
            let mut p = self.parent.lock().unwrap();
            if let Some(theirs) = self.interfere.lock().unwrap().pop() {
                p.body["properties"]["rules"]
                    .as_array_mut()
                    .unwrap()
                    .push(theirs);
                p.version = format!("{}+", p.version);
            }
            if p.version != if_match {
                return Ok(Written::Stale);
            }
            p.body = body.clone();
            p.version = format!("{}+", p.version);
            Ok(Written::Ok(p.version.clone()))
        }
    }

    fn owned(_: &str, c: &Value) -> bool {
        c["name"].as_str().is_some_and(|n| n.starts_with("berth-"))
    }

    fn store(interfere: Vec<Value>) -> Store {
        Store {
            parent: Mutex::new(Versioned {
                body: json!({
                    "name": "cluster-lb",
                    "properties": {
                        "rules": [
                            {"name": "theirs", "x": {"deep": [1, 2, {"k": "v"}]}},
                            {"name": "berth-a", "port": 80}
                        ],
                        "somethingBerthDoesNotModel": {"keep": ["me", 1, null]}
                    },
                    "tags": {"owner": "platform"}
                }),
                version: "e1".into(),
            }),
            interfere: Mutex::new(interfere),
            writes: Mutex::new(0),
        }
    }

    fn edits() -> Vec<Edit> {
        let e = |name: &str, child: Option<Value>| Edit {
            collection: "/properties/rules".into(),
            name: name.into(),
            child,
        };
        vec![
            e("berth-b", Some(json!({"name": "berth-b", "port": 443}))),
            e("berth-a", None),
            e("theirs", None), // not ours: stays
        ]
    }

    #[tokio::test]
    async fn only_owned_children_change_and_a_stale_version_rereads_and_retries() {
        let s = store(vec![json!({"name": "theirs-2", "added": "meanwhile"})]);
        let v = read_modify_write(&s, "lb", None, &edits(), &owned, 3)
            .await
            .unwrap();
        assert_eq!(*s.writes.lock().unwrap(), 2, "one stale write, one good");
        let p = s.parent.lock().unwrap().clone();
        assert_eq!(v, p.version);
        assert_eq!(
            p.body,
            json!({
                "name": "cluster-lb",
                "properties": {
                    "rules": [
                        {"name": "theirs", "x": {"deep": [1, 2, {"k": "v"}]}},
                        {"name": "theirs-2", "added": "meanwhile"},
                        {"name": "berth-b", "port": 443}
                    ],
                    "somethingBerthDoesNotModel": {"keep": ["me", 1, null]}
                },
                "tags": {"owner": "platform"}
            }),
            "every unowned part as it was, the concurrent write kept"
        );
        assert_eq!(
            serde_json::to_string(&p.body["properties"]["somethingBerthDoesNotModel"]).unwrap(),
            r#"{"keep":["me",1,null]}"#,
            "byte for byte"
        );
    }

    #[tokio::test]
    async fn bounded_retries_no_write_without_a_change_and_no_takeover_by_name() {
        let always = (0..5).map(|i| json!({"name": format!("x{i}")})).collect();
        let e = read_modify_write(&store(always), "lb", None, &edits(), &owned, 3)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("stale"), "{e}");

        let s = store(vec![]);
        let nothing = [Edit {
            collection: "/properties/rules".into(),
            name: "berth-a".into(),
            child: Some(json!({"name": "berth-a", "port": 80})),
        }];
        let v = read_modify_write(&s, "lb", None, &nothing, &owned, 3)
            .await
            .unwrap();
        assert_eq!((v.as_str(), *s.writes.lock().unwrap()), ("e1", 0));

        let takeover = [Edit {
            collection: "/properties/rules".into(),
            name: "theirs".into(),
            child: Some(json!({"name": "theirs", "port": 1})),
        }];
        let e = read_modify_write(&s, "lb", None, &takeover, &owned, 3)
            .await
            .unwrap_err();
        assert_eq!(e.reason(), "NameConflict");
    }
}
