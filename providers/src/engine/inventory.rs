//! A per-cluster inventory of what berth owns in a cloud, so that observing one object reads its
//! IDs from memory instead of listing the region (which makes a resync of N objects cost N²
//! calls). The cloud fills it with one tag-filtered listing; this module holds what every cloud
//! needs around that listing:
//!
//! - a max age: the listing is repeated at most once per max age (the operator's resync period),
//!   or on demand (a deletion wants everything the owner has, from a listing made now);
//! - single flight: concurrent reconciles that find it stale wait for one listing instead of
//!   each making their own;
//! - berth's own writes: a create adds the ID, a delete removes it, at once; writes made while a
//!   listing runs are replayed onto its result (the listing may or may not have seen them);
//! - what berth made itself and a later listing does not show (tag indexes are eventually
//!   consistent) is kept: an extra ID costs one describe that finds it gone, a missing one
//!   would be a leak. IDs a describe finds gone are dropped with [`Inventory::remove`].
//!
//! The inventory only says where to look. Before changing anything, observe still reads the
//! resource and its ownership marks fresh from the cloud.

use crate::error::{Error, Result};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;
use tokio::time::Instant;

/// The operator's default resync period: one listing per resync round.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);

/// One ID's record: which owner's it is (a key the cloud chooses, e.g. the stack tag), and what
/// the cloud keeps about it (kind, tags).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<E> {
    pub owner: String,
    pub value: E,
    /// Known from berth's own write (or seen fresh by a describe), not yet from a listing.
    written: bool,
}

/// An ID and its new (owner, value), or `None`: removed.
type Write<E> = (String, Option<(String, E)>);

#[derive(Debug)]
struct State<E> {
    records: BTreeMap<String, Record<E>>,
    /// When the last successful listing started.
    filled: Option<Instant>,
    /// Writes made while a listing runs, replayed onto its result.
    journal: Option<Vec<Write<E>>>,
    /// Listings finished (successfully or not): a waiter that sees this move takes that
    /// listing's outcome instead of making its own.
    attempts: u64,
    last_failure: Option<(String, bool)>,
}

/// The records of one cloud's owned resources, by ID.
#[derive(Debug)]
pub struct Inventory<E> {
    max_age: Duration,
    state: Mutex<State<E>>,
    /// Held for the whole listing: one at a time, the others wait on it.
    listing: tokio::sync::Mutex<()>,
}

/// Clears the journal if a listing is dropped half way (its reconcile was cancelled), so
/// later writes are not journaled forever.
struct Listing<'a, E> {
    state: &'a Mutex<State<E>>,
    finished: bool,
}

impl<E> Drop for Listing<'_, E> {
    fn drop(&mut self) {
        if !self.finished {
            lock(self.state).journal = None;
        }
    }
}

fn lock<E>(m: &Mutex<State<E>>) -> MutexGuard<'_, State<E>> {
    // A panic elsewhere must not take observe down with it: the records stay consistent
    // (every change below is one insert or remove).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<E: Clone> Inventory<E> {
    pub fn new(max_age: Duration) -> Self {
        Inventory {
            max_age,
            state: Mutex::new(State {
                records: BTreeMap::new(),
                filled: None,
                journal: None,
                attempts: 0,
                last_failure: None,
            }),
            listing: tokio::sync::Mutex::new(()),
        }
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The records of `owner`, after a listing (`list`) if the last one is older than the max
    /// age or `fresh` asks for one made now. `list` returns `(id, owner, value)` for every
    /// owned resource of the cluster.
    pub async fn of_owner<F, Fut>(
        &self,
        owner: &str,
        fresh: bool,
        list: F,
    ) -> Result<Vec<(String, E)>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(String, String, E)>>>,
    {
        self.ensure(fresh, list).await?;
        let s = lock(&self.state);
        Ok(s.records
            .iter()
            .filter(|(_, r)| r.owner == owner)
            .map(|(id, r)| (id.clone(), r.value.clone()))
            .collect())
    }

    /// Lists unless the last listing is young enough (and `fresh` is not asked), one listing
    /// at a time: whoever waited for another's listing takes its outcome.
    async fn ensure<F, Fut>(&self, fresh: bool, list: F) -> Result<()>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Vec<(String, String, E)>>>,
    {
        let before = {
            let s = lock(&self.state);
            if !fresh && s.filled.is_some_and(|t| t.elapsed() < self.max_age) {
                return Ok(());
            }
            s.attempts
        };
        let _one_at_a_time = self.listing.lock().await;
        {
            let mut s = lock(&self.state);
            if s.attempts > before {
                // The listing we waited for started after we asked, or was running then:
                // as fresh as one of our own would be.
                return match &s.last_failure {
                    None => Ok(()),
                    Some((message, retryable)) => Err(Error::cloud(
                        "inventory listing",
                        message.clone(),
                        *retryable,
                    )),
                };
            }
            s.journal = Some(Vec::new());
        }
        let mut guard = Listing {
            state: &self.state,
            finished: false,
        };
        let started = Instant::now();
        let listed = list().await;
        // The journal is taken and the records replaced under one lock: a write in between
        // would be lost.
        let mut s = lock(&self.state);
        let journal = s.journal.take().unwrap_or_default();
        guard.finished = true;
        s.attempts += 1;
        match listed {
            Ok(items) => {
                let mut records: BTreeMap<String, Record<E>> = items
                    .into_iter()
                    .map(|(id, owner, value)| {
                        let r = Record {
                            owner,
                            value,
                            written: false,
                        };
                        (id, r)
                    })
                    .collect();
                for (id, r) in std::mem::take(&mut s.records) {
                    if r.written {
                        records.entry(id).or_insert(r);
                    }
                }
                for (id, write) in journal {
                    apply(&mut records, id, write);
                }
                s.records = records;
                s.filled = Some(started);
                s.last_failure = None;
                Ok(())
            }
            Err(e) => {
                s.last_failure = Some((e.to_string(), e.retry_soon()));
                Err(e)
            }
        }
    }

    /// berth made `id` for `owner` (or a describe just found it, with its marks, where the
    /// inventory did not): known from now on, kept until deleted or found gone.
    pub fn insert(&self, id: &str, owner: &str, value: E) {
        self.write(id, Some((owner.to_string(), value)));
    }

    /// berth deleted `id`, or a describe found it gone.
    pub fn remove(&self, id: &str) {
        self.write(id, None);
    }

    fn write(&self, id: &str, write: Option<(String, E)>) {
        let mut s = lock(&self.state);
        if let Some(j) = &mut s.journal {
            j.push((id.to_string(), write.clone()));
        }
        apply(&mut s.records, id.to_string(), write);
    }

    /// Every record, by ID (for tests and diagnostics).
    pub fn records(&self) -> BTreeMap<String, Record<E>> {
        lock(&self.state).records.clone()
    }
}

/// An insert keeps a record's origin (listed stays listed: a later listing without it means it
/// is gone); a new one is `written`.
fn apply<E>(records: &mut BTreeMap<String, Record<E>>, id: String, write: Option<(String, E)>) {
    match write {
        None => {
            records.remove(&id);
        }
        Some((owner, value)) => {
            let written = records.get(&id).is_none_or(|r| r.written);
            records.insert(
                id,
                Record {
                    owner,
                    value,
                    written,
                },
            );
        }
    }
}

#[cfg(test)]
#[path = "inventory_tests.rs"]
mod tests;
