//! The end-to-end harness shared by operator/tests/e2e_*.rs: a test namespace, cluster name,
//! VPC, EC2 instances and Nodes of its own (TestEnv), the spawned `berth run` binary (Berth) and
//! its parsed /metrics (Metrics), and free helpers (`require`, `unique`, `eventually`,
//! `kube_client`, `network`, `free_port`, `http_get`, ...) that e2e_rbac.rs uses with a harness of
//! its own. Each test crate uses part of it (e2e_rbac.rs imports the free helpers by name, so the
//! re-exports below go unused there).
#![allow(dead_code, unused_imports)]

pub use aws_sdk_ec2 as ec2;
pub use aws_sdk_elasticloadbalancingv2 as elb;
pub use k8s_openapi::api::coordination::v1::Lease;
pub use k8s_openapi::api::core::v1::{Namespace, Node, Service};
pub use k8s_openapi::api::events::v1::Event;
pub use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
pub use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
pub use serde_json::json;
pub use std::collections::{BTreeMap, BTreeSet};
pub use std::future::Future;
pub use std::path::PathBuf;
pub use std::process::{Child, Command, Stdio};
pub use std::time::{Duration, Instant};
pub use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const FINALIZER: &str = "service.k8s.aws/resources";
pub const CONDITION: &str = "berth.dev/LoadBalancerReady";
pub const TYPE_ANNOTATION: &str = "service.beta.kubernetes.io/aws-load-balancer-type";
pub const GROUP_ANNOTATION: &str = "alb.ingress.kubernetes.io/group.name";
/// berth's condition annotation on Ingresses.
pub const STATUS_ANNOTATION: &str = "berth.dev/status";
pub const AMI: &str = "ami-12c6146b";
/// Lease settings of the spawned processes (short, so that takeover is quick).
pub const LEASE: Duration = Duration::from_secs(3);

pub fn require(var: &str) -> String {
    std::env::var(var)
        .unwrap_or_else(|_| panic!("{var} is not set: run through bash localstack/test.sh"))
}

/// A name unique to this call: `e2e-{tag}-` then time and process bits and a per-process counter
/// (tests of one process may ask at the same instant).
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    format!(
        "e2e-{tag}-{:05x}{n:02}",
        (nanos as u64 ^ u64::from(std::process::id())) & 0xf_ffff
    )
}

/// A client for the kubeconfig at `path` (installs the TLS crypto provider first).
pub async fn kube_client(path: &str) -> kube::Client {
    berth::install_crypto_provider();
    let kc = kube::config::Kubeconfig::read_from(path).expect("read kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("kubeconfig");
    kube::Client::try_from(config).expect("client")
}

/// A VPC with two subnets tagged for internal NLBs of `cluster`: (subnet ID, AZ) each.
pub async fn network(ec2: &ec2::Client, cluster: &str) -> Vec<(String, String)> {
    let vpc = ec2
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .expect("CreateVpc")
        .vpc
        .and_then(|v| v.vpc_id)
        .expect("vpc id");
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b"].iter().enumerate() {
        let subnet = ec2
            .create_subnet()
            .vpc_id(&vpc)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .expect("CreateSubnet")
            .subnet
            .and_then(|s| s.subnet_id)
            .expect("subnet id");
        ec2.create_tags()
            .resources(&subnet)
            .tags(
                ec2::types::Tag::builder()
                    .key("kubernetes.io/role/internal-elb")
                    .value("1")
                    .build(),
            )
            .tags(
                ec2::types::Tag::builder()
                    .key(format!("kubernetes.io/cluster/{cluster}"))
                    .value("owned")
                    .build(),
            )
            .send()
            .await
            .expect("CreateTags");
        subnets.push((subnet, az.to_string()));
    }
    subnets
}

/// A security group for a cluster's nodes, in `subnet`'s VPC, tagged
/// `kubernetes.io/cluster/<cluster>: owned` as EKS tags its node groups: berth adds its NLBs'
/// backend rules there.
pub async fn node_security_group(ec2: &ec2::Client, subnet: &str, cluster: &str) -> String {
    let subnets = ec2
        .describe_subnets()
        .subnet_ids(subnet)
        .send()
        .await
        .expect("DescribeSubnets");
    let vpc = subnets.subnets()[0].vpc_id().expect("vpc").to_string();
    let id = ec2
        .create_security_group()
        .group_name(unique(&format!("{cluster}-nodes")))
        .description("the test's nodes")
        .vpc_id(vpc)
        .send()
        .await
        .expect("CreateSecurityGroup")
        .group_id()
        .expect("group id")
        .to_string();
    ec2.create_tags()
        .resources(&id)
        .tags(
            ec2::types::Tag::builder()
                .key(format!("kubernetes.io/cluster/{cluster}"))
                .value("owned")
                .build(),
        )
        .send()
        .await
        .expect("CreateTags");
    id
}

/// A `type: LoadBalancer` Service for berth (`aws-load-balancer-type: external` plus
/// `annotations`), port 80 to 8080.
pub fn lb_service(name: &str, annotations: serde_json::Value) -> Service {
    let mut ann = json!({TYPE_ANNOTATION: "external"});
    if let (Some(a), Some(extra)) = (ann.as_object_mut(), annotations.as_object()) {
        a.extend(extra.clone());
    }
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": ann},
        "spec": {"type": "LoadBalancer", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
    }))
    .unwrap()
}

pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if start.elapsed() > timeout {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

pub struct TestEnv {
    pub kubeconfig: String,
    pub client: kube::Client,
    ec2: ec2::Client,
    pub elb: elb::Client,
    pub ns: String,
    pub cluster: String,
    pub dir: tempfile::TempDir,
    pub subnets: Vec<(String, String)>,
    /// The nodes' security group (tagged for the cluster, as EKS tags its node groups), made
    /// with the first node.
    node_sg: tokio::sync::OnceCell<String>,
}

impl TestEnv {
    pub async fn new(tag: &str) -> TestEnv {
        let kubeconfig = require("BERTH_TEST_KUBECONFIG");
        require("AWS_ENDPOINT_URL");
        let client = kube_client(&kubeconfig).await;
        let aws = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let id = unique(tag);
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": id}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await
            .expect("create namespace");
        let mut env = TestEnv {
            kubeconfig,
            client,
            ec2: ec2::Client::new(&aws),
            elb: elb::Client::new(&aws),
            ns: id.clone(),
            cluster: id,
            dir: tempfile::tempdir().expect("tempdir"),
            subnets: Vec::new(),
            node_sg: tokio::sync::OnceCell::new(),
        };
        env.network().await;
        env
    }

    /// A VPC with two subnets tagged for internal NLBs of this test's cluster.
    pub async fn network(&mut self) {
        self.subnets = network(&self.ec2, &self.cluster).await;
    }

    /// Launches an EC2 instance and registers a Node for it; returns the instance ID.
    pub async fn node(&self, name: &str) -> String {
        let (subnet, az) = &self.subnets[0];
        let sg = self.node_security_group().await;
        let out = self
            .ec2
            .run_instances()
            .image_id(AMI)
            .instance_type(ec2::types::InstanceType::T3Micro)
            .min_count(1)
            .max_count(1)
            .subnet_id(subnet)
            .security_group_ids(&sg)
            .send()
            .await
            .expect("RunInstances");
        let id = out.instances()[0]
            .instance_id()
            .expect("instance id")
            .to_string();
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": self.node_name(name), "labels": {"berth-e2e": self.ns}},
            "spec": {"providerID": format!("aws:///{az}/{id}")}
        }))
        .unwrap();
        Api::<Node>::all(self.client.clone())
            .create(&PostParams::default(), &node)
            .await
            .expect("create Node");
        id
    }

    /// The nodes' security group: in the subnets' VPC, tagged `kubernetes.io/cluster/<cluster>`.
    pub async fn node_security_group(&self) -> String {
        self.node_sg
            .get_or_init(|| node_security_group(&self.ec2, &self.subnets[0].0, &self.cluster))
            .await
            .clone()
    }

    /// (protocol, port, source group) of the rules in a security group whose source is a group.
    pub async fn group_sources(&self, sg: &str) -> BTreeSet<(String, i32, String)> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(sg)
            .send()
            .await
            .expect("DescribeSecurityGroups");
        let mut rules = BTreeSet::new();
        for p in out.security_groups()[0].ip_permissions() {
            for g in p.user_id_group_pairs() {
                rules.insert((
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or_default(),
                    g.group_id().unwrap_or_default().to_string(),
                ));
            }
        }
        rules
    }

    pub fn node_name(&self, name: &str) -> String {
        format!("{}-{name}", self.ns)
    }

    pub async fn delete_node(&self, name: &str) {
        Api::<Node>::all(self.client.clone())
            .delete(&self.node_name(name), &DeleteParams::default())
            .await
            .expect("delete Node");
    }

    pub fn services(&self) -> Api<Service> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn create_service(&self, name: &str, annotations: serde_json::Value) -> Service {
        self.services()
            .create(&PostParams::default(), &lb_service(name, annotations))
            .await
            .expect("create Service")
    }

    /// Waits for `status.loadBalancer.ingress[0].hostname`; returns the Service.
    pub async fn wait_hostname(&self, name: &str, timeout: Duration) -> (Service, String) {
        let api = self.services();
        eventually(&format!("Service {name} gets a hostname"), timeout, || {
            let api = api.clone();
            async move {
                let svc = api.get(name).await.ok()?;
                let h = svc
                    .status
                    .as_ref()?
                    .load_balancer
                    .as_ref()?
                    .ingress
                    .as_ref()?
                    .first()?
                    .hostname
                    .clone()?;
                Some((svc, h))
            }
        })
        .await
    }

    pub fn stack(&self, name: &str) -> String {
        format!("{}/{name}", self.ns)
    }

    /// ARNs among `arns` whose tags say this test's cluster and `stack`.
    pub async fn owned(&self, arns: Vec<String>, stack_key: &str, stack: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for chunk in arns.chunks(20) {
            let tags = self
                .elb
                .describe_tags()
                .set_resource_arns(Some(chunk.to_vec()))
                .send()
                .await
                .expect("DescribeTags");
            for d in tags.tag_descriptions() {
                let t: BTreeMap<&str, &str> = d
                    .tags()
                    .iter()
                    .filter_map(|t| Some((t.key()?, t.value()?)))
                    .collect();
                if t.get("elbv2.k8s.aws/cluster") == Some(&self.cluster.as_str())
                    && t.get(stack_key) == Some(&stack)
                {
                    out.extend(d.resource_arn().map(str::to_string));
                }
            }
        }
        out
    }

    pub async fn our_lbs(&self, name: &str) -> Vec<elb::types::LoadBalancer> {
        self.lbs_by_stack("service.k8s.aws/stack", &self.stack(name))
            .await
    }

    /// The load balancers whose tags say this test's cluster and `stack_key` = `stack`.
    pub async fn lbs_by_stack(
        &self,
        stack_key: &str,
        stack: &str,
    ) -> Vec<elb::types::LoadBalancer> {
        let all = self
            .elb
            .describe_load_balancers()
            .send()
            .await
            .expect("DescribeLoadBalancers");
        let arns = all
            .load_balancers()
            .iter()
            .filter_map(|l| l.load_balancer_arn().map(str::to_string))
            .collect();
        let ours = self.owned(arns, stack_key, stack).await;
        all.load_balancers()
            .iter()
            .filter(|l| l.load_balancer_arn().is_some_and(|a| ours.contains(a)))
            .cloned()
            .collect()
    }

    /// The tags of the load balancer (or target group) `arn`.
    pub async fn tags_of(&self, arn: &str) -> BTreeMap<String, String> {
        self.elb
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .expect("DescribeTags")
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect()
    }

    pub async fn our_tgs(&self, name: &str) -> Vec<elb::types::TargetGroup> {
        let all = self
            .elb
            .describe_target_groups()
            .send()
            .await
            .expect("DescribeTargetGroups");
        let arns = all
            .target_groups()
            .iter()
            .filter_map(|t| t.target_group_arn().map(str::to_string))
            .collect();
        let ours = self
            .owned(arns, "service.k8s.aws/stack", &self.stack(name))
            .await;
        all.target_groups()
            .iter()
            .filter(|t| t.target_group_arn().is_some_and(|a| ours.contains(a)))
            .cloned()
            .collect()
    }

    pub async fn targets(&self, tg_arn: &str) -> BTreeSet<(String, i32)> {
        self.elb
            .describe_target_health()
            .target_group_arn(tg_arn)
            .send()
            .await
            .expect("DescribeTargetHealth")
            .target_health_descriptions()
            .iter()
            .filter_map(|d| d.target())
            .map(|t| {
                (
                    t.id().unwrap_or_default().to_string(),
                    t.port().unwrap_or_default(),
                )
            })
            .collect()
    }

    /// (protocol, port, CIDR) of a security group's ingress rules, straight from moto; `None`
    /// when the group does not exist.
    pub async fn ingress_sources(&self, sg: &str) -> Option<BTreeSet<(String, i32, String)>> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(sg)
            .send()
            .await
            .ok()?;
        let group = out.security_groups().first()?;
        let mut rules = BTreeSet::new();
        for p in group.ip_permissions() {
            for r in p.ip_ranges() {
                rules.insert((
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or_default(),
                    r.cidr_ip().unwrap_or_default().to_string(),
                ));
            }
        }
        Some(rules)
    }

    pub async fn events(&self) -> Vec<Event> {
        Api::<Event>::namespaced(self.client.clone(), &self.ns)
            .list(&ListParams::default())
            .await
            .expect("list Events")
            .items
    }

    /// Waits for a Warning Event about the Service `name`.
    pub async fn warning_event(&self, name: &str) -> Event {
        eventually(
            &format!("a Warning Event for {name}"),
            Duration::from_secs(30),
            || async {
                self.events().await.into_iter().find(|e| {
                    e.type_.as_deref() == Some("Warning")
                        && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name)
                })
            },
        )
        .await
    }

    /// Waits until the Service's berth condition has this status and reason.
    pub async fn wait_condition(&self, name: &str, status: &str, reason: &str) -> Service {
        let want = Some((status.to_string(), reason.to_string()));
        eventually(
            &format!("condition {status}/{reason} on {name}"),
            Duration::from_secs(15),
            || async {
                let s = self.services().get(name).await.ok()?;
                (condition(&s) == want).then_some(s)
            },
        )
        .await
    }

    pub fn ingresses(&self) -> Api<Ingress> {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    /// An IngressClass of berth's ALB controller named `{ns}-alb`, and the NodePort Service `web`
    /// its Ingresses route to; returns the class name.
    pub async fn ingress_backend(&self) -> String {
        let class = format!("{}-alb", self.ns);
        let ic: IngressClass = serde_json::from_value(
            json!({"metadata": {"name": class}, "spec": {"controller": "berth.dev/alb"}}),
        )
        .unwrap();
        Api::<IngressClass>::all(self.client.clone())
            .create(&PostParams::default(), &ic)
            .await
            .expect("create IngressClass");
        let web: Service = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}
        }))
        .unwrap();
        self.services()
            .create(&PostParams::default(), &web)
            .await
            .expect("create Service");
        class
    }

    /// An Ingress of `class` in the group named after the test namespace, routing `/{name}` to
    /// the Service `web`, with `annotations` added.
    pub async fn create_ingress(&self, name: &str, class: &str, annotations: serde_json::Value) {
        let mut ann = json!({GROUP_ANNOTATION: self.ns});
        if let (Some(a), Some(e)) = (ann.as_object_mut(), annotations.as_object()) {
            a.extend(e.clone());
        }
        let ing: Ingress = serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": ann},
            "spec": {"ingressClassName": class, "rules": [{"http": {"paths": [{"path": format!("/{name}"), "pathType": "Prefix",
                     "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}
        }))
        .unwrap();
        self.ingresses()
            .create(&PostParams::default(), &ing)
            .await
            .expect("create Ingress");
    }

    pub async fn ingress_hostname(&self, name: &str) -> Option<String> {
        self.ingresses()
            .get(name)
            .await
            .ok()?
            .status?
            .load_balancer?
            .ingress?
            .first()?
            .hostname
            .clone()
    }

    /// berth's condition on an Ingress (annotation `berth.dev/status`): (status, reason).
    pub async fn ingress_condition(&self, name: &str) -> Option<(String, String)> {
        let ing = self.ingresses().get(name).await.ok()?;
        let v: serde_json::Value =
            serde_json::from_str(ing.metadata.annotations.as_ref()?.get(STATUS_ANNOTATION)?)
                .ok()?;
        Some((
            v["status"].as_str()?.to_string(),
            v["reason"].as_str()?.to_string(),
        ))
    }

    /// The ALBs of this test's Ingress group (by the ingress stack tag = the group name).
    pub async fn group_lbs(&self) -> Vec<elb::types::LoadBalancer> {
        self.lbs_by_stack("ingress.k8s.aws/stack", &self.ns).await
    }

    pub async fn lease_holder(&self) -> Option<String> {
        Api::<Lease>::namespaced(self.client.clone(), &self.ns)
            .get("berth-leader")
            .await
            .ok()?
            .spec?
            .holder_identity
            .filter(|h| !h.is_empty())
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// GET `path` from 127.0.0.1:`port` (HTTP/1.1, connection closed): (status code, body).
pub async fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .ok()?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((code, body))
}

/// A `berth run` child process. Killed on drop; its log is printed when a test fails.
pub struct Berth {
    pub child: Child,
    pub port: u16,
    pub log: PathBuf,
    pub identity: String,
}

impl Berth {
    pub fn spawn(env: &TestEnv, identity: &str) -> Berth {
        Self::spawn_with(env, identity, "3s")
    }

    /// `resync`: how often converged objects are reconciled again (long when a test must show
    /// that a change itself triggers the work).
    pub fn spawn_with(env: &TestEnv, identity: &str, resync: &str) -> Berth {
        let port = free_port();
        let log = env.dir.path().join(format!("{identity}.log"));
        let out = std::fs::File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_berth"))
            .args([
                "run",
                "--cluster-name",
                &env.cluster,
                "--identity",
                identity,
            ])
            .args([
                "--metrics-addr",
                &format!("127.0.0.1:{port}"),
                "--resync",
                resync,
            ])
            .args([
                "--leader-election-namespace",
                &env.ns,
                "--lease-duration",
                "3s",
                "--lease-renew-interval",
                "1s",
            ])
            .args([
                "--watch-namespace",
                &env.ns,
                "--node-selector",
                &format!("berth-e2e={}", env.ns),
            ])
            .env("KUBECONFIG", &env.kubeconfig)
            .env("RUST_LOG", "info,berth=debug")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn berth");
        Berth {
            child,
            port,
            log,
            identity: identity.into(),
        }
    }

    pub async fn get(&self, path: &str) -> Option<(u16, String)> {
        http_get(self.port, path).await
    }

    /// Waits until /readyz answers 200 with `phase` (`leader` or `standby`).
    pub async fn wait_phase(&self, phase: &str, timeout: Duration) {
        eventually(
            &format!("{} /readyz says {phase}", self.identity),
            timeout,
            || async {
                matches!(self.get("/readyz").await, Some((200, b)) if b.trim() == phase)
                    .then_some(())
            },
        )
        .await
    }

    pub async fn metrics(&self) -> Metrics {
        let (code, body) = self.get("/metrics").await.expect("GET /metrics");
        assert_eq!(code, 200);
        Metrics(
            body.lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty())
                .filter_map(|l| {
                    let (k, v) = l.rsplit_once(' ')?;
                    Some((k.to_string(), v.parse().ok()?))
                })
                .collect(),
        )
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{sig} {}", self.child.id());
    }

    pub async fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let start = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                return s;
            }
            assert!(
                start.elapsed() < timeout,
                "{} did not exit within {timeout:?}",
                self.identity
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Berth {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = self.log_text();
            let tail: Vec<&str> = log.lines().rev().take(60).collect();
            eprintln!(
                "---- last lines of {} ({}) ----",
                self.identity,
                self.log.display()
            );
            for l in tail.iter().rev() {
                eprintln!("{l}");
            }
        }
    }
}

/// Parsed `/metrics`: `name{labels}` -> value.
#[derive(Clone, Debug, Default)]
pub struct Metrics(pub BTreeMap<String, f64>);

impl Metrics {
    pub fn value(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(0.0)
    }

    /// Cloud API calls per operation (both outcomes).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        let mut out = BTreeMap::new();
        for (k, v) in &self.0 {
            if let Some(rest) = k.strip_prefix("berth_cloud_api_calls_total{") {
                if let Some(op) = rest
                    .split("operation=\"")
                    .nth(1)
                    .and_then(|s| s.split('"').next())
                {
                    *out.entry(op.to_string()).or_insert(0) += *v as u64;
                }
            }
        }
        out
    }

    pub fn successes(&self) -> u64 {
        self.value(r#"berth_reconciles_total{result="success"}"#) as u64
    }
}

/// Calls made between two snapshots, per operation.
pub fn delta(before: &Metrics, after: &Metrics) -> BTreeMap<String, u64> {
    let b = before.calls();
    after
        .calls()
        .into_iter()
        .filter_map(|(op, n)| {
            let d = n - b.get(&op).copied().unwrap_or(0);
            (d > 0).then_some((op, d))
        })
        .collect()
}

pub fn mutating(calls: &BTreeMap<String, u64>) -> u64 {
    calls
        .iter()
        .filter(|(op, _)| providers::metrics::is_mutating(op))
        .map(|(_, n)| n)
        .sum()
}

pub fn summary(calls: &BTreeMap<String, u64>) -> String {
    let total: u64 = calls.values().sum();
    let list: Vec<String> = calls.iter().map(|(op, n)| format!("{op}={n}")).collect();
    format!(
        "{total} calls ({} mutating): {}",
        mutating(calls),
        list.join(" ")
    )
}

pub fn condition(svc: &Service) -> Option<(String, String)> {
    svc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == CONDITION)
        .map(|c| (c.status.clone(), c.reason.clone()))
}
