//! Leader election with a `coordination.k8s.io/v1` Lease, as client-go's leaderelection does:
//! the holder renews `spec.renewTime` every few seconds; another replica takes the Lease over
//! once it has not changed for `leaseDurationSeconds` (measured on the observer's own clock, so
//! clock skew between nodes does not matter) or once the holder released it. Every write is a
//! `resourceVersion`-conditional replace, so two replicas can never both win.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use std::time::{Duration, Instant};
use tracing::{info, warn};

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub namespace: String,
    pub name: String,
    pub identity: String,
    /// How long a Lease that is not renewed stays valid (`leaseDurationSeconds`).
    pub lease_duration: Duration,
    /// How often the holder renews, and a standby replica retries.
    pub renew_interval: Duration,
}

impl LeaseConfig {
    /// A holder that could not renew for this long stops acting (before anyone can take over).
    pub fn renew_deadline(&self) -> Duration {
        self.lease_duration
            .saturating_sub(self.renew_interval)
            .max(self.renew_interval)
    }
}

/// The result of one attempt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// We hold the Lease (acquired, taken over or renewed).
    Leader,
    /// Someone else holds it (their identity, if known).
    Standby(Option<String>),
}

pub struct LeaderElector {
    api: Api<Lease>,
    cfg: LeaseConfig,
    /// The Lease's resourceVersion when we first saw it, and when.
    observed: Option<(String, Instant)>,
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn secs(d: Duration) -> i32 {
    i32::try_from(d.as_secs().max(1)).unwrap_or(i32::MAX)
}

impl LeaderElector {
    pub fn new(client: kube::Client, cfg: LeaseConfig) -> Self {
        LeaderElector {
            api: Api::namespaced(client, &cfg.namespace),
            cfg,
            observed: None,
        }
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }

    /// One acquire-or-renew attempt.
    pub async fn try_acquire_or_renew(&mut self) -> Result<Attempt, kube::Error> {
        let me = self.cfg.identity.clone();
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.cfg.name.clone()),
                    namespace: Some(self.cfg.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(me),
                    lease_duration_seconds: Some(secs(self.cfg.lease_duration)),
                    acquire_time: Some(now()),
                    renew_time: Some(now()),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(Attempt::Leader),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Standby(None)),
                Err(e) => Err(e),
            };
        };

        let rv = lease.metadata.resource_version.clone().unwrap_or_default();
        let first_seen = match &self.observed {
            Some((seen_rv, at)) if *seen_rv == rv => *at,
            _ => {
                let at = Instant::now();
                self.observed = Some((rv.clone(), at));
                at
            }
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.cfg.lease_duration);
        // Expiry is judged by our own clock since we last saw the Lease change, never by comparing
        // renewTime with our wall clock: clock skew between nodes must not make two leaders.
        let expired = holder.is_none() || first_seen.elapsed() > duration;

        if holder.as_deref() == Some(me.as_str()) {
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(secs(self.cfg.lease_duration));
        } else if expired {
            spec.holder_identity = Some(me.clone());
            spec.acquire_time = Some(now());
            spec.renew_time = Some(now());
            spec.lease_duration_seconds = Some(secs(self.cfg.lease_duration));
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0).saturating_add(1));
        } else {
            return Ok(Attempt::Standby(holder));
        }
        lease.spec = Some(spec);
        // The resourceVersion we read makes the replace conditional.
        match self
            .api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await
        {
            Ok(updated) => {
                if holder.as_deref() != Some(me.as_str()) {
                    info!(
                        previous = holder.as_deref().unwrap_or(""),
                        "took over the leader Lease"
                    );
                }
                self.observed = updated
                    .metadata
                    .resource_version
                    .map(|rv| (rv, Instant::now()));
                Ok(Attempt::Leader)
            }
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Standby(holder)),
            Err(e) => Err(e),
        }
    }

    /// Waits until this process holds the Lease. `on_standby` is called with the holder each
    /// time it changes.
    pub async fn acquire(&mut self, mut on_standby: impl FnMut(Option<&str>)) {
        let mut last_holder: Option<Option<String>> = None;
        loop {
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Leader) => {
                    info!(lease = %self.cfg.name, namespace = %self.cfg.namespace, identity = %self.cfg.identity, "became leader");
                    return;
                }
                Ok(Attempt::Standby(holder)) => {
                    if last_holder.as_ref() != Some(&holder) {
                        info!(
                            holder = holder.as_deref().unwrap_or("?"),
                            "standby: the leader Lease is held by another replica"
                        );
                        on_standby(holder.as_deref());
                        last_holder = Some(holder);
                    }
                }
                Err(e) => warn!(error = %e, "leader election: could not read or write the Lease"),
            }
            tokio::time::sleep(self.cfg.renew_interval).await;
        }
    }

    /// Renews the Lease until leadership is lost (another holder, or no successful renewal
    /// within the renew deadline); then returns.
    pub async fn keep(&mut self) {
        let mut last_renew = Instant::now();
        loop {
            tokio::time::sleep(self.cfg.renew_interval).await;
            match self.try_acquire_or_renew().await {
                Ok(Attempt::Leader) => last_renew = Instant::now(),
                Ok(Attempt::Standby(holder)) => {
                    warn!(
                        holder = holder.as_deref().unwrap_or("?"),
                        "leadership lost: the Lease has another holder"
                    );
                    return;
                }
                Err(e) => warn!(error = %e, "could not renew the leader Lease"),
            }
            if last_renew.elapsed() > self.cfg.renew_deadline() {
                warn!("leadership lost: the Lease was not renewed within the renew deadline");
                return;
            }
        }
    }

    /// Gives the Lease up (holder cleared) if we hold it, so a standby takes over at once.
    pub async fn release(&mut self) -> Result<(), kube::Error> {
        let Some(mut lease) = self.api.get_opt(&self.cfg.name).await? else {
            return Ok(());
        };
        let mut spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.cfg.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(now());
        lease.spec = Some(spec);
        self.api
            .replace(&self.cfg.name, &PostParams::default(), &lease)
            .await?;
        info!("released the leader Lease");
        Ok(())
    }
}
