//! The group as a synthetic Kubernetes-like resource, and the index of groups derived from the
//! Ingress cache, so that kube-runtime queues and dedupes per group.

use super::*;

/// A group as a (never stored) Kubernetes-like object, so that the kube-runtime Controller can
/// queue, dedupe and serialize reconciliations per group. Name = group name (explicit, no
/// namespace) or the Ingress's name (implicit, in its namespace).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct IngressGroupRef {
    pub metadata: ObjectMeta,
}

impl k8s_openapi::Resource for IngressGroupRef {
    const API_VERSION: &'static str = "berth.dev/v1";
    const GROUP: &'static str = "berth.dev";
    const KIND: &'static str = "IngressGroup";
    const VERSION: &'static str = "v1";
    const URL_PATH_SEGMENT: &'static str = "ingressgroups";
    type Scope = k8s_openapi::NamespaceResourceScope;
}

impl k8s_openapi::Metadata for IngressGroupRef {
    type Ty = ObjectMeta;
    fn metadata(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn metadata_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

impl IngressGroupRef {
    pub fn new(key: &GroupKey) -> Self {
        let metadata = match key {
            GroupKey::Explicit(g) => ObjectMeta {
                name: Some(g.clone()),
                ..Default::default()
            },
            GroupKey::Implicit { namespace, name } => ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(namespace.clone()),
                ..Default::default()
            },
        };
        IngressGroupRef { metadata }
    }
}

/// Keeps the groups' cache in step with the Ingress cache, and says which groups an Ingress
/// event affects (only when something relevant changed).
pub struct GroupIndex {
    writer: reflector::store::Writer<IngressGroupRef>,
    /// Ingress `namespace/name` -> (relevance hash, groups it was involved in).
    seen: HashMap<String, (u64, BTreeSet<GroupKey>)>,
    /// Buffer of a (re)list.
    init: HashMap<String, (u64, BTreeSet<GroupKey>)>,
    /// Every group with at least one Ingress involved, and how many.
    groups: BTreeMap<GroupKey, usize>,
    ready: bool,
}

/// A hash of what a reconcile depends on in an Ingress: everything but its status, berth's
/// status annotation and the bookkeeping metadata (finalizers are berth's own writes; the
/// groups they name are tracked separately).
pub fn relevant(ing: &Ingress) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    ing.metadata.uid.hash(&mut h);
    let mut ann = ing.annotations().clone();
    ann.remove(STATUS_ANNOTATION);
    ann.hash(&mut h);
    ing.metadata.labels.hash(&mut h);
    ing.metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| t.0.to_string())
        .hash(&mut h);
    serde_json::to_string(&ing.spec)
        .unwrap_or_default()
        .hash(&mut h);
    h.finish()
}

impl GroupIndex {
    pub fn new(writer: reflector::store::Writer<IngressGroupRef>) -> Self {
        GroupIndex {
            writer,
            seen: HashMap::new(),
            init: HashMap::new(),
            groups: BTreeMap::new(),
            ready: false,
        }
    }

    fn rebuild(&mut self) {
        let mut groups = BTreeMap::new();
        for (_, gs) in self.seen.values() {
            for g in gs {
                *groups.entry(g.clone()).or_insert(0) += 1;
            }
        }
        self.writer.apply_watcher_event(&watcher::Event::Init);
        for g in groups.keys() {
            self.writer
                .apply_watcher_event(&watcher::Event::InitApply(IngressGroupRef::new(g)));
        }
        self.writer.apply_watcher_event(&watcher::Event::InitDone);
        self.groups = groups;
        self.ready = true;
    }

    /// Replaces what is known of one Ingress; keeps the group counts and the groups' cache in
    /// step (groups are added before old ones are dropped, so a group never blinks out).
    fn replace(
        &mut self,
        k: String,
        entry: Option<(u64, BTreeSet<GroupKey>)>,
    ) -> Option<(u64, BTreeSet<GroupKey>)> {
        if let Some((_, gs)) = &entry {
            for g in gs {
                let n = self.groups.entry(g.clone()).or_insert(0);
                if *n == 0 {
                    self.writer
                        .apply_watcher_event(&watcher::Event::Apply(IngressGroupRef::new(g)));
                }
                *n += 1;
            }
        }
        let old = match entry {
            Some(e) => self.seen.insert(k, e),
            None => self.seen.remove(&k),
        };
        for g in old.iter().flat_map(|o| o.1.iter()) {
            if let Some(n) = self.groups.get_mut(g) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.groups.remove(g);
                    self.writer
                        .apply_watcher_event(&watcher::Event::Delete(IngressGroupRef::new(g)));
                }
            }
        }
        old
    }

    /// Handles one Ingress event (after the Ingress cache has applied it); returns the groups
    /// to reconcile.
    pub fn on_event(
        &mut self,
        ev: &watcher::Event<Ingress>,
        sel: &IngressSelection,
        classes: &[IngressClass],
    ) -> Vec<GroupKey> {
        match ev {
            watcher::Event::Apply(ing) => {
                let k = key(ing);
                let gs = groups_of(ing, sel, classes);
                let h = relevant(ing);
                if self.seen.get(&k) == Some(&(h, gs.clone())) {
                    return Vec::new();
                }
                let before = self.replace(k, Some((h, gs.clone())));
                let mut out: BTreeSet<GroupKey> = gs;
                if let Some((old_h, old)) = before {
                    // Groups it left are re-planned without it; an unchanged spec in an
                    // unchanged group (only finalizers moved) triggers nothing.
                    if old_h == h {
                        out = out.symmetric_difference(&old).cloned().collect();
                    } else {
                        out.extend(old);
                    }
                }
                out.into_iter().collect()
            }
            watcher::Event::Delete(ing) => self
                .replace(key(ing), None)
                .map(|o| o.1.into_iter().collect())
                .unwrap_or_default(),
            watcher::Event::Init => {
                self.init.clear();
                Vec::new()
            }
            watcher::Event::InitApply(ing) => {
                self.init
                    .insert(key(ing), (relevant(ing), groups_of(ing, sel, classes)));
                Vec::new()
            }
            watcher::Event::InitDone => {
                let first = !self.ready;
                let old = std::mem::replace(&mut self.seen, std::mem::take(&mut self.init));
                let mut out = BTreeSet::new();
                for (k, v) in &self.seen {
                    if first || old.get(k) != Some(v) {
                        out.extend(v.1.iter().cloned());
                    }
                }
                for (k, v) in &old {
                    if !self.seen.contains_key(k) {
                        out.extend(v.1.iter().cloned());
                    }
                }
                self.rebuild();
                out.into_iter().collect()
            }
        }
    }

    /// Re-evaluates every Ingress (after an IngressClass change: selection may differ).
    pub fn reselect(
        &mut self,
        ingresses: &[Arc<Ingress>],
        sel: &IngressSelection,
        classes: &[IngressClass],
    ) {
        if !self.ready {
            return;
        }
        self.seen = ingresses
            .iter()
            .map(|i| (key(i), (relevant(i), groups_of(i, sel, classes))))
            .collect();
        self.rebuild();
    }
}
