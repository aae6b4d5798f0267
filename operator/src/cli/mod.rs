//! Command-line interface: `berth plan`, `berth run`, ….

pub mod cloud;
pub mod crds;
pub mod iam_policy;
pub mod plan;
pub mod run;

use clap::{Args, Parser, Subcommand};
pub use cloud::Cloud;

#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "Provisions cloud load balancers for Kubernetes Services and Ingresses"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size difference between subcommands costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Print what berth would do for the Services in manifest files (offline unless --observe).
    Plan(plan::PlanArgs),
    /// Run the operator: watch Services, provision their load balancers, report back.
    Run(run::RunArgs),
    /// Print the CustomResourceDefinitions berth uses (LoadBalancerPolicy) as YAML.
    Crds(crds::CrdsArgs),
    /// Print the least-privilege IAM policy (JSON) for the calls berth makes.
    IamPolicy(iam_policy::IamPolicyArgs),
}

/// Settings shared by `plan` and `run`: which cloud, which cluster, which Services.
#[derive(Args, Debug, Clone)]
pub struct CommonArgs {
    /// The cloud to provision in.
    #[arg(long, value_enum, default_value_t = Cloud::default_for_build(), env = "BERTH_CLOUD")]
    pub cloud: Cloud,
    /// Cluster name: part of every ownership tag and of subnet discovery
    /// (`kubernetes.io/cluster/<name>`). Required by `berth run`; `berth plan` defaults to
    /// `kubernetes`.
    #[arg(long, env = "BERTH_CLUSTER_NAME")]
    pub cluster_name: Option<String>,
    /// VPC to use (AWS). Default: the VPC of the load balancer's subnets.
    #[arg(long, env = "BERTH_VPC_ID")]
    pub vpc_id: Option<String>,
    /// `spec.loadBalancerClass` values berth serves (repeat or comma-separate). Default: the
    /// cloud's (AWS: berth.dev/aws-nlb and the aws-load-balancer-controller's service.k8s.aws/nlb;
    /// GCP: berth.dev/gce-l4; Azure: berth.dev/azure-lb).
    #[arg(
        long = "load-balancer-class",
        value_delimiter = ',',
        env = "BERTH_LOAD_BALANCER_CLASSES"
    )]
    pub load_balancer_classes: Vec<String>,
    /// Also serve LoadBalancer Services that name no class (berth is the cluster's default).
    #[arg(long, env = "BERTH_DEFAULT_CLASS")]
    pub default_class: bool,
    #[command(flatten)]
    pub cloud_args: cloud::CloudArgs,
}

impl CommonArgs {
    /// The cluster name, or `kubernetes` (what `berth plan` assumes when none is given).
    pub fn cluster(&self) -> &str {
        self.cluster_name.as_deref().unwrap_or("kubernetes")
    }

    /// The chosen cloud's settings (`--gcp-project`, ...).
    pub fn settings(&self) -> providers::profile::Settings {
        self.cloud_args.settings(self.cloud)
    }

    pub fn profile(&self) -> &'static providers::profile::Profile {
        self.cloud.profile()
    }

    pub fn selection(&self) -> crate::gather::Selection {
        let mut s = crate::gather::Selection::of(self.profile());
        if !self.load_balancer_classes.is_empty() {
            s.classes = self.load_balancer_classes.clone();
        }
        s.default_class = self.default_class;
        s
    }
}
