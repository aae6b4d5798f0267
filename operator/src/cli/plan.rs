//! `berth plan`: steps gather -> translate -> (observe) -> plan on manifests from disk.

use super::CommonArgs;
use crate::gather;
use crate::gather::ingress::{IngressSelection, Snapshot};
use crate::manifests::Manifests;
use crate::render::{self, Planned};
use clap::{Args, ValueEnum};
use k8s_openapi::api::core::v1::Service;
use providers::plan::{Action, Observed};
use providers::profile::{Offline, Profile, Settings};
use std::collections::BTreeMap;
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
    /// Manifest files (multi-document YAML): Services and Ingresses (with IngressClasses), the
    /// Services, EndpointSlices and Nodes behind them, and LoadBalancerPolicies (applied as
    /// `berth run` applies them: defaults merged in, refused objects reported as errors).
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
        Ok(m) => {
            for note in &m.skipped {
                eprintln!("skipping {note}");
            }
            m
        }
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
    let out = match args.output {
        Output::Json => {
            serde_json::to_string_pretty(&render::json(&planned)).unwrap_or_default() + "\n"
        }
        Output::Text => render::text(&planned),
    };
    // A closed pipe (`| head`) is the reader's choice, not an error worth a panic.
    use std::io::Write;
    let _ = std::io::stdout().write_all(out.as_bytes());
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
    let cluster = args.common.cluster();
    if !args.observe {
        return plan_offline(manifests, &selection, cluster, &args.common.settings());
    }
    let (governed, refused) = under_policies(manifests, &selection);
    let manifests = &governed;
    let live = super::cloud::live_provider(
        args.common.cloud,
        super::cloud::Live {
            cluster,
            vpc_id: args.common.vpc_id.as_deref(),
            settings: args.common.settings(),
            recorder: std::sync::Arc::new(providers::metrics::CallCounter::default()),
            rate: None,
            inventory_max_age: None,
        },
    )
    .await?;
    let mut out = Vec::new();
    for group in ingress_selection(selection.profile)
        .map(|sel| snapshot(manifests, cluster).groups(&sel))
        .unwrap_or_default()
    {
        let result = async {
            let d = live.desired_group(&group).await?;
            if !d.converge() {
                return Ok((None, d.rejected));
            }
            let observed = live
                .observe(&group.object, &group.cluster, &d.resources)
                .await?;
            Ok::<_, providers::Error>((Some(live.plan(&d.resources, &observed)?), d.rejected))
        }
        .await;
        push_group(&mut out, &group.object, result);
    }
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
    refuse_contested_names(&mut out);
    out.extend(refused);
    Ok(out)
}

/// Two objects that want one cloud resource name (two Services with the same
/// `aws-load-balancer-name`, say) would fight over it in `berth run` (the second finds the
/// first's and reports a conflict): refused here for both, naming the other. Shared resources
/// (an instance group) are meant to be wanted by several.
fn refuse_contested_names(out: &mut [Planned]) {
    let mut wanted: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, p) in out.iter().enumerate() {
        let Ok(plan) = &p.result else { continue };
        for c in plan
            .changes
            .iter()
            .filter(|c| !c.shared && c.action != Action::Delete)
        {
            let users = wanted.entry((c.kind.clone(), c.name.clone())).or_default();
            if !users.contains(&i) {
                users.push(i);
            }
        }
    }
    for ((kind, name), users) in wanted {
        if users.len() < 2 {
            continue;
        }
        let names: Vec<String> = users.iter().map(|i| out[*i].object.to_string()).collect();
        for i in users {
            let others: Vec<&str> = names
                .iter()
                .filter(|n| **n != out[i].object.to_string())
                .map(String::as_str)
                .collect();
            out[i].result = Err(format!(
                "{}: {kind} {name:?} is wanted by {} too: one name, one owner; give one of them another name (e.g. its load-balancer-name annotation)",
                out[i].object,
                others.join(", ")
            ));
        }
    }
}

/// The manifests under the LoadBalancerPolicies they contain (see
/// [`crate::policy::manifests::govern`]), and the objects a policy refuses, as errors.
fn under_policies(
    manifests: &Manifests,
    selection: &gather::Selection,
) -> (Manifests, Vec<Planned>) {
    let profile = selection.profile;
    let ingresses = ingress_selection(profile);
    let (governed, refused) = crate::policy::manifests::govern(
        manifests,
        selection,
        ingresses.as_ref(),
        profile.policy.as_ref(),
    );
    let refused = refused
        .into_iter()
        .map(|(object, e)| Planned {
            // A violation's message is written for the object's own Events: name the object.
            result: Err(format!("{object}: {e}")),
            object,
        })
        .collect();
    (governed, refused)
}

/// The Services berth would act on; says on stderr which it skips and why.
fn selected<'a>(
    manifests: &'a Manifests,
    selection: &'a gather::Selection,
) -> impl Iterator<Item = &'a Service> + 'a {
    manifests.services.iter().filter(move |svc| {
        let keep = selection.selects(svc);
        // Backend Services of Ingresses (ClusterIP, NodePort) are not worth a word.
        let lb = svc.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer");
        if !keep && lb {
            eprintln!(
                "skipping {}: not a LoadBalancer Service of a class berth serves (see --load-balancer-class, --default-class)",
                gather::object_ref(svc)
            );
        }
        keep
    })
}

/// `berth plan` serves the Ingresses of both controller names (berth's and the incumbent
/// controller's, whose manifests people bring when they migrate) and the legacy class
/// annotation; `None` when berth serves no Ingresses on the cloud.
pub fn ingress_selection(profile: &'static Profile) -> Option<IngressSelection> {
    IngressSelection::of(profile).map(IngressSelection::with_incumbent)
}

fn snapshot<'a>(m: &'a Manifests, cluster: &'a str) -> Snapshot<'a> {
    Snapshot {
        ingresses: &m.ingresses,
        classes: &m.ingress_classes,
        services: &m.services,
        slices: Some(&m.endpoint_slices),
        nodes: &m.nodes,
        pods: &m.pods,
        cluster,
    }
}

/// A group's plan (none when every member was rejected) and its rejected members.
type GroupOutcome = (
    Option<providers::Plan>,
    Vec<(providers::ObjectRef, providers::Error)>,
);

/// A group's outcome: its plan (unless every member was rejected), then one error per rejected
/// member, so the plan of the rest prints and the exit code is still 1.
fn push_group(
    out: &mut Vec<Planned>,
    group: &providers::ObjectRef,
    result: providers::Result<GroupOutcome>,
) {
    match result {
        Ok((plan, rejected)) => {
            if let Some(plan) = plan {
                out.push(Planned {
                    object: group.clone(),
                    result: Ok(plan),
                });
            }
            out.extend(rejected.into_iter().map(|(object, e)| Planned {
                object,
                result: Err(e.to_string()),
            }));
        }
        Err(e) => out.push(Planned {
            object: group.clone(),
            result: Err(e.to_string()),
        }),
    }
}

/// Offline planning: no cloud facts (subnets discovered at apply time are left out) and nothing
/// observed, so every resource is a create. Pure.
pub fn plan_offline(
    manifests: &Manifests,
    selection: &gather::Selection,
    cluster: &str,
    settings: &Settings,
) -> crate::Result<Vec<Planned>> {
    plan_offline_against(
        manifests,
        selection,
        cluster,
        settings,
        &Observed::default(),
    )
}

/// Offline planning against a given observed state (the goldens' `case.observed.json`): what
/// `berth run` would change if the cloud held exactly that. Pure: the cloud's translation on
/// default facts ([`providers::profile::Offline`]).
pub fn plan_offline_against(
    manifests: &Manifests,
    selection: &gather::Selection,
    cluster: &str,
    settings: &Settings,
    observed: &Observed,
) -> crate::Result<Vec<Planned>> {
    let profile = selection.profile;
    let offline = profile.offline.as_ref().ok_or_else(|| {
        crate::Error::Config(format!(
            "--cloud {}: berth cannot translate for this cloud yet (no provider in this build)",
            profile.cloud
        ))
    })?;
    let (governed, refused) = under_policies(manifests, selection);
    let manifests = &governed;
    let mut out = plan_services_offline(manifests, selection, cluster, settings, observed, offline);
    let Some(sel) = ingress_selection(profile) else {
        for ing in &manifests.ingresses {
            eprintln!(
                "skipping {}: berth serves no Ingresses on {} yet",
                gather::ingress::ingress_ref(ing),
                profile.cloud
            );
        }
        refuse_contested_names(&mut out);
        out.extend(refused);
        return Ok(out);
    };
    for group in snapshot(manifests, cluster).groups(&sel) {
        let result = match offline.group {
            Some(desired_group) => {
                let d = desired_group(&group, settings);
                for (object, note) in &d.notes {
                    eprintln!("note: {object}: {note}");
                }
                if d.converge() {
                    (offline.plan)(&d.resources, observed).map(|p| (Some(p), d.rejected))
                } else {
                    Ok((None, d.rejected))
                }
            }
            None => Err(providers::Error::Unsupported(format!(
                "{}: the {} provider does not serve Ingress groups",
                group.object, profile.cloud
            ))),
        };
        push_group(&mut out, &group.object, result);
    }
    refuse_contested_names(&mut out);
    for ing in &manifests.ingresses {
        if !sel.selects(ing, &manifests.ingress_classes) {
            let legacy: Vec<&str> = sel.legacy_classes.iter().map(String::as_str).collect();
            eprintln!(
                "skipping {}: not of an IngressClass berth serves (controller {}, or annotation {}: {})",
                gather::ingress::ingress_ref(ing),
                sel.controllers.join(" or "),
                gather::ingress::LEGACY_CLASS_ANNOTATION,
                legacy.join(" or ")
            );
        }
    }
    out.extend(refused);
    Ok(out)
}

fn plan_services_offline(
    manifests: &Manifests,
    selection: &gather::Selection,
    cluster: &str,
    settings: &Settings,
    observed: &Observed,
    offline: &Offline,
) -> Vec<Planned> {
    selected(manifests, selection)
        .map(|svc| {
            let slices = manifests.slices_for(svc);
            let result = gather::frontend(svc, Some(&slices), &manifests.nodes, cluster)
                .and_then(|fe| (offline.service)(&fe, settings))
                .and_then(|desired| (offline.plan)(&desired, observed))
                .map_err(|e| e.to_string());
            Planned {
                object: gather::object_ref(svc),
                result,
            }
        })
        .collect()
}
