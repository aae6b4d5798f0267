//! Which group an Ingress is in: the grouping rule of the cloud's profile, the group key
//! (explicit or implicit), its finalizer, and which Services a member names.

use super::*;
use providers::profile::{Grouping, IngressProfile};

/// An IngressGroup: explicit (a group name, cluster-wide) or implicit (one Ingress).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupKey {
    Explicit(String),
    Implicit { namespace: String, name: String },
}

impl GroupKey {
    /// The finalizer a live member carries (the incumbent controller's, on AWS).
    pub fn finalizer(&self, p: &IngressProfile) -> String {
        match (self, p.grouping) {
            (
                GroupKey::Explicit(g),
                Grouping::Annotation {
                    finalizer_prefix, ..
                },
            ) => format!("{finalizer_prefix}{g}"),
            _ => p.finalizer.into(),
        }
    }

    /// The owner of the group's cloud resources (providers' `IngressGroup::object`).
    pub fn owner(&self) -> FeRef {
        let (namespace, name) = match self {
            GroupKey::Explicit(g) => (String::new(), g.clone()),
            GroupKey::Implicit { namespace, name } => (namespace.clone(), name.clone()),
        };
        FeRef {
            kind: FrontendKind::IngressGroup,
            namespace,
            name,
        }
    }

    /// The key in the controller's queue: an explicit group has no namespace.
    pub fn to_ref(&self) -> ObjectRef<IngressGroupRef> {
        match self {
            GroupKey::Explicit(g) => ObjectRef::new(g),
            GroupKey::Implicit { namespace, name } => ObjectRef::new(name).within(namespace),
        }
    }

    pub fn of(group: &IngressGroupRef) -> GroupKey {
        let name = group.metadata.name.clone().unwrap_or_default();
        match &group.metadata.namespace {
            Some(ns) => GroupKey::Implicit {
                namespace: ns.clone(),
                name,
            },
            None => GroupKey::Explicit(name),
        }
    }

    /// The groups whose finalizers an Ingress carries.
    pub fn from_finalizers(ing: &Ingress, p: &IngressProfile) -> Vec<GroupKey> {
        let prefix = match p.grouping {
            Grouping::Annotation {
                finalizer_prefix, ..
            } => Some(finalizer_prefix),
            Grouping::PerIngress => None,
        };
        ing.finalizers()
            .iter()
            .filter_map(|f| {
                if f == p.finalizer {
                    Some(GroupKey::Implicit {
                        namespace: namespace(ing),
                        name: ing.name_any(),
                    })
                } else {
                    prefix
                        .and_then(|pre| f.strip_prefix(pre))
                        .map(|g| GroupKey::Explicit(g.to_string()))
                }
            })
            .collect()
    }

    fn from_owner(o: FeRef) -> GroupKey {
        if o.namespace.is_empty() {
            GroupKey::Explicit(o.name)
        } else {
            GroupKey::Implicit {
                namespace: o.namespace,
                name: o.name,
            }
        }
    }
}

impl std::fmt::Display for GroupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GroupKey::Explicit(g) => write!(f, "{g}"),
            GroupKey::Implicit { namespace, name } => write!(f, "{namespace}/{name}"),
        }
    }
}

pub(super) fn namespace(ing: &Ingress) -> String {
    ing.metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into())
}

/// `namespace/name` of an Ingress.
pub fn key(ing: &Ingress) -> String {
    format!("{}/{}", namespace(ing), ing.name_any())
}

/// The providers' reference to an Ingress (what `GroupDesired::rejected` names).
pub fn member_ref(ing: &Ingress) -> FeRef {
    FeRef {
        kind: FrontendKind::Ingress,
        namespace: namespace(ing),
        name: ing.name_any(),
    }
}

/// The group an Ingress asks to be in, and whether its group name is usable. An invalid
/// group name puts the Ingress in its own implicit group, rejected there with the reason.
pub fn group_of(ing: &Ingress, p: &IngressProfile) -> (GroupKey, Option<providers::Error>) {
    let (owner, err) = crate::gather::ingress::group_of(ing, &p.grouping);
    (GroupKey::from_owner(owner), err)
}

/// The group a selected, not-deleting Ingress is a live member of.
pub fn wanted_group(
    ing: &Ingress,
    sel: &IngressSelection,
    classes: &[IngressClass],
) -> Option<(GroupKey, Option<providers::Error>)> {
    (ing.metadata.deletion_timestamp.is_none() && sel.selects(ing, classes))
        .then(|| group_of(ing, sel.profile))
}

/// Every group an Ingress is involved in: the one it wants, and those whose finalizer it holds.
pub fn groups_of(
    ing: &Ingress,
    sel: &IngressSelection,
    classes: &[IngressClass],
) -> BTreeSet<GroupKey> {
    let mut out: BTreeSet<GroupKey> = GroupKey::from_finalizers(ing, sel.profile)
        .into_iter()
        .collect();
    if let Some((g, _)) = wanted_group(ing, sel, classes) {
        out.insert(g);
    }
    out
}

/// Whether an Ingress names the Service `name` (same namespace): in a backend or in an
/// annotation of the profile's backend prefix (ALB `actions.*`: weighted forwards name Services).
pub fn references_service(ing: &Ingress, p: &IngressProfile, ns: &str, name: &str) -> bool {
    if namespace(ing) != ns {
        return false;
    }
    let spec = ing.spec.as_ref();
    let backend_is = |b: &k8s_openapi::api::networking::v1::IngressBackend| {
        b.service.as_ref().is_some_and(|s| s.name == name)
    };
    let in_spec = spec.is_some_and(|s| {
        s.default_backend.as_ref().is_some_and(backend_is)
            || s.rules.iter().flatten().any(|r| {
                r.http
                    .as_ref()
                    .is_some_and(|h| h.paths.iter().any(|p| backend_is(&p.backend)))
            })
    });
    let quoted = format!("\"{name}\"");
    in_spec
        || ing.annotations().iter().any(|(k, v)| {
            p.backend_annotation_prefix
                .is_some_and(|pre| k.starts_with(pre))
                && v.contains(&quoted)
        })
}
