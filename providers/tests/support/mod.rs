//! The moto harness shared by the AWS provider's emulator tests (aws_moto.rs, aws_alb_moto.rs):
//! the emulator's endpoint, unique names, a VPC with subnets tagged for a cluster, the
//! observe -> plan -> apply pass, what moto holds with a cluster's tags, and ACM certificates.
#![allow(dead_code)]

pub mod fleet;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_sdk_ec2::types::Tag as Ec2Tag;
use providers::aws::{tags, AwsProvider};
use providers::frontend::{Node, ObjectRef, Protocol, ServicePort};
use providers::metrics::CallCounter;
use providers::plan::Plan;
use providers::{Address, Error, Provider};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub fn endpoint() -> String {
    std::env::var("AWS_ENDPOINT_URL").unwrap_or_else(|_| {
        panic!(
            "AWS_ENDPOINT_URL is not set: these tests need the moto AWS emulator. Run them through \
             `bash localstack/test.sh` (or start moto and export AWS_ENDPOINT_URL, \
             AWS_ACCESS_KEY_ID=testing, AWS_SECRET_ACCESS_KEY=testing, AWS_REGION=us-east-1)"
        )
    })
}

pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!(
        "{prefix}-{:x}{:x}{}",
        std::process::id() % 0xfff,
        nanos % 0xffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// The SDK configuration for moto (panics with how to start it when it is not set).
pub async fn sdk_config() -> SdkConfig {
    endpoint();
    aws_config::defaults(BehaviorVersion::latest()).load().await
}

pub fn ec2_tag(k: &str, v: &str) -> Ec2Tag {
    Ec2Tag::builder().key(k).value(v).build()
}

/// A VPC (10.0.0.0/16) with one /24 subnet per entry of `zones`, each tagged
/// `kubernetes.io/role/internal-elb=1`, with the cluster tag and `Name={cluster}-{i}`.
pub struct Vpc {
    pub id: String,
    /// (zone, subnet id), in the order of `zones`.
    pub subnets: Vec<(String, String)>,
}

impl Vpc {
    pub async fn create(sdk: &SdkConfig, cluster: &str, zones: &[&str]) -> Vpc {
        let ec2 = aws_sdk_ec2::Client::new(sdk);
        let id = ec2
            .create_vpc()
            .cidr_block("10.0.0.0/16")
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        let mut subnets = Vec::new();
        for (i, zone) in zones.iter().enumerate() {
            let subnet = ec2
                .create_subnet()
                .vpc_id(&id)
                .cidr_block(format!("10.0.{i}.0/24"))
                .availability_zone(*zone)
                .send()
                .await
                .expect("CreateSubnet")
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet id")
                .to_string();
            ec2.create_tags()
                .resources(&subnet)
                .tags(ec2_tag("kubernetes.io/role/internal-elb", "1"))
                .tags(ec2_tag(
                    &format!("kubernetes.io/cluster/{cluster}"),
                    "owned",
                ))
                .tags(ec2_tag("Name", &format!("{cluster}-{i}")))
                .send()
                .await
                .expect("CreateTags");
            subnets.push((zone.to_string(), subnet));
        }
        Vpc { id, subnets }
    }
}

/// observe -> plan -> apply for `object`'s resources.
pub async fn sync(
    provider: &AwsProvider,
    object: &ObjectRef,
    cluster: &str,
    desired: &[providers::Resource],
) -> Result<(Plan, Option<Address>), Error> {
    let observed = provider.observe(object, cluster, desired).await?;
    let plan = provider.plan(desired, &observed)?;
    let out = provider.apply(&plan, &observed).await?;
    // moto releases a deleted load balancer's security group at once: nothing stays pending.
    if let Some(e) = out.in_progress() {
        return Err(e);
    }
    Ok((plan, out.address))
}

/// ELBv2 resources (LBs and TGs) that carry `cluster`'s tag, with their tags, straight from moto.
pub async fn tagged(
    elb: &aws_sdk_elasticloadbalancingv2::Client,
    cluster: &str,
) -> Vec<(String, BTreeMap<String, String>)> {
    // Every page: a moto that has served many runs holds more than one page of them.
    let mut arns: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    for _ in 0..1000 {
        let lbs = elb
            .describe_load_balancers()
            .set_marker(marker.clone())
            .send()
            .await
            .expect("DescribeLoadBalancers");
        arns.extend(
            lbs.load_balancers()
                .iter()
                .filter_map(|l| l.load_balancer_arn().map(String::from)),
        );
        marker = lbs
            .next_marker()
            .filter(|m| !m.is_empty())
            .map(String::from);
        if marker.is_none() {
            break;
        }
    }
    for _ in 0..1000 {
        let tgs = elb
            .describe_target_groups()
            .set_marker(marker.clone())
            .send()
            .await
            .expect("DescribeTargetGroups");
        arns.extend(
            tgs.target_groups()
                .iter()
                .filter_map(|t| t.target_group_arn().map(String::from)),
        );
        marker = tgs
            .next_marker()
            .filter(|m| !m.is_empty())
            .map(String::from);
        if marker.is_none() {
            break;
        }
    }
    let mut out = Vec::new();
    for batch in arns.chunks(20) {
        let t = elb
            .describe_tags()
            .set_resource_arns(Some(batch.to_vec()))
            .send()
            .await
            .expect("DescribeTags");
        for d in t.tag_descriptions() {
            let tags: BTreeMap<String, String> = d
                .tags()
                .iter()
                .map(|t| {
                    (
                        t.key().unwrap_or_default().to_string(),
                        t.value().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            if tags.get(tags::CLUSTER).map(String::as_str) == Some(cluster) {
                out.push((d.resource_arn().unwrap_or_default().to_string(), tags));
            }
        }
    }
    out
}

/// A TCP Service port to target port 8080.
pub fn tcp_port(name: &str, port: u16, node_port: u16) -> ServicePort {
    ServicePort {
        name: Some(name.into()),
        protocol: Protocol::Tcp,
        port,
        node_port: Some(node_port),
        target_port: Some(8080),
        endpoints: vec![],
    }
}

/// A node whose providerID names an EC2 instance (moto accepts unknown instance IDs as targets).
pub fn node(id: &str) -> Node {
    Node {
        name: format!("node-{id}"),
        provider_id: Some(format!("aws:///us-east-1a/{id}")),
        internal_ip: None,
        labels: Default::default(),
    }
}

/// A plan as `Action Kind` lines.
pub fn summary(p: &Plan) -> Vec<String> {
    p.changes
        .iter()
        .map(|c| {
            let kind = c.kind.rsplit("::").next().unwrap_or_default();
            format!("{:?} {kind}", c.action)
        })
        .collect()
}

pub fn print_calls(label: &str, calls: &CallCounter) {
    println!(
        "API calls, {label}: total {}, mutating {}: {:?}",
        calls.total(),
        calls.mutating(),
        calls.by_operation()
    );
}

/// Creates an ACM certificate in moto (no ACM SDK in the workspace: one signed-looking JSON
/// request; moto routes by the credential scope and does not check signatures).
pub async fn acm_certificate(domain: &str) -> String {
    let url = endpoint();
    let host = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let body = format!(r#"{{"DomainName":"{domain}","ValidationMethod":"DNS"}}"#);
    let req = format!(
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-amz-json-1.1\r\n\
         X-Amz-Target: CertificateManager.RequestCertificate\r\nX-Amz-Date: 20250101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/acm/aws4_request, \
         SignedHeaders=host;x-amz-date, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = tokio::net::TcpStream::connect(&host)
        .await
        .expect("connect to moto");
    s.write_all(req.as_bytes()).await.expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.expect("read");
    let json = &resp[resp.find('{').expect("a JSON body")..=resp.rfind('}').expect("json")];
    let v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    v["CertificateArn"]
        .as_str()
        .unwrap_or_else(|| panic!("no CertificateArn in {resp}"))
        .to_string()
}
