//! Many Services' NLB stacks in one cluster (one VPC), for the inventory tests and the call
//! measurement: a Service `svc-<i>` with one TCP port, a provider per berth process, and the
//! reconcile passes.

use super::{node, sdk_config, tcp_port, unique, Vpc};
use aws_config::SdkConfig;
use providers::aws::{annotations as ann, AwsProvider};
use providers::frontend::{Frontend, ObjectRef};
use providers::metrics::CallCounter;
use providers::plan::{Observed, Plan, Resource};
use providers::Provider;
use std::collections::BTreeMap;
use std::sync::Arc;

pub struct Fleet {
    pub cluster: String,
    pub namespace: String,
    pub vpc: String,
    pub sdk: SdkConfig,
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl Fleet {
    pub async fn new(name: &str) -> Fleet {
        let sdk = sdk_config().await;
        let cluster = unique(name);
        let Vpc { id: vpc, .. } = Vpc::create(&sdk, &cluster, &["us-east-1a", "us-east-1b"]).await;
        Fleet {
            elb: aws_sdk_elasticloadbalancingv2::Client::new(&sdk),
            namespace: unique("ns"),
            cluster,
            vpc,
            sdk,
        }
    }

    /// A fleet of `k` converged Services, and the provider that made them.
    pub async fn provisioned(name: &str, k: usize) -> (Fleet, AwsProvider, Arc<CallCounter>) {
        let fleet = Fleet::new(name).await;
        let (p, calls) = fleet.provider();
        fleet.provision(&p, 0, k).await;
        (fleet, p, calls)
    }

    /// A provider as a new berth process would have it (its own, empty, inventory).
    pub fn provider(&self) -> (AwsProvider, Arc<CallCounter>) {
        self.provider_with(|p| p)
    }

    /// [`Self::provider`], configured by `f` (e.g. another inventory max age).
    pub fn provider_with(
        &self,
        f: impl FnOnce(AwsProvider) -> AwsProvider,
    ) -> (AwsProvider, Arc<CallCounter>) {
        let calls = Arc::new(CallCounter::default());
        let p = AwsProvider::new(
            &self.sdk,
            self.cluster.clone(),
            Some(self.vpc.clone()),
            calls.clone(),
        );
        (f(p), calls)
    }

    /// Service `svc-<i>`: port 80 on NodePort 30080 to one made-up instance (no backend rules:
    /// the instance does not exist).
    pub fn service(&self, i: usize) -> Frontend {
        let object = ObjectRef::service(&self.namespace, format!("svc-{i}"));
        let mut fe = Frontend::new(object, &self.cluster);
        fe.ports.push(tcp_port("http", 80, 30080));
        fe.nodes = vec![node(&format!("i-0abc{i:012}"))];
        fe.annotations.insert(
            format!("{}{}", ann::PREFIXES[0], ann::MANAGE_BACKEND_SG_RULES),
            "false".into(),
        );
        fe
    }

    pub async fn desired(&self, p: &AwsProvider, i: usize) -> Vec<Resource> {
        p.desired(&self.service(i)).await.expect("desired")
    }

    pub async fn observe(&self, p: &AwsProvider, i: usize, desired: &[Resource]) -> Observed {
        let fe = self.service(i);
        p.observe(&fe.object, &self.cluster, desired)
            .await
            .expect("observe")
    }

    /// observe -> plan -> apply for Service `i` (`desired` None: its deletion).
    pub async fn sync(&self, p: &AwsProvider, i: usize, desired: Option<&[Resource]>) -> Plan {
        let desired = desired.unwrap_or_default();
        let observed = self.observe(p, i, desired).await;
        let plan = p.plan(desired, &observed).expect("plan");
        p.apply(&plan, &observed).await.expect("apply");
        plan
    }

    /// Creates Services `from..to` and checks each converged (a second pass plans nothing).
    pub async fn provision(&self, p: &AwsProvider, from: usize, to: usize) {
        for i in from..to {
            let d = self.desired(p, i).await;
            self.sync(p, i, Some(&d)).await;
            let again = self.sync(p, i, Some(&d)).await;
            assert!(again.changes.is_empty(), "svc-{i} converged: {again:?}");
        }
    }
}

/// The calls a counter saw, by operation, as one line.
pub fn line(calls: &CallCounter) -> String {
    let by: BTreeMap<String, u64> = calls.by_operation();
    let parts: Vec<String> = by.iter().map(|(k, v)| format!("{k} {v}")).collect();
    format!("{} calls: {}", calls.total(), parts.join(", "))
}
