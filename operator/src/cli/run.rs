//! `berth run`: the operator. Serves `/healthz`, `/readyz` and `/metrics`, waits for the leader
//! Lease, then runs the Service controller until SIGTERM/SIGINT (graceful: reconciliations in
//! flight finish, the Lease is released) or until leadership is lost (exit 1 at once).

use super::CommonArgs;
use crate::context::Context;
use crate::controller::ingress;
use crate::controller::service::{self, Caches};
use crate::http::{self, Health, Phase};
use crate::leader::{LeaderElector, LeaseConfig};
use crate::metrics::Metrics;
use clap::{Args, ValueEnum};
use futures::FutureExt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{error, info, warn};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address of the /healthz, /readyz and /metrics endpoints.
    #[arg(long, default_value = "0.0.0.0:8080", env = "BERTH_METRICS_ADDR")]
    pub metrics_addr: SocketAddr,
    /// Reconcile every converged Service again after this long, correcting drift in the cloud
    /// (e.g. 30s, 5m, 1h).
    #[arg(long, default_value = "5m", value_parser = parse_duration, env = "BERTH_RESYNC")]
    pub resync: Duration,
    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "kube-system")]
    pub leader_election_namespace: String,
    /// Name of the leader-election Lease.
    #[arg(long, default_value = "berth-leader")]
    pub leader_election_id: String,
    /// This replica's identity in the Lease and in Events. Default: $POD_NAME, else the
    /// hostname plus a random suffix.
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,
    /// How long the Lease stays valid without renewal.
    #[arg(long, default_value = "15s", value_parser = parse_duration)]
    pub lease_duration: Duration,
    /// How often the leader renews the Lease (and a standby replica retries).
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub lease_renew_interval: Duration,
    /// Watch the Services of this namespace only (default: all namespaces).
    #[arg(long, env = "BERTH_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Only Nodes matching this label selector (e.g. `pool=edge`) become load-balancer targets
    /// (default: every Node without the exclude-from-external-load-balancers label).
    #[arg(long, env = "BERTH_NODE_SELECTOR")]
    pub node_selector: Option<String>,
    #[arg(long, value_enum, default_value = "text", env = "BERTH_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log level or filter (`info`, `debug`, `berth=debug,kube=info`); RUST_LOG wins when set.
    #[arg(long, default_value = "info", env = "BERTH_LOG_LEVEL")]
    pub log_level: String,
    /// How many Services are reconciled at once.
    #[arg(long, default_value_t = 4, env = "BERTH_WORKERS", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    /// Cloud API calls per second, at most (a token bucket shared by all workers), so that a
    /// burst of Services does not exhaust the account's API quota.
    #[arg(long, default_value_t = 10, env = "BERTH_CLOUD_API_QPS", value_parser = clap::value_parser!(u32).range(1..))]
    pub cloud_api_qps: u32,
    /// Calls that may go at once above the rate, after a quiet period.
    #[arg(long, default_value_t = 20, env = "BERTH_CLOUD_API_BURST", value_parser = clap::value_parser!(u32).range(1..))]
    pub cloud_api_burst: u32,
    /// IngressClass `spec.controller` values berth serves (repeat or comma-separate). Default:
    /// berth's own for the cloud (AWS: berth.dev/alb; add `ingress.k8s.aws/alb` to take over
    /// the aws-load-balancer-controller's classes).
    #[arg(
        long = "ingress-class-controller",
        value_delimiter = ',',
        env = "BERTH_INGRESS_CLASS_CONTROLLERS"
    )]
    pub ingress_class_controllers: Vec<String>,
    /// Do not run the Ingress controller (Services only).
    #[arg(long, env = "BERTH_DISABLE_INGRESS")]
    pub disable_ingress: bool,
}

/// Parses `500ms`, `30s`, `5m`, `1h` (or plain seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (expected e.g. 500ms, 30s, 5m, 1h)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        "h" => Ok(Duration::from_secs(n * 3600)),
        _ => Err(format!(
            "{s:?}: unknown unit {unit:?} (expected ms, s, m or h)"
        )),
    }
}

pub fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        // A bare level also quiets the chatty dependencies; a full filter is taken as written.
        let spec = if level.contains('=') {
            level.to_string()
        } else {
            format!("{level},kube_runtime=warn,aws_config=warn")
        };
        tracing_subscriber::EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("--log-level {level:?} is not a valid filter ({e}); using info");
            tracing_subscriber::EnvFilter::new("info,kube_runtime=warn,aws_config=warn")
        })
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn default_identity() -> String {
    use std::hash::{BuildHasher, Hasher};
    let host = hostname::get()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "berth".into());
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{host}-{:08x}", h.finish() as u32)
}

/// Resolves on SIGTERM or SIGINT.
async fn signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => futures::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

async fn provider(
    args: &RunArgs,
    metrics: &Metrics,
) -> crate::Result<Arc<dyn providers::Provider>> {
    let common = &args.common;
    super::cloud::live_provider(
        common.cloud,
        super::cloud::Live {
            cluster: common.cluster(),
            vpc_id: common.vpc_id.as_deref(),
            settings: common.settings(),
            recorder: metrics.call_recorder(),
            rate: Some((args.cloud_api_qps, args.cloud_api_burst)),
            // One inventory listing per resync round, shared by every object.
            inventory_max_age: Some(args.resync),
        },
    )
    .await
}

/// `berth run` acts on what carries its cluster's tags: without an explicit name, two clusters
/// in one account (both "kubernetes") would claim each other's load balancers.
pub fn require_cluster_name(args: &RunArgs) -> Result<(), String> {
    match args.common.cluster_name.as_deref().map(str::trim) {
        Some(n) if !n.is_empty() => Ok(()),
        _ => Err("berth run needs --cluster-name (or BERTH_CLUSTER_NAME): berth acts only on cloud resources tagged with it, and two clusters sharing one name in an account would take each other's load balancers".into()),
    }
}

/// Runs the operator; returns the process exit code.
pub async fn run(args: RunArgs) -> i32 {
    init_logging(args.log_format, &args.log_level);
    if let Err(e) = require_cluster_name(&args) {
        error!("{e}");
        eprintln!("error: {e}");
        return 2;
    }
    let identity = args.identity.clone().unwrap_or_else(default_identity);
    let client = match kube::Client::try_default().await {
        Ok(c) => c,
        Err(e) => {
            error!(error = %e, "cannot create a Kubernetes client (KUBECONFIG or in-cluster config)");
            return 2;
        }
    };
    let metrics = Metrics::new();
    let health = Health::new(metrics.clone());
    let listener = match http::bind(args.metrics_addr).await {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, addr = %args.metrics_addr, "cannot listen");
            return 2;
        }
    };
    info!(addr = %args.metrics_addr, identity = %identity, cluster = %args.common.cluster(), "serving /healthz, /readyz and /metrics");
    tokio::spawn({
        let health = health.clone();
        async move {
            if let Err(e) = http::serve(listener, health).await {
                error!(error = %e, "HTTP server failed");
            }
        }
    });

    let slices = match service::slices_served(&client).await {
        Ok(true) => true,
        Ok(false) => {
            warn!("the API server does not serve discovery.k8s.io/v1 EndpointSlices: not watching them; Services that need pod IP targets report them as unavailable");
            false
        }
        Err(e) => {
            error!(error = %e, "cannot reach the Kubernetes API server");
            return 2;
        }
    };

    let policies = match crate::policy::served(&client).await {
        Ok(true) => true,
        Ok(false) => {
            warn!("the API server does not serve berth.dev/v1alpha1 LoadBalancerPolicies (CRD not installed: `berth crds | kubectl apply -f -`): running without policies; restart berth after installing the CRD");
            false
        }
        Err(e) => {
            error!(error = %e, "cannot reach the Kubernetes API server");
            return 2;
        }
    };

    let mut elector = LeaderElector::new(
        client.clone(),
        LeaseConfig {
            namespace: args.leader_election_namespace.clone(),
            name: args.leader_election_id.clone(),
            identity: identity.clone(),
            lease_duration: args.lease_duration,
            renew_interval: args.lease_renew_interval,
        },
    );
    let sig = signal().shared();
    metrics.set_leader(false);
    tokio::select! {
        _ = elector.acquire(|_| health.set(Phase::Standby)) => {}
        _ = sig.clone() => {
            info!("signal received while standby; exiting");
            return 0;
        }
    }
    metrics.set_leader(true);
    health.set(Phase::Syncing);

    // The cloud's Ingress rules; `None`: Services only (flag, or the cloud serves no Ingresses).
    let ingress_sel = ingress::IngressSelection::of(args.common.profile()).map(|mut sel| {
        if !args.ingress_class_controllers.is_empty() {
            sel.controllers = args.ingress_class_controllers.clone();
        }
        sel
    });
    let ingress = if args.disable_ingress {
        None
    } else if ingress_sel.is_none() {
        info!(
            cloud = args.common.profile().cloud,
            "berth serves no Ingresses on this cloud yet: not running the Ingress controller"
        );
        None
    } else {
        match ingress::served(&client).await {
            Ok(true) => Some(slices),
            Ok(false) => {
                warn!("the API server does not serve networking.k8s.io/v1 Ingresses and IngressClasses: not running the Ingress controller");
                None
            }
            Err(e) => {
                error!(error = %e, "cannot reach the Kubernetes API server");
                return 2;
            }
        }
    };

    let provider = match provider(&args, &metrics).await {
        Ok(p) => p,
        Err(e) => {
            error!(error = %e, "cannot start the cloud provider");
            return 2;
        }
    };
    let mut caches = Caches::new(slices).with_policies(policies);
    let ctx = Arc::new(
        Context::new(
            client.clone(),
            provider,
            metrics.clone(),
            args.common.selection(),
            args.common.cluster().to_string(),
            caches.nodes.clone(),
            caches.slices.clone(),
            args.resync,
            Some(identity.clone()),
        )
        .with_policies(caches.policies.clone()),
    );

    // The Ingress controller shares the client, provider, recorder and metrics, under the same
    // leadership, with caches of its own.
    let ingress_ctx = ingress.zip(ingress_sel).map(|(slices, sel)| {
        let caches = ingress::IngressCaches::new(slices, sel.profile.reads_pods);
        (Arc::new(caches.context(ctx.clone(), sel)), caches)
    });
    // The policies' status counts the governed Ingresses too.
    caches.policy_ingresses = ingress_ctx.as_ref().map(|(ictx, _)| ictx.policy_caches());

    let (stop_tx, stop_rx) = futures::channel::oneshot::channel::<()>();
    let stop_rx = stop_rx.map(|_| ()).shared();
    let ready_health = health.clone();
    let scope = service::Scope {
        namespace: args.watch_namespace.clone(),
        node_selector: args.node_selector.clone(),
        workers: args.workers,
    };
    let services = service::run(ctx, caches, &scope, stop_rx.clone(), move || {
        ready_health.set(Phase::Leader)
    });
    let ingresses = async {
        if let Some((ictx, icaches)) = ingress_ctx {
            ingress::run(ictx, icaches, &scope, stop_rx).await;
        }
    };
    let controller = futures::future::join(services, ingresses);
    tokio::pin!(controller);
    let lease_cfg = elector.config().clone();
    let mut lost = tokio::spawn(async move { elector.keep().await });

    let mut stop_tx = Some(stop_tx);
    loop {
        tokio::select! {
            _ = &mut controller => break,
            _ = &mut lost => {
                metrics.set_leader(false);
                error!("lost leadership; exiting so that the new leader is the only one acting");
                return 1;
            }
            _ = sig.clone(), if stop_tx.is_some() => {
                info!("signal received: finishing reconciliations in flight, then releasing the Lease");
                if let Some(tx) = stop_tx.take() {
                    let _ = tx.send(());
                }
            }
        }
    }
    lost.abort();
    metrics.set_leader(false);
    if let Err(e) = LeaderElector::new(client, lease_cfg).release().await {
        warn!(error = %e, "could not release the leader Lease");
    }
    info!("stopped");
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("5 minutes").is_err());
        assert!(parse_duration("m").is_err());
    }

    #[test]
    fn flags_and_defaults() {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([
            "berth",
            "run",
            "--resync",
            "2s",
            "--log-format",
            "json",
        ])
        .unwrap();
        let crate::cli::Command::Run(a) = cli.command else {
            panic!("not run")
        };
        assert_eq!(a.resync, Duration::from_secs(2));
        assert_eq!(a.log_format, LogFormat::Json);
        assert_eq!(a.leader_election_id, "berth-leader");
        assert_eq!(a.lease_duration, Duration::from_secs(15));
        assert_eq!(a.metrics_addr.port(), 8080);
        assert_eq!((a.workers, a.cloud_api_qps, a.cloud_api_burst), (4, 10, 20));
        assert_eq!(a.log_level, "info");
        assert!(crate::cli::Cli::try_parse_from(["berth", "run", "--workers", "0"]).is_err());
        // No cluster name (and none in the environment): refused before anything starts.
        if std::env::var_os("BERTH_CLUSTER_NAME").is_none() {
            assert!(require_cluster_name(&a)
                .unwrap_err()
                .contains("--cluster-name"));
        }
        let named =
            crate::cli::Cli::try_parse_from(["berth", "run", "--cluster-name", "prod"]).unwrap();
        let crate::cli::Command::Run(a) = named.command else {
            panic!("not run")
        };
        assert!(require_cluster_name(&a).is_ok());
    }
}
