//! What berth writes on a member Ingress: `status.loadBalancer` and the condition annotation.

use super::*;

pub(super) async fn event(
    ctx: &IngressContext,
    ing: &Ingress,
    t: EventType,
    reason: &str,
    note: String,
) {
    report::event(&ctx.base.recorder, ing, t, reason, "Reconcile", note).await;
}

pub(super) fn api(ctx: &IngressContext, ing: &Ingress) -> Api<Ingress> {
    Api::namespaced(ctx.base.client.clone(), &namespace(ing))
}

pub(super) fn kube_err(ing: &Ingress, e: kube::Error) -> Error {
    Error::Kube {
        object: format!("Ingress {}", key(ing)),
        source: e,
    }
}

/// Adds or removes one finalizer; `resourceVersion` makes it conditional (409 on a concurrent
/// change, retried at once by the error policy).
pub(super) async fn set_finalizer(
    ctx: &IngressContext,
    ing: &Ingress,
    f: &str,
    on: bool,
) -> Result<()> {
    let mut list: Vec<String> = ing
        .finalizers()
        .iter()
        .filter(|x| *x != f)
        .cloned()
        .collect();
    if on {
        list.push(f.to_string());
    }
    let patch =
        json!({"metadata": {"finalizers": list, "resourceVersion": ing.metadata.resource_version}});
    api(ctx, ing)
        .patch(
            &ing.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await
        .map_err(|e| kube_err(ing, e))?;
    Ok(())
}

/// What berth wants `status.loadBalancer.ingress` of a member to be.
#[derive(Clone, Debug, PartialEq)]
pub enum LbStatus {
    Keep,
    Set(Address),
    Clear,
}

/// The merge patch of the status subresource, or `None` when the status already is right.
pub fn status_patch(ing: &Ingress, want: &LbStatus) -> Option<Value> {
    let current = ing
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.clone())
        .unwrap_or_default();
    match want {
        LbStatus::Keep => None,
        LbStatus::Set(a) => {
            let entry = match a {
                Address::Hostname(h) => json!({"hostname": h.to_ascii_lowercase()}),
                Address::Ip(ip) => json!({"ip": ip}),
            };
            let same = current.len() == 1
                && serde_json::to_value(&current[0]).ok().as_ref() == Some(&entry);
            (!same).then(|| json!({"status": {"loadBalancer": {"ingress": [entry]}}}))
        }
        LbStatus::Clear => {
            (!current.is_empty()).then(|| json!({"status": {"loadBalancer": {"ingress": null}}}))
        }
    }
}

/// Sends a merge patch (of the status subresource, or of the object), if there is one;
/// returns whether it did.
async fn merge(
    ctx: &IngressContext,
    ing: &Ingress,
    patch: Option<Value>,
    status: bool,
) -> Result<bool> {
    let Some(patch) = patch else {
        return Ok(false);
    };
    let (api, name, pp) = (api(ctx, ing), ing.name_any(), PatchParams::default());
    let sent = if status {
        api.patch_status(&name, &pp, &Patch::Merge(&patch)).await
    } else {
        api.patch(&name, &pp, &Patch::Merge(&patch)).await
    };
    sent.map_err(|e| kube_err(ing, e))?;
    Ok(true)
}

/// The merge patch that sets the provider's annotations (GKE's `ingress.kubernetes.io/url-map`,
/// ...) where they differ, or `None`.
pub fn annotations_patch(
    ing: &Ingress,
    want: &std::collections::BTreeMap<String, String>,
) -> Option<Value> {
    let have = ing.metadata.annotations.clone().unwrap_or_default();
    let diff: serde_json::Map<String, Value> = want
        .iter()
        .filter(|(k, v)| have.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    (!diff.is_empty()).then(|| json!({"metadata": {"annotations": diff}}))
}

pub(super) async fn update_annotations(
    ctx: &IngressContext,
    ing: &Ingress,
    want: &std::collections::BTreeMap<String, String>,
) -> Result<bool> {
    merge(ctx, ing, annotations_patch(ing, want), false).await
}

pub(super) async fn update_status(
    ctx: &IngressContext,
    ing: &Ingress,
    want: &LbStatus,
) -> Result<bool> {
    merge(ctx, ing, status_patch(ing, want), true).await
}

/// berth's condition on an Ingress, kept in [`STATUS_ANNOTATION`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

impl Condition {
    pub fn new(ing: &Ingress, ready: bool, reason: &str, message: &str) -> Self {
        Condition {
            type_: report::CONDITION_TYPE.into(),
            status: if ready { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
            observed_generation: ing.metadata.generation,
        }
    }

    /// The condition an Ingress carries now, if any.
    pub fn of(ing: &Ingress) -> Option<Condition> {
        serde_json::from_str(ing.annotations().get(STATUS_ANNOTATION)?).ok()
    }
}

/// The metadata merge patch that sets (or removes) berth's condition, or `None` if unchanged.
pub fn condition_patch(ing: &Ingress, want: Option<&Condition>) -> Option<Value> {
    let current = ing.annotations().get(STATUS_ANNOTATION);
    match want {
        Some(c) => {
            let v = serde_json::to_string(c).ok()?;
            (current != Some(&v))
                .then(|| json!({"metadata": {"annotations": {STATUS_ANNOTATION: v}}}))
        }
        None => current.map(|_| json!({"metadata": {"annotations": {STATUS_ANNOTATION: null}}})),
    }
}

pub(super) async fn update_condition(
    ctx: &IngressContext,
    ing: &Ingress,
    want: Option<&Condition>,
) -> Result<bool> {
    merge(ctx, ing, condition_patch(ing, want), false).await
}
