//! `berth plan`: steps gather -> translate -> (observe) -> plan on manifests from disk.

use super::CommonArgs;
use crate::gather;
use crate::manifests::Manifests;
use crate::render::{self, Planned};
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Service;
use providers::plan::Observed;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Manifest files (multi-document YAML): Services, and the EndpointSlices and Nodes behind them.
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    pub output: Output,
    /// Read the live cloud (standard AWS environment, including AWS_ENDPOINT_URL) and print the
    /// diff against what exists, instead of everything as a create.
    #[arg(long)]
    pub observe: bool,
}

/// Runs the command; returns the process exit code (1 when any object had an error).
pub async fn run(args: PlanArgs) -> i32 {
    let manifests = match Manifests::read_files(&args.files) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let planned = match plan_all(&args, &manifests).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    match args.output {
        Output::Json => println!(
            "{}",
            serde_json::to_string_pretty(&render::json(&planned)).unwrap_or_default()
        ),
        Output::Text => print!("{}", render::text(&planned)),
    }
    let mut code = 0;
    for p in &planned {
        if let Err(e) = &p.result {
            eprintln!("error: {e}");
            code = 1;
        }
    }
    code
}

async fn plan_all(args: &PlanArgs, manifests: &Manifests) -> crate::Result<Vec<Planned>> {
    let selection = args.common.selection();
    let cluster = &args.common.cluster_name;
    if !args.observe {
        return Ok(plan_offline(manifests, &selection, cluster));
    }
    let live = live_provider(&args.common).await?;
    let mut out = Vec::new();
    for svc in selected(manifests, &selection) {
        let slices = manifests.slices_for(svc);
        let result = async {
            let fe = gather::frontend(svc, Some(&slices), &manifests.nodes, cluster)?;
            let desired = live.desired(&fe).await?;
            let observed = live.observe(&fe.object, &fe.cluster, &desired).await?;
            live.plan(&desired, &observed)
        }
        .await
        .map_err(|e| e.to_string());
        out.push(Planned {
            object: gather::object_ref(svc),
            result,
        });
    }
    Ok(out)
}

/// The Services berth would act on; says on stderr which it skips and why.
fn selected<'a>(
    manifests: &'a Manifests,
    selection: &'a gather::Selection,
) -> impl Iterator<Item = &'a Service> + 'a {
    manifests.services.iter().filter(move |svc| {
        let keep = selection.selects(svc);
        if !keep {
            eprintln!(
                "skipping {}: not a LoadBalancer Service of a class berth serves (see --load-balancer-class, --default-class)",
                gather::object_ref(svc)
            );
        }
        keep
    })
}

/// Offline planning: no cloud facts (subnets discovered at apply time are left out) and nothing
/// observed, so every resource is a create. Pure.
pub fn plan_offline(
    manifests: &Manifests,
    selection: &gather::Selection,
    cluster: &str,
) -> Vec<Planned> {
    selected(manifests, selection)
        .map(|svc| {
            let slices = manifests.slices_for(svc);
            let result = gather::frontend(svc, Some(&slices), &manifests.nodes, cluster)
                .and_then(|fe| providers::aws::desired(&fe, &Default::default()))
                .and_then(|desired| providers::aws::plan(&desired, &Observed::default()))
                .map_err(|e| e.to_string());
            Planned {
                object: gather::object_ref(svc),
                result,
            }
        })
        .collect()
}

async fn live_provider(common: &CommonArgs) -> crate::Result<Box<dyn providers::Provider>> {
    let recorder = std::sync::Arc::new(providers::metrics::CallCounter::default());
    let p = providers::aws::AwsProvider::from_env(
        common.cluster_name.clone(),
        common.vpc_id.clone(),
        recorder,
    )
    .await;
    Ok(Box::new(p))
}
